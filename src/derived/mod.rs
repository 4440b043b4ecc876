//! What the registry derives from a stored ticket without storing anything new: its header
//! (read from the first bytes of the blob, cached by sha256), the partial and packed files
//! (`files.rs`: a plan from `domain::masks::layout`, streamed from ranged reads of the blob) and
//! the comparison of two tickets' masks (`compare.rs`: both blobs streamed tensor by tensor in
//! lockstep, the counting on a blocking thread, a cap on how many run at once, the answers
//! cached by the pair of sha256s).
//!
//! Invariant: nothing here holds a tensor whole. Memory per request is bounded by a few
//! windows of [`WINDOW_BYTES`], whatever the file's size (docs/masks.md gives the bound).

pub mod compare;
pub mod files;
mod lru;
mod reader;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::blobs::BlobStore;
use crate::domain::inspector::{
    Header, MAX_HEADER_BYTES, TensorReport, check_prefix, parse_header,
};
use crate::domain::masks::compare::Comparison;
use crate::error::{ApiError, ApiResult};
use crate::index::{BlobRef, DynIndex, Ticket};
use lru::Lru;

/// Bytes of one tensor read at a time (per tensor, when several are read in lockstep).
pub const WINDOW_BYTES: usize = 1 << 20;
/// Parsed headers kept, and the header bytes they may hold in all.
const HEADERS_KEPT: usize = 256;
const HEADER_BYTES_KEPT: u64 = 64 << 20;
/// Comparisons kept, and the layers they may hold in all.
const COMPARISONS_KEPT: usize = 512;
const COMPARISON_LAYERS_KEPT: u64 = 200_000;

/// A stored file's header, parsed, with its JSON text and where its data begins.
#[derive(Debug)]
pub struct StoredHeader {
    pub header: Header,
    pub json: String,
    pub data_start: u64,
}

/// The shared state: caches and the comparison slots.
pub struct Derived {
    headers: Lru<String, StoredHeader>,
    comparisons: Lru<(String, String), Comparison>,
    compare_slots: Arc<Semaphore>,
}

/// A ticket and where its bytes are.
pub struct Resolved {
    pub ticket: Ticket,
    pub blob: BlobRef,
}

impl Derived {
    /// At most `max_compares` comparisons run at once; more are refused (503).
    pub fn new(max_compares: usize) -> Self {
        Derived {
            headers: Lru::new(HEADERS_KEPT, HEADER_BYTES_KEPT),
            comparisons: Lru::new(COMPARISONS_KEPT, COMPARISON_LAYERS_KEPT),
            compare_slots: Arc::new(Semaphore::new(max_compares)),
        }
    }

    /// The stored file's header: from the cache, or read from the blob (8 bytes, then the
    /// header: never the data).
    pub async fn header(&self, blobs: &BlobStore, blob: &BlobRef) -> ApiResult<Arc<StoredHeader>> {
        if let Some(h) = self.headers.get(&blob.sha256) {
            return Ok(h);
        }
        let prefix = read_all(blobs, &blob.object_key, 0..8).await?;
        let prefix: [u8; 8] = prefix[..]
            .try_into()
            .map_err(|_| ApiError::internal("a stored file is shorter than 8 bytes"))?;
        let len = check_prefix(&prefix, MAX_HEADER_BYTES).map_err(ApiError::internal)?;
        let json = read_all(blobs, &blob.object_key, 8..8 + len).await?;
        let header = parse_header(&json).map_err(ApiError::internal)?;
        let json = String::from_utf8(json.to_vec()).map_err(ApiError::internal)?;
        let stored = Arc::new(StoredHeader {
            header,
            json,
            data_start: 8 + len,
        });
        self.headers
            .put(blob.sha256.clone(), stored.clone(), len.max(1));
        Ok(stored)
    }
}

/// A ticket by id or `owner/name`, with its blob.
pub async fn resolve(index: &DynIndex, reference: &str) -> ApiResult<Resolved> {
    let ticket = match reference.split_once('/') {
        Some((owner, name)) => {
            index
                .ticket_by_name(&owner.to_lowercase(), &name.to_lowercase())
                .await?
        }
        None => index.ticket(reference).await?,
    }
    .ok_or_else(|| ApiError::not_found(format!("no ticket '{reference}'")))?;
    let blob = index
        .blob_of(&ticket.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket '{reference}'")))?;
    Ok(Resolved { ticket, blob })
}

/// Bytes `range` of an object, collected (only ever a header).
async fn read_all(blobs: &BlobStore, key: &str, range: std::ops::Range<u64>) -> ApiResult<Bytes> {
    let mut stream = blobs
        .get(key, Some(range))
        .await
        .map_err(ApiError::unavailable)?;
    let mut out = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(ApiError::unavailable)?);
    }
    Ok(out.freeze())
}

/// `GET /tickets/{id}/header`: the stored header JSON as it is, and the per-tensor table.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HeaderView {
    /// The safetensors header exactly as stored: every tensor's dtype, shape and data_offsets,
    /// and `__metadata__`.
    #[schema(value_type = Object)]
    pub header: Box<serde_json::value::RawValue>,
    /// Where the tensor data begins in the file (8 + the header's length): data_offsets are
    /// relative to it.
    pub data_start: u64,
    /// Per tensor, in data order: dtype, shape, params, kept and whether it is prunable.
    pub tensors: Vec<TensorReport>,
}

impl HeaderView {
    pub fn new(stored: &StoredHeader, tensors: Vec<TensorReport>) -> ApiResult<Self> {
        let header = serde_json::value::RawValue::from_string(stored.json.trim_end().to_owned())
            .map_err(ApiError::internal)?;
        Ok(HeaderView {
            header,
            data_start: stored.data_start,
            tensors,
        })
    }
}
