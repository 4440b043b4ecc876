//! Files generated from a stored ticket, planned before a byte is read: a *partial* file (some
//! of its tensors) and a *packed* file (each masked parameter as a bitmask and its kept values).
//! A plan is the generated file as a list of [`Segment`]s (the new header, byte ranges of the
//! stored file, bitmasks and values computed from stored tensors), so its length is exact up
//! front and any byte range of it maps onto ranges of the stored file ([`Layout::slices`]).
//! docs/masks.md documents both formats for clients.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use super::kernels::Entry;
use super::pairs::{is_float_dtype, mask_pairs};
use crate::domain::inspector::{Header, TensorPlan, dtype_name};
use crate::domain::search::InvalidParameter;

/// `__metadata__` keys the generated files add (a source key of the same name is replaced).
pub const FORMAT_KEY: &str = "ticketbooth.format";
pub const VERSION_KEY: &str = "ticketbooth.format_version";
pub const SOURCE_KEY: &str = "ticketbooth.source_sha256";
/// The packed file's description of every packed parameter, a JSON string.
pub const PACKED_KEY: &str = "ticketbooth.packed";
pub const PARTIAL_FORMAT: &str = "partial";
pub const PACKED_FORMAT: &str = "packed";
/// Bumped whenever a generated file's layout changes (it is part of their ETags).
pub const FORMAT_VERSION: u32 = 1;
/// Most names one `tensors=` list may hold, and how many unknown ones a refusal names.
pub const MAX_SELECTED: usize = 10_000;
const NAMED_IN_ERRORS: usize = 10;

/// A stored tensor: where its bytes start in the stored file, how many entries, of what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub offset: u64,
    pub entries: u64,
    pub entry: Entry,
}

impl Source {
    pub fn of(t: &TensorPlan, data_start: u64) -> Self {
        Source {
            offset: data_start + t.data_offsets().0,
            entries: t.params,
            entry: Entry::of(t.dtype),
        }
    }

    /// Bytes of entries `from..to`, as an absolute range of the stored file.
    pub fn bytes(&self, from: u64, to: u64) -> std::ops::Range<u64> {
        let size = self.entry.size as u64;
        self.offset + from * size..self.offset + to * size
    }
}

/// A run of the generated file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal bytes: the length prefix and header.
    Bytes(Vec<u8>),
    /// Bytes `offset..offset + len` of the stored file, as they are.
    Copy { offset: u64, len: u64 },
    /// One bit per entry of `mask` (kept or not), least significant bit first.
    Bitmask { mask: Source },
    /// The entries of `weights` that `mask` keeps (the weights' own nonzero pattern when `None`),
    /// `kept` of them.
    Values {
        mask: Option<Source>,
        weights: Source,
        kept: u64,
    },
}

impl Segment {
    pub fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::Copy { len, .. } => *len,
            Segment::Bitmask { mask } => mask.entries.div_ceil(8),
            Segment::Values { weights, kept, .. } => kept * weights.entry.size as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A generated file: its segments, in order, and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub segments: Vec<Segment>,
    pub len: u64,
}

/// Bytes `from..to` of segment `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub segment: usize,
    pub from: u64,
    pub to: u64,
}

impl Layout {
    fn new(segments: Vec<Segment>) -> Self {
        let len = segments.iter().map(Segment::len).sum();
        Layout { segments, len }
    }

    /// The pieces of segments that make up bytes `start..=end` of the file, in order.
    pub fn slices(&self, start: u64, end: u64) -> Vec<Slice> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for (i, s) in self.segments.iter().enumerate() {
            let (lo, hi) = (at, at + s.len());
            at = hi;
            let (from, to) = (start.max(lo), (end + 1).min(hi));
            if from < to {
                out.push(Slice {
                    segment: i,
                    from: from - lo,
                    to: to - lo,
                });
            }
        }
        out
    }
}

/// Which tensors a partial file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every `*_mask` tensor.
    Masks,
    /// Every tensor that is not a mask.
    Weights,
    /// These tensors.
    Tensors(BTreeSet<String>),
}

fn bad<T>(field: &str, message: impl Into<String>) -> Result<T, InvalidParameter> {
    Err(InvalidParameter {
        field: field.to_owned(),
        message: message.into(),
    })
}

/// The selection a download's `part` and `tensors` parameters ask for; `None` for the whole
/// file. The two together are refused, as are an unknown part and an empty list.
pub fn parse_selection(
    part: Option<&str>,
    tensors: Option<&str>,
) -> Result<Option<Selection>, InvalidParameter> {
    match (part, tensors) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => bad(
            "part",
            "ask for a part or for tensors, not both (tensors=... already names what you want)",
        ),
        (Some("masks"), None) => Ok(Some(Selection::Masks)),
        (Some("weights"), None) => Ok(Some(Selection::Weights)),
        (Some(other), None) => bad(
            "part",
            format!(
                "unknown part '{}': expected masks or weights",
                other.escape_debug()
            ),
        ),
        (None, Some(list)) => {
            let names: BTreeSet<String> = list
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return bad("tensors", "name at least one tensor (tensors=a,b)");
            }
            if names.len() > MAX_SELECTED {
                return bad("tensors", format!("at most {MAX_SELECTED} tensors at once"));
            }
            Ok(Some(Selection::Tensors(names)))
        }
    }
}

impl Selection {
    /// The selection written out canonically (names sorted, each once), for the ETag.
    pub fn canonical(&self) -> String {
        match self {
            Selection::Masks => "part=masks".into(),
            Selection::Weights => "part=weights".into(),
            Selection::Tensors(names) => {
                let mut s = String::from("tensors=");
                for n in names {
                    s.push_str(n);
                    s.push('\n');
                }
                s
            }
        }
    }
}

/// The generated file's ETag input: source, request and format version, hashed by the caller.
pub fn etag_input(source_sha256: &str, canonical_request: &str) -> String {
    format!("{source_sha256}\n{canonical_request}\nv{FORMAT_VERSION}")
}

/// One tensor of a generated file's header.
struct Out {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    segment: Segment,
}

/// The length prefix and the header JSON, padded with spaces to a multiple of 8 (as the
/// reference writer does), then the tensors' segments.
fn assemble(tensors: Vec<Out>, metadata: BTreeMap<String, String>) -> Layout {
    let mut header = Map::new();
    header.insert("__metadata__".into(), json!(metadata));
    let mut offset = 0u64;
    for t in &tensors {
        let end = offset + t.segment.len();
        header.insert(
            t.name.clone(),
            json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&Value::Object(header)).unwrap_or_default();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    let mut segments = vec![Segment::Bytes(bytes)];
    for t in tensors {
        // Neighbouring ranges of the stored file become one read.
        if let (Some(Segment::Copy { offset, len }), Segment::Copy { offset: o, len: l }) =
            (segments.last_mut(), &t.segment)
            && *offset + *len == *o
        {
            *len += l;
            continue;
        }
        segments.push(t.segment);
    }
    Layout::new(segments)
}

fn with_format(header: &Header, format: &str, source_sha256: &str) -> BTreeMap<String, String> {
    let mut metadata = header.metadata.clone();
    metadata.insert(FORMAT_KEY.into(), format.into());
    metadata.insert(VERSION_KEY.into(), FORMAT_VERSION.to_string());
    metadata.insert(SOURCE_KEY.into(), source_sha256.into());
    metadata
}

fn copied(t: &TensorPlan, data_start: u64) -> Out {
    let (begin, end) = t.data_offsets();
    Out {
        name: t.name.clone(),
        dtype: dtype_name(t.dtype),
        shape: t.shape.clone(),
        segment: Segment::Copy {
            offset: data_start + begin,
            len: end - begin,
        },
    }
}

/// A valid safetensors file of the selected tensors (in the stored file's data order, offsets
/// recomputed), `__metadata__` kept plus the format and the source's sha256. `data_start` is
/// where the stored file's data begins (8 + its header length).
pub fn plan_partial(
    header: &Header,
    data_start: u64,
    source_sha256: &str,
    selection: &Selection,
) -> Result<Layout, InvalidParameter> {
    let masks: HashSet<&str> = mask_pairs(header.tensors.iter().map(|t| t.name.as_str()))
        .iter()
        .map(|p| p.mask)
        .collect();
    let keep = |name: &str| match selection {
        Selection::Masks => masks.contains(name),
        Selection::Weights => !masks.contains(name),
        Selection::Tensors(names) => names.contains(name),
    };
    match selection {
        Selection::Masks if masks.is_empty() => {
            return bad(
                "part",
                "this ticket's file has no masks (its pruned weights are stored as zeros); ask for part=weights or the whole file",
            );
        }
        Selection::Tensors(names) => {
            let known: HashSet<&str> = header.tensors.iter().map(|t| t.name.as_str()).collect();
            let unknown: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .filter(|n| !known.contains(n))
                .collect();
            if !unknown.is_empty() {
                let shown: Vec<String> = unknown
                    .iter()
                    .take(NAMED_IN_ERRORS)
                    .map(|n| format!("'{}'", n.escape_debug()))
                    .collect();
                let more = unknown.len().saturating_sub(NAMED_IN_ERRORS);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                return bad(
                    "tensors",
                    format!(
                        "no tensor named {}{more} in this ticket's file (its header lists them: GET /api/v1/tickets/{{id}}/header)",
                        shown.join(", ")
                    ),
                );
            }
        }
        _ => {}
    }
    let tensors = header
        .tensors
        .iter()
        .filter(|t| keep(&t.name))
        .map(|t| copied(t, data_start))
        .collect();
    let metadata = with_format(header, PARTIAL_FORMAT, source_sha256);
    Ok(assemble(tensors, metadata))
}

/// Why a packed file cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// A packed name is already a tensor of the file.
    #[error(
        "this ticket's file already has a tensor named '{0}', a name its packed form needs; download it whole"
    )]
    NameCollision(String),
    /// The stored kept count of a tensor is missing (the index and the file disagree).
    #[error("no kept count for tensor '{0}'")]
    MissingCount(String),
}

/// The packed file: for each masked parameter `P` (stored as `P_orig` or `P` beside `P_mask`),
/// `P.bitmask` (U8, one bit per entry) and `P.values` (its kept entries, row-major, in its
/// dtype); without masks, the same for every prunable tensor `T` (`T.bitmask`, `T.values`,
/// by its nonzero pattern); every other tensor as it is. `kept` gives each stored tensor's
/// kept count as measured at upload (for a mask, its nonzero entries: the number of values).
pub fn plan_packed(
    header: &Header,
    data_start: u64,
    source_sha256: &str,
    kept: impl Fn(&str) -> Option<u64>,
) -> Result<Layout, PackError> {
    let pairs = mask_pairs(header.tensors.iter().map(|t| t.name.as_str()));
    let by_name: BTreeMap<&str, &TensorPlan> = header
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let masks: HashSet<&str> = pairs.iter().map(|p| p.mask).collect();
    let paired: BTreeMap<&str, _> = pairs.iter().map(|p| (p.param, p)).collect();
    let mut params = Map::new();
    let mut tensors = Vec::new();
    for t in &header.tensors {
        if masks.contains(t.name.as_str()) {
            continue;
        }
        let dtype = dtype_name(t.dtype);
        let (base, mask) = if pairs.is_empty() {
            if !(is_float_dtype(&dtype) && t.shape.len() >= 2) {
                tensors.push(copied(t, data_start));
                continue;
            }
            (t.name.as_str(), None)
        } else {
            match paired.get(t.name.as_str()) {
                Some(p) => (p.base, Some(by_name[p.mask])),
                None => {
                    tensors.push(copied(t, data_start));
                    continue;
                }
            }
        };
        let counted = mask.map_or(t.name.as_str(), |m| m.name.as_str());
        let count = kept(counted).ok_or_else(|| PackError::MissingCount(counted.to_owned()))?;
        let weights = Source::of(t, data_start);
        let mask_source = mask.map(|m| Source::of(m, data_start));
        params.insert(
            base.to_owned(),
            json!({
                "shape": t.shape,
                "dtype": dtype,
                "weights": t.name,
                "mask": mask.map(|m| m.name.clone()),
                "mask_dtype": mask.map(|m| dtype_name(m.dtype)),
                "kept": count,
            }),
        );
        tensors.push(Out {
            name: format!("{base}.bitmask"),
            dtype: "U8".into(),
            shape: vec![t.params.div_ceil(8)],
            segment: Segment::Bitmask {
                mask: mask_source.unwrap_or(weights),
            },
        });
        tensors.push(Out {
            name: format!("{base}.values"),
            dtype,
            shape: vec![count],
            segment: Segment::Values {
                mask: mask_source,
                weights,
                kept: count,
            },
        });
    }
    let mut seen = HashSet::new();
    for t in &tensors {
        if !seen.insert(t.name.as_str()) {
            return Err(PackError::NameCollision(t.name.clone()));
        }
    }
    let mut metadata = with_format(header, PACKED_FORMAT, source_sha256);
    let description = json!({"format": PACKED_FORMAT, "version": FORMAT_VERSION, "params": params});
    metadata.insert(PACKED_KEY.into(), description.to_string());
    Ok(assemble(tensors, metadata))
}
