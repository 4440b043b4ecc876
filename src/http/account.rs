//! The caller's own account: who they are, their identities and organizations, and (for a
//! browser) the session's CSRF token; signing out, here or everywhere; unlinking an identity.
//! Tokens are `tokens.rs`; the sign-in flow is `signin.rs`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::session::{CookieKind, add_cookies};
use super::{AppState, Authenticated, Credential};
use crate::error::{ApiError, ApiResult, Code};
use crate::index::accounts::{Identity, Membership, UnlinkOutcome};

/// The caller's account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountView {
    name: String,
    display_name: Option<String>,
    /// Verified by an ORCID sign-in.
    orcid: Option<String>,
    identities: Vec<Identity>,
    organizations: Vec<Membership>,
    /// How this request authenticated: `session` or `token`.
    via: String,
    /// For a session: send it in X-CSRF-Token with every state-changing request.
    csrf_token: Option<String>,
    /// For a session: when it ends.
    session_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The longest life of a token created with a session (`--max-session-token-days`).
    max_session_token_days: u32,
}

/// Your account.
///
/// With a session cookie it also gives the CSRF token the page sends with its writes.
#[utoipa::path(get, path = "/api/v1/account", tag = "accounts", operation_id = "show_account",
    security(("token" = [])),
    responses(
        (status = 200, description = "The caller's account", body = AccountView),
        (status = 401, description = "Neither a valid token nor a live session", body = crate::error::ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<AccountView>> {
    let account = state
        .index
        .account(&auth.user.name)
        .await?
        .ok_or_else(|| ApiError::internal("an authenticated user has no account row"))?;
    let (via, csrf_token, session_expires_at) = match &auth.credential {
        Credential::Session(s) => ("session", Some(s.csrf_token.clone()), Some(s.expires_at)),
        Credential::Token(_) => ("token", None, None),
    };
    Ok(Json(AccountView {
        identities: state.index.identities(account.id).await?,
        organizations: state.index.memberships(account.id).await?,
        name: account.name,
        display_name: account.display_name,
        orcid: account.orcid,
        via: via.to_owned(),
        csrf_token,
        session_expires_at,
        max_session_token_days: state.accounts.max_session_token_days,
    }))
}

/// Sign out.
///
/// Ends this browser's session (session and X-CSRF-Token). Tokens made on the page stay.
#[utoipa::path(delete, path = "/api/v1/session", tag = "accounts", operation_id = "sign_out",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Not a signed-in browser", body = crate::error::ErrorBody),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::error::ErrorBody),
    ))]
pub async fn sign_out(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let session = auth.session()?;
    state.index.end_session(session.id).await?;
    Ok(cleared(&state))
}

fn cleared(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    add_cookies(
        response.headers_mut(),
        [state.accounts.clear_cookie(CookieKind::Session)],
    );
    response
}

/// Sign out everywhere.
///
/// Ends every session of the account, in every browser and on every replica. API tokens are
/// not touched (revoke them on their own).
#[utoipa::path(delete, path = "/api/v1/account/sessions", tag = "accounts", operation_id = "sign_out_everywhere",
    security(("token" = [])),
    responses(
        (status = 204, description = "Every session ended; this browser's cookie is cleared"),
        (status = 401, description = "Neither a valid token nor a live session", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the tokens scope, or a session request lacks X-CSRF-Token", body = crate::error::ErrorBody),
    ))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Response> {
    let user = auth.require(crate::domain::tokens::Scope::Tokens)?;
    state.index.end_sessions(user.id).await?;
    Ok(cleared(&state))
}

/// Unlink one of your identities.
///
/// The last one stays: without it nobody could sign in to the account.
#[utoipa::path(delete, path = "/api/v1/account/identities/{id}", tag = "accounts", operation_id = "unlink_identity",
    params(("id" = i64, Path, description = "The identity's id, as /api/v1/account lists it")),
    security(("token" = [])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, description = "The id is not an integer", body = crate::error::ErrorBody),
        (status = 401, description = "Neither a valid token nor a live session", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the tokens scope, or a session request lacks X-CSRF-Token", body = crate::error::ErrorBody),
        (status = 404, description = "No such identity of yours", body = crate::error::ErrorBody),
        (status = 409, description = "It is the account's last identity", body = crate::error::ErrorBody),
    ))]
pub async fn unlink(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let user = auth.require(crate::domain::tokens::Scope::Tokens)?;
    match state.index.unlink_identity(user.id, id).await? {
        UnlinkOutcome::Unlinked => Ok(StatusCode::NO_CONTENT),
        UnlinkOutcome::NotFound => Err(ApiError::not_found(format!(
            "you have no identity with id {id}"
        ))),
        UnlinkOutcome::LastOne => Err(ApiError::new(
            Code::Conflict,
            "this is the account's only identity: link another before unlinking it",
        )),
    }
}
