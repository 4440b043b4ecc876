//! `GET`/`HEAD /api/v1/tickets/{id}/file`: exactly the uploaded bytes, streamed, with
//! `Range`, `If-Range`, `ETag` and `If-None-Match`; and the open-data dump's snapshot
//! (`/api/v1/dump`), served the same way.

mod plan;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};

use super::AppState;
use super::limits::Client;
use crate::blobs::BlobResult;
use crate::domain::masks::layout::{Layout, etag_input, parse_selection, plan_partial};
use crate::error::{ApiError, ApiResult, Code};
use crate::index::BlobRef;
use plan::{DownloadPlan, plan, redirect_headers};

/// `?part=masks|weights` or `?tensors=a,b`: a file of just those tensors.
#[derive(serde::Deserialize)]
pub struct FileQuery {
    part: Option<String>,
    tensors: Option<String>,
}

/// How long a presigned download URL stays valid.
const REDIRECT_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Download a ticket's file: exactly the bytes that were uploaded.
///
/// Resumable: one `Range` (206; 416 past the end), `If-Range`, `ETag` (the quoted sha256) and
/// `If-None-Match` (304). A download counts when its last byte goes out (the whole file, or
/// the range that completes a resumed one), once per client and ticket per hour. With `--download-redirect` and an S3 store the answer is a 302 to a presigned URL.
///
/// With `part=masks` (every `*_mask` tensor), `part=weights` (every other tensor) or
/// `tensors=a,b` (those tensors): a valid safetensors file of just those, generated from byte
/// ranges of the stored file (offsets recomputed, `__metadata__` kept plus
/// `ticketbooth.format` = `partial`, its version and `ticketbooth.source_sha256`), with an exact
/// `Content-Length`, its own `ETag`, `Range` and `HEAD`, and not counted as a download. An
/// unknown tensor name, `part` with `tensors`, or `part=masks` on a file without masks is a 400.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/file", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id"),
        ("part" = Option<String>, Query, description = "masks (every *_mask tensor) or weights (every other tensor): a file of just those"),
        ("tensors" = Option<String>, Query, description = "Comma-separated tensor names: a file of just those (not with part)"),
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
        (status = 400, description = "An unknown tensor, part with tensors, or part=masks without masks", body = crate::error::ErrorBody),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
        (status = 416, description = "Range not satisfiable", body = crate::error::ErrorBody),
    ))]
pub async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
    method: Method,
    client: Client,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let selection = parse_selection(q.part.as_deref(), q.tensors.as_deref())?;
    let blob = state
        .index
        .blob_of(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id '{id}'")))?;
    if let Some(selection) = selection {
        return partial(&state, &blob, &selection, method, &headers).await;
    }
    let (etag, size) = (format!("\"{}\"", blob.sha256), blob.size_bytes);
    let plan = plan(size, &etag, &blob.ticket_name, &headers).map_err(ApiError::internal)?;
    let transfer = match plan {
        DownloadPlan::Send(transfer) if method != Method::HEAD => transfer,
        plan => return Ok(without_body(plan, size)),
    };
    // Only a download that reaches the file's end counts (never a probe like `bytes=0-0`).
    let completes = transfer
        .reaches_end(size)
        .then_some(Completion(state.clone(), client, id));
    if state.download_redirect
        && let Some(signed) = state
            .blobs
            .presigned_get(&blob.object_key, REDIRECT_VALID_FOR)
            .await
    {
        return redirect(signed, &etag, completes).await;
    }
    let stream = state
        .blobs
        .get(&blob.object_key, Some(transfer.start..transfer.end + 1))
        .await
        .map_err(ApiError::unavailable)?;
    let body = Body::from_stream(counted(stream, transfer.length(), completes));
    Ok((transfer.status, transfer.headers, body).into_response())
}

/// A file of some of the stored tensors (`?part=` or `?tensors=`).
async fn partial(
    state: &AppState,
    blob: &BlobRef,
    selection: &crate::domain::masks::layout::Selection,
    method: Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let stored = state.derived.header(&state.blobs, blob).await?;
    let layout = plan_partial(&stored.header, stored.data_start, &blob.sha256, selection)?;
    let suffix = match selection {
        crate::domain::masks::layout::Selection::Masks => "masks",
        crate::domain::masks::layout::Selection::Weights => "weights",
        crate::domain::masks::layout::Selection::Tensors(_) => "tensors",
    };
    let canonical = selection.canonical();
    send_generated(state, blob, layout, &canonical, suffix, method, headers).await
}

/// Sends a generated file (partial or packed) of `blob`: the download plan of the whole-file
/// answer (304, 416, ranges, HEAD) with an ETag of its own, the bytes streamed from the blob.
/// Never counted as a download.
pub(super) async fn send_generated(
    state: &AppState,
    blob: &BlobRef,
    layout: Layout,
    canonical: &str,
    suffix: &str,
    method: Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let input = etag_input(&blob.sha256, canonical);
    let etag = format!(
        "\"{}\"",
        crate::ingest::pipeline::sha256_hex(input.as_bytes())
    );
    let size = layout.len;
    let name = format!("{}.{suffix}", blob.ticket_name);
    let transfer = match plan(size, &etag, &name, headers).map_err(ApiError::internal)? {
        DownloadPlan::Send(transfer) if method != Method::HEAD => transfer,
        plan => return Ok(without_body(plan, size)),
    };
    let stream = crate::derived::files::stream(
        state.blobs.clone(),
        blob.object_key.clone(),
        std::sync::Arc::new(layout),
        transfer.start,
        transfer.end,
    );
    Ok((transfer.status, transfer.headers, Body::from_stream(stream)).into_response())
}

/// Download the open-data dump: the whole public index as gzipped JSON lines.
///
/// One record per line, `{"type": "meta"}` first, then every ticket (`"ticket"`: the API's
/// ticket JSON with its evidence, without the per-tensor table; lineage is `parent_id`), then
/// every result (`"result"`). No tokens and nothing private. A snapshot kept in the blob store
/// and refreshed on a schedule (`--dump-interval`) or by `ticketbooth dump`, served with `ETag`
/// (its sha256) and `Range`; `X-Dump-Created-At` says when it was made.
#[utoipa::path(get, path = "/api/v1/dump", tag = "evidence",
    params(("Range" = Option<String>, Header, description = "One byte range"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client already has: 304 when one matches")),
    responses(
        (status = 200, description = "The snapshot", content_type = "application/gzip", body = Vec<u8>,
            headers(("ETag" = String, description = "The quoted sha256 of the gzipped bytes"),
                ("X-Dump-Created-At" = String, description = "When the snapshot was started (RFC 3339)"))),
        (status = 206, description = "A byte range", content_type = "application/gzip", body = Vec<u8>),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No snapshot yet", body = crate::error::ErrorBody),
        (status = 416, description = "Range not satisfiable", body = crate::error::ErrorBody),
    ))]
pub async fn download_dump(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let dump = state.index.latest_dump().await?.ok_or_else(|| {
        ApiError::not_found(
            "no dump has been made yet; it is refreshed on a schedule, or by `ticketbooth dump`",
        )
    })?;
    let (etag, size) = (format!("\"{}\"", dump.sha256), dump.size_bytes);
    let mut plan = plan(size, &etag, "ticketbooth-dump", &headers).map_err(ApiError::internal)?;
    if let DownloadPlan::Send(transfer) = &mut plan {
        let out = &mut transfer.headers;
        out.insert(CONTENT_TYPE, HeaderValue::from_static("application/gzip"));
        out.insert(
            CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"ticketbooth-dump.jsonl.gz\""),
        );
        // A newer snapshot replaces it within the refresh interval.
        out.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        if let Ok(when) = HeaderValue::from_str(&dump.created_at.to_rfc3339()) {
            out.insert("x-dump-created-at", when);
        }
    }
    let transfer = match plan {
        DownloadPlan::Send(transfer) if method != Method::HEAD => transfer,
        plan => return Ok(without_body(plan, size)),
    };
    let stream = state
        .blobs
        .get(&dump.object_key, Some(transfer.start..transfer.end + 1))
        .await
        .map_err(ApiError::unavailable)?;
    let body = Body::from_stream(counted(stream, transfer.length(), None));
    Ok((transfer.status, transfer.headers, body).into_response())
}

/// The answers without a body: the 304, the 416 (with `Content-Range: bytes */SIZE`), and
/// what a `HEAD` gets.
fn without_body(plan: DownloadPlan, size: u64) -> Response {
    match plan {
        DownloadPlan::NotModified(out) => (StatusCode::NOT_MODIFIED, out).into_response(),
        DownloadPlan::Unsatisfiable(out) => {
            let mut response = ApiError::new(
                Code::RangeNotSatisfiable,
                format!("range not satisfiable: the file is {size} bytes"),
            )
            .into_response();
            response.headers_mut().extend(out);
            response
        }
        DownloadPlan::Send(transfer) => (transfer.status, transfer.headers).into_response(),
    }
}

/// A 302 to a presigned URL. Counted when the redirect is issued (the bytes never pass
/// through here), if what it points at reaches the file's end.
async fn redirect(
    signed: BlobResult<String>,
    etag: &str,
    completes: Option<Completion>,
) -> ApiResult<Response> {
    let location = signed.map_err(ApiError::unavailable)?;
    if let Some(completion) = completes {
        completion.count().await;
    }
    let headers = redirect_headers(&location, etag).map_err(ApiError::internal)?;
    Ok((StatusCode::FOUND, headers).into_response())
}

/// What counting a completed download needs: the state, the client and the ticket's id.
struct Completion(AppState, Client, String);

impl Completion {
    async fn count(self) {
        count_download(&self.0, self.1, &self.2).await;
    }
}

/// The blob's stream of `len` bytes, metered; when `completes` (the range reaches the file's
/// end) the download counts as its last byte is handed over, never for a download cut short.
/// The count is written before that last chunk goes out, so the client's next read sees it.
fn counted<E>(
    stream: impl Stream<Item = Result<Bytes, E>>,
    len: u64,
    mut completes: Option<Completion>,
) -> impl Stream<Item = Result<Bytes, E>> {
    let mut left = len;
    stream.then(move |chunk| {
        let mut last = None;
        if let Ok(bytes) = &chunk {
            metrics::counter!(crate::metrics::DOWNLOAD_BYTES).increment(bytes.len() as u64);
            left = left.saturating_sub(bytes.len() as u64);
            if left == 0 {
                last = completes.take();
            }
        }
        async move {
            if let Some(completion) = last {
                completion.count().await;
            }
            chunk
        }
    })
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
