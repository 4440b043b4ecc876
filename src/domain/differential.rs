//! Differential checks of the streaming inspector against the reference `safetensors` crate
//! (`SafeTensors::deserialize`), shared by the unit tests below and the fuzz target in
//! `fuzz/` (which compiles this file and inspector/ on their own; see docs/fuzzing.md).
//!
//! The invariants, for any input fed in any chunking:
//! - the inspector never panics, and the chunking never changes its result (verdict, counts,
//!   message);
//! - if the inspector accepts, the reference accepts too, and both see the same tensors
//!   (names, dtypes, shapes) and metadata; the inspector lists tensors in data-offset order,
//!   counts `kept <= params` for each, and its kept counts match a plain recount of the
//!   reference's tensor bytes;
//! - if the reference accepts and the inspector rejects, the rejection is one of the
//!   deliberate extra rules, [`ExtraRule`], recognized by name.

use std::collections::BTreeMap;

use safetensors::{Dtype, SafeTensors};

use super::inspector::{ExtraRule, Inspection, Inspector, InvalidSafetensors};

/// Feeds `bytes` to a fresh inspector in chunks of `sizes` (cycled; all at once if empty).
pub fn inspect_chunked(bytes: &[u8], sizes: &[usize]) -> Result<Inspection, InvalidSafetensors> {
    let mut inspector = Inspector::default();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes
            .next()
            .map_or(rest.len(), |&s| s.max(1))
            .min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        inspector.feed(chunk)?;
        rest = tail;
    }
    inspector.finish()
}

/// One tensor as the reference crate reads it.
#[derive(Debug)]
pub struct RefTensor {
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// Where its data starts within the file.
    pub offset: usize,
    pub data: Vec<u8>,
}

/// What the reference crate reads: tensors by name and `__metadata__`, or why it refuses.
pub type RefReading = (BTreeMap<String, RefTensor>, BTreeMap<String, String>);

pub fn reference(bytes: &[u8]) -> Result<RefReading, String> {
    // In debug builds the reference crate can panic on arithmetic overflow (a last data
    // offset near u64::MAX overflows its `offset + 8 + n` sum); that is a refusal too.
    let read = std::panic::catch_unwind(|| {
        SafeTensors::read_metadata(bytes)
            .and_then(|(_, meta)| SafeTensors::deserialize(bytes).map(|st| (st, meta)))
    })
    .map_err(|_| "the reference crate panicked".to_string())?;
    let (st, meta) = read.map_err(|e| format!("{e:?}"))?;
    let base = bytes.as_ptr() as usize;
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let tensor = RefTensor {
                dtype: view.dtype(),
                shape: view.shape().iter().map(|&d| d as u64).collect(),
                offset: view.data().as_ptr() as usize - base,
                data: view.data().to_vec(),
            };
            (name, tensor)
        })
        .collect();
    let metadata = meta.metadata().clone().unwrap_or_default();
    Ok((tensors, metadata.into_iter().collect()))
}

/// Nonzero entries, counted the plain way: an entry is zero iff all its bytes are, ignoring the
/// sign bit (the top bit of the last, most significant byte) for floats.
fn recount(dtype: Dtype, data: &[u8]) -> u64 {
    let float = matches!(
        dtype,
        Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 | Dtype::F8_E4M3 | Dtype::F8_E5M2
    );
    let size = dtype.bitsize() / 8;
    data.chunks(size)
        .filter(|entry| {
            let (last, rest) = entry.split_last().expect("entries are whole bytes");
            let last = if float { last & 0x7f } else { *last };
            last != 0 || rest.iter().any(|&b| b != 0)
        })
        .count() as u64
}

/// How the inspector and the reference crate judged one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    BothAccept,
    BothReject,
    /// The reference accepts; the inspector rejects by this deliberate rule.
    ExtraRule(ExtraRule),
}

/// Checks every invariant for `bytes` fed in chunks of `sizes`; panics naming the one broken.
pub fn check(bytes: &[u8], sizes: &[usize]) -> Outcome {
    let whole = inspect_chunked(bytes, &[]);
    let chunked = inspect_chunked(bytes, sizes);
    assert_eq!(
        whole, chunked,
        "feeding in chunks of {sizes:?} changed the result"
    );
    match (whole, reference(bytes)) {
        (Ok(ins), Ok(reading)) => {
            agree(&ins, &reading, bytes.len());
            Outcome::BothAccept
        }
        (Ok(_), Err(e)) => panic!("the inspector accepts a file the reference rejects ({e})"),
        (Err(e), Ok(_)) => match e.extra_rule() {
            Some(rule) => Outcome::ExtraRule(rule),
            None => panic!(
                "the inspector rejects a file the reference accepts, and not by a listed extra rule: {e}"
            ),
        },
        (Err(_), Err(_)) => Outcome::BothReject,
    }
}

fn agree(ins: &Inspection, (tensors, metadata): &RefReading, file_len: usize) {
    assert_eq!(ins.file_len, file_len as u64, "file_len");
    assert_eq!(&ins.metadata, metadata, "__metadata__");
    let names: Vec<&String> = ins.tensors.iter().map(|t| &t.name).collect();
    let ref_names: Vec<&String> = tensors.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ref_names, "tensor names");
    let mut last_offset = 0;
    let (mut total, mut kept) = (0, 0);
    for t in &ins.tensors {
        let r = &tensors[&t.name];
        assert_eq!(t.dtype, r.dtype.to_string(), "dtype of '{}'", t.name);
        assert_eq!(t.shape, r.shape, "shape of '{}'", t.name);
        assert_eq!(
            t.params,
            r.shape.iter().product::<u64>(),
            "params of '{}'",
            t.name
        );
        assert!(t.kept <= t.params, "kept > params in '{}'", t.name);
        assert_eq!(t.kept, recount(r.dtype, &r.data), "kept of '{}'", t.name);
        assert!(
            r.offset >= last_offset,
            "'{}' is out of data-offset order",
            t.name
        );
        last_offset = r.offset;
        if t.prunable {
            total += t.params;
            kept += t.kept;
        }
    }
    assert_eq!((ins.params_total, ins.params_kept), (total, kept), "totals");
    assert!(ins.params_total > 0 && ins.params_kept <= ins.params_total);
}

/// The fuzz target's input: the first byte chooses how the rest is chunked.
pub fn check_fuzz_input(data: &[u8]) -> Option<Outcome> {
    let (&seed, file) = data.split_first()?;
    Some(check(file, &chunk_sizes(seed)))
}

/// Chunk sizes from one byte: byte by byte, a fixed size, or an irregular run of sizes.
pub fn chunk_sizes(seed: u8) -> Vec<usize> {
    match seed % 4 {
        0 => vec![1],
        1 => vec![usize::from(seed >> 2) + 1],
        2 => {
            // xorshift: a reproducible, irregular run of sizes from 1 to 64.
            let mut x = u32::from(seed) | 0x9e37_7900;
            (0..16)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x % 64) as usize + 1
                })
                .collect()
        }
        _ => {
            let mut sizes = vec![7, 1, 8, 3, 4096, 2, 5];
            sizes.rotate_left(usize::from(seed >> 2) % 7);
            sizes
        }
    }
}

#[cfg(test)]
mod tests;
