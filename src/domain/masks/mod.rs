//! The mask as a first-class object, as pure logic: which tensor is the mask of which
//! parameter ([`pairs`]); the architecture fingerprint ([`fingerprint`]) that says whether
//! two tickets prune the same network, and of what a client sends ([`model`]); N:M structure
//! ([`structure`]) and the kept-set signature for similar tickets ([`signature`]); the files
//! generated from a stored ticket ([`layout`]: partial and packed) and the per-entry work they
//! and the comparison do ([`kernels`]); the comparison's plan and figures ([`compare`]).
//! docs/masks.md documents them for clients.

pub mod compare;
pub mod fingerprint;
pub mod kernels;
pub mod layout;
pub mod model;
pub mod pairs;
pub mod signature;
pub mod structure;

pub use fingerprint::{fingerprint, fingerprint_lines};
pub use pairs::{MaskPair, is_float_dtype, mask_pairs, parameter_of_mask};

#[cfg(test)]
mod tests;
