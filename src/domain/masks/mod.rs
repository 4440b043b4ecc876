//! The mask as a first-class object, as pure logic: which tensor is the mask of which
//! parameter ([`pairs`]), and the architecture fingerprint ([`fingerprint`]) that says whether
//! two tickets prune the same network. docs/masks.md documents both for clients.

pub mod fingerprint;
pub mod pairs;

pub use fingerprint::{fingerprint, fingerprint_lines};
pub use pairs::{MaskPair, is_float_dtype, mask_pairs, parameter_of_mask};

#[cfg(test)]
mod tests;
