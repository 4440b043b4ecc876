//! Differential checks of the streaming inspector against the reference `safetensors` crate
//! (`SafeTensors::deserialize`), shared by the unit tests below and the fuzz target in
//! `fuzz/` (which compiles this file and inspector.rs on their own; see docs/fuzzing.md).
//!
//! The invariants, for any input fed in any chunking:
//! - the inspector never panics, and the chunking never changes its result (verdict, counts,
//!   message);
//! - if the inspector accepts, the reference accepts too, and both see the same tensors
//!   (names, dtypes, shapes) and metadata; the inspector lists tensors in data-offset order,
//!   counts `kept <= params` for each, and its kept counts match a plain recount of the
//!   reference's tensor bytes;
//! - if the reference accepts and the inspector rejects, the rejection is one of the
//!   deliberate extra rules, [`ExtraRule`], recognized by name.

use std::collections::BTreeMap;

use safetensors::{Dtype, SafeTensors};

use super::inspector::{ExtraRule, Inspection, Inspector, InvalidSafetensors};

/// Feeds `bytes` to a fresh inspector in chunks of `sizes` (cycled; all at once if empty).
pub fn inspect_chunked(bytes: &[u8], sizes: &[usize]) -> Result<Inspection, InvalidSafetensors> {
    let mut inspector = Inspector::default();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes
            .next()
            .map_or(rest.len(), |&s| s.max(1))
            .min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        inspector.feed(chunk)?;
        rest = tail;
    }
    inspector.finish()
}

/// One tensor as the reference crate reads it.
#[derive(Debug)]
pub struct RefTensor {
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// Where its data starts within the file.
    pub offset: usize,
    pub data: Vec<u8>,
}

/// What the reference crate reads: tensors by name and `__metadata__`, or why it refuses.
pub type RefReading = (BTreeMap<String, RefTensor>, BTreeMap<String, String>);

pub fn reference(bytes: &[u8]) -> Result<RefReading, String> {
    // In debug builds the reference crate can panic on arithmetic overflow (a last data
    // offset near u64::MAX overflows its `offset + 8 + n` sum); that is a refusal too.
    let read = std::panic::catch_unwind(|| {
        SafeTensors::read_metadata(bytes)
            .and_then(|(_, meta)| SafeTensors::deserialize(bytes).map(|st| (st, meta)))
    })
    .map_err(|_| "the reference crate panicked".to_string())?;
    let (st, meta) = read.map_err(|e| format!("{e:?}"))?;
    let base = bytes.as_ptr() as usize;
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let tensor = RefTensor {
                dtype: view.dtype(),
                shape: view.shape().iter().map(|&d| d as u64).collect(),
                offset: view.data().as_ptr() as usize - base,
                data: view.data().to_vec(),
            };
            (name, tensor)
        })
        .collect();
    let metadata = meta.metadata().clone().unwrap_or_default();
    Ok((tensors, metadata.into_iter().collect()))
}

/// Nonzero entries, counted the plain way: an entry is zero iff all its bytes are, ignoring the
/// sign bit (the top bit of the last, most significant byte) for floats.
fn recount(dtype: Dtype, data: &[u8]) -> u64 {
    let float = matches!(
        dtype,
        Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 | Dtype::F8_E4M3 | Dtype::F8_E5M2
    );
    let size = dtype.bitsize() / 8;
    data.chunks(size)
        .filter(|entry| {
            let (last, rest) = entry.split_last().expect("entries are whole bytes");
            let last = if float { last & 0x7f } else { *last };
            last != 0 || rest.iter().any(|&b| b != 0)
        })
        .count() as u64
}

/// How the inspector and the reference crate judged one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    BothAccept,
    BothReject,
    /// The reference accepts; the inspector rejects by this deliberate rule.
    ExtraRule(ExtraRule),
}

/// Checks every invariant for `bytes` fed in chunks of `sizes`; panics naming the one broken.
pub fn check(bytes: &[u8], sizes: &[usize]) -> Outcome {
    let whole = inspect_chunked(bytes, &[]);
    let chunked = inspect_chunked(bytes, sizes);
    assert_eq!(
        whole, chunked,
        "feeding in chunks of {sizes:?} changed the result"
    );
    match (whole, reference(bytes)) {
        (Ok(ins), Ok(reading)) => {
            agree(&ins, &reading, bytes.len());
            Outcome::BothAccept
        }
        (Ok(_), Err(e)) => panic!("the inspector accepts a file the reference rejects ({e})"),
        (Err(e), Ok(_)) => match e.extra_rule() {
            Some(rule) => Outcome::ExtraRule(rule),
            None => panic!(
                "the inspector rejects a file the reference accepts, and not by a listed extra rule: {e}"
            ),
        },
        (Err(_), Err(_)) => Outcome::BothReject,
    }
}

fn agree(ins: &Inspection, (tensors, metadata): &RefReading, file_len: usize) {
    assert_eq!(ins.file_len, file_len as u64, "file_len");
    assert_eq!(&ins.metadata, metadata, "__metadata__");
    let names: Vec<&String> = ins.tensors.iter().map(|t| &t.name).collect();
    let ref_names: Vec<&String> = tensors.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ref_names, "tensor names");
    let mut last_offset = 0;
    let (mut total, mut kept) = (0, 0);
    for t in &ins.tensors {
        let r = &tensors[&t.name];
        assert_eq!(t.dtype, r.dtype.to_string(), "dtype of '{}'", t.name);
        assert_eq!(t.shape, r.shape, "shape of '{}'", t.name);
        assert_eq!(
            t.params,
            r.shape.iter().product::<u64>(),
            "params of '{}'",
            t.name
        );
        assert!(t.kept <= t.params, "kept > params in '{}'", t.name);
        assert_eq!(t.kept, recount(r.dtype, &r.data), "kept of '{}'", t.name);
        assert!(
            r.offset >= last_offset,
            "'{}' is out of data-offset order",
            t.name
        );
        last_offset = r.offset;
        if t.prunable {
            total += t.params;
            kept += t.kept;
        }
    }
    assert_eq!((ins.params_total, ins.params_kept), (total, kept), "totals");
    assert!(ins.params_total > 0 && ins.params_kept <= ins.params_total);
}

/// The fuzz target's input: the first byte chooses how the rest is chunked.
pub fn check_fuzz_input(data: &[u8]) -> Option<Outcome> {
    let (&seed, file) = data.split_first()?;
    Some(check(file, &chunk_sizes(seed)))
}

/// Chunk sizes from one byte: byte by byte, a fixed size, or an irregular run of sizes.
pub fn chunk_sizes(seed: u8) -> Vec<usize> {
    match seed % 4 {
        0 => vec![1],
        1 => vec![usize::from(seed >> 2) + 1],
        2 => {
            // xorshift: a reproducible, irregular run of sizes from 1 to 64.
            let mut x = u32::from(seed) | 0x9e37_7900;
            (0..16)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x % 64) as usize + 1
                })
                .collect()
        }
        _ => {
            let mut sizes = vec![7, 1, 8, 3, 4096, 2, 5];
            sizes.rotate_left(usize::from(seed >> 2) % 7);
            sizes
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::path::Path;

    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use safetensors::tensor::TensorView;
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::inspector::{ACCEPTED, MAX_HEADER_BYTES, MAX_TENSORS};

    /// Every dtype ticketbooth accepts, plus a few the format knows but ticketbooth does not.
    fn dtypes() -> Vec<Dtype> {
        let refused = [Dtype::F8_E8M0, Dtype::F8_E4M3FNUZ, Dtype::C64];
        ACCEPTED.iter().copied().chain(refused).collect()
    }
    const FLOATS: &[Dtype] = &[
        Dtype::F16,
        Dtype::BF16,
        Dtype::F32,
        Dtype::F64,
        Dtype::F8_E4M3,
    ];
    const NAMES: &[&str] = &[
        "w",
        "w_orig",
        "w_mask",
        "fc.weight",
        "fc.bias",
        "conv1.weight_orig",
        "conv1.weight_mask",
        "x_mask",
        "layer.0.é",
    ];

    #[derive(Debug, Clone)]
    struct Spec {
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        /// Repeated to fill the tensor; mostly zeros, so sparsity varies.
        pattern: Vec<u8>,
    }

    fn pattern() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![2 => Just(0u8), 1 => any::<u8>()], 1..12)
    }

    fn tensor() -> impl Strategy<Value = Spec> {
        (
            prop::sample::select(NAMES),
            prop::sample::select(dtypes()),
            prop::collection::vec(0usize..5, 0..4),
            pattern(),
        )
            .prop_map(|(name, dtype, shape, pattern)| Spec {
                name: name.to_string(),
                dtype,
                shape,
                pattern,
            })
    }

    /// A pruned parameter: weights and a mask of the same shape.
    fn pruned_pair() -> impl Strategy<Value = Vec<Spec>> {
        (
            prop::sample::select(&["p", "conv1.weight", "fc"][..]),
            any::<bool>(),
            prop::sample::select(FLOATS),
            prop::sample::select(&[Dtype::BOOL, Dtype::U8, Dtype::F32, Dtype::F16][..]),
            prop::collection::vec(1usize..5, 1..4),
            pattern(),
            pattern(),
        )
            .prop_map(|(prefix, orig, wd, md, shape, wp, mp)| {
                let param = if orig {
                    format!("{prefix}_orig")
                } else {
                    prefix.to_string()
                };
                vec![
                    Spec {
                        name: param,
                        dtype: wd,
                        shape: shape.clone(),
                        pattern: wp,
                    },
                    Spec {
                        name: format!("{prefix}_mask"),
                        dtype: md,
                        shape,
                        pattern: mp,
                    },
                ]
            })
    }

    /// A file written by the reference crate's serializer.
    fn valid_file() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(tensor(), 0..4),
            prop::option::of(pruned_pair()),
            prop::collection::btree_map(
                prop::sample::select(&["task", "tags", "k"][..]),
                "[a-z0-9,]{0,6}",
                0..3,
            ),
        )
            .prop_map(|(tensors, pair, metadata)| {
                let specs: BTreeMap<String, Spec> = tensors
                    .into_iter()
                    .chain(pair.into_iter().flatten())
                    .map(|s| (s.name.clone(), s))
                    .collect();
                let datas: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = specs
                    .into_values()
                    .map(|s| {
                        let len = s.shape.iter().product::<usize>() * s.dtype.bitsize() / 8;
                        let data = s.pattern.iter().copied().cycle().take(len).collect();
                        (s.name, s.dtype, s.shape, data)
                    })
                    .collect();
                let views: Vec<(String, TensorView)> = datas
                    .iter()
                    .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
                    .collect();
                let metadata: HashMap<String, String> = metadata
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                let metadata = (!metadata.is_empty()).then_some(metadata);
                safetensors::serialize(views, metadata).unwrap()
            })
    }

    /// A valid file, then maybe one mutation: `kind` picks it, `a` and `b` steer it.
    fn near_valid_file() -> impl Strategy<Value = Vec<u8>> {
        (valid_file(), 0u8..20, any::<u64>(), any::<usize>())
            .prop_map(|(file, kind, a, b)| mutate(file, kind, a, b))
    }

    fn split(file: &[u8]) -> (String, Vec<u8>) {
        let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(file[8..8 + n].to_vec()).unwrap();
        (header, file[8 + n..].to_vec())
    }

    fn join(header: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header);
        out.extend_from_slice(data);
        out
    }

    const HUGE: &[u64] = &[0, 1 << 32, 1 << 61, 1 << 63, u64::MAX - 1, u64::MAX];

    fn mutate(file: Vec<u8>, kind: u8, a: u64, b: usize) -> Vec<u8> {
        let (text, data) = split(&file);
        let mut header: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
        let names: Vec<String> = header
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        let pick = names.get(b % names.len().max(1)).cloned();
        let small = (a % 9) as usize + 1;
        // Edits one tensor's entry in the JSON header.
        let mut edit = |f: &mut dyn FnMut(&mut serde_json::Map<String, Value>)| {
            if let Some(Value::Object(entry)) = pick.as_ref().and_then(|n| header.get_mut(n)) {
                f(entry);
            }
            join(serde_json::to_string(&header).unwrap().as_bytes(), &data)
        };
        match kind {
            1 => {
                let dtypes = [
                    "F32", "f32", "F16", "BF16", "U8", "BOOL", "I64", "F64", "C64", "F4",
                    "F6_E2M3", "F8_E8M0", "Q4", "", "F8_E4M3",
                ];
                edit(&mut |e| {
                    e.insert("dtype".into(), json!(dtypes[a as usize % dtypes.len()]));
                })
            }
            2 => edit(&mut |e| {
                let Some(Value::Array(shape)) = e.get_mut("shape") else {
                    return;
                };
                match a % 9 {
                    0 => shape.push(json!(1)),
                    1 => shape.push(json!(2)),
                    // Unit dimensions past the rank cap: the product, and so the data, hold.
                    8 => shape.extend((0..9).map(|_| json!(1))),
                    2 => drop(shape.pop()),
                    3 => *shape = vec![json!(HUGE[b % HUGE.len()])],
                    4 => *shape = vec![json!(1u64 << 32), json!(1u64 << 32), json!(2)],
                    5 => *shape = vec![json!(0), json!(u64::MAX), json!(u64::MAX)],
                    6 => shape.clear(),
                    _ => *shape = vec![[json!(-1), json!(1.5), json!("1")][b % 3].clone()],
                }
            }),
            3 => edit(&mut |e| {
                let Some(Value::Array(o)) = e.get_mut("data_offsets") else {
                    return;
                };
                let (begin, end) = (o[0].as_u64().unwrap(), o[1].as_u64().unwrap());
                let d = small as u64;
                *o = match a % 8 {
                    0 => vec![json!(begin + d), json!(end + d)],
                    1 => vec![json!(begin.saturating_sub(d)), json!(end.saturating_sub(d))],
                    2 => vec![json!(end), json!(begin)],
                    3 => vec![json!(begin), json!(end + d)],
                    4 => vec![json!(HUGE[b % HUGE.len()]), json!(u64::MAX)],
                    5 => vec![json!(0), json!(end)],
                    6 => vec![json!(begin), json!(end), json!(end)],
                    _ => vec![json!(begin), json!(end.to_string())],
                };
            }),
            4 => edit(&mut |e| {
                e.remove(["dtype", "shape", "data_offsets"][b % 3]);
            }),
            5 => edit(&mut |e| {
                e.insert("x".into(), json!(1));
            }),
            6 => {
                let meta = [
                    json!(null),
                    json!({"a": 1}),
                    json!({"a": {"b": "c"}}),
                    json!("s"),
                    json!({}),
                    json!({"task": "t", "é": "\u{0}"}),
                ];
                header.insert("__metadata__".into(), meta[b % meta.len()].clone());
                join(serde_json::to_string(&header).unwrap().as_bytes(), &data)
            }
            7 => {
                let Some(old) = pick else { return file };
                let long = "n".repeat(1025);
                let new = [
                    "",
                    long.as_str(),
                    "a\u{0}",
                    "w\n",
                    "__metadata__",
                    "ü",
                    "w_mask",
                    "w",
                ][b % 8];
                let entry = header.remove(&old).unwrap();
                header.insert(new.into(), entry);
                join(serde_json::to_string(&header).unwrap().as_bytes(), &data)
            }
            8 => {
                // The same name twice, textually (a JSON map cannot hold it).
                let Some(name) = pick else { return file };
                let entry = if a.is_multiple_of(2) {
                    header[&name].to_string()
                } else {
                    r#"{"dtype":"U8","shape":[0],"data_offsets":[0,0]}"#.to_string()
                };
                let dup = format!("{{{}:{entry},", json!(name));
                let text = text.replacen('{', &dup, 1);
                join(text.as_bytes(), &data)
            }
            9 => {
                let dup = r#"{"__metadata__":{"a":"1","a":"2"},"#;
                join(text.replacen('{', dup, 1).as_bytes(), &data)
            }
            10 => {
                let lead = [" ", "\n", "\t", "\u{feff}", "\r\n "][b % 5];
                join(format!("{lead}{text}").as_bytes(), &data)
            }
            11 => {
                let tail = ["    ", " ", "\n", "x", "}", "\u{0}", " {}"][b % 7];
                join(format!("{text}{tail}").as_bytes(), &data)
            }
            12 => {
                let mut h = text.into_bytes();
                let i = b % h.len();
                h[i] = [0xff, 0xc0, 0x80][a as usize % 3];
                join(&h, &data)
            }
            13 => {
                let n = text.len() as u64;
                let len = match a % 6 {
                    0 => n + small as u64,
                    1 => n.saturating_sub(small as u64),
                    2 => MAX_HEADER_BYTES + 1,
                    3 => 100_000_001,
                    4 => u64::MAX,
                    _ => b as u64 % 2,
                };
                let mut out = file;
                out[..8].copy_from_slice(&len.to_le_bytes());
                out
            }
            14 => {
                let mut out = file;
                match a % 3 {
                    0 => out.truncate(out.len().saturating_sub(small)),
                    1 => out.extend(std::iter::repeat_n(0, small)),
                    _ => out.truncate(8 + text.len()),
                }
                out
            }
            15 => {
                let mut out = file;
                let i = b % out.len();
                out[i] ^= (a as u8) | 1;
                out
            }
            16 => join(b"{}", &data[..data.len().min(b % 3)]),
            17 => {
                let mut out = file;
                out.truncate(b % (out.len() + 1));
                out
            }
            _ => file,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Valid files from the reference serializer, and each kind of near miss: the inspector
        /// and the reference crate agree, except by a listed extra rule.
        #[test]
        fn inspector_accepts_exactly_what_the_reference_accepts(
            file in near_valid_file(),
            chunking in any::<u8>(),
        ) {
            check(&file, &chunk_sizes(chunking));
        }
    }

    /// The generator above reaches every kind of outcome, so the property cannot pass by
    /// never comparing anything.
    #[test]
    fn the_generator_covers_agreement_and_the_extra_rules() {
        let mut runner = TestRunner::deterministic();
        let strategy = near_valid_file();
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..1500 {
            let file = strategy.new_tree(&mut runner).unwrap().current();
            let outcome = check(&file, &[3]);
            *seen.entry(format!("{outcome:?}")).or_default() += 1;
        }
        let expected = ["BothAccept", "BothReject"]
            .into_iter()
            .map(String::from)
            .chain(
                ExtraRule::ALL
                    .into_iter()
                    // A header over 16 MiB is too big to generate by the thousand; it has
                    // its own case in each_extra_rule_is_recognized_by_name.
                    // Nor is a file of 100,001 tensors.
                    .filter(|r| !matches!(r, ExtraRule::HeaderTooLong | ExtraRule::TooManyTensors))
                    .map(|r| format!("{:?}", Outcome::ExtraRule(r))),
            );
        for outcome in expected {
            assert!(
                seen.get(&outcome).copied().unwrap_or(0) >= 3,
                "{outcome} rare in {seen:#?}"
            );
        }
    }

    fn raw(header: &str, data: &[u8]) -> Vec<u8> {
        join(header.as_bytes(), data)
    }

    /// One file per extra rule that the reference crate accepts and the inspector rejects by
    /// exactly that rule.
    #[test]
    fn each_extra_rule_is_recognized_by_name() {
        let w = r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}"#;
        let one = [0, 0, 128, 63];
        // An empty tensor named `name` next to a valid weight.
        let entry = |name: &str| {
            let name = json!(name);
            format!(r#"{{{name}:{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}},{w}}}"#)
        };
        let mut padded = format!("{{{w}}}");
        padded.push_str(&" ".repeat(MAX_HEADER_BYTES as usize));
        let many: Vec<String> = (0..=MAX_TENSORS)
            .map(|i| format!(r#""e{i}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#))
            .collect();
        let many = format!("{{{},{w}}}", many.join(","));
        let cases: Vec<(ExtraRule, Vec<u8>)> = vec![
            (ExtraRule::HeaderTooLong, raw(&padded, &one)),
            (ExtraRule::TooManyTensors, raw(&many, &one)),
            (
                ExtraRule::RankTooHigh,
                raw(
                    &format!(
                        r#"{{"deep":{{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}},{}}}"#,
                        r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}"#
                    ),
                    &[0, 0, 128, 63, 0, 0, 128, 63],
                ),
            ),
            (
                ExtraRule::LeadingWhitespace,
                raw(&format!("\n{{{w}}}"), &one),
            ),
            (
                ExtraRule::DuplicateTensorName,
                raw(&format!("{{{w},{w}}}"), &one),
            ),
            (
                ExtraRule::DuplicateMetadataKey,
                raw(
                    &format!(r#"{{"__metadata__":{{"a":"1","a":"2"}},{w}}}"#),
                    &one,
                ),
            ),
            (
                ExtraRule::UnknownTensorField,
                raw(
                    r#"{"w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4],"x":[]}}"#,
                    &one,
                ),
            ),
            (ExtraRule::EmptyName, raw(&entry(""), &one)),
            (ExtraRule::LongName, raw(&entry(&"n".repeat(1025)), &one)),
            (
                ExtraRule::ControlCharacterInName,
                raw(&entry("a\u{7f}"), &one),
            ),
            (
                ExtraRule::UnsupportedDtype,
                raw(
                    r#"{"w":{"dtype":"F8_E8M0","shape":[2,2],"data_offsets":[0,4]}}"#,
                    &one,
                ),
            ),
            (ExtraRule::NoTensors, raw("{}", &[])),
            (
                ExtraRule::MaskWithoutMatchingParameter,
                raw(
                    &format!(
                        r#"{{"w_mask":{{"dtype":"U8","shape":[2],"data_offsets":[4,6]}},{w}}}"#
                    ),
                    &[0, 0, 128, 63, 1, 0],
                ),
            ),
            (
                ExtraRule::NoPrunableEntries,
                raw(
                    r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                    &one,
                ),
            ),
        ];
        let covered: BTreeSet<String> = cases.iter().map(|(r, _)| format!("{r:?}")).collect();
        assert_eq!(covered.len(), ExtraRule::ALL.len(), "a rule without a case");
        for (rule, file) in cases {
            assert!(
                reference(&file).is_ok(),
                "{rule:?}: the reference should accept"
            );
            let e = inspect_chunked(&file, &[]).unwrap_err();
            assert_eq!(e.extra_rule(), Some(rule), "{rule:?}: {e}");
            assert_eq!(check(&file, &[5]), Outcome::ExtraRule(rule));
        }
    }

    /// Names are user text: a name that spells out a rule's message does not make a shared
    /// rejection look like an extra rule.
    #[test]
    fn a_crafted_name_cannot_pass_for_an_extra_rule() {
        for name in [
            "file has no tensors",
            "mask 'x",
            "dtype F4",
            "header length 1 exceeds the",
        ] {
            let gap = format!(
                r#"{{{}:{{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}}}"#,
                json!(name)
            );
            let e = inspect_chunked(&raw(&gap, &[0; 8]), &[]).unwrap_err();
            assert!(e.0.contains("a gap"), "{e}");
            assert_eq!(e.extra_rule(), None, "{e}");
        }
    }

    /// Replays the committed fuzz seeds and regressions with the fuzz target's invariants, so
    /// CI covers them without a fuzzer.
    #[test]
    fn fuzz_corpus_and_regressions_replay() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut outcomes = BTreeSet::new();
        let mut files = 0;
        for dir in ["corpus/inspector", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| {
                    let outcome = check_fuzz_input(&bytes);
                    // Every chunking, not just the one the seed byte picks.
                    for seed in [0, 1, 2, 3, 6, 7, 255] {
                        assert_eq!(
                            check(&bytes[1.min(bytes.len())..], &chunk_sizes(seed)),
                            outcome.unwrap()
                        );
                    }
                    outcome
                });
                let outcome = outcome.unwrap_or_else(|_| panic!("{} fails", path.display()));
                outcomes.insert(format!(
                    "{:?}",
                    outcome.map(|o| matches!(o, Outcome::BothAccept))
                ));
                files += 1;
            }
        }
        assert!(files >= 8, "only {files} corpus files");
        assert!(
            outcomes.contains("Some(true)") && outcomes.contains("Some(false)"),
            "{outcomes:?}"
        );
    }
}
