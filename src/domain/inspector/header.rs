//! The length prefix and the header JSON: validated as soon as it is complete, laid out in
//! data order, with the tensors that count (prunable) marked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::dtypes::{elem_size, is_float, parse_dtype};
use super::{
    Header, InvalidSafetensors, MAX_NAME_BYTES, MAX_RANK, MAX_TENSORS, TensorPlan, invalid,
};

/// How to make a safetensors file, for messages about files that are not one.
pub const CONVERT_HINT: &str =
    "save it with `safetensors.torch.save_file(model.state_dict(), path)`";

/// Names what a file that is not safetensors looks like, from its first bytes.
pub(super) fn sniff(prefix: &[u8; 8]) -> Option<&'static str> {
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

pub fn check_prefix(prefix: &[u8; 8], max: u64) -> Result<u64, InvalidSafetensors> {
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

pub(super) fn check_name(name: &str) -> Result<(), InvalidSafetensors> {
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
pub(super) fn mark_prunable(tensors: &mut [TensorPlan]) -> Result<(), InvalidSafetensors> {
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
