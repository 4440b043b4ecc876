//! API tokens and the users they belong to: creation (with the live-token cap), lookup by
//! hash, last use, listing, and revocation that takes what a token minted with it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{IndexResult, User};
use crate::domain::tokens::{NewToken, TokenRecord};

/// Users and their tokens.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Creates user `name` if absent and stores a token hash for it, with every scope.
    async fn create_token(&self, user: &str, token_hash: &[u8]) -> IndexResult<User>;
    /// Creates user `user` if absent and stores a token hash with its label, scopes and expiry.
    async fn create_token_with(
        &self,
        user: &str,
        token_hash: &[u8],
        spec: &NewToken,
    ) -> IndexResult<TokenRecord>;
    /// The token with this hash and its user, revoked or expired ones too: the caller decides.
    async fn token_by_hash(&self, token_hash: &[u8]) -> IndexResult<Option<(User, TokenRecord)>>;
    /// Records that the token authenticated a request at `at`.
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> IndexResult<()>;
    /// Token records by id: one user's, or everyone's.
    async fn tokens(&self, user: Option<&str>) -> IndexResult<Vec<TokenRecord>>;
    /// Revokes a token, limited to `owner`'s tokens when given, and every token it minted.
    /// Idempotent: the first revocation time stays. None when there is no such token (of that
    /// owner).
    async fn revoke_token(
        &self,
        id: i64,
        owner: Option<i64>,
        at: DateTime<Utc>,
    ) -> IndexResult<Option<TokenRecord>>;
}

/// Implements [`TokenStore`] for `$ty`, whose write transactions open with `$begin`.
macro_rules! impl_tokens {
    ($ty:ty, $begin:expr) => {
        impl $ty {
            async fn insert_token(
                &self,
                user: &str,
                token_hash: &[u8],
                spec: &$crate::domain::tokens::NewToken,
            ) -> IndexResult<(User, $crate::domain::tokens::TokenRecord)> {
                let now = chrono::Utc::now();
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                sqlx::query(
                    "INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let (user_id, kind): (i64, String) = sqlx::query_as("SELECT id, kind FROM users WHERE name = $1")
                    .bind(user)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                if kind != "user" {
                    // An organization acts through its members, never on its own.
                    return Err(IndexError::NotAUser(user.to_owned()));
                }
                if let Some(limit) = spec.max_live {
                    // Taking the user's row serializes concurrent creations, so a burst cannot
                    // slip past the count.
                    sqlx::query("UPDATE users SET name = name WHERE id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                    let (live,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL \
                         AND (expires_at IS NULL OR expires_at > $2)",
                    )
                    .bind(user_id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                    if live >= i64::from(limit) {
                        return Err(IndexError::TooManyTokens(limit));
                    }
                }
                let scopes: Vec<&str> = spec.scopes.iter().map(|s| s.as_str()).collect();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO api_tokens (user_id, token_hash, created_at, label, scopes, expires_at, \
                     parent_token_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(user_id)
                .bind(token_hash)
                .bind(now)
                .bind(&spec.label)
                .bind(sqlx::types::Json(&scopes))
                .bind(spec.expires_at)
                .bind(spec.minted_by)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                let record = $crate::domain::tokens::TokenRecord {
                    id,
                    user: user.to_owned(),
                    label: spec.label.clone(),
                    scopes: spec.scopes.clone(),
                    created_at: now,
                    expires_at: spec.expires_at,
                    last_used_at: None,
                    revoked_at: None,
                    minted_by: spec.minted_by,
                };
                Ok((User { id: user_id, name: user.to_owned() }, record))
            }
        }

        #[async_trait::async_trait]
        impl $crate::index::TokenStore for $ty {
            async fn create_token(&self, user: &str, token_hash: &[u8]) -> IndexResult<User> {
                let (user, _) = self.insert_token(user, token_hash, &$crate::domain::tokens::NewToken::unrestricted()).await?;
                Ok(user)
            }

            async fn create_token_with(
                &self,
                user: &str,
                token_hash: &[u8],
                spec: &$crate::domain::tokens::NewToken,
            ) -> IndexResult<$crate::domain::tokens::TokenRecord> {
                Ok(self.insert_token(user, token_hash, spec).await?.1)
            }

            async fn token_by_hash(
                &self,
                token_hash: &[u8],
            ) -> IndexResult<Option<(User, $crate::domain::tokens::TokenRecord)>> {
                let row = sqlx::query(concat!($crate::index::rows::token_columns!(), " WHERE k.token_hash = $1"))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                row.as_ref()
                    .map(|r| $crate::index::rows::token_from_row!(r))
                    .transpose()
                    .map_err(IndexError::from_sqlx)
            }

            async fn touch_token(&self, id: i64, at: chrono::DateTime<chrono::Utc>) -> IndexResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn tokens(&self, user: Option<&str>) -> IndexResult<Vec<$crate::domain::tokens::TokenRecord>> {
                let rows = sqlx::query(concat!(
                    $crate::index::rows::token_columns!(),
                    " WHERE u.name = COALESCE($1, u.name) ORDER BY k.id"
                ))
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.iter()
                    .map(|r| $crate::index::rows::token_from_row!(r).map(|(_, t)| t))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(IndexError::from_sqlx)
            }

            async fn revoke_token(
                &self,
                id: i64,
                owner: Option<i64>,
                at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Option<$crate::domain::tokens::TokenRecord>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let changed = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                     WHERE id = $2 AND user_id = COALESCE($3, user_id)",
                )
                .bind(at)
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?
                .rows_affected();
                if changed == 0 {
                    return Ok(None);
                }
                // What it minted goes with it, and what those minted: a leaked token's
                // offspring must not outlive it.
                sqlx::query(
                    "WITH RECURSIVE minted (id) AS ( \
                       SELECT id FROM api_tokens WHERE parent_token_id = $2 \
                       UNION SELECT k.id FROM api_tokens k JOIN minted m ON k.parent_token_id = m.id) \
                     UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                     WHERE id IN (SELECT id FROM minted)",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let row = sqlx::query(concat!($crate::index::rows::token_columns!(), " WHERE k.id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let (_, record) = $crate::index::rows::token_from_row!(&row).map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Some(record))
            }
        }
    };
}
pub(crate) use impl_tokens;
