//! The mask as a first-class object, as pure logic: which tensor is the mask of which
//! parameter ([`pairs`]), and the architecture fingerprint ([`fingerprint`]) that says whether
//! two tickets prune the same network; the files generated from a stored ticket ([`layout`]:
//! partial and packed) and the per-entry work they and the comparison do ([`kernels`]);
//! the comparison's plan and figures ([`compare`]). docs/masks.md documents them for clients.

pub mod compare;
pub mod fingerprint;
pub mod kernels;
pub mod layout;
pub mod pairs;

pub use fingerprint::{fingerprint, fingerprint_lines};
pub use pairs::{MaskPair, is_float_dtype, mask_pairs, parameter_of_mask};

#[cfg(test)]
mod tests;
