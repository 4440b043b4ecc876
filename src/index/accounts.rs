//! Accounts: people and organizations (one namespace of owner names), the identities people sign
//! in with, organization members and their roles, and what a profile shows. Sign-ins under way
//! and sessions are `sessions.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use super::rows::{Account, Identity, Member, Membership};
use super::{IndexResult, User};
pub use crate::domain::accounts::VerifiedIdentity;
use crate::domain::accounts::{MemberChange, MemberDenied, Role};

/// Why a link or an account could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountConflict {
    /// The name is already a user's or an organization's.
    NameTaken,
    /// The identity already belongs to another account.
    IdentityTaken,
    /// The pending sign-up is gone (used, or expired).
    PendingGone,
}

/// What unlinking an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    NotFound,
    /// It is the account's only identity: without it nobody could sign in.
    LastOne,
}

/// People, organizations, the identities people sign in with, members and profiles.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The account called `name`, a person's or an organization's.
    async fn account(&self, name: &str) -> IndexResult<Option<Account>>;
    /// The user this identity belongs to, recording the sign-in (and its claims) on it.
    async fn sign_in_identity(
        &self,
        identity: &VerifiedIdentity,
        now: DateTime<Utc>,
    ) -> IndexResult<Option<User>>;
    /// Links an identity to a user (or refreshes it if already theirs).
    async fn link_identity(
        &self,
        user_id: i64,
        identity: &VerifiedIdentity,
        now: DateTime<Utc>,
    ) -> IndexResult<Result<(), AccountConflict>>;
    /// A user's linked identities, oldest first.
    async fn identities(&self, user_id: i64) -> IndexResult<Vec<Identity>>;
    /// Unlinks one of a user's identities, never the last. `Ok(false)`: no such identity of
    /// theirs; `Err(..)` of the outer result only for index failures.
    async fn unlink_identity(&self, user_id: i64, identity_id: i64) -> IndexResult<UnlinkOutcome>;
    /// Creates an organization with `creator` as its first admin.
    async fn create_org(
        &self,
        name: &str,
        display_name: Option<&str>,
        creator: i64,
        now: DateTime<Utc>,
    ) -> IndexResult<Result<Account, AccountConflict>>;
    /// `user`'s role in `org`, if a member.
    async fn role(&self, org_id: i64, user_id: i64) -> IndexResult<Option<Role>>;
    /// An organization's members, admins first, then by name.
    async fn members(&self, org_id: i64) -> IndexResult<Vec<Member>>;
    /// The organizations a user belongs to, by name.
    async fn memberships(&self, user_id: i64) -> IndexResult<Vec<Membership>>;
    /// Applies a change to an organization's members if the rules allow it, checked against
    /// the members as they are inside the transaction (the organization's row is locked, so
    /// two admins removing each other cannot leave none). A member joining or leaving has the
    /// evidence of the organization's tickets they reported on recomputed in the same
    /// transaction.
    async fn change_member(
        &self,
        org_id: i64,
        caller: i64,
        change: MemberChange,
        now: DateTime<Utc>,
    ) -> IndexResult<Result<(), MemberDenied>>;
    /// How many live tickets an account owns, and how many results it reported.
    async fn owner_counts(&self, owner_id: i64) -> IndexResult<(u64, u64)>;
}

/// Implements [`AccountStore`] for `$ty`, whose write transactions open with `$begin`. A
/// transaction serializes on an account by writing its row (`UPDATE users SET name = name`),
/// which both backends lock the same way.
macro_rules! impl_accounts {
    ($ty:ty, $begin:expr) => {
        use $crate::domain::accounts::{AccountKind, MemberChange, MemberDenied, Role};
        use $crate::index::accounts::{Account, AccountConflict, Member, Membership};
        use $crate::index::accounts::{Identity, UnlinkOutcome, VerifiedIdentity};
        use $crate::index::sessions::{PendingAccount, SessionRecord, SignIn};

        fn account_from_row(row: &<$ty as $crate::index::HasDb>::Row) -> Result<Account, sqlx::Error> {
            use sqlx::Row as _;
            let kind: String = row.try_get("kind")?;
            Ok(Account {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                kind: AccountKind::parse(&kind)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown account kind {kind:?}").into()))?,
                display_name: row.try_get("display_name")?,
                orcid: row.try_get("orcid")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn role_of(s: &str) -> Result<Role, sqlx::Error> {
            Role::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {s:?}").into()))
        }


        #[async_trait::async_trait]
        impl $crate::index::AccountStore for $ty {
            async fn account(&self, name: &str) -> IndexResult<Option<Account>> {
                let row = sqlx::query(
                    "SELECT id, name, kind, display_name, orcid, created_at FROM users WHERE name = $1",
                )
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                row.as_ref().map(account_from_row).transpose().map_err(IndexError::from_sqlx)
            }

            async fn sign_in_identity(
                &self,
                id: &VerifiedIdentity,
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Option<User>> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "UPDATE identities SET last_login_at = $3, email = $4, name = $5 \
                     WHERE issuer = $1 AND subject = $2 RETURNING user_id",
                )
                .bind(&id.issuer)
                .bind(&id.subject)
                .bind(now)
                .bind(&id.email)
                .bind(&id.name)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                let Some((user_id,)) = row else { return Ok(None) };
                let (name,): (String,) = sqlx::query_as("SELECT name FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(Some(User { id: user_id, name }))
            }

            async fn link_identity(
                &self,
                user_id: i64,
                id: &VerifiedIdentity,
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Result<(), AccountConflict>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let owner: Option<(i64,)> = sqlx::query_as(
                    "SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2",
                )
                .bind(&id.issuer)
                .bind(&id.subject)
                .fetch_optional(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                match owner {
                    Some((owner,)) if owner != user_id => return Ok(Err(AccountConflict::IdentityTaken)),
                    Some(_) => {
                        sqlx::query("UPDATE identities SET last_login_at = $1 WHERE issuer = $2 AND subject = $3")
                            .bind(now)
                            .bind(&id.issuer)
                            .bind(&id.subject)
                            .execute(&mut *tx)
                            .await
                            .map_err(IndexError::from_sqlx)?;
                    }
                    None => {
                        Self::insert_identity(&mut tx, user_id, id, now).await?;
                    }
                }
                if let Some(orcid) = &id.orcid {
                    sqlx::query("UPDATE users SET orcid = $1 WHERE id = $2")
                        .bind(orcid)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                }
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Ok(()))
            }

            async fn identities(&self, user_id: i64) -> IndexResult<Vec<Identity>> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT id, provider, issuer, subject, email, name, orcid, created_at, last_login_at \
                     FROM identities WHERE user_id = $1 ORDER BY id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.iter()
                    .map(|r| -> Result<Identity, sqlx::Error> {
                        Ok(Identity {
                            id: r.try_get("id")?,
                            provider: r.try_get("provider")?,
                            issuer: r.try_get("issuer")?,
                            subject: r.try_get("subject")?,
                            email: r.try_get("email")?,
                            name: r.try_get("name")?,
                            orcid: r.try_get("orcid")?,
                            created_at: r.try_get("created_at")?,
                            last_login_at: r.try_get("last_login_at")?,
                        })
                    })
                    .collect::<Result<_, _>>()
                    .map_err(IndexError::from_sqlx)
            }

            async fn unlink_identity(&self, user_id: i64, identity_id: i64) -> IndexResult<UnlinkOutcome> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                // The user's row serializes two unlinks racing to leave none.
                sqlx::query("UPDATE users SET name = name WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM identities WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let orcid: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT orcid FROM identities WHERE id = $1 AND user_id = $2",
                )
                .bind(identity_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let Some((orcid,)) = orcid else {
                    return Ok(UnlinkOutcome::NotFound);
                };
                if count <= 1 {
                    return Ok(UnlinkOutcome::LastOne);
                }
                sqlx::query("DELETE FROM identities WHERE id = $1")
                    .bind(identity_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                if orcid.is_some() {
                    // The profile shows an ORCID iD only while a sign-in verifies it.
                    sqlx::query(
                        "UPDATE users SET orcid = (SELECT MAX(orcid) FROM identities WHERE user_id = $1) \
                         WHERE id = $1",
                    )
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                }
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(UnlinkOutcome::Unlinked)
            }

            async fn create_org(
                &self,
                name: &str,
                display_name: Option<&str>,
                creator: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Result<Account, AccountConflict>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
                    "INSERT INTO users (name, created_at, kind, display_name) VALUES ($1, $2, 'org', $3) RETURNING id",
                )
                .bind(name)
                .bind(now)
                .bind(display_name)
                .fetch_one(&mut *tx)
                .await;
                let (org_id,) = match inserted {
                    Ok(row) => row,
                    Err(e) if IndexError::is_unique_violation(&e) => return Ok(Err(AccountConflict::NameTaken)),
                    Err(e) => return Err(IndexError::from_sqlx(e)),
                };
                sqlx::query("INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)")
                    .bind(org_id)
                    .bind(creator)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Ok(Account {
                    id: org_id,
                    name: name.to_owned(),
                    kind: AccountKind::Org,
                    display_name: display_name.map(str::to_owned),
                    orcid: None,
                    created_at: now,
                }))
            }

            async fn role(&self, org_id: i64, user_id: i64) -> IndexResult<Option<Role>> {
                let mut conn = self.pool.acquire().await.map_err(IndexError::from_sqlx)?;
                Self::role_on(&mut conn, org_id, user_id).await
            }

            async fn members(&self, org_id: i64) -> IndexResult<Vec<Member>> {
                let rows: Vec<(String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT u.name, m.role, m.created_at FROM org_members m JOIN users u ON u.id = m.user_id \
                     WHERE m.org_id = $1 ORDER BY m.role = 'admin' DESC, u.name",
                )
                .bind(org_id)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.into_iter()
                    .map(|(name, role, since)| Ok(Member { name, role: role_of(&role)?, since }))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(IndexError::from_sqlx)
            }

            async fn memberships(&self, user_id: i64) -> IndexResult<Vec<Membership>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT o.name, m.role FROM org_members m JOIN users o ON o.id = m.org_id \
                     WHERE m.user_id = $1 ORDER BY o.name",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.into_iter()
                    .map(|(org, role)| Ok(Membership { org, role: role_of(&role)? }))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(IndexError::from_sqlx)
            }

            async fn change_member(
                &self,
                org_id: i64,
                caller: i64,
                change: MemberChange,
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Result<(), MemberDenied>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                sqlx::query("UPDATE users SET name = name WHERE id = $1")
                    .bind(org_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let target = match change {
                    MemberChange::Set { target, .. } | MemberChange::Remove { target } => target,
                };
                let caller_role = Self::role_on(&mut tx, org_id, caller).await?;
                let target_role = Self::role_on(&mut tx, org_id, target).await?;
                let (admins,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'admin'",
                )
                .bind(org_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                if let Err(denied) = $crate::domain::accounts::check_member_change(
                    caller,
                    caller_role,
                    change,
                    target_role,
                    admins as u64,
                ) {
                    return Ok(Err(denied));
                }
                match change {
                    MemberChange::Set { target, role } => {
                        sqlx::query(
                            "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                        )
                        .bind(org_id)
                        .bind(target)
                        .bind(role.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                    }
                    MemberChange::Remove { target } => {
                        sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
                            .bind(org_id)
                            .bind(target)
                            .execute(&mut *tx)
                            .await
                            .map_err(IndexError::from_sqlx)?;
                    }
                }
                if target_role.is_none() || matches!(change, MemberChange::Remove { .. }) {
                    // Joining or leaving moves the member's reproductions between "the owner's
                    // side" and "by others" on the organization's tickets: recompute those.
                    let touched: Vec<(String,)> = sqlx::query_as(
                        "SELECT DISTINCT t.id FROM results r JOIN tickets t ON t.seq = r.ticket_seq \
                         WHERE r.user_id = $1 AND t.owner_id = $2",
                    )
                    .bind(target)
                    .bind(org_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                    for (ticket_id,) in touched {
                        Self::refresh_evidence(&mut tx, &ticket_id).await?;
                    }
                }
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Ok(()))
            }

            async fn owner_counts(&self, owner_id: i64) -> IndexResult<(u64, u64)> {
                let (tickets, results): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM tickets WHERE owner_id = $1 AND yanked = FALSE), \
                     (SELECT COUNT(*) FROM results WHERE user_id = $1)",
                )
                .bind(owner_id)
                .fetch_one(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok((tickets as u64, results as u64))
            }
        }

        impl $ty {
            async fn insert_identity(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                user_id: i64,
                id: &VerifiedIdentity,
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<()> {
                sqlx::query(
                    "INSERT INTO identities (user_id, provider, issuer, subject, email, name, orcid, \
                     created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(user_id)
                .bind(&id.provider)
                .bind(&id.issuer)
                .bind(&id.subject)
                .bind(&id.email)
                .bind(&id.name)
                .bind(&id.orcid)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn role_on(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                org_id: i64,
                user_id: i64,
            ) -> IndexResult<Option<Role>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
                        .bind(org_id)
                        .bind(user_id)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                row.map(|(r,)| role_of(&r)).transpose().map_err(IndexError::from_sqlx)
            }

        }
    };
}
pub(crate) use impl_accounts;
