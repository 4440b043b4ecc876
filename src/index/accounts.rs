//! Accounts: people and organizations, the identities people sign in with, browser sessions,
//! sign-ins under way, first sign-ins still choosing a username, and organization members.
//! Everything a replica needs to finish what another started lives here, not in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{IndexResult, User};
pub use crate::domain::accounts::VerifiedIdentity;
use crate::domain::accounts::{AccountKind, MemberChange, MemberDenied, Role};
use crate::domain::evidence::ResultRecord;

/// A person or an organization, as a profile shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Account {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub kind: AccountKind,
    pub display_name: Option<String>,
    /// The ORCID iD, verified by an ORCID sign-in (people only).
    pub orcid: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: i64,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub orcid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

/// A browser session: its user and the CSRF token the page must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub user: User,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A sign-in under way: what the callback needs to finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub browser_hash: Vec<u8>,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Linking a second provider to this signed-in user.
    pub link_user_id: Option<i64>,
    pub return_to: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A first sign-in whose user is still to choose a username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAccount {
    pub identity: VerifiedIdentity,
    pub csrf_token: String,
    pub return_to: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub name: String,
    pub role: Role,
    pub since: DateTime<Utc>,
}

/// An organization a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Membership {
    pub org: String,
    pub role: Role,
}

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

/// Accounts, identities, sessions and organizations.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The account called `name`, a person's or an organization's.
    async fn account(&self, name: &str) -> IndexResult<Option<Account>>;
    /// Stores a sign-in under way, keyed by its state's hash. Also deletes sign-ins, pending
    /// sign-ups and sessions that expired before `now`, so abandoned ones do not pile up.
    async fn start_sign_in(
        &self,
        state_hash: &[u8],
        sign_in: &SignIn,
        now: DateTime<Utc>,
    ) -> IndexResult<()>;
    /// Takes (reads and deletes) the sign-in with this state: a state works once.
    async fn take_sign_in(&self, state_hash: &[u8]) -> IndexResult<Option<SignIn>>;
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
    /// Stores a first sign-in waiting for its username, keyed by its cookie's hash.
    async fn put_pending(&self, token_hash: &[u8], pending: &PendingAccount) -> IndexResult<()>;
    /// The pending sign-up with this cookie hash, unless expired at `now`.
    async fn pending(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> IndexResult<Option<PendingAccount>>;
    /// Creates the user `name` from a pending sign-up, in one transaction that consumes it.
    async fn create_account(
        &self,
        name: &str,
        pending_hash: &[u8],
        now: DateTime<Utc>,
    ) -> IndexResult<Result<User, AccountConflict>>;
    /// Opens a session; only the cookie's hash is stored.
    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &[u8],
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> IndexResult<()>;
    /// The session with this cookie hash, expired ones too: the caller decides.
    async fn session_by_hash(&self, token_hash: &[u8]) -> IndexResult<Option<SessionRecord>>;
    /// Records that a session made a request.
    async fn touch_session(&self, id: i64, at: DateTime<Utc>) -> IndexResult<()>;
    /// Ends one session (signing out).
    async fn end_session(&self, id: i64) -> IndexResult<()>;
    /// Ends every session of a user (signing out everywhere); how many there were.
    async fn end_sessions(&self, user_id: i64) -> IndexResult<u64>;
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
    /// two admins removing each other cannot leave none).
    async fn change_member(
        &self,
        org_id: i64,
        caller: i64,
        change: MemberChange,
        now: DateTime<Utc>,
    ) -> IndexResult<Result<(), MemberDenied>>;
    /// Results a user reported, newest first, before `before_seq` when given.
    async fn results_by_user(
        &self,
        user_id: i64,
        before_seq: Option<i64>,
        limit: u32,
    ) -> IndexResult<Vec<(i64, ResultRecord)>>;
    /// How many live tickets an account owns, and how many results it reported.
    async fn owner_counts(&self, owner_id: i64) -> IndexResult<(u64, u64)>;
}

/// What unlinking an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    NotFound,
    /// It is the account's only identity: without it nobody could sign in.
    LastOne,
}

/// Implements [`AccountStore`] for `$ty`, whose write transactions open with `$begin`. A
/// transaction serializes on an account by writing its row (`UPDATE users SET name = name`),
/// which both backends lock the same way.
macro_rules! impl_accounts {
    ($ty:ty, $begin:expr) => {
        use $crate::domain::accounts::{AccountKind, MemberChange, MemberDenied, Role};
        use $crate::index::accounts::{
            Account, AccountConflict, Identity, Member, Membership, PendingAccount, SessionRecord,
            SignIn, UnlinkOutcome, VerifiedIdentity,
        };

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

        fn is_unique_violation(e: &sqlx::Error) -> bool {
            e.as_database_error()
                .is_some_and(|d| matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation))
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

            async fn start_sign_in(
                &self,
                state_hash: &[u8],
                s: &SignIn,
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                for purge in [
                    "DELETE FROM sign_ins WHERE expires_at < $1",
                    "DELETE FROM pending_accounts WHERE expires_at < $1",
                    "DELETE FROM sessions WHERE expires_at < $1",
                ] {
                    sqlx::query(purge)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                }
                sqlx::query(
                    "INSERT INTO sign_ins (state_hash, browser_hash, provider, nonce, pkce_verifier, \
                     link_user_id, return_to, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(state_hash)
                .bind(&s.browser_hash)
                .bind(&s.provider)
                .bind(&s.nonce)
                .bind(&s.pkce_verifier)
                .bind(s.link_user_id)
                .bind(&s.return_to)
                .bind(now)
                .bind(s.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)
            }

            async fn take_sign_in(&self, state_hash: &[u8]) -> IndexResult<Option<SignIn>> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "DELETE FROM sign_ins WHERE state_hash = $1 RETURNING browser_hash, provider, \
                     nonce, pkce_verifier, link_user_id, return_to, expires_at",
                )
                .bind(state_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                row.map(|r| -> Result<SignIn, sqlx::Error> {
                    Ok(SignIn {
                        browser_hash: r.try_get("browser_hash")?,
                        provider: r.try_get("provider")?,
                        nonce: r.try_get("nonce")?,
                        pkce_verifier: r.try_get("pkce_verifier")?,
                        link_user_id: r.try_get("link_user_id")?,
                        return_to: r.try_get("return_to")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .transpose()
                .map_err(IndexError::from_sqlx)
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

            async fn put_pending(&self, token_hash: &[u8], p: &PendingAccount) -> IndexResult<()> {
                let id = &p.identity;
                sqlx::query(
                    "INSERT INTO pending_accounts (token_hash, csrf_token, provider, issuer, subject, \
                     email, name, orcid, return_to, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(token_hash)
                .bind(&p.csrf_token)
                .bind(&id.provider)
                .bind(&id.issuer)
                .bind(&id.subject)
                .bind(&id.email)
                .bind(&id.name)
                .bind(&id.orcid)
                .bind(&p.return_to)
                .bind(chrono::Utc::now())
                .bind(p.expires_at)
                .execute(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn pending(
                &self,
                token_hash: &[u8],
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Option<PendingAccount>> {
                let mut conn = self.pool.acquire().await.map_err(IndexError::from_sqlx)?;
                Self::pending_on(&mut conn, token_hash, now).await
            }

            async fn create_account(
                &self,
                name: &str,
                pending_hash: &[u8],
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Result<User, AccountConflict>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let Some(pending) = Self::pending_on(&mut tx, pending_hash, now).await? else {
                    return Ok(Err(AccountConflict::PendingGone));
                };
                let taken: Option<(i64,)> = sqlx::query_as(
                    "SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2",
                )
                .bind(&pending.identity.issuer)
                .bind(&pending.identity.subject)
                .fetch_optional(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                if taken.is_some() {
                    // Signed up already (in another tab, say): sign in instead.
                    return Ok(Err(AccountConflict::IdentityTaken));
                }
                let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
                    "INSERT INTO users (name, created_at, kind, display_name, orcid) \
                     VALUES ($1, $2, 'user', $3, $4) RETURNING id",
                )
                .bind(name)
                .bind(now)
                .bind(&pending.identity.name)
                .bind(&pending.identity.orcid)
                .fetch_one(&mut *tx)
                .await;
                let (user_id,) = match inserted {
                    Ok(row) => row,
                    Err(e) if is_unique_violation(&e) => return Ok(Err(AccountConflict::NameTaken)),
                    Err(e) => return Err(IndexError::from_sqlx(e)),
                };
                Self::insert_identity(&mut tx, user_id, &pending.identity, now).await?;
                sqlx::query("DELETE FROM pending_accounts WHERE token_hash = $1")
                    .bind(pending_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Ok(User { id: user_id, name: name.to_owned() }))
            }

            async fn create_session(
                &self,
                user_id: i64,
                token_hash: &[u8],
                csrf_token: &str,
                now: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $4)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(csrf_token)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn session_by_hash(&self, token_hash: &[u8]) -> IndexResult<Option<SessionRecord>> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT s.id, s.csrf_token, s.created_at, s.expires_at, s.last_seen_at, \
                     u.id AS user_id, u.name AS user_name FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                row.map(|r| -> Result<SessionRecord, sqlx::Error> {
                    Ok(SessionRecord {
                        id: r.try_get("id")?,
                        user: User { id: r.try_get("user_id")?, name: r.try_get("user_name")? },
                        csrf_token: r.try_get("csrf_token")?,
                        created_at: r.try_get("created_at")?,
                        expires_at: r.try_get("expires_at")?,
                        last_seen_at: r.try_get("last_seen_at")?,
                    })
                })
                .transpose()
                .map_err(IndexError::from_sqlx)
            }

            async fn touch_session(&self, id: i64, at: chrono::DateTime<chrono::Utc>) -> IndexResult<()> {
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn end_session(&self, id: i64) -> IndexResult<()> {
                sqlx::query("DELETE FROM sessions WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn end_sessions(&self, user_id: i64) -> IndexResult<u64> {
                Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?
                    .rows_affected())
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
                    Err(e) if is_unique_violation(&e) => return Ok(Err(AccountConflict::NameTaken)),
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
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Ok(()))
            }

            async fn results_by_user(
                &self,
                user_id: i64,
                before_seq: Option<i64>,
                limit: u32,
            ) -> IndexResult<Vec<(i64, ResultRecord)>> {
                let rows = sqlx::query(concat!(
                    $crate::index::results::result_columns!(),
                    " WHERE r.user_id = $1 AND r.seq < COALESCE($2, 9223372036854775807) \
                      ORDER BY r.seq DESC LIMIT $3"
                ))
                .bind(user_id)
                .bind(before_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.iter()
                    .map(|r| $crate::index::results::result_from_row!(r))
                    .collect()
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

            async fn pending_on(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                token_hash: &[u8],
                now: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Option<PendingAccount>> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT csrf_token, provider, issuer, subject, email, name, orcid, return_to, expires_at \
                     FROM pending_accounts WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                row.map(|r| -> Result<PendingAccount, sqlx::Error> {
                    Ok(PendingAccount {
                        identity: VerifiedIdentity {
                            provider: r.try_get("provider")?,
                            issuer: r.try_get("issuer")?,
                            subject: r.try_get("subject")?,
                            email: r.try_get("email")?,
                            name: r.try_get("name")?,
                            orcid: r.try_get("orcid")?,
                        },
                        csrf_token: r.try_get("csrf_token")?,
                        return_to: r.try_get("return_to")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .transpose()
                .map_err(IndexError::from_sqlx)
            }
        }
    };
}
pub(crate) use impl_accounts;
