//! The streaming safetensors inspector: a pure state machine fed the file's bytes in any
//! chunking. It validates the header as soon as it is complete, then counts every tensor's
//! nonzero entries as the data streams past, so a file is checked in one pass without ever
//! being held whole. Sparsity follows the rule in TICKETS.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use safetensors::Dtype;
use serde::de::{self, Deserializer, MapAccess, Visitor};
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

/// What a complete, valid file measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub tensors: Vec<TensorReport>,
    pub metadata: BTreeMap<String, String>,
    pub params_total: u64,
    pub params_kept: u64,
    /// Bytes in the whole file, prefix and header included.
    pub file_len: u64,
}

impl Inspection {
    pub fn sparsity(&self) -> f64 {
        1.0 - self.params_kept as f64 / self.params_total as f64
    }
}

enum Stage {
    Prefix { buf: [u8; 8], have: usize },
    Header { len: u64, buf: Vec<u8> },
    Data(DataState),
}

struct DataState {
    header: Header,
    kept: Vec<u64>,
    current: usize,
    /// Bytes already consumed of the current tensor.
    offset: u64,
    /// A partial element split across chunks.
    carry: [u8; 8],
    carry_len: usize,
}

/// Feed the file with [`Inspector::feed`], then call [`Inspector::finish`].
pub struct Inspector {
    stage: Stage,
    max_header_bytes: u64,
    consumed: u64,
}

impl Default for Inspector {
    fn default() -> Self {
        Self::new(MAX_HEADER_BYTES)
    }
}

impl Inspector {
    pub fn new(max_header_bytes: u64) -> Self {
        Self {
            stage: Stage::Prefix {
                buf: [0; 8],
                have: 0,
            },
            max_header_bytes,
            consumed: 0,
        }
    }

    /// The validated header, once it has been read.
    pub fn header(&self) -> Option<&Header> {
        match &self.stage {
            Stage::Data(d) => Some(&d.header),
            _ => None,
        }
    }

    /// Bytes fed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidSafetensors> {
        self.consumed += chunk.len() as u64;
        while !chunk.is_empty() {
            match &mut self.stage {
                Stage::Prefix { buf, have } => {
                    let n = (8 - *have).min(chunk.len());
                    buf[*have..*have + n].copy_from_slice(&chunk[..n]);
                    *have += n;
                    chunk = &chunk[n..];
                    if *have == 8 {
                        let len = check_prefix(buf, self.max_header_bytes)?;
                        self.stage = Stage::Header {
                            len,
                            buf: Vec::with_capacity(len.min(64 << 10) as usize),
                        };
                    }
                }
                Stage::Header { len, buf } => {
                    let n = (*len as usize - buf.len()).min(chunk.len());
                    buf.extend_from_slice(&chunk[..n]);
                    chunk = &chunk[n..];
                    if buf.len() as u64 == *len {
                        let header = parse_header(buf)?;
                        let kept = vec![0; header.tensors.len()];
                        let mut data = DataState {
                            header,
                            kept,
                            current: 0,
                            offset: 0,
                            carry: [0; 8],
                            carry_len: 0,
                        };
                        data.skip_empty();
                        self.stage = Stage::Data(data);
                    }
                }
                Stage::Data(data) => {
                    data.feed(chunk)?;
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Inspection, InvalidSafetensors> {
        match self.stage {
            Stage::Prefix { have, .. } => invalid(format!(
                "file is {have} bytes long; a safetensors file starts with an 8-byte header length ({CONVERT_HINT})"
            )),
            Stage::Header { len, buf } => invalid(format!(
                "file ended inside the header: {} of {len} header bytes present",
                buf.len()
            )),
            Stage::Data(data) => {
                let header_len = self.consumed - data.data_consumed();
                if data.current < data.header.tensors.len() {
                    return invalid(format!(
                        "tensor data is shorter than the header says: {} of {} bytes present (tensor '{}' is incomplete)",
                        data.data_consumed(),
                        data.header.data_len,
                        data.header.tensors[data.current].name
                    ));
                }
                let mut params_kept = 0;
                let tensors = data
                    .header
                    .tensors
                    .into_iter()
                    .zip(data.kept)
                    .map(|(t, kept)| {
                        if t.prunable {
                            params_kept += kept;
                        }
                        TensorReport {
                            name: t.name,
                            dtype: dtype_name(t.dtype).to_string(),
                            shape: t.shape,
                            params: t.params,
                            kept,
                            prunable: t.prunable,
                        }
                    })
                    .collect();
                Ok(Inspection {
                    tensors,
                    metadata: data.header.metadata,
                    params_total: data.header.params_total,
                    params_kept,
                    file_len: header_len + data.header.data_len,
                })
            }
        }
    }
}

impl DataState {
    fn data_consumed(&self) -> u64 {
        match self.header.tensors.get(self.current) {
            Some(t) => t.begin + self.offset,
            None => self.header.data_len,
        }
    }

    /// Zero-length tensors need no bytes: step past them.
    fn skip_empty(&mut self) {
        while let Some(t) = self.header.tensors.get(self.current) {
            if t.end - t.begin > self.offset {
                break;
            }
            self.current += 1;
            self.offset = 0;
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidSafetensors> {
        while !chunk.is_empty() {
            let Some(t) = self.header.tensors.get(self.current) else {
                return invalid(format!(
                    "file is longer than its header says: tensor data should end after {} bytes",
                    self.header.data_len
                ));
            };
            let size = elem_size(t.dtype);
            let mask = nonzero_mask(t.dtype);
            let n = ((t.end - t.begin - self.offset) as usize).min(chunk.len());
            let (mut part, rest) = chunk.split_at(n);
            chunk = rest;
            self.offset += n as u64;
            let mut kept = 0;
            if self.carry_len > 0 {
                let take = (size - self.carry_len).min(part.len());
                self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&part[..take]);
                self.carry_len += take;
                part = &part[take..];
                if self.carry_len == size {
                    kept += count_nonzero(&self.carry[..size], size, mask);
                    self.carry_len = 0;
                }
            }
            let whole = part.len() - part.len() % size;
            kept += count_nonzero(&part[..whole], size, mask);
            let tail = &part[whole..];
            self.carry[..tail.len()].copy_from_slice(tail);
            self.carry_len += tail.len();
            self.kept[self.current] += kept;
            self.skip_empty();
        }
        Ok(())
    }
}

/// Counts elements of `size` bytes with any bit of `mask` set. Written as plain loops over
/// fixed-width integers so the compiler vectorizes them.
fn count_nonzero(bytes: &[u8], size: usize, mask: u64) -> u64 {
    match size {
        1 => {
            let m = mask as u8;
            bytes.iter().filter(|&&b| b & m != 0).count() as u64
        }
        2 => {
            let m = mask as u16;
            bytes
                .chunks_exact(2)
                .filter(|c| u16::from_le_bytes([c[0], c[1]]) & m != 0)
                .count() as u64
        }
        4 => {
            let m = mask as u32;
            bytes
                .chunks_exact(4)
                .filter(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & m != 0)
                .count() as u64
        }
        _ => bytes
            .chunks_exact(8)
            .filter(|c| {
                u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) & mask != 0
            })
            .count() as u64,
    }
}

/// The dtypes ticketbooth accepts (TICKETS.md).
pub(crate) const ACCEPTED: &[Dtype] = &[
    Dtype::BOOL,
    Dtype::U8,
    Dtype::I8,
    Dtype::U16,
    Dtype::I16,
    Dtype::U32,
    Dtype::I32,
    Dtype::U64,
    Dtype::I64,
    Dtype::F16,
    Dtype::BF16,
    Dtype::F32,
    Dtype::F64,
    Dtype::F8_E4M3,
    Dtype::F8_E5M2,
];

fn is_float(dtype: Dtype) -> bool {
    matches!(
        dtype,
        Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 | Dtype::F8_E4M3 | Dtype::F8_E5M2
    )
}

fn elem_size(dtype: Dtype) -> usize {
    dtype.bitsize() / 8
}

/// Bits that make an entry nonzero: for floats every bit but the sign, so -0.0 counts as zero.
fn nonzero_mask(dtype: Dtype) -> u64 {
    let bits = dtype.bitsize() as u32;
    let all = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    if is_float(dtype) { all >> 1 } else { all }
}

fn dtype_name(dtype: Dtype) -> String {
    // Dtype serializes as its safetensors spelling ("F8_E4M3", ...).
    serde_json::to_value(dtype)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{dtype:?}"))
}

fn parse_dtype(name: &str, tensor: &str) -> Result<Dtype, InvalidSafetensors> {
    match serde_json::from_value::<Dtype>(serde_json::Value::String(name.to_owned())) {
        Ok(d) if ACCEPTED.contains(&d) => Ok(d),
        Ok(_) => invalid(format!(
            "dtype {name} is not supported (tensor '{tensor}'; accepted: BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2)"
        )),
        Err(_) => invalid(format!("tensor '{tensor}': unknown dtype '{name}'")),
    }
}

/// How to make a safetensors file, for messages about files that are not one.
pub const CONVERT_HINT: &str =
    "save it with `safetensors.torch.save_file(model.state_dict(), path)`";

/// Names what a file that is not safetensors looks like, from its first bytes.
fn sniff(prefix: &[u8; 8]) -> Option<&'static str> {
    match prefix {
        [b'P', b'K', 3, 4, ..] => {
            Some("a zip archive: a PyTorch checkpoint from torch.save (.pt/.pth)")
        }
        [0x80, 2..=5, ..] => Some("a Python pickle (torch.save, or a .pkl)"),
        [b'{' | b'[', ..] => Some("JSON"),
        [0x89, b'H', b'D', b'F', ..] => Some("an HDF5 file (a Keras .h5?)"),
        [b'G', b'G', b'U', b'F', ..] => Some("a GGUF file"),
        [0x93, b'N', b'U', b'M', b'P', b'Y', ..] => Some("a NumPy .npy file"),
        _ => None,
    }
}

fn check_prefix(prefix: &[u8; 8], max: u64) -> Result<u64, InvalidSafetensors> {
    let len = u64::from_le_bytes(*prefix);
    if len > max {
        if let Some(kind) = sniff(prefix) {
            return invalid(format!(
                "not a safetensors file: the content looks like {kind}; {CONVERT_HINT}"
            ));
        }
        return invalid(format!(
            "header length {len} exceeds the {} MiB limit (is this a safetensors file? {CONVERT_HINT})",
            max >> 20
        ));
    }
    if len < 2 {
        return invalid(format!(
            "header length {len} is too small for a JSON object (is this a safetensors file? {CONVERT_HINT})"
        ));
    }
    Ok(len)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    dtype: String,
    shape: Shape,
    data_offsets: [u64; 2],
}

/// A shape of at most [`MAX_RANK`] dimensions, refused while it is being read (a shape of
/// millions of dimensions is never held).
struct Shape(Vec<u64>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of dimensions")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<u64>()? {
                    if dims.len() == MAX_RANK {
                        return Err(de::Error::custom(format!(
                            "a shape has more than {MAX_RANK} dimensions, the most a tensor may have"
                        )));
                    }
                    dims.push(d);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(V)
    }
}

struct RawHeader {
    tensors: Vec<(String, RawEntry)>,
    metadata: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of tensors")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                let mut tensors = Vec::new();
                let mut names = HashSet::new();
                let mut metadata = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        if metadata.is_some() {
                            return Err(de::Error::custom("duplicate key '__metadata__'"));
                        }
                        // `null` means no metadata, as in the reference crate.
                        let value = map.next_value::<Option<UniqueStringMap>>()?;
                        metadata = Some(value.map(|m| m.0).unwrap_or_default());
                    } else {
                        if tensors.len() == MAX_TENSORS {
                            return Err(de::Error::custom(format!(
                                "the file has more than {MAX_TENSORS} tensors"
                            )));
                        }
                        if !names.insert(key.clone()) {
                            return Err(de::Error::custom(format!(
                                "duplicate tensor name '{}'",
                                key.escape_debug()
                            )));
                        }
                        // The tensor's name goes last so that a message begins with fixed
                        // text (see ExtraRule::matches).
                        let entry = map.next_value::<RawEntry>().map_err(|e| {
                            de::Error::custom(format!("{e} (tensor '{}')", key.escape_debug()))
                        })?;
                        tensors.push((key, entry));
                    }
                }
                Ok(RawHeader {
                    tensors,
                    metadata: metadata.unwrap_or_default(),
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// `__metadata__`: string values only, and no key twice (serde_json would keep the last).
struct UniqueStringMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UniqueStringMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueStringMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("__metadata__ as an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<String>()?;
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "duplicate key '{}' in __metadata__",
                            key.escape_debug()
                        )));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueStringMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn check_name(name: &str) -> Result<(), InvalidSafetensors> {
    if name.is_empty() {
        return invalid("a tensor has an empty name");
    }
    if name.len() > MAX_NAME_BYTES {
        return invalid(format!(
            "tensor name '{}...' is {} bytes long; the limit is {MAX_NAME_BYTES}",
            name.chars().take(40).collect::<String>().escape_debug(),
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return invalid(format!(
            "tensor name '{}' contains a NUL or control character",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Validates the header JSON and lays out the tensors in data order.
pub fn parse_header(bytes: &[u8]) -> Result<Header, InvalidSafetensors> {
    match bytes.first() {
        Some(b'{') => {}
        Some(b) if b.is_ascii_whitespace() => {
            return invalid("header has whitespace before its opening '{'");
        }
        _ => {
            return invalid(format!(
                "header does not start with '{{' (is this a safetensors file? {CONVERT_HINT})"
            ));
        }
    }
    let text = std::str::from_utf8(bytes).or_else(|_| {
        invalid(format!(
            "header is not valid UTF-8 (is this a safetensors file? {CONVERT_HINT})"
        ))
    })?;
    // The spec allows trailing space padding; serde_json accepts trailing whitespace.
    let raw: RawHeader = serde_json::from_str(text).or_else(|e| {
        // Not JSON at all is the wrong kind of file; valid JSON of the wrong shape is a
        // broken safetensors header, where how to save one would not help.
        let hint = if e.is_syntax() || e.is_eof() {
            format!(" (is this a safetensors file? {CONVERT_HINT})")
        } else {
            String::new()
        };
        invalid(format!("header is not valid: {e}{hint}"))
    })?;
    if raw.tensors.is_empty() {
        return invalid("file has no tensors");
    }

    let mut tensors = Vec::with_capacity(raw.tensors.len());
    for (name, entry) in raw.tensors {
        check_name(&name)?;
        let dtype = parse_dtype(&entry.dtype, &name)?;
        let [begin, end] = entry.data_offsets;
        if end < begin {
            return invalid(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] end before they begin"
            ));
        }
        let params = entry
            .shape
            .0
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d));
        let bytes = params.and_then(|p| p.checked_mul(elem_size(dtype) as u64));
        let (Some(params), Some(bytes)) = (params, bytes) else {
            return invalid(format!(
                "tensor '{name}': shape {:?} overflows",
                entry.shape.0
            ));
        };
        if bytes != end - begin {
            return invalid(format!(
                "tensor '{name}': shape {:?} of {} needs {bytes} bytes but data_offsets [{begin}, {end}] span {}",
                entry.shape.0,
                entry.dtype,
                end - begin
            ));
        }
        tensors.push(TensorPlan {
            name,
            dtype,
            shape: entry.shape.0,
            params,
            prunable: false,
            begin,
            end,
        });
    }

    tensors.sort_by_key(|t| (t.begin, t.end));
    let mut expected = 0;
    for t in &tensors {
        if t.begin != expected {
            let what = if t.begin > expected {
                "a gap"
            } else {
                "an overlap"
            };
            return invalid(format!(
                "tensor '{}': data_offsets start at {} but the previous tensor ends at {expected} ({what}); tensor data must be contiguous",
                t.name, t.begin
            ));
        }
        expected = t.end;
    }
    let data_len = expected;

    mark_prunable(&mut tensors)?;
    let params_total: u64 = tensors
        .iter()
        .filter(|t| t.prunable)
        .map(|t| t.params)
        .sum();
    if params_total == 0 {
        return invalid(
            "file has no prunable entries: it needs *_mask tensors, or floating-point tensors of rank 2 or more",
        );
    }
    Ok(Header {
        tensors,
        metadata: raw.metadata,
        data_len,
        params_total,
    })
}

/// With masks, only the masks count; without, every floating tensor of rank >= 2 does.
fn mark_prunable(tensors: &mut [TensorPlan]) -> Result<(), InvalidSafetensors> {
    let by_name: HashMap<&str, &TensorPlan> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut any_mask = false;
    let mut masks = HashSet::new();
    for t in tensors.iter() {
        let Some(prefix) = t.name.strip_suffix("_mask") else {
            continue;
        };
        any_mask = true;
        let orig = format!("{prefix}_orig");
        let param = by_name
            .get(orig.as_str())
            .or_else(|| by_name.get(prefix))
            .ok_or_else(|| {
                InvalidSafetensors(format!(
                    "mask '{}' has no parameter: expected a tensor named '{orig}' or '{prefix}'",
                    t.name
                ))
            })?;
        if param.shape != t.shape {
            return invalid(format!(
                "mask '{}' has shape {:?} but its parameter '{}' has shape {:?}",
                t.name, t.shape, param.name, param.shape
            ));
        }
        masks.insert(t.name.clone());
    }
    for t in tensors.iter_mut() {
        t.prunable = if any_mask {
            masks.contains(&t.name)
        } else {
            is_float(t.dtype) && t.shape.len() >= 2
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], meta: &[(&str, &str)]) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let meta: HashMap<String, String> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let meta = if meta.is_empty() { None } else { Some(meta) };
        safetensors::serialize(views, meta).unwrap()
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn inspect(bytes: &[u8]) -> Result<Inspection, InvalidSafetensors> {
        let mut i = Inspector::default();
        i.feed(bytes)?;
        i.finish()
    }

    /// Builds a file from a raw header string and data, byte by byte.
    fn raw(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn err(bytes: &[u8]) -> String {
        inspect(bytes).unwrap_err().0
    }

    #[test]
    fn counts_nonzero_weights_of_rank_two_floats_only() {
        let bytes = file(
            &[
                (
                    "fc.weight",
                    Dtype::F32,
                    vec![2, 3],
                    f32s(&[0.0, 1.0, -0.0, 2.0, 0.0, f32::NAN]),
                ),
                ("fc.bias", Dtype::F32, vec![2], f32s(&[0.0, 0.0])),
            ],
            &[],
        );
        let r = inspect(&bytes).unwrap();
        assert_eq!(r.params_total, 6);
        assert_eq!(r.params_kept, 3, "+0 and -0 are zero, NaN is kept");
        assert!((r.sparsity() - 0.5).abs() < 1e-12);
        let bias = r.tensors.iter().find(|t| t.name == "fc.bias").unwrap();
        assert!(!bias.prunable);
        assert_eq!(r.file_len, bytes.len() as u64);
    }

    #[test]
    fn any_chunking_gives_the_same_counts() {
        let w: Vec<f32> = (0..1000)
            .map(|i| if i % 3 == 0 { 0.0 } else { i as f32 })
            .collect();
        let h: Vec<u8> = (0..999u16).flat_map(|i| (i % 2).to_le_bytes()).collect();
        let bytes = file(
            &[
                ("a", Dtype::F32, vec![10, 100], f32s(&w)),
                ("b", Dtype::F16, vec![27, 37], h),
                ("c", Dtype::F64, vec![0, 4], vec![]),
            ],
            &[("task", "x")],
        );
        let whole = inspect(&bytes).unwrap();
        for size in [1, 2, 3, 5, 7, 8, 13, 4096] {
            let mut i = Inspector::default();
            for c in bytes.chunks(size) {
                i.feed(c).unwrap();
            }
            assert_eq!(i.finish().unwrap(), whole, "chunk size {size}");
        }
        assert_eq!(whole.params_kept, 666 + 499);
        assert_eq!(whole.metadata.get("task").map(String::as_str), Some("x"));
    }

    #[test]
    fn masks_decide_sparsity_when_present() {
        let bytes = file(
            &[
                (
                    "w_orig",
                    Dtype::F32,
                    vec![2, 2],
                    f32s(&[1.0, 2.0, 3.0, 4.0]),
                ),
                ("w_mask", Dtype::BOOL, vec![2, 2], vec![1, 0, 0, 0]),
                ("v", Dtype::F32, vec![2, 2], f32s(&[1.0, 2.0, 3.0, 4.0])),
            ],
            &[],
        );
        let r = inspect(&bytes).unwrap();
        assert_eq!((r.params_total, r.params_kept), (4, 1));
        let prunable: Vec<_> = r
            .tensors
            .iter()
            .filter(|t| t.prunable)
            .map(|t| &t.name)
            .collect();
        assert_eq!(prunable, ["w_mask"]);
    }

    #[test]
    fn float_masks_and_plain_parameter_names_work() {
        let bytes = file(
            &[
                ("w", Dtype::F16, vec![3, 1], vec![0; 6]),
                ("w_mask", Dtype::F32, vec![3, 1], f32s(&[1.0, 0.0, 1.0])),
            ],
            &[],
        );
        assert_eq!(inspect(&bytes).unwrap().params_kept, 2);
    }

    #[test]
    fn mask_without_parameter_or_with_wrong_shape_is_rejected() {
        let orphan = file(&[("w_mask", Dtype::U8, vec![2, 2], vec![1; 4])], &[]);
        assert!(err(&orphan).contains("has no parameter"));
        let bad = file(
            &[
                ("w_orig", Dtype::F32, vec![4], f32s(&[1.0; 4])),
                ("w_mask", Dtype::U8, vec![2, 2], vec![1; 4]),
            ],
            &[],
        );
        assert!(err(&bad).contains("has shape [2, 2] but its parameter 'w_orig'"));
    }

    #[test]
    fn rejects_files_without_prunable_entries() {
        let bytes = file(&[("b", Dtype::F32, vec![4], f32s(&[1.0; 4]))], &[]);
        assert!(err(&bytes).contains("no prunable entries"));
        assert!(err(&raw("{}", &[])).contains("no tensors"));
        let ints = file(&[("i", Dtype::I64, vec![2, 2], vec![1; 32])], &[]);
        assert!(err(&ints).contains("no prunable entries"));
    }

    #[test]
    fn rejects_short_and_long_data() {
        let bytes = file(&[("w", Dtype::F32, vec![2, 2], f32s(&[1.0; 4]))], &[]);
        assert!(err(&bytes[..bytes.len() - 1]).contains("shorter than the header says"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(err(&long).contains("longer than its header says"));
        assert!(err(&bytes[..5]).contains("8-byte header length"));
        assert!(err(&bytes[..12]).contains("ended inside the header"));
    }

    #[test]
    fn rejects_what_the_reference_crate_lets_through() {
        let e = r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}"#;
        let d = [0, 0, 128, 63];
        assert!(err(&raw(&format!(" {{{e}}}"), &d)).contains("whitespace before"));
        assert!(err(&raw(&format!("{{{e},{e}}}"), &d)).contains("duplicate tensor name 'w'"));
        let dup_meta = format!(r#"{{"__metadata__":{{"a":"1","a":"2"}},{e}}}"#);
        assert!(err(&raw(&dup_meta, &d)).contains("duplicate key 'a'"));
        let extra = r#"{"w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4],"x":1}}"#;
        assert!(err(&raw(extra, &d)).contains("unknown field `x`"));
        let nul = r#"{"w\u0000":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#;
        assert!(err(&raw(nul, &d)).contains("control character"));
        let long = format!(
            r#"{{"{}":{{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}}}"#,
            "n".repeat(1025)
        );
        assert!(err(&raw(&long, &d)).contains("the limit is 1024"));
        let many: Vec<String> = (0..=MAX_TENSORS)
            .map(|i| format!(r#""t{i}":{{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#))
            .collect();
        let many = format!("{{{}}}", many.join(","));
        assert!(err(&raw(&many, &d)).contains("more than 100000 tensors"));
        // Trailing space padding is allowed by the spec.
        assert!(inspect(&raw(&format!("{{{e}}}    "), &d)).is_ok());
    }

    /// Regression (differential test): `"__metadata__": null` was rejected as "invalid type:
    /// null", though the reference crate reads it as no metadata and it breaks no rule of ours.
    #[test]
    fn null_metadata_is_no_metadata() {
        let e = r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}"#;
        let d = [0, 0, 128, 63];
        let r = inspect(&raw(&format!(r#"{{"__metadata__":null,{e}}}"#), &d)).unwrap();
        assert!(r.metadata.is_empty());
        let twice = format!(r#"{{"__metadata__":null,"__metadata__":{{}},{e}}}"#);
        assert!(err(&raw(&twice, &d)).contains("duplicate key '__metadata__'"));
    }

    #[test]
    fn rejects_bad_layouts() {
        let gap = r#"{"w":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}"#;
        assert!(err(&raw(gap, &[0; 8])).contains("a gap"));
        let overlap = r#"{"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[2,6]}}"#;
        assert!(err(&raw(overlap, &[0; 6])).contains("an overlap"));
        let size = r#"{"w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,4]}}"#;
        assert!(err(&raw(size, &[0; 4])).contains("needs 8 bytes"));
        let overflow =
            r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}}"#;
        assert!(err(&raw(overflow, &[0; 4])).contains("overflows"));
    }

    #[test]
    fn names_rejected_dtypes() {
        let c = r#"{"w":{"dtype":"C64","shape":[1,1],"data_offsets":[0,8]}}"#;
        assert!(err(&raw(c, &[0; 8])).contains("dtype C64 is not supported (tensor 'w'"));
        let q = r#"{"w":{"dtype":"Q4","shape":[1,1],"data_offsets":[0,8]}}"#;
        assert!(err(&raw(q, &[0; 8])).contains("unknown dtype 'Q4'"));
    }

    #[test]
    fn recognizes_other_formats_by_content() {
        assert!(err(b"PK\x03\x04\x14\x00\x00\x00\x08\x00").contains("zip archive"));
        assert!(err(b"\x80\x02}q\x00(X\x05\x00\x00\x00").contains("pickle"));
        assert!(err(br#"{"not": "safetensors"}"#).contains("JSON"));
        assert!(err(&u64::MAX.to_le_bytes()).contains("exceeds the 16 MiB limit"));
        // Every "not a safetensors file" message says how to make one.
        let save = "save it with `safetensors.torch.save_file(model.state_dict(), path)`";
        for bytes in [
            &b"PK\x03\x04\x14\x00\x00\x00\x08\x00"[..],
            b"\x80\x02}q\x00(X\x05\x00\x00\x00",
            &u64::MAX.to_le_bytes(),
            b"abc",
            &raw("[1, 2, 3, 4]", &[]),
            &raw("{not json at all}", &[]),
            &raw("\u{1}{}", &[]),
        ] {
            assert!(err(bytes).contains(save), "{}", err(bytes));
        }
        // A broken safetensors header is not the wrong kind of file: no conversion advice.
        let dup = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(!err(&raw(dup, &[0; 8])).contains(save));
    }

    #[test]
    fn sign_bit_only_is_zero_for_every_float_width() {
        let bytes = file(
            &[
                ("h", Dtype::F16, vec![1, 2], vec![0x00, 0x80, 0x01, 0x80]),
                ("b", Dtype::BF16, vec![1, 2], vec![0x00, 0x80, 0x00, 0x00]),
                ("e", Dtype::F8_E4M3, vec![1, 3], vec![0x80, 0x00, 0x81]),
                (
                    "d",
                    Dtype::F64,
                    vec![1, 1],
                    (-0.0f64).to_le_bytes().to_vec(),
                ),
            ],
            &[],
        );
        let r = inspect(&bytes).unwrap();
        let mut kept: Vec<_> = r
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.kept))
            .collect();
        kept.sort();
        assert_eq!(kept, [("b", 0), ("d", 0), ("e", 1), ("h", 1)]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A valid file from arbitrary weights: an F32 matrix with some entries zeroed, an F16
    /// vector and a U8 mask over a second matrix.
    fn file_from(values: &[f32], zero_every: usize) -> Vec<u8> {
        let n = values.len();
        let w: Vec<u8> = values
            .iter()
            .enumerate()
            .flat_map(|(i, x)| if i % zero_every == 0 { 0f32 } else { *x }.to_le_bytes())
            .collect();
        let mask: Vec<u8> = (0..n).map(|i| (i % 3 == 0) as u8).collect();
        let header = format!(
            r#"{{"a":{{"dtype":"F32","shape":[{n},1],"data_offsets":[0,{}]}},"m_orig":{{"dtype":"U8","shape":[{n}],"data_offsets":[{},{}]}},"m_mask":{{"dtype":"U8","shape":[{n}],"data_offsets":[{},{}]}}}}"#,
            4 * n,
            4 * n,
            5 * n,
            5 * n,
            6 * n
        );
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&w);
        out.extend_from_slice(&mask);
        out.extend_from_slice(&mask);
        out
    }

    fn inspect_in(bytes: &[u8], cuts: &[usize]) -> Result<Inspection, InvalidSafetensors> {
        let mut inspector = Inspector::default();
        let mut start = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        for p in points.into_iter().chain([bytes.len()]) {
            inspector.feed(&bytes[start..p.max(start)])?;
            start = p.max(start);
        }
        inspector.finish()
    }

    proptest! {
        /// Any chunking of the same bytes gives the same verdict and the same counts, for valid
        /// files and for arbitrary (mostly invalid) bytes alike.
        #[test]
        fn chunking_never_changes_the_result(
            values in prop::collection::vec(any::<f32>(), 1..200),
            zero_every in 1usize..7,
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            noise in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let file = file_from(&values, zero_every);
            prop_assert_eq!(inspect_in(&file, &[]), inspect_in(&file, &cuts));
            prop_assert!(inspect_in(&file, &cuts).is_ok());
            let mut damaged = file.clone();
            damaged.truncate(damaged.len().saturating_sub(noise.len() % 5));
            damaged.extend_from_slice(&noise);
            prop_assert_eq!(inspect_in(&damaged, &[]), inspect_in(&damaged, &cuts));
            prop_assert_eq!(inspect_in(&noise, &[]), inspect_in(&noise, &cuts));
        }
    }
}
