//! Streaming a generated file (`domain::masks::layout`): any byte range of it, from ranged
//! reads of the stored blob. Copies pass through; a bitmask reads its mask window by window;
//! a values run first finds where its first value is (reading only the mask) and then reads
//! mask and weights in lockstep. The per-entry work runs on the blocking pool.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::WINDOW_BYTES;
use super::reader::TensorReader;
use crate::blobs::BlobStore;
use crate::domain::masks::kernels::{Entry, find_kept, pack_bits, select_values};
use crate::domain::masks::layout::{Layout, Segment, Slice, Source};
use crate::error::{ApiError, ApiResult};

/// Bytes `start..=end` of the generated file, as a body stream. Errors (a store failure, a
/// stored file that disagrees with its index row) end the stream with an error, so the client
/// sees a cut transfer rather than wrong bytes.
pub fn stream(
    blobs: BlobStore,
    key: String,
    layout: Arc<Layout>,
    start: u64,
    end: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let out = Out(tx.clone());
        for slice in layout.slices(start, end) {
            let segment = &layout.segments[slice.segment];
            match produce(&blobs, &key, segment, slice, &out).await {
                Ok(()) => {}
                Err(Produce::Gone) => return,
                Err(Produce::Failed(e)) => {
                    tracing::warn!(error = %e, "a generated download failed");
                    let _ = tx
                        .send(Err(std::io::Error::other("generation failed")))
                        .await;
                    return;
                }
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
}

enum Produce {
    /// The client went away.
    Gone,
    Failed(ApiError),
}

impl From<ApiError> for Produce {
    fn from(e: ApiError) -> Self {
        Produce::Failed(e)
    }
}

struct Out(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Out {
    async fn send(&self, bytes: Bytes) -> Result<(), Produce> {
        if bytes.is_empty() {
            return Ok(());
        }
        metrics::counter!(crate::metrics::DOWNLOAD_BYTES).increment(bytes.len() as u64);
        self.0.send(Ok(bytes)).await.map_err(|_| Produce::Gone)
    }
}

/// Entries per window for tensors whose entries are at most `size` bytes: a multiple of 8, so
/// a window packs into whole bitmask bytes.
fn window_entries(size: usize) -> u64 {
    ((WINDOW_BYTES / size.max(1)) as u64 / 8 * 8).max(8)
}

async fn produce(
    blobs: &BlobStore,
    key: &str,
    segment: &Segment,
    slice: Slice,
    out: &Out,
) -> Result<(), Produce> {
    match segment {
        Segment::Bytes(b) => {
            out.send(Bytes::copy_from_slice(
                &b[slice.from as usize..slice.to as usize],
            ))
            .await
        }
        Segment::Copy { offset, .. } => {
            let mut s = blobs
                .get(key, Some(offset + slice.from..offset + slice.to))
                .await
                .map_err(ApiError::unavailable)?;
            while let Some(chunk) = s.next().await {
                out.send(chunk.map_err(ApiError::unavailable)?).await?;
            }
            Ok(())
        }
        Segment::Bitmask { mask } => bitmask(blobs, key, *mask, slice, out).await,
        Segment::Values {
            mask,
            weights,
            kept,
        } => values(blobs, key, *mask, *weights, *kept, slice, out).await,
    }
}

/// Bitmask bytes `from..to`: mask entries `8 * from..8 * to`, packed a window at a time.
async fn bitmask(
    blobs: &BlobStore,
    key: &str,
    mask: Source,
    slice: Slice,
    out: &Out,
) -> Result<(), Produce> {
    let (first, last) = (slice.from * 8, (slice.to * 8).min(mask.entries));
    let mut reader = TensorReader::open(blobs, key, mask.bytes(first, last)).await?;
    let window = window_entries(mask.entry.size);
    let mut at = first;
    while at < last {
        let n = window.min(last - at);
        let chunk = reader.take((n as usize) * mask.entry.size).await?;
        let entry = mask.entry;
        let packed = blocking(move || {
            let mut v = Vec::with_capacity(chunk.len() / entry.size / 8 + 1);
            pack_bits(&chunk, entry, &mut v);
            v
        })
        .await?;
        out.send(Bytes::from(packed)).await?;
        at += n;
    }
    Ok(())
}

/// Values bytes `from..to`: value `from / size` onwards, found by counting kept mask entries
/// from the start, then mask and weights read together.
async fn values(
    blobs: &BlobStore,
    key: &str,
    mask: Option<Source>,
    weights: Source,
    kept: u64,
    slice: Slice,
    out: &Out,
) -> Result<(), Produce> {
    let size = weights.entry.size as u64;
    let (first_value, end_value) = (slice.from / size, slice.to.div_ceil(size).min(kept));
    let mut skip = (slice.from - first_value * size) as usize;
    let mut wanted = (slice.to - slice.from) as usize;
    let decider = mask.unwrap_or(weights);
    let widest = decider.entry.size.max(weights.entry.size);
    let window = window_entries(widest);

    // Where the first wanted value is: count kept entries of the decider from the start.
    let mut start = 0u64;
    if first_value > 0 {
        let mut reader = TensorReader::open(blobs, key, decider.bytes(0, decider.entries)).await?;
        let mut seen = 0u64;
        loop {
            if start >= decider.entries {
                return Err(ApiError::internal(
                    "a stored mask keeps fewer entries than its index row says",
                )
                .into());
            }
            let n = window.min(decider.entries - start);
            let chunk = reader.take(n as usize * decider.entry.size).await?;
            match find_kept(&chunk, decider.entry, first_value - seen) {
                Ok(i) => {
                    start += i as u64;
                    break;
                }
                Err(k) => {
                    seen += k;
                    start += n;
                }
            }
        }
    }

    let mut w = TensorReader::open(blobs, key, weights.bytes(start, weights.entries)).await?;
    let mut m = match mask {
        Some(mask) => Some(TensorReader::open(blobs, key, mask.bytes(start, mask.entries)).await?),
        None => None,
    };
    let mut at = start;
    let mut values_left = end_value - first_value;
    while values_left > 0 && wanted > 0 {
        if at >= weights.entries {
            return Err(ApiError::internal(
                "a stored tensor keeps fewer entries than its index row says",
            )
            .into());
        }
        let n = window.min(weights.entries - at);
        let wchunk = w.take(n as usize * weights.entry.size).await?;
        let mchunk = match (&mut m, mask) {
            (Some(r), Some(ms)) => Some((r.take(n as usize * ms.entry.size).await?, ms.entry)),
            _ => None,
        };
        let went = weights.entry;
        let picked = blocking(move || {
            let mut v = Vec::new();
            let mask = mchunk.as_ref().map(|(b, e): &(Bytes, Entry)| (&b[..], *e));
            select_values(mask, &wchunk, went, &mut v);
            v
        })
        .await?;
        let mut picked = Bytes::from(picked);
        values_left = values_left.saturating_sub(picked.len() as u64 / size);
        let cut = skip.min(picked.len());
        let _ = picked.split_to(cut);
        skip -= cut;
        picked.truncate(wanted);
        wanted -= picked.len();
        out.send(picked).await?;
        at += n;
    }
    Ok(())
}

/// Runs per-entry work on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}
