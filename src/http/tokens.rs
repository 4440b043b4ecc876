//! Self-service tokens: a user lists, creates and revokes their own tokens with a live token of
//! theirs that has the `tokens` scope. What a new token may be is decided by
//! `crate::domain::tokens::plan` (never more scopes, never a longer life than the token asking); a minted
//! token is revoked with the token that minted it; live tokens per user are capped.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::{AppState, Authenticated, Credential};
use crate::domain::tokens::{self, Scope, TokenRecord, TokenRequest};
use crate::error::{ApiError, ApiResult, Code};

/// A new token, shown this once, and its record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The secret. Only its sha256 is stored: it cannot be shown again.
    token: String,
    record: TokenRecord,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenList {
    /// The caller's tokens, revoked and expired ones included, oldest first.
    items: Vec<TokenRecord>,
}

/// Create a new token for yourself.
///
/// The token is shown once, in `token`; `record` is what lists show later. A new token never gets
/// more scopes, or a later expiry, than the token that creates it (403); with no expiry asked
/// for, it inherits the caller's.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", operation_id = "create_token",
    request_body(content = TokenRequest, content_type = "application/json"),
    security(("token" = [])),
    responses(
        (status = 201, description = "Created: the token (shown once) and its record", body = CreatedToken),
        (status = 400, description = "Malformed JSON, or an invalid, unknown or mistyped field (an unknown scope, say)", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "The calling token lacks the tokens scope, or asks for more scopes or a later expiry than it has", body = crate::error::ErrorBody),
        (status = 409, description = "The account already holds the most live tokens it may (--max-tokens-per-user)", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let request: TokenRequest = serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            Code::InvalidParameter,
            format!("invalid token request: {e}"),
        )
    })?;
    auth.require(Scope::Tokens)?;
    let now = chrono::Utc::now();
    let mut spec = match &auth.credential {
        Credential::Token(caller) => tokens::plan(request, caller, now)?,
        // Made on the web page: the account's own, bounded by the session-token setting.
        Credential::Session(_) => {
            tokens::plan_for_session(request, now, state.accounts.max_session_token_days)?
        }
    };
    spec.max_live = Some(state.guards.protection.max_tokens_per_user);
    let token = tokens::generate().map_err(|e| ApiError::internal(e.to_string()))?;
    let record = state
        .index
        .create_token_with(&auth.user.name, &tokens::hash(&token), &spec)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, record })))
}

/// List your tokens.
///
/// The caller's token records, revoked and expired ones included, oldest first; never the
/// tokens themselves or their hashes.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", operation_id = "list_tokens",
    security(("token" = [])),
    responses(
        (status = 200, description = "The caller's tokens (never the secrets or their hashes)", body = TokenList),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "The calling token lacks the tokens scope", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<TokenList>> {
    auth.require(Scope::Tokens)?;
    let items = state.index.tokens(Some(&auth.user.name)).await?;
    Ok(Json(TokenList { items }))
}

/// Revoke one of your tokens.
///
/// Idempotent; it may revoke the very token used for the request. Another user's token id is a
/// 404, like a missing one, so ids say nothing about other users.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", operation_id = "revoke_token",
    params(("id" = i64, Path, description = "The token's id, as `GET /api/v1/tokens` lists it")),
    security(("token" = [])),
    responses(
        (status = 200, description = "Revoked, with every token it minted and theirs (idempotent: an earlier revocation time stays)", body = TokenRecord),
        (status = 400, description = "The id is not an integer", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "The calling token lacks the tokens scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such token among the caller's", body = crate::error::ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<TokenRecord>> {
    auth.require(Scope::Tokens)?;
    state
        .index
        .revoke_token(id, Some(auth.user.id), chrono::Utc::now())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("you have no token with id {id}")))
}
