//! What a download answers, decided from the ticket's size, ETag and name and the request's
//! headers alone: `If-None-Match` (304), `Range` and `If-Range` (206, 416), and the headers of
//! each answer. Pure: the handler fetches the blob and executes the plan.

use axum::http::header::InvalidHeaderValue;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, IF_NONE_MATCH, IF_RANGE, LOCATION, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use http_range_header::{EndPosition, StartPosition};

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

/// The answer to a download request, with the headers it carries.
#[derive(Debug)]
pub enum DownloadPlan {
    /// 304: the client's copy is current.
    NotModified(HeaderMap),
    /// 416, with `Content-Range: bytes */SIZE`.
    Unsatisfiable(HeaderMap),
    /// 200 or 206.
    Send(Transfer),
}

/// Bytes `start..=end` of the file, with the status and headers they go out with.
#[derive(Debug)]
pub struct Transfer {
    pub status: StatusCode,
    pub start: u64,
    pub end: u64,
    pub headers: HeaderMap,
}

impl Transfer {
    /// How many bytes go out.
    pub fn length(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Whether the transfer ends at the file's last byte (so completes a download).
    pub fn reaches_end(&self, size: u64) -> bool {
        self.end + 1 == size
    }
}

/// Decides a download of a file of `size` bytes (never empty: every stored file has a
/// safetensors header) whose ETag is `etag` (quoted) and ticket name `name` (a slug).
pub fn plan(
    size: u64,
    etag: &str,
    name: &str,
    request: &HeaderMap,
) -> Result<DownloadPlan, InvalidHeaderValue> {
    let mut out = HeaderMap::new();
    out.insert(ETAG, HeaderValue::from_str(etag)?);
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    if none_match(request, etag) {
        return Ok(DownloadPlan::NotModified(out));
    }
    let (status, start, end) = match range(request, etag, size) {
        RangeRequest::Full => (StatusCode::OK, 0, size - 1),
        RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeRequest::Unsatisfiable => {
            out.insert(CONTENT_RANGE, header(&format!("bytes */{size}"))?);
            return Ok(DownloadPlan::Unsatisfiable(out));
        }
    };
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{end}/{size}");
        out.insert(CONTENT_RANGE, header(&range)?);
    }
    out.insert(CONTENT_LENGTH, header(&(end - start + 1).to_string())?);
    out.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // Ticket names are slugs ([a-z0-9._-]), so the filename needs no escaping.
    let disposition = format!("attachment; filename=\"{name}.safetensors\"");
    out.insert(CONTENT_DISPOSITION, header(&disposition)?);
    Ok(DownloadPlan::Send(Transfer {
        status,
        start,
        end,
        headers: out,
    }))
}

/// The headers of a 302 to a presigned URL: never cached (the URL expires), with the ETag.
pub fn redirect_headers(location: &str, etag: &str) -> Result<HeaderMap, InvalidHeaderValue> {
    let mut out = HeaderMap::new();
    out.insert(LOCATION, header(location)?);
    out.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.insert(ETAG, header(etag)?);
    Ok(out)
}

fn header(s: &str) -> Result<HeaderValue, InvalidHeaderValue> {
    HeaderValue::from_str(s)
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

/// The range asked for. A Range applies only while the client's copy is still current
/// (`If-Range`: our ETag); otherwise, or without one, the whole file.
fn range(headers: &HeaderMap, etag: &str, size: u64) -> RangeRequest {
    let if_range_ok = headers
        .get(IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    match headers.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => resolve_range(r, size),
        _ => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests;
