//! `Authorization: Bearer <token>` to a user. Reads are anonymous; writes take this extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::error::{ApiError, Code};
use crate::index::User;
use crate::tokens;

pub struct Authenticated(pub User);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    Code::Unauthorized,
                    "this request needs an API token: Authorization: Bearer <token>",
                )
            })?;
        match state.index.user_by_token(&tokens::hash(token)).await? {
            Some(user) => Ok(Authenticated(user)),
            None => Err(ApiError::new(
                Code::Unauthorized,
                "the API token is not valid",
            )),
        }
    }
}
