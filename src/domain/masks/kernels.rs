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

/// An entry of `S` bytes, little-endian, as an integer.
#[inline(always)]
fn load<const S: usize>(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..S].copy_from_slice(&bytes[..S]);
    u64::from_le_bytes(b)
}

/// Calls `$body` with `$s` bound to the entry size as a constant, so each size gets its own
/// loop (the per-entry size test would otherwise dominate).
macro_rules! by_size {
    ($size:expr, $s:ident => $body:expr) => {
        match $size {
            1 => {
                const $s: usize = 1;
                $body
            }
            2 => {
                const $s: usize = 2;
                $body
            }
            4 => {
                const $s: usize = 4;
                $body
            }
            _ => {
                const $s: usize = 8;
                $body
            }
        }
    };
}

/// Appends the bits of `mask` (entries of `entry`), entry `i` in bit `i % 8` of byte `i / 8`,
/// least significant bit first. A count of entries that is not a multiple of 8 ends in a
/// partial byte whose high bits are 0, so only a tensor's last chunk may have one.
pub fn pack_bits(mask: &[u8], entry: Entry, out: &mut Vec<u8>) {
    fn run<const S: usize>(mask: &[u8], nonzero: u64, out: &mut Vec<u8>) {
        let n = mask.len() / S;
        out.reserve(n.div_ceil(8));
        let mut groups = mask[..n * S].chunks_exact(8 * S);
        for group in &mut groups {
            let mut byte = 0u8;
            for bit in 0..8 {
                byte |= u8::from(load::<S>(&group[bit * S..]) & nonzero != 0) << bit;
            }
            out.push(byte);
        }
        let rest = groups.remainder();
        if !rest.is_empty() {
            let mut byte = 0u8;
            for (bit, e) in rest.chunks_exact(S).enumerate() {
                byte |= u8::from(load::<S>(e) & nonzero != 0) << bit;
            }
            out.push(byte);
        }
    }
    by_size!(entry.size, S => run::<S>(mask, entry.nonzero, out))
}

/// Appends the entries of `weights` that `mask` keeps (the weights themselves decide when
/// `mask` is `None`: their nonzero pattern), in order. Both cover the same entries.
pub fn select_values(
    mask: Option<(&[u8], Entry)>,
    weights: &[u8],
    weight: Entry,
    out: &mut Vec<u8>,
) {
    // Branch-free compaction: every entry is written at the cursor, which advances only past
    // kept ones (masks are close to random, so a branch per entry would mispredict often).
    fn own<const W: usize>(weights: &[u8], nonzero: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + weights.len() + W, 0);
        let buf = &mut out[start..];
        let mut at = 0;
        for w in weights.chunks_exact(W) {
            buf[at..at + W].copy_from_slice(w);
            at += W * usize::from(load::<W>(w) & nonzero != 0);
        }
        out.truncate(start + at);
    }
    fn masked<const M: usize, const W: usize>(
        mask: &[u8],
        nonzero: u64,
        weights: &[u8],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.resize(start + weights.len() + W, 0);
        let buf = &mut out[start..];
        let mut at = 0;
        for (v, k) in weights.chunks_exact(W).zip(mask.chunks_exact(M)) {
            buf[at..at + W].copy_from_slice(v);
            at += W * usize::from(load::<M>(k) & nonzero != 0);
        }
        out.truncate(start + at);
    }
    match mask {
        Some((mask, m)) => by_size!(m.size, M => by_size!(weight.size, W => {
            masked::<M, W>(mask, m.nonzero, weights, out)
        })),
        None => by_size!(weight.size, W => own::<W>(weights, weight.nonzero, out)),
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
            // Without a branch: the intersection of near-random masks is unpredictable.
            both += u64::from(x & y);
            same += u64::from(x & y & (a.sign(i) == b.sign(i)));
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
