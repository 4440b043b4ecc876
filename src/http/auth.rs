//! Who is asking: an `Authorization: Bearer <token>` header, or a signed-in browser's session
//! cookie. Reads are anonymous; writes take this extractor and then ask it for the scope they
//! need. A token's scopes apply; a session may do everything its user may. A state-changing
//! request made with a session must carry the session's CSRF token in `X-CSRF-Token` (a page on
//! another site can make the browser send the cookie, but cannot read the token). A bearer token
//! wins over a cookie, so API clients work exactly as before. The decisions themselves (revoked,
//! expired, which scope) are the pure functions in `crate::domain::tokens`.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::session::{CSRF_HEADER, CookieKind};
use crate::domain::accounts::same_secret;
use crate::domain::tokens::{self, Scope, TokenRecord};
use crate::error::{ApiError, ApiResult, Code};
use crate::index::User;
use crate::index::sessions::SessionRecord;

/// How a request proved who it is.
#[derive(Clone)]
pub enum Credential {
    Token(TokenRecord),
    Session(SessionRecord),
}

/// A request with a live token (known, not revoked, not expired) or a live session.
#[derive(Clone)]
pub struct Authenticated {
    pub user: User,
    pub credential: Credential,
}

impl Authenticated {
    /// The user, if the token carries `scope` (a session carries every scope); 403 naming the
    /// scope otherwise.
    pub fn require(&self, scope: Scope) -> ApiResult<&User> {
        if let Credential::Token(token) = &self.credential {
            tokens::require(token, scope)?;
        }
        Ok(&self.user)
    }

    /// The session, for what only a signed-in browser may do; 401 for a token.
    pub fn session(&self) -> ApiResult<&SessionRecord> {
        match &self.credential {
            Credential::Session(s) => Ok(s),
            Credential::Token(_) => Err(ApiError::new(
                Code::Unauthorized,
                "this needs a signed-in browser session, not an API token",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The read limiter may have authenticated this request already: not a second lookup.
        if let Some(done) = parts.extensions.remove::<Authenticated>() {
            return Ok(done);
        }
        if let Some(token) = bearer(&parts.headers) {
            return authenticate(state, token).await;
        }
        if let Some(session) = from_session(state, parts).await? {
            return Ok(session);
        }
        Err(ApiError::new(
            Code::Unauthorized,
            "this request needs an API token (Authorization: Bearer <token>) or a signed-in session",
        ))
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
        credential: Credential::Token(record),
    })
}

/// The session of the request's cookie: `None` without a cookie; 401 for an unknown or expired
/// session; 403 for a state-changing request without the session's CSRF token.
pub(crate) async fn from_session(
    state: &AppState,
    parts: &Parts,
) -> ApiResult<Option<Authenticated>> {
    let settings = &state.accounts;
    let Some(secret) = settings.read_cookie(&parts.headers, CookieKind::Session) else {
        return Ok(None);
    };
    let session = state
        .index
        .session_by_hash(&tokens::hash(&secret))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::Unauthorized,
                "the session is not valid (signed out, or signed out everywhere): sign in again",
            )
        })?;
    let now = chrono::Utc::now();
    if now >= session.expires_at {
        state.index.end_session(session.id).await?;
        return Err(ApiError::new(
            Code::Unauthorized,
            format!(
                "the session expired at {}: sign in again",
                session.expires_at.to_rfc3339()
            ),
        ));
    }
    if !parts.method.is_safe() {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(sent, &session.csrf_token) {
            return Err(ApiError::new(
                Code::Forbidden,
                "a request made with the session cookie needs the session's CSRF token in X-CSRF-Token (GET /api/v1/account gives it)",
            ));
        }
    }
    if now - session.last_seen_at >= tokens::TOUCH_EVERY
        && let Err(e) = state.index.touch_session(session.id, now).await
    {
        tracing::warn!(error = %e, session_id = session.id, "could not record session use");
    }
    Ok(Some(Authenticated {
        user: session.user.clone(),
        credential: Credential::Session(session),
    }))
}
