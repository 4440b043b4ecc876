use std::collections::HashMap;

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
