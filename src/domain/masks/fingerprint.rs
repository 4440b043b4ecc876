//! The architecture fingerprint: the sha256 (lowercase hex) of the lines
//! `name<TAB>d1,d2,...<LF>`, one per floating tensor of rank >= 2, sorted by name (bytewise),
//! where a parameter stored as `P_orig` beside a `P_mask` is named `P` and the `*_mask` tensors
//! are left out. The masked (`torch.nn.utils.prune`) and the zeros layout of one network
//! therefore agree, whatever their dtypes. docs/masks.md gives the definition to clients.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::pairs::{is_float_dtype, mask_pairs};

/// The lines the fingerprint hashes, in order, each ending in `\n`.
///
/// `tensors` yields `(name, dtype, shape)` with the dtype in its safetensors spelling. Two
/// entries that end up with the same name (a file holding `P`, `P_orig` and `P_mask`) both
/// stay, ordered by their whole line, so the result is still a function of the tensor set.
pub fn fingerprint_lines<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a str, &'a [u64])>,
) -> Vec<String> {
    let tensors: Vec<(&str, &str, &[u64])> = tensors.into_iter().collect();
    let pairs = mask_pairs(tensors.iter().map(|t| t.0));
    let masks: HashSet<&str> = pairs.iter().map(|p| p.mask).collect();
    let renamed: HashMap<&str, &str> = pairs.iter().map(|p| (p.param, p.base)).collect();
    let mut lines: Vec<(String, String)> = tensors
        .iter()
        .filter(|(name, dtype, shape)| {
            shape.len() >= 2 && is_float_dtype(dtype) && !masks.contains(name)
        })
        .map(|(name, _, shape)| {
            let renamed = renamed.get(name).copied().unwrap_or(name);
            let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
            let line = format!("{renamed}\t{}\n", dims.join(","));
            (renamed.to_owned(), line)
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The architecture fingerprint of a file's tensors `(name, dtype, shape)`: sha256 in
/// lowercase hex over [`fingerprint_lines`] concatenated.
pub fn fingerprint<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a str, &'a [u64])>) -> String {
    let mut hasher = Sha256::new();
    for line in fingerprint_lines(tensors) {
        hasher.update(line.as_bytes());
    }
    hex::encode(hasher.finalize())
}
