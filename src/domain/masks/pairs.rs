//! Which tensor is the mask of which parameter (TICKETS.md): a tensor named `P_mask` is the mask
//! of the parameter `P_orig` if the file has one, else of `P`. The inspector has already refused
//! a mask without a parameter or of another shape; these helpers only name the pairs.

use std::collections::HashSet;

/// One mask and the parameter it masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskPair<'a> {
    /// The mask tensor, `P_mask`.
    pub mask: &'a str,
    /// The parameter's stored name, `P_orig` or `P`.
    pub param: &'a str,
    /// The parameter's name once the mask is applied, `P`.
    pub base: &'a str,
}

/// The dtypes TICKETS.md calls floating (the prunable ones in a file without masks).
pub fn is_float_dtype(dtype: &str) -> bool {
    matches!(
        dtype,
        "F16" | "BF16" | "F32" | "F64" | "F8_E4M3" | "F8_E5M2"
    )
}

/// The stored name of the parameter that `mask` masks, given whether a name exists in the
/// file: `P_orig` if present, else `P`; `None` if `mask` is not named `*_mask` or has no
/// parameter.
pub fn parameter_of_mask(mask: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    let base = mask.strip_suffix("_mask")?;
    let orig = format!("{base}_orig");
    if exists(&orig) {
        Some(orig)
    } else if exists(base) {
        Some(base.to_owned())
    } else {
        None
    }
}

/// Every mask in `names` with its parameter, in the order the masks come. Names ending in
/// `_mask` that have no parameter are left out (a validated file has none).
pub fn mask_pairs<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<MaskPair<'a>> {
    let names: Vec<&'a str> = names.into_iter().collect();
    let set: HashSet<&str> = names.iter().copied().collect();
    let mut pairs = Vec::new();
    for &mask in &names {
        let Some(base) = mask.strip_suffix("_mask") else {
            continue;
        };
        let Some(param) = parameter_of_mask(mask, |n| set.contains(n)) else {
            continue;
        };
        // The parameter's name as stored in `names`, so the pair borrows from the caller.
        let Some(&param) = set.get(param.as_str()) else {
            continue;
        };
        pairs.push(MaskPair { mask, param, base });
    }
    pairs
}
