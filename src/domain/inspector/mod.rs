//! The streaming safetensors inspector: a pure state machine fed the file's bytes in any
//! chunking. It validates the header as soon as it is complete, then counts every tensor's
//! nonzero entries as the data streams past, so a file is checked in one pass without ever
//! being held whole. Sparsity follows the rule in TICKETS.md.

use std::collections::BTreeMap;

use safetensors::Dtype;

use serde::{Deserialize, Serialize};

/// The header may not exceed this many bytes (the JSON between the length prefix and the data).
pub const MAX_HEADER_BYTES: u64 = 16 << 20;
/// Longest tensor name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Most tensors in one file. The largest public checkpoints have tens of thousands (with masks);
/// a cap keeps one upload's per-tensor table, which the index stores, bounded.
pub const MAX_TENSORS: usize = 100_000;
/// Most dimensions one tensor may have. Real weights have a handful (a 3-D conv kernel has 5);
/// without a cap one shape of millions of dimensions costs memory at upload and on every read.
pub const MAX_RANK: usize = 8;

/// Why a file is not an acceptable ticket. The message is meant for the uploader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSafetensors(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, InvalidSafetensors> {
    Err(InvalidSafetensors(message.into()))
}

/// The rules by which the inspector rejects files that the reference `safetensors` crate
/// (`SafeTensors::deserialize`) accepts. Every other rejection is one the reference crate
/// shares; the differential tests (src/domain/differential.rs) and the fuzz target hold the
/// inspector to that, and docs/fuzzing.md lists these rules for users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraRule {
    /// The header length prefix exceeds [`MAX_HEADER_BYTES`] (the reference allows 100 MB).
    HeaderTooLong,
    /// Whitespace before the header's opening `{` (the reference's JSON parser skips it).
    LeadingWhitespace,
    /// A tensor name appears twice (the reference keeps the last entry).
    DuplicateTensorName,
    /// A key appears twice in `__metadata__` (the reference keeps the last value).
    DuplicateMetadataKey,
    /// A tensor entry has a field besides dtype, shape and data_offsets (the reference ignores it).
    UnknownTensorField,
    /// An empty tensor name.
    EmptyName,
    /// A tensor name longer than [`MAX_NAME_BYTES`].
    LongName,
    /// A tensor name with a NUL or other control character.
    ControlCharacterInName,
    /// A dtype the format knows but ticketbooth does not accept (TICKETS.md).
    UnsupportedDtype,
    /// A header with no tensors at all.
    NoTensors,
    /// A `*_mask` tensor without a parameter of the same prefix, or of another shape (TICKETS.md).
    MaskWithoutMatchingParameter,
    /// No prunable entries, so no sparsity to measure (TICKETS.md).
    NoPrunableEntries,
    /// More than [`MAX_TENSORS`] tensors (the reference has no count limit).
    TooManyTensors,
    /// A shape with more than [`MAX_RANK`] dimensions (the reference has no rank limit).
    RankTooHigh,
}

impl ExtraRule {
    pub const ALL: [ExtraRule; 14] = [
        ExtraRule::HeaderTooLong,
        ExtraRule::LeadingWhitespace,
        ExtraRule::DuplicateTensorName,
        ExtraRule::DuplicateMetadataKey,
        ExtraRule::UnknownTensorField,
        ExtraRule::EmptyName,
        ExtraRule::LongName,
        ExtraRule::ControlCharacterInName,
        ExtraRule::UnsupportedDtype,
        ExtraRule::NoTensors,
        ExtraRule::MaskWithoutMatchingParameter,
        ExtraRule::NoPrunableEntries,
        ExtraRule::TooManyTensors,
        ExtraRule::RankTooHigh,
    ];

    /// Whether `message` is this rule's rejection. Each rule's message begins (and, for the
    /// two name rules that share a beginning, ends) with fixed text, and user-supplied text
    /// such as tensor names only ever comes later, so a crafted name cannot pass one
    /// rejection off as another.
    fn matches(self, m: &str) -> bool {
        const SERDE: &str = "header is not valid: ";
        match self {
            ExtraRule::HeaderTooLong => {
                (m.starts_with("header length ") && m.contains(" exceeds the "))
                    || m.starts_with("not a safetensors file: the content looks like ")
            }
            ExtraRule::LeadingWhitespace => m == "header has whitespace before its opening '{'",
            ExtraRule::DuplicateTensorName => {
                m.starts_with(&format!("{SERDE}duplicate tensor name '"))
            }
            ExtraRule::DuplicateMetadataKey => m.starts_with(&format!("{SERDE}duplicate key '")),
            ExtraRule::UnknownTensorField => m.starts_with(&format!("{SERDE}unknown field `")),
            ExtraRule::EmptyName => m == "a tensor has an empty name",
            ExtraRule::LongName => {
                m.starts_with("tensor name '")
                    && m.ends_with(&format!("; the limit is {MAX_NAME_BYTES}"))
            }
            ExtraRule::ControlCharacterInName => {
                m.starts_with("tensor name '")
                    && m.ends_with("' contains a NUL or control character")
            }
            ExtraRule::UnsupportedDtype => m.starts_with("dtype "),
            ExtraRule::NoTensors => m == "file has no tensors",
            ExtraRule::MaskWithoutMatchingParameter => m.starts_with("mask '"),
            ExtraRule::NoPrunableEntries => m.starts_with("file has no prunable entries"),
            ExtraRule::TooManyTensors => m.starts_with(&format!("{SERDE}the file has more than ")),
            ExtraRule::RankTooHigh => m.starts_with(&format!("{SERDE}a shape has more than ")),
        }
    }
}

impl InvalidSafetensors {
    /// The extra rule this rejection comes from, if any: `None` means the reference crate
    /// rejects the file too.
    pub fn extra_rule(&self) -> Option<ExtraRule> {
        ExtraRule::ALL.into_iter().find(|r| r.matches(&self.0))
    }
}

/// One tensor as reported to users, in data-offset order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Number of entries (the product of the shape).
    pub params: u64,
    /// Entries that are nonzero (for floats: any bit but the sign set).
    pub kept: u64,
    /// Whether this tensor counts toward the ticket's sparsity.
    pub prunable: bool,
    /// Prunable tensors: their N:M structure (docs/masks.md). Absent on tickets stored before
    /// it was measured, until `ticketbooth reindex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<crate::domain::masks::structure::TensorStructure>,
}

/// The validated header: tensors in data-offset order, plus `__metadata__`.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub tensors: Vec<TensorPlan>,
    pub metadata: BTreeMap<String, String>,
    /// Byte length of the tensor data that must follow the header.
    pub data_len: u64,
    /// Prunable entries, known from the shapes alone.
    pub params_total: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorPlan {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    pub params: u64,
    pub prunable: bool,
    begin: u64,
    end: u64,
}

impl TensorPlan {
    /// Where the tensor's bytes are, relative to the start of the data (after the header).
    pub fn data_offsets(&self) -> (u64, u64) {
        (self.begin, self.end)
    }
}

/// What a complete, valid file measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub tensors: Vec<TensorReport>,
    pub metadata: BTreeMap<String, String>,
    pub params_total: u64,
    pub params_kept: u64,
    /// Bytes in the whole file, prefix and header included.
    pub file_len: u64,
    /// The architecture fingerprint (`domain::masks::fingerprint`).
    pub fingerprint: String,
    /// `1:4`, `2:4`, `4:8` or `unstructured` (`domain::masks::structure`).
    pub structure: String,
    /// The kept-set signature (`domain::masks::signature`), `BINS * 4` bytes.
    pub signature: Vec<u8>,
}

impl Inspection {
    pub fn sparsity(&self) -> f64 {
        1.0 - self.params_kept as f64 / self.params_total as f64
    }
}

mod dtypes;
mod header;
mod machine;
mod masks;

// The differential tests draw their dtypes from this list.
#[cfg(test)]
pub(crate) use dtypes::ACCEPTED;
pub use dtypes::{dtype_name, elem_size, is_float, nonzero_mask};
pub use header::{CONVERT_HINT, check_prefix, parse_header};
pub use machine::Inspector;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
