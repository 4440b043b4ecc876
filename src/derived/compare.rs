//! Comparing two tickets' masks: both stored files streamed layer by layer, the two sides'
//! masks and weights read in lockstep a window at a time, and counted on one blocking thread
//! fed by a bounded channel. A slot (of `--max-concurrent-compares`) is held while it runs;
//! the answer is cached by the pair of sha256s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use super::reader::TensorReader;
use super::{Derived, Resolved, WINDOW_BYTES};
use crate::blobs::BlobStore;
use crate::domain::masks::compare::{Comparison, LayerPlan, LayerSide, plan_compare, summarize};
use crate::domain::masks::fingerprint;
use crate::domain::masks::kernels::{Side, Tally};
use crate::error::{ApiError, ApiResult, Code};

/// Windows queued between the reading task and the counting thread.
const QUEUED_WINDOWS: usize = 2;

/// One ticket of a comparison, as the answer names it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Compared {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub sha256: String,
    /// The architecture fingerprint (docs/masks.md), equal for both.
    pub fingerprint: String,
}

/// `GET /api/v1/compare`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompareAnswer {
    pub a: Compared,
    pub b: Compared,
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl Derived {
    /// Compares `a` and `b` (cached by their sha256s): 422 when their architectures differ,
    /// 503 with Retry-After when every comparison slot is taken.
    pub async fn compare(
        &self,
        blobs: &BlobStore,
        a: Resolved,
        b: Resolved,
    ) -> ApiResult<CompareAnswer> {
        let (ha, hb) = (
            self.header(blobs, &a.blob).await?,
            self.header(blobs, &b.blob).await?,
        );
        let plan = plan_compare(&ha.header, ha.data_start, &hb.header, hb.data_start)
            .map_err(|e| ApiError::new(Code::NotComparable, e.0))?;
        let fp = fingerprint_of(&ha.header);
        let key = (a.blob.sha256.clone(), b.blob.sha256.clone());
        let comparison = match self.comparisons.get(&key) {
            Some(c) => c,
            None => {
                let _slot = self.compare_slots.clone().try_acquire_owned().map_err(|_| {
                    ApiError::busy(
                        Code::Unavailable,
                        "this server is running as many comparisons as it allows at once; retry shortly",
                        Duration::from_secs(5),
                    )
                })?;
                let layers = plan.len() as u64;
                let c = Arc::new(run(blobs, &a.blob.object_key, &b.blob.object_key, plan).await?);
                self.comparisons.put(key, c.clone(), layers.max(1));
                c
            }
        };
        let named = |r: &Resolved| Compared {
            id: r.ticket.id.clone(),
            owner: r.ticket.owner.clone(),
            name: r.ticket.name.clone(),
            sha256: r.blob.sha256.clone(),
            fingerprint: fp.clone(),
        };
        Ok(CompareAnswer {
            a: named(&a),
            b: named(&b),
            comparison: (*comparison).clone(),
        })
    }
}

fn fingerprint_of(header: &crate::domain::inspector::Header) -> String {
    let names: Vec<(&str, String, &[u64])> = header
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                crate::domain::inspector::dtype_name(t.dtype),
                t.shape.as_slice(),
            )
        })
        .collect();
    fingerprint(names.iter().map(|(n, d, s)| (*n, d.as_str(), *s)))
}

/// A window of one layer, both sides: masks (if stored) and weights over the same entries.
struct Window {
    layer: usize,
    entries: usize,
    a: Chunk,
    b: Chunk,
}

struct Chunk {
    mask: Option<Bytes>,
    weights: Bytes,
}

/// One side's readers for one layer.
struct Readers {
    mask: Option<TensorReader>,
    weights: TensorReader,
}

impl Readers {
    async fn open(blobs: &BlobStore, key: &str, side: &LayerSide) -> ApiResult<Self> {
        let mask = match side.mask {
            Some(m) => Some(TensorReader::open(blobs, key, m.bytes(0, m.entries)).await?),
            None => None,
        };
        let w = side.weights;
        let weights = TensorReader::open(blobs, key, w.bytes(0, w.entries)).await?;
        Ok(Readers { mask, weights })
    }

    async fn take(&mut self, side: &LayerSide, n: usize) -> ApiResult<Chunk> {
        let mask = match (&mut self.mask, side.mask) {
            (Some(r), Some(m)) => Some(r.take(n * m.entry.size).await?),
            _ => None,
        };
        let weights = self.weights.take(n * side.weights.entry.size).await?;
        Ok(Chunk { mask, weights })
    }
}

fn widest(side: &LayerSide) -> usize {
    side.mask
        .map_or(0, |m| m.entry.size)
        .max(side.weights.entry.size)
}

/// Reads every layer of both files in lockstep and counts on one blocking thread.
async fn run(
    blobs: &BlobStore,
    key_a: &str,
    key_b: &str,
    plan: Vec<LayerPlan>,
) -> ApiResult<Comparison> {
    let plan = Arc::new(plan);
    let (tx, mut rx) = mpsc::channel::<Window>(QUEUED_WINDOWS);
    let counted = plan.clone();
    let counter = tokio::task::spawn_blocking(move || {
        let mut tallies = vec![Tally::default(); counted.len()];
        while let Some(w) = rx.blocking_recv() {
            let layer = &counted[w.layer];
            let side = |c: &Chunk, s: &LayerSide| -> (Option<Bytes>, Bytes, LayerSide) {
                (c.mask.clone(), c.weights.clone(), *s)
            };
            let (ma, wa, sa) = side(&w.a, &layer.a);
            let (mb, wb, sb) = side(&w.b, &layer.b);
            let a = Side {
                mask: ma.as_deref().zip(sa.mask.map(|m| m.entry)),
                weights: &wa,
                weight: sa.weights.entry,
            };
            let b = Side {
                mask: mb.as_deref().zip(sb.mask.map(|m| m.entry)),
                weights: &wb,
                weight: sb.weights.entry,
            };
            tallies[w.layer].add(a, b, w.entries);
        }
        tallies
    });
    let reading = async {
        for (i, layer) in plan.iter().enumerate() {
            let mut ra = Readers::open(blobs, key_a, &layer.a).await?;
            let mut rb = Readers::open(blobs, key_b, &layer.b).await?;
            let window = (WINDOW_BYTES / widest(&layer.a).max(widest(&layer.b))) as u64;
            let mut at = 0u64;
            while at < layer.entries {
                let n = window.min(layer.entries - at) as usize;
                let a = ra.take(&layer.a, n).await?;
                let b = rb.take(&layer.b, n).await?;
                if tx
                    .send(Window {
                        layer: i,
                        entries: n,
                        a,
                        b,
                    })
                    .await
                    .is_err()
                {
                    return Err(ApiError::internal("the counting thread stopped"));
                }
                at += n as u64;
            }
        }
        Ok(())
    };
    let read: ApiResult<()> = reading.await;
    drop(tx);
    let tallies = counter.await.map_err(ApiError::internal)?;
    read?;
    let named: Vec<(String, Tally)> = plan
        .iter()
        .zip(tallies)
        .map(|(l, t)| (l.name.clone(), t))
        .collect();
    Ok(summarize(&named))
}
