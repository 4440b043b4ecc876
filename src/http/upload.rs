//! The upload's extractors, in the order the handler takes them: [`Uploader`] (a token with
//! the `upload` scope, an upload slot, the per-user rate) before a byte of the body is read,
//! then [`UploadBody`] (multipart with a boundary, a declared length within the limit).
//! Their rejections are the app's `ApiError`s.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;

use super::limits::UploadSlot;
use super::{AppState, Authenticated};
use crate::domain::tokens::Scope;
use crate::error::{ApiError, ApiResult, Code};
use crate::index::User;
use crate::ingest::multipart::{self, Multipart};

/// The uploader, authenticated with the `upload` scope, holding an upload slot (released when
/// the upload is answered, or dropped by the deadline) and counted against their rate.
pub struct Uploader {
    pub user: User,
    _slot: UploadSlot,
}

impl FromRequestParts<AppState> for Uploader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        let user = auth.require(Scope::Upload)?.clone();
        let slot = state.guards.upload_slot(user.id)?;
        state.guards.check_upload(user.id)?;
        Ok(Uploader { user, _slot: slot })
    }
}

/// The body as a multipart reader, under the framing bound and the upload's size limits.
pub struct UploadBody(pub Multipart);

impl FromRequest<AppState> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let boundary = boundary(request.headers())?;
        // Refuse an announced oversized body before reading a byte of it.
        within_limit(request.headers(), state.limits.max_body_bytes())?;
        let body = request.into_body().into_data_stream();
        Ok(UploadBody(Multipart::new(
            body,
            &boundary,
            state.limits.parts(),
        )))
    }
}

/// The multipart boundary of a `multipart/form-data` body; 415 for anything else.
fn boundary(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart::boundary)
        .ok_or_else(|| {
            ApiError::new(
                Code::UnsupportedMediaType,
                "uploads must be multipart/form-data with parts 'metadata' and 'file'",
            )
        })
}

/// 413 when the request declares a `Content-Length` over `limit` (an unreadable one is left
/// to the streaming limits).
fn within_limit(headers: &HeaderMap, limit: u64) -> ApiResult<()> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            format!("the request body is larger than the {limit} byte limit"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut out = HeaderMap::new();
        for (name, value) in pairs {
            out.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        out
    }

    #[test]
    fn only_multipart_form_data_with_a_boundary_is_an_upload() {
        let ok = headers(&[("content-type", "multipart/form-data; boundary=XyZ")]);
        assert_eq!(boundary(&ok).unwrap(), "XyZ");
        for bad in [
            vec![],
            vec![("content-type", "application/json")],
            vec![("content-type", "multipart/form-data")],
        ] {
            let refused = boundary(&headers(&bad)).unwrap_err().into_response();
            assert_eq!(refused.status(), 415, "{bad:?}");
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        assert!(within_limit(&headers(&[]), 10).is_ok());
        assert!(within_limit(&headers(&[("content-length", "10")]), 10).is_ok());
        assert!(within_limit(&headers(&[("content-length", "junk")]), 10).is_ok());
        let refused = within_limit(&headers(&[("content-length", "11")]), 10).unwrap_err();
        let response = refused.into_response();
        assert_eq!(response.status(), 413);
    }
}
