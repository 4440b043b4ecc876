//! The mask as a first-class object, as pure logic: which tensor is the mask of which
//! parameter ([`pairs`]), the architecture fingerprint ([`fingerprint`]) that says whether
//! two tickets prune the same network, N:M structure ([`structure`]) and the kept-set
//! signature for similar tickets ([`signature`]). docs/masks.md documents them for clients.

pub mod fingerprint;
pub mod model;
pub mod pairs;
pub mod signature;
pub mod structure;

pub use fingerprint::{fingerprint, fingerprint_lines};
pub use pairs::{MaskPair, is_float_dtype, mask_pairs, parameter_of_mask};

#[cfg(test)]
mod tests;
