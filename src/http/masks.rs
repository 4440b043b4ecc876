//! The mask as a first-class object: a ticket's header without its data, its packed form,
//! and the comparison of two tickets' masks. Handlers parse and answer; the plans are the
//! domain's (`domain::masks`), the reading `derived`'s.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::files::send_generated;
use crate::derived::compare::CompareAnswer;
use crate::derived::{HeaderView, resolve};
use crate::domain::masks::layout::{PACKED_FORMAT, PackError, plan_packed};
use crate::error::{ApiError, ApiResult, Code};

/// Read a ticket's safetensors header without its data.
///
/// `header` is the stored file's header JSON exactly as uploaded (every tensor's dtype, shape
/// and data_offsets, and `__metadata__`); `data_start` is where the data begins (offsets are
/// relative to it); `tensors` is the per-tensor table with the counts measured at upload
/// (params, kept, prunable), in data order. Reads only the file's first bytes.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/header", tag = "masks",
    params(("id" = String, Path, description = "The ticket's id, or owner/name with the slash escaped as %2F")),
    responses(
        (status = 200, description = "The header and the per-tensor table", body = HeaderView),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn header(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<HeaderView>> {
    let r = resolve(&state.index, &id).await?;
    let stored = state.derived.header(&state.blobs, &r.blob).await?;
    let tensors = r.ticket.tensors.unwrap_or_default();
    Ok(Json(HeaderView::new(&stored, tensors)?))
}

/// Download a ticket in packed form: each mask as bits, each masked weight as its kept values.
///
/// For each masked parameter `P` (stored as `P_orig` or `P` beside `P_mask`): `P.bitmask` (U8,
/// entry i in bit i%8 of byte i/8, least significant bit first) and `P.values` (the kept
/// entries of the stored weights, row-major, same dtype). A file without masks packs every
/// prunable tensor `T` as `T.bitmask`/`T.values` by its nonzero pattern. Other tensors are as
/// stored. `__metadata__` keeps the source's and adds `ticketbooth.format` = `packed`, its
/// version, the source sha256 and `ticketbooth.packed`, a JSON string naming each packed
/// parameter's shape, dtype, source tensors and mask dtype (docs/masks.md). Pruned entries of
/// the stored weights are not shipped: unpacking restores them as zeros. Exact
/// `Content-Length`, its own `ETag`, `Range`, `HEAD`; not counted as a download.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/packed", tag = "masks",
    params(("id" = String, Path, description = "The ticket's id"),
        ("Range" = Option<String>, Header, description = "One byte range: bytes=START-END, bytes=START- or bytes=-SUFFIX"),
        ("If-Range" = Option<String>, Header, description = "The ETag the range must still match; otherwise the whole file is sent"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client already has: 304 when one matches")),
    responses(
        (status = 200, description = "The packed safetensors file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("ETag" = String, description = "The quoted sha256 of the source's sha256, the request and the format version"))),
        (status = 206, description = "A byte range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
        (status = 409, description = "A packed name is already a tensor of the file", body = crate::error::ErrorBody),
        (status = 416, description = "Range not satisfiable", body = crate::error::ErrorBody),
    ))]
pub async fn packed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let r = resolve(&state.index, &id).await?;
    let stored = state.derived.header(&state.blobs, &r.blob).await?;
    let kept: HashMap<String, u64> = (r.ticket.tensors.iter().flatten())
        .map(|t| (t.name.clone(), t.kept))
        .collect();
    let layout = plan_packed(&stored.header, stored.data_start, &r.blob.sha256, |n| {
        kept.get(n).copied()
    })
    .map_err(|e| match e {
        PackError::NameCollision(_) => ApiError::new(Code::Conflict, e.to_string()),
        PackError::MissingCount(_) => ApiError::internal(e),
    })?;
    send_generated(
        &state,
        &r.blob,
        layout,
        PACKED_FORMAT,
        PACKED_FORMAT,
        method,
        &headers,
    )
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CompareQuery {
    /// The first ticket: its id or owner/name.
    a: String,
    /// The second ticket: its id or owner/name.
    b: String,
}

/// Compare two tickets' masks, layer by layer.
///
/// For two tickets of the same architecture (equal fingerprints, docs/masks.md; else 422 saying
/// how they differ): per layer (each floating parameter of rank >= 2, by its name once masked)
/// and overall, `kept_a`, `kept_b`, `intersection`, `union`, `iou`, `expected_iou` (what two
/// random masks of those sizes would give, approximately E[I]/(kept_a+kept_b-E[I]) with
/// E[I] = kept_a*kept_b/entries) and `sign_agreement` (the share of the intersection where the
/// two stored weights have the same sign bit). A layer's mask is its `*_mask` tensor, or the
/// nonzero pattern of its weights. Reads both files once (cost: their size); answers are cached
/// by the pair of sha256s; at most `--max-concurrent-compares` run at once (503 with
/// Retry-After past it).
#[utoipa::path(get, path = "/api/v1/compare", tag = "masks",
    params(CompareQuery),
    responses(
        (status = 200, description = "The comparison", body = CompareAnswer),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
        (status = 422, description = "The two tickets prune different architectures", body = crate::error::ErrorBody),
        (status = 503, description = "Every comparison slot is taken; retry after Retry-After", body = crate::error::ErrorBody),
    ))]
pub async fn compare(
    State(state): State<AppState>,
    Query(q): Query<CompareQuery>,
) -> ApiResult<Json<CompareAnswer>> {
    let a = resolve(&state.index, &q.a).await?;
    let b = resolve(&state.index, &q.b).await?;
    Ok(Json(state.derived.compare(&state.blobs, a, b).await?))
}
