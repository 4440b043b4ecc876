//! A MinHash-style signature of a ticket's kept-entry set, for "similar tickets".
//!
//! The set is the indices of kept entries over the prunable tensors, concatenated in the order
//! of their parameters' names (`P` for both `P_mask` and a zeros-layout `P`, so both layouts of
//! one mask agree). One-permutation hashing: each kept index is hashed once; the top bits pick
//! one of [`BINS`] bins and the low 32 bits compete for that bin's minimum. Empty bins are
//! filled by optimal densification (Shrivastava 2017): each empty bin copies the value of the
//! first non-empty bin on its own fixed probe sequence, the same for every signature. The share
//! of equal bins between two signatures estimates the Jaccard index of the two sets.
//! [`bands`] cuts a signature into LSH bands: tickets sharing a band are the candidates.

/// Bins in a signature.
pub const BINS: usize = 128;
/// LSH bands, of `BINS / BANDS` values each: 16 bands of 8 find near duplicates and leave out
/// the many tickets that share a third of their entries by chance (dense early IMP levels).
pub const BANDS: usize = 16;
const ROWS: usize = BINS / BANDS;
const EMPTY: u32 = u32::MAX;
const SALT: u64 = 0x7469_636b_6574_6273; // "ticketbs"

/// splitmix64's finalizer: a fast, well-mixed 64-bit hash of an integer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Builds a signature from kept indices, in any order.
#[derive(Debug, Clone)]
pub struct SignatureBuilder {
    mins: [u32; BINS],
}

impl Default for SignatureBuilder {
    fn default() -> Self {
        SignatureBuilder {
            mins: [EMPTY; BINS],
        }
    }
}

impl SignatureBuilder {
    #[inline]
    pub fn add(&mut self, index: u64) {
        let h = mix(index ^ SALT);
        let bin = (h >> 57) as usize; // the top 7 bits: BINS = 128
        let value = (h as u32).min(EMPTY - 1);
        if value < self.mins[bin] {
            self.mins[bin] = value;
        }
    }

    /// The densified signature as little-endian bytes (`BINS * 4`). An empty set gives every
    /// bin the empty value.
    pub fn finish(self) -> Vec<u8> {
        let mins = self.mins;
        let any = mins.iter().any(|&v| v != EMPTY);
        let mut out = mins;
        if any {
            for (bin, slot) in out.iter_mut().enumerate() {
                if mins[bin] != EMPTY {
                    continue;
                }
                // Probe bins in a fixed pseudo-random order until a non-empty one.
                *slot = (1u64..)
                    .map(|attempt| {
                        mins[(mix(((bin as u64) << 32) | attempt) % BINS as u64) as usize]
                    })
                    .find(|&v| v != EMPTY)
                    .unwrap_or(EMPTY);
            }
        }
        out.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

fn values(signature: &[u8]) -> impl Iterator<Item = u32> + '_ {
    signature
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// The estimated Jaccard index of two signatures: the share of equal bins (0 when either is
/// not a signature, or both sets are empty).
pub fn jaccard(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != BINS * 4 || b.len() != BINS * 4 {
        return 0.0;
    }
    let mut equal = 0usize;
    let mut empty = true;
    for (x, y) in values(a).zip(values(b)) {
        empty &= x == EMPTY && y == EMPTY;
        equal += usize::from(x == y && x != EMPTY);
    }
    if empty {
        0.0
    } else {
        equal as f64 / BINS as f64
    }
}

/// The LSH band keys of a signature: band `i` hashes bins `i*ROWS..(i+1)*ROWS`. Two tickets
/// with Jaccard `s` share at least one band with probability `1 - (1 - s^8)^16` (0.95 at 0.8,
/// 0.9999 at 0.9, 0.25 at 0.6, 0.06 at 0.5).
pub fn bands(signature: &[u8]) -> Vec<i64> {
    if signature.len() != BINS * 4 {
        return Vec::new();
    }
    let vals: Vec<u32> = values(signature).collect();
    vals.chunks(ROWS)
        .enumerate()
        .map(|(band, rows)| {
            let h = rows
                .iter()
                .fold(mix(band as u64 ^ SALT), |h, &v| mix(h ^ u64::from(v)));
            h as i64
        })
        .collect()
}

/// Candidates `(id, signature)` ranked by estimated Jaccard against `query`, best first (ties
/// by id), at most `limit`.
pub fn rank(query: &[u8], candidates: Vec<(String, Vec<u8>)>, limit: usize) -> Vec<(String, f64)> {
    let mut scored: Vec<(String, f64)> = candidates
        .into_iter()
        .map(|(id, sig)| {
            let j = jaccard(query, &sig);
            (id, j)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(limit);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(indices: impl IntoIterator<Item = u64>) -> Vec<u8> {
        let mut b = SignatureBuilder::default();
        for i in indices {
            b.add(i);
        }
        b.finish()
    }

    #[test]
    fn equal_sets_agree_and_order_does_not_matter() {
        let a = signature((0..5000).map(|i| i * 7));
        let b = signature((0..5000).rev().map(|i| i * 7));
        assert_eq!(a, b);
        assert_eq!(a.len(), BINS * 4);
        assert_eq!(jaccard(&a, &b), 1.0);
        assert_eq!(bands(&a), bands(&b));
        assert_eq!(bands(&a).len(), BANDS);
    }

    #[test]
    fn the_estimate_tracks_the_true_jaccard_index() {
        // |A| = |B| = 20000 with 10000 in common: Jaccard 1/3.
        let a = signature(0..20_000);
        let b = signature(10_000..30_000);
        let est = jaccard(&a, &b);
        assert!((est - 1.0 / 3.0).abs() < 0.12, "{est}");
        let disjoint = signature(1_000_000..1_020_000);
        assert!(jaccard(&a, &disjoint) < 0.08, "{}", jaccard(&a, &disjoint));
        // A near-duplicate (1% changed) shares most bins and at least one band.
        let near = signature((0..19_800).chain(500_000..500_200));
        assert!(jaccard(&a, &near) > 0.9);
        let shared = bands(&a)
            .iter()
            .zip(bands(&near))
            .filter(|(x, y)| **x == *y)
            .count();
        assert!(shared > 0);
    }

    #[test]
    fn sparse_sets_are_densified_and_empty_ones_match_nothing() {
        // Three kept entries fill 3 bins at most; densification fills the rest the same way.
        let a = signature([1, 2, 3]);
        assert!(a.chunks_exact(4).all(|c| c != [0xff; 4]));
        assert_eq!(a, signature([3, 2, 1]));
        let empty = signature([]);
        assert_eq!(jaccard(&empty, &empty), 0.0);
        assert_eq!(jaccard(&a, &[1, 2, 3]), 0.0);
    }
}
