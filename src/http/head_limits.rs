//! Bounds on a request's head (target length, header lines and bytes), checked before anything
//! else looks at the request, so an oversized head gets a JSON error naming the limit rather
//! than hyper's empty answer.

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Code};

/// Longest request target (path and query) the application answers; hyper's own limit, which
/// answers with an empty body, is 64 KiB.
pub const MAX_URI_BYTES: usize = 8 << 10;
/// Most header bytes (names, values, separators) the application answers; hyper refuses a
/// request head past its read buffer ([`HYPER_MAX_HEAD_BYTES`]) itself.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Most header lines the application answers; hyper's parser is given room for
/// [`HYPER_MAX_HEADERS`].
pub const MAX_HEADERS: usize = 100;
/// hyper's limits, set above the application's so that the application answers first.
pub const HYPER_MAX_HEADERS: usize = 200;
pub const HYPER_MAX_HEAD_BYTES: usize = 256 << 10;

/// Whether a request head is within the application's limits; the refusal names the limit.
pub fn check_head(uri_bytes: usize, headers: &HeaderMap) -> Result<(), ApiError> {
    if uri_bytes > MAX_URI_BYTES {
        return Err(ApiError::new(
            Code::UriTooLong,
            format!("the request target is {uri_bytes} bytes; the limit is {MAX_URI_BYTES}"),
        ));
    }
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::new(
            Code::HeadersTooLarge,
            format!(
                "the request has {} header lines; the limit is {MAX_HEADERS}",
                headers.len()
            ),
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            Code::HeadersTooLarge,
            format!("the request headers are {bytes} bytes; the limit is {MAX_HEADER_BYTES}"),
        ));
    }
    Ok(())
}

/// Middleware: [`check_head`] before anything else looks at the request.
pub async fn limit_heads(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    match check_head(uri_bytes, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_past_the_limits_are_named() {
        assert!(check_head(MAX_URI_BYTES, &HeaderMap::new()).is_ok());
        let long = check_head(MAX_URI_BYTES + 1, &HeaderMap::new()).unwrap_err();
        assert_eq!(long.code(), Code::UriTooLong);
        let mut many = HeaderMap::new();
        for i in 0..=MAX_HEADERS {
            many.insert(
                axum::http::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                "1".parse().unwrap(),
            );
        }
        assert_eq!(
            check_head(10, &many).unwrap_err().code(),
            Code::HeadersTooLarge
        );
        let mut big = HeaderMap::new();
        big.insert("x-big", "a".repeat(MAX_HEADER_BYTES).parse().unwrap());
        let refused = check_head(10, &big).unwrap_err();
        assert!(
            refused.to_string().contains("the limit is 65536"),
            "{refused}"
        );
        const { assert!(MAX_HEADERS < HYPER_MAX_HEADERS && MAX_HEADER_BYTES < HYPER_MAX_HEAD_BYTES) };
    }
}
