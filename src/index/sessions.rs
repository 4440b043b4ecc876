//! Signing in and staying signed in: sign-ins under way (by the hash of their `state`), first
//! sign-ins still choosing a username, and browser sessions (by the hash of their cookie).
//! Everything a replica needs to finish what another started lives here, not in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::accounts::AccountConflict;
pub use super::accounts::{Identity, UnlinkOutcome};
use super::{IndexResult, User};
pub use crate::domain::accounts::VerifiedIdentity;

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

/// Sign-ins under way, pending sign-ups and sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a sign-in under way, keyed by its state's hash, unless `max_live` unexpired ones
    /// are stored already (`Ok(false)`: nothing stored; counted without a lock, so concurrent
    /// sign-ins may pass the bound by a few). Also deletes sign-ins, pending sign-ups
    /// and sessions that expired before `now`, so abandoned ones do not pile up.
    async fn start_sign_in(
        &self,
        state_hash: &[u8],
        sign_in: &SignIn,
        now: DateTime<Utc>,
        max_live: u32,
    ) -> IndexResult<bool>;
    /// Takes (reads and deletes) the sign-in with this state: a state works once.
    async fn take_sign_in(&self, state_hash: &[u8]) -> IndexResult<Option<SignIn>>;
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
}

/// Implements [`SessionStore`] for `$ty`, whose write transactions open with `$begin`.
macro_rules! impl_sessions {
    ($ty:ty, $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::index::SessionStore for $ty {
            async fn start_sign_in(
                &self,
                state_hash: &[u8],
                s: &SignIn,
                now: chrono::DateTime<chrono::Utc>,
                max_live: u32,
            ) -> IndexResult<bool> {
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
                let (live,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sign_ins")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                if live >= i64::from(max_live) {
                    return Ok(false);
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
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(true)
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
                    Err(e) if IndexError::is_unique_violation(&e) => return Ok(Err(AccountConflict::NameTaken)),
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
        }

        impl $ty {
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
pub(crate) use impl_sessions;
