//! `Authorization: Bearer <token>` to a user and the token's record. Reads are anonymous;
//! writes take this extractor and then ask it for the scope they need. The decisions
//! themselves (revoked, expired, which scope) are the pure functions in `crate::domain::tokens`.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::domain::tokens::{self, Scope, TokenRecord};
use crate::error::{ApiError, ApiResult, Code};
use crate::index::User;

/// A request with a live token: known, not revoked, not expired.
#[derive(Clone)]
pub struct Authenticated {
    pub user: User,
    pub token: TokenRecord,
}

impl Authenticated {
    /// The user, if the token carries `scope`; 403 naming the scope otherwise.
    pub fn require(&self, scope: Scope) -> ApiResult<&User> {
        tokens::require(&self.token, scope)?;
        Ok(&self.user)
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The read limiter may have authenticated this request already: not a second lookup.
        if let Some(done) = parts.extensions.remove::<Authenticated>() {
            return Ok(done);
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(
                Code::Unauthorized,
                "this request needs an API token: Authorization: Bearer <token>",
            )
        })?;
        authenticate(state, token).await
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A presented token to its user and record: known, not revoked, not expired.
pub(crate) async fn authenticate(state: &AppState, token: &str) -> ApiResult<Authenticated> {
    let (user, record) = state
        .index
        .token_by_hash(&tokens::hash(token))
        .await?
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "the API token is not valid"))?;
    let now = chrono::Utc::now();
    tokens::usable(&record, now)?;
    if tokens::needs_touch(&record, now) {
        // Bookkeeping only: a failure to record the use must not fail the request.
        if let Err(e) = state.index.touch_token(record.id, now).await {
            tracing::warn!(error = %e, token_id = record.id, "could not record token use");
        }
    }
    Ok(Authenticated {
        user,
        token: record,
    })
}
