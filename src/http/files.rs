//! `GET`/`HEAD /api/v1/tickets/{id}/file`: exactly the uploaded bytes, streamed, with
//! `Range`, `If-Range`, `ETag` and `If-None-Match`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, IF_NONE_MATCH, IF_RANGE, LOCATION, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_range_header::{EndPosition, StartPosition};

use super::AppState;
use super::limits::Client;
use crate::error::{ApiError, ApiResult, Code};

/// How long a presigned download URL stays valid.
const REDIRECT_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// What a `Range` header asks of a representation of `size` bytes (RFC 9110 section 14).
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything. Malformed and multi-range requests land here too,
    /// which the RFC allows (a server may ignore Range).
    Full,
    /// Bytes `start..=end`.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

pub fn resolve_range(header: &str, size: u64) -> RangeRequest {
    let Ok(parsed) = http_range_header::parse_range_header(header) else {
        return RangeRequest::Full;
    };
    let [range] = parsed.ranges.as_slice() else {
        return RangeRequest::Full;
    };
    let start = match range.start {
        StartPosition::Index(i) => i,
        // A suffix longer than the file means the whole file.
        StartPosition::FromLast(n) => size.saturating_sub(n),
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    let end = match range.end {
        EndPosition::Index(e) => e.min(size - 1),
        EndPosition::LastByte => size - 1,
    };
    if end < start {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial { start, end }
}

/// `If-None-Match` matches when it lists our ETag (weak comparison) or is `*`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// Download a ticket's file: exactly the bytes that were uploaded.
///
/// Resumable: one `Range` (206; 416 past the end), `If-Range`, `ETag` (the quoted sha256) and
/// `If-None-Match` (304). A download counts when its last byte goes out (the whole file, or
/// the range that completes a resumed one), once per client and ticket per hour. With `--download-redirect` and an S3 store the answer is a 302 to a presigned URL.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/file", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id"),
        ("Range" = Option<String>, Header, description = "One byte range: bytes=START-END, bytes=START- or bytes=-SUFFIX (bytes, from 0); several ranges get the whole file"),
        ("If-Range" = Option<String>, Header, description = "The ETag the range must still match; otherwise the whole file is sent"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client already has (the quoted sha256, or *): 304 when one matches")),
    responses(
        (status = 200, description = "The exact uploaded bytes", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("ETag" = String, description = "The quoted sha256"))),
        (status = 206, description = "A byte range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 302, description = "With --download-redirect and an S3 store: a short-lived presigned URL to fetch it from",
            headers(("Location" = String))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
        (status = 416, description = "Range not satisfiable", body = crate::error::ErrorBody),
    ))]
pub async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    client: Client,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let blob = state
        .index
        .blob_of(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id '{id}'")))?;
    let etag = format!("\"{}\"", blob.sha256);
    let size = blob.size_bytes;

    let mut out = HeaderMap::new();
    let header = |s: &str| HeaderValue::from_str(s).map_err(ApiError::internal);
    out.insert(ETAG, header(&etag)?);
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );

    if none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }

    // A Range applies only while the client's copy is still current (If-Range: our ETag).
    let if_range_ok = headers
        .get(IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let range = match headers.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => resolve_range(r, size),
        _ => RangeRequest::Full,
    };
    let (status, start, end) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, size - 1),
        RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeRequest::Unsatisfiable => {
            out.insert(CONTENT_RANGE, header(&format!("bytes */{size}"))?);
            let mut response = ApiError::new(
                Code::RangeNotSatisfiable,
                format!("range not satisfiable: the file is {size} bytes"),
            )
            .into_response();
            response.headers_mut().extend(out);
            return Ok(response);
        }
    };
    if status == StatusCode::PARTIAL_CONTENT {
        out.insert(
            CONTENT_RANGE,
            header(&format!("bytes {start}-{end}/{size}"))?,
        );
    }
    out.insert(CONTENT_LENGTH, header(&(end - start + 1).to_string())?);
    out.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // Ticket names are slugs ([a-z0-9._-]), so the filename needs no escaping.
    out.insert(
        CONTENT_DISPOSITION,
        header(&format!(
            "attachment; filename=\"{}.safetensors\"",
            blob.ticket_name
        ))?,
    );

    if method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    if state.download_redirect
        && let Some(signed) = state
            .blobs
            .presigned_get(&blob.object_key, REDIRECT_VALID_FOR)
            .await
    {
        let location = signed.map_err(ApiError::unavailable)?;
        // Counted when the redirect is issued (the bytes never pass through here), if what it
        // points at reaches the file's end.
        if end + 1 == size {
            count_download(&state, client, &id).await;
        }
        let mut redirect = HeaderMap::new();
        redirect.insert(LOCATION, header(&location)?);
        redirect.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        redirect.insert(ETAG, header(&etag)?);
        return Ok((StatusCode::FOUND, redirect).into_response());
    }
    let stream = state
        .blobs
        .get(&blob.object_key, Some(start..end + 1))
        .await
        .map_err(ApiError::unavailable)?;
    // A download counts as its last byte is handed over: a whole file, or the range that
    // completes a resumed one; never a probe like `bytes=0-0` or a download cut short. The
    // count is written before that last chunk goes out, so the client's next read sees it.
    let mut left = end - start + 1;
    let mut on_last_byte = (end + 1 == size).then(|| (state.clone(), client, id.clone()));
    let counted = stream.then(move |chunk| {
        let mut last = None;
        if let Ok(bytes) = &chunk {
            metrics::counter!(crate::metrics::DOWNLOAD_BYTES).increment(bytes.len() as u64);
            left = left.saturating_sub(bytes.len() as u64);
            if left == 0 {
                last = on_last_byte.take();
            }
        }
        async move {
            if let Some((state, client, id)) = last {
                count_download(&state, client, &id).await;
            }
            chunk
        }
    });
    Ok((status, out, Body::from_stream(counted)).into_response())
}

/// Counts a completed download, once per client and ticket per hour. Bookkeeping: a failure is
/// logged, never the client's problem.
async fn count_download(state: &AppState, client: Client, id: &str) {
    if !state
        .guards
        .downloads
        .first_in_window(client, id, std::time::Instant::now())
    {
        return;
    }
    if let Err(e) = state.index.count_download(id).await {
        tracing::warn!(error = %e, ticket = id, "could not count a download");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_rfc() {
        use RangeRequest::*;
        assert_eq!(
            resolve_range("bytes=0-9", 100),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(
            resolve_range("bytes=90-", 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            resolve_range("bytes=90-200", 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            resolve_range("bytes=-10", 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            resolve_range("bytes=-1000", 100),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(resolve_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(resolve_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(resolve_range("items=0-1", 100), Full);
        assert_eq!(resolve_range("bytes=abc", 100), Full);
    }
}
