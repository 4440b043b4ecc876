//! The per-entry work on raw little-endian tensor bytes, chunk by chunk: whether an entry is
//! kept (the sparsity rule of TICKETS.md: any bit but a float's sign set), packing a mask into
//! bits, picking the kept values, and counting two masks against each other. Callers feed
//! chunks holding whole entries; nothing here allocates more than its output.

use safetensors::Dtype;

use crate::domain::inspector::{elem_size, nonzero_mask};

/// How to read one dtype's entries: their size and the bits that make one nonzero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub size: usize,
    nonzero: u64,
}

impl Entry {
    pub fn of(dtype: Dtype) -> Self {
        Entry {
            size: elem_size(dtype),
            nonzero: nonzero_mask(dtype),
        }
    }

    /// Whether the entry starting at `bytes[0]` is kept.
    #[inline]
    pub fn kept(&self, bytes: &[u8]) -> bool {
        let value = match self.size {
            1 => u64::from(bytes[0]),
            2 => u64::from(u16::from_le_bytes([bytes[0], bytes[1]])),
            4 => u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[..8]);
                u64::from_le_bytes(b)
            }
        };
        value & self.nonzero != 0
    }

    /// The sign bit of the entry starting at `bytes[0]` (the top bit, little-endian).
    #[inline]
    pub fn sign(&self, bytes: &[u8]) -> bool {
        bytes[self.size - 1] & 0x80 != 0
    }

    /// Entries whole in `bytes`.
    pub fn count(&self, bytes: &[u8]) -> usize {
        bytes.len() / self.size
    }
}

/// Appends the bits of `mask` (entries of `entry`), entry `i` in bit `i % 8` of byte `i / 8`,
/// least significant bit first. A count of entries that is not a multiple of 8 ends in a
/// partial byte whose high bits are 0, so only a tensor's last chunk may have one.
pub fn pack_bits(mask: &[u8], entry: Entry, out: &mut Vec<u8>) {
    let n = entry.count(mask);
    out.reserve(n.div_ceil(8));
    for group in mask[..n * entry.size].chunks(8 * entry.size) {
        let mut byte = 0u8;
        for (bit, e) in group.chunks_exact(entry.size).enumerate() {
            byte |= u8::from(entry.kept(e)) << bit;
        }
        out.push(byte);
    }
}

/// Appends the entries of `weights` that `mask` keeps (the weights themselves decide when
/// `mask` is `None`: their nonzero pattern), in order. Both cover the same entries.
pub fn select_values(
    mask: Option<(&[u8], Entry)>,
    weights: &[u8],
    weight: Entry,
    out: &mut Vec<u8>,
) {
    let values = weights.chunks_exact(weight.size);
    match mask {
        Some((mask, m)) => {
            for (w, k) in values.zip(mask.chunks_exact(m.size)) {
                if m.kept(k) {
                    out.extend_from_slice(w);
                }
            }
        }
        None => {
            for w in values {
                if weight.kept(w) {
                    out.extend_from_slice(w);
                }
            }
        }
    }
}

/// The first entry index `i` of `mask` such that exactly `target` of the entries before it are
/// kept (so the next kept entry, if any, is at or after `i`); `Err(kept)` with the number of kept
/// entries in the chunk when it holds fewer than `target`.
pub fn find_kept(mask: &[u8], entry: Entry, target: u64) -> Result<usize, u64> {
    let mut seen = 0u64;
    for (i, e) in mask.chunks_exact(entry.size).enumerate() {
        if seen == target {
            return Ok(i);
        }
        seen += u64::from(entry.kept(e));
    }
    if seen == target {
        Ok(entry.count(mask))
    } else {
        Err(seen)
    }
}

/// One side of a comparison, for a chunk of entries: its mask (or `None`: the weights' own
/// nonzero pattern) and its stored weights.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub mask: Option<(&'a [u8], Entry)>,
    pub weights: &'a [u8],
    pub weight: Entry,
}

impl Side<'_> {
    #[inline]
    fn kept(&self, i: usize) -> bool {
        match self.mask {
            Some((m, e)) => e.kept(&m[i * e.size..]),
            None => self.weight.kept(&self.weights[i * self.weight.size..]),
        }
    }

    #[inline]
    fn sign(&self, i: usize) -> bool {
        self.weight.sign(&self.weights[i * self.weight.size..])
    }
}

/// Counts of two masks over the same entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub entries: u64,
    pub kept_a: u64,
    pub kept_b: u64,
    pub intersection: u64,
    /// Entries of the intersection where the two stored weights have the same sign bit.
    pub same_sign: u64,
}

impl Tally {
    /// Adds `n` entries of both sides.
    pub fn add(&mut self, a: Side, b: Side, n: usize) {
        let (mut ka, mut kb, mut both, mut same) = (0u64, 0u64, 0u64, 0u64);
        for i in 0..n {
            let (x, y) = (a.kept(i), b.kept(i));
            ka += u64::from(x);
            kb += u64::from(y);
            if x && y {
                both += 1;
                same += u64::from(a.sign(i) == b.sign(i));
            }
        }
        self.entries += n as u64;
        self.kept_a += ka;
        self.kept_b += kb;
        self.intersection += both;
        self.same_sign += same;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.entries += other.entries;
        self.kept_a += other.kept_a;
        self.kept_b += other.kept_b;
        self.intersection += other.intersection;
        self.same_sign += other.same_sign;
    }
}
