use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;

fn fp(tensors: &[(&str, &str, &[u64])]) -> String {
    fingerprint(tensors.iter().copied())
}

#[test]
fn fingerprint_hashes_the_documented_lines() {
    let tensors: &[(&str, &str, &[u64])] = &[
        ("fc2.weight", "F32", &[10, 300]),
        ("fc1.weight", "F16", &[300, 784]),
        ("fc1.bias", "F32", &[300]),
        ("steps", "I64", &[2, 2]),
    ];
    let lines = fingerprint_lines(tensors.iter().copied());
    assert_eq!(lines, ["fc1.weight\t300,784\n", "fc2.weight\t10,300\n"]);
    let expected = hex::encode(Sha256::digest(b"fc1.weight\t300,784\nfc2.weight\t10,300\n"));
    assert_eq!(fp(tensors), expected);
    assert_eq!(expected.len(), 64);
}

#[test]
fn masked_and_zeros_layouts_agree_and_dtypes_do_not_count() {
    let masked: &[(&str, &str, &[u64])] = &[
        ("conv.weight_orig", "F32", &[16, 3, 3, 3]),
        ("conv.weight_mask", "F32", &[16, 3, 3, 3]),
        ("fc.weight_orig", "F32", &[10, 64]),
        ("fc.weight_mask", "BOOL", &[10, 64]),
        ("fc.bias", "F32", &[10]),
    ];
    let zeros: &[(&str, &str, &[u64])] = &[
        ("fc.bias", "F32", &[10]),
        ("fc.weight", "BF16", &[10, 64]),
        ("conv.weight", "F16", &[16, 3, 3, 3]),
    ];
    assert_eq!(fp(masked), fp(zeros));
    // A mask over `P` (not `P_orig`) is left out too.
    let plain: &[(&str, &str, &[u64])] = &[
        ("conv.weight", "F32", &[16, 3, 3, 3]),
        ("conv.weight_mask", "U8", &[16, 3, 3, 3]),
        ("fc.weight", "F32", &[10, 64]),
    ];
    assert_eq!(fp(plain), fp(zeros));
}

#[test]
fn shapes_and_names_change_the_fingerprint() {
    let a: &[(&str, &str, &[u64])] = &[("w", "F32", &[4, 4])];
    assert_ne!(fp(a), fp(&[("w", "F32", &[4, 5])]));
    assert_ne!(fp(a), fp(&[("v", "F32", &[4, 4])]));
    assert_ne!(fp(a), fp(&[("w", "F32", &[16, 1])]));
    // `_orig` is renamed only beside its mask.
    assert_ne!(fp(a), fp(&[("w_orig", "F32", &[4, 4])]));
    // Integer tensors and vectors do not count.
    assert_eq!(
        fp(a),
        fp(&[
            ("w", "F32", &[4, 4]),
            ("n", "I32", &[4, 4]),
            ("b", "F32", &[4])
        ])
    );
}

#[test]
fn mask_pairs_prefer_orig_and_skip_orphans() {
    let names = ["a_orig", "a_mask", "b", "b_mask", "c_mask", "a"];
    let pairs = mask_pairs(names);
    assert_eq!(
        pairs,
        [
            MaskPair {
                mask: "a_mask",
                param: "a_orig",
                base: "a"
            },
            MaskPair {
                mask: "b_mask",
                param: "b",
                base: "b"
            },
        ]
    );
    assert_eq!(parameter_of_mask("b_mask", |n| n == "b"), Some("b".into()));
    assert_eq!(parameter_of_mask("b", |_| true), None);
    assert_eq!(parameter_of_mask("z_mask", |_| false), None);
}

proptest! {
    /// The fingerprint depends on the set of tensors, not their order.
    #[test]
    fn fingerprint_ignores_order(
        shapes in prop::collection::vec(prop::collection::vec(1u64..50, 0..4), 1..12),
        seed in any::<u64>(),
    ) {
        let names: Vec<String> = (0..shapes.len()).map(|i| format!("layer{i}.weight")).collect();
        let tensors: Vec<(&str, &str, &[u64])> = names
            .iter()
            .zip(&shapes)
            .map(|(n, s)| (n.as_str(), "F32", s.as_slice()))
            .collect();
        let mut shuffled = tensors.clone();
        let len = shuffled.len();
        shuffled.rotate_left((seed as usize) % len);
        if seed % 2 == 0 {
            shuffled.reverse();
        }
        prop_assert_eq!(fingerprint(tensors), fingerprint(shuffled));
    }
}

mod generated {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, SafeTensors};

    use super::super::compare::{plan_compare, summarize};
    use super::super::kernels::{Side, Tally, find_kept, pack_bits, select_values};
    use super::super::layout::*;
    use crate::domain::inspector::{Header, parse_header};

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let meta = HashMap::from([("task".to_string(), "t".to_string())]);
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn parsed(bytes: &[u8]) -> (Header, u64) {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        (parse_header(&bytes[8..8 + n as usize]).unwrap(), 8 + n)
    }

    /// What the server streams, computed in one go from the whole source (the reference the
    /// streaming code must equal).
    fn render(layout: &Layout, src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &layout.segments {
            match s {
                Segment::Bytes(b) => out.extend_from_slice(b),
                Segment::Copy { offset, len } => {
                    out.extend_from_slice(&src[*offset as usize..(*offset + *len) as usize])
                }
                Segment::Bitmask { mask } => {
                    let r = mask.bytes(0, mask.entries);
                    pack_bits(&src[r.start as usize..r.end as usize], mask.entry, &mut out)
                }
                Segment::Values { mask, weights, .. } => {
                    let w = weights.bytes(0, weights.entries);
                    let m = mask.map(|m| {
                        let r = m.bytes(0, m.entries);
                        (&src[r.start as usize..r.end as usize], m.entry)
                    });
                    select_values(
                        m,
                        &src[w.start as usize..w.end as usize],
                        weights.entry,
                        &mut out,
                    )
                }
            }
        }
        out
    }

    fn masked_ticket() -> (Vec<u8>, Vec<f32>, Vec<f32>) {
        let w: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) / 7.0).collect();
        let m: Vec<f32> = (0..60)
            .map(|i| f32::from(i % 3 == 0 || i % 7 == 0))
            .collect();
        let bytes = file(&[
            ("fc.weight_orig", Dtype::F32, vec![6, 10], f32s(&w)),
            ("fc.weight_mask", Dtype::F32, vec![6, 10], f32s(&m)),
            ("fc.bias", Dtype::F32, vec![6], f32s(&[1.0; 6])),
        ]);
        (bytes, w, m)
    }

    #[test]
    fn partial_files_are_valid_safetensors_of_the_selected_tensors() {
        let (src, _, _) = masked_ticket();
        let (h, start) = parsed(&src);
        let whole = SafeTensors::deserialize(&src).unwrap();
        for (selection, names) in [
            (Selection::Masks, vec!["fc.weight_mask"]),
            (Selection::Weights, vec!["fc.bias", "fc.weight_orig"]),
            (
                Selection::Tensors(["fc.bias".to_string()].into()),
                vec!["fc.bias"],
            ),
        ] {
            let layout = plan_partial(&h, start, "abc", &selection).unwrap();
            let out = render(&layout, &src);
            assert_eq!(out.len() as u64, layout.len);
            let (_, meta) = SafeTensors::read_metadata(&out).unwrap();
            let meta = meta.metadata().clone().unwrap();
            assert_eq!(meta[SOURCE_KEY], "abc");
            assert_eq!(meta[FORMAT_KEY], PARTIAL_FORMAT);
            assert_eq!(meta["task"], "t");
            let got = SafeTensors::deserialize(&out).unwrap();
            let mut listed: Vec<String> = got.names().into_iter().map(str::to_owned).collect();
            listed.sort();
            assert_eq!(listed, names);
            for n in names {
                assert_eq!(got.tensor(n).unwrap(), whole.tensor(n).unwrap());
            }
        }
        let err = plan_partial(
            &h,
            start,
            "abc",
            &Selection::Tensors(["nope".to_string(), "fc.bias".to_string()].into()),
        )
        .unwrap_err();
        assert_eq!(err.field, "tensors");
        assert!(err.message.contains("'nope'"), "{}", err.message);
    }

    #[test]
    fn selections_parse_and_refuse() {
        assert_eq!(parse_selection(None, None).unwrap(), None);
        assert_eq!(
            parse_selection(Some("masks"), None).unwrap(),
            Some(Selection::Masks)
        );
        assert_eq!(
            parse_selection(None, Some("b,a,,b")).unwrap(),
            Some(Selection::Tensors(
                ["a".to_string(), "b".to_string()].into()
            ))
        );
        assert_eq!(
            parse_selection(Some("masks"), Some("a")).unwrap_err().field,
            "part"
        );
        assert_eq!(
            parse_selection(Some("bits"), None).unwrap_err().field,
            "part"
        );
        assert_eq!(
            parse_selection(None, Some(",")).unwrap_err().field,
            "tensors"
        );
        let zeros = file(&[("w", Dtype::F32, vec![2, 2], f32s(&[0.0, 1.0, 0.0, 2.0]))]);
        let (h, start) = parsed(&zeros);
        let err = plan_partial(&h, start, "x", &Selection::Masks).unwrap_err();
        assert!(err.message.contains("no masks"), "{}", err.message);
    }

    #[test]
    fn packed_keeps_bits_and_values_and_describes_them() {
        let (src, w, m) = masked_ticket();
        let (h, start) = parsed(&src);
        let kept = m.iter().filter(|x| **x != 0.0).count() as u64;
        let layout = plan_packed(&h, start, "abc", |n| {
            (n == "fc.weight_mask").then_some(kept)
        })
        .unwrap();
        let out = render(&layout, &src);
        assert_eq!(out.len() as u64, layout.len);
        let got = SafeTensors::deserialize(&out).unwrap();
        let bits = got.tensor("fc.weight.bitmask").unwrap();
        assert_eq!((bits.dtype(), bits.shape()), (Dtype::U8, &[8][..]));
        for (i, x) in m.iter().enumerate() {
            let bit = bits.data()[i / 8] >> (i % 8) & 1;
            assert_eq!(bit == 1, *x != 0.0, "entry {i}");
        }
        let values = got.tensor("fc.weight.values").unwrap();
        let expected: Vec<f32> = w
            .iter()
            .zip(&m)
            .filter(|(_, k)| **k != 0.0)
            .map(|(v, _)| *v)
            .collect();
        assert_eq!(values.data(), &f32s(&expected)[..]);
        assert!(got.tensor("fc.bias").is_ok());
        let (_, meta) = SafeTensors::read_metadata(&out).unwrap();
        let described: serde_json::Value =
            serde_json::from_str(&meta.metadata().clone().unwrap()[PACKED_KEY]).unwrap();
        let p = &described["params"]["fc.weight"];
        assert_eq!(p["shape"], serde_json::json!([6, 10]));
        assert_eq!(p["weights"], "fc.weight_orig");
        assert_eq!(p["mask"], "fc.weight_mask");
        assert_eq!(p["mask_dtype"], "F32");
        assert_eq!(described["version"], FORMAT_VERSION);
        // A missing count is an error, not a wrong length.
        assert!(matches!(
            plan_packed(&h, start, "abc", |_| None),
            Err(PackError::MissingCount(_))
        ));
    }

    #[test]
    fn a_ninety_percent_sparse_f32_ticket_packs_at_least_seven_times_smaller() {
        let n = 100_000usize;
        let w: Vec<f32> = (0..n)
            .map(|i| if i % 10 == 0 { i as f32 + 1.0 } else { 0.0 })
            .collect();
        let src = file(&[("w", Dtype::F32, vec![n / 100, 100], f32s(&w))]);
        let (h, start) = parsed(&src);
        let layout = plan_packed(&h, start, "x", |_| Some((n / 10) as u64)).unwrap();
        let ratio = src.len() as f64 / layout.len as f64;
        assert!(ratio >= 7.0, "{ratio}");
        let out = render(&layout, &src);
        let got = SafeTensors::deserialize(&out).unwrap();
        assert_eq!(got.tensor("w.values").unwrap().data().len(), n / 10 * 4);
    }

    #[test]
    fn compare_counts_and_refuses_other_architectures() {
        let (src, _, m) = masked_ticket();
        let (ha, sa) = parsed(&src);
        // The same network in the zeros layout, with a different mask and some flipped signs.
        let w2: Vec<f32> = (0..60)
            .map(|i| {
                if i % 2 == 0 {
                    if i % 4 == 0 { -1.0 } else { 1.0 }
                } else {
                    0.0
                }
            })
            .collect();
        let other = file(&[
            ("fc.weight", Dtype::F32, vec![6, 10], f32s(&w2)),
            ("fc.bias", Dtype::F32, vec![6], f32s(&[0.0; 6])),
        ]);
        let (hb, sb) = parsed(&other);
        let plan = plan_compare(&ha, sa, &hb, sb).unwrap();
        assert_eq!(plan.len(), 1);
        let l = &plan[0];
        assert_eq!((l.name.as_str(), l.entries), ("fc.weight", 60));
        let slice =
            |src: &[u8], r: std::ops::Range<u64>| src[r.start as usize..r.end as usize].to_vec();
        let am = slice(&src, l.a.mask.unwrap().bytes(0, 60));
        let aw = slice(&src, l.a.weights.bytes(0, 60));
        let bw = slice(&other, l.b.weights.bytes(0, 60));
        let mut t = Tally::default();
        t.add(
            Side {
                mask: Some((&am, l.a.mask.unwrap().entry)),
                weights: &aw,
                weight: l.a.weights.entry,
            },
            Side {
                mask: None,
                weights: &bw,
                weight: l.b.weights.entry,
            },
            60,
        );
        let w: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) / 7.0).collect();
        let (mut ka, mut kb, mut both, mut same) = (0, 0, 0, 0);
        for i in 0..60 {
            let (x, y) = (m[i] != 0.0, w2[i] != 0.0);
            ka += u64::from(x);
            kb += u64::from(y);
            if x && y {
                both += 1;
                same += u64::from(w[i].is_sign_negative() == w2[i].is_sign_negative());
            }
        }
        assert_eq!(
            (t.kept_a, t.kept_b, t.intersection, t.same_sign),
            (ka, kb, both, same)
        );
        let c = summarize(&[("fc.weight".into(), t)]);
        let union = ka + kb - both;
        assert_eq!(c.overall.union, union);
        assert_eq!(c.overall.iou, Some(both as f64 / union as f64));
        let e = ka as f64 * kb as f64 / 60.0;
        assert_eq!(
            c.overall.expected_iou,
            Some(e / (ka as f64 + kb as f64 - e))
        );
        assert_eq!(c.overall.sign_agreement, Some(same as f64 / both as f64));

        let wider = file(&[("fc.weight", Dtype::F32, vec![6, 11], f32s(&[1.0; 66]))]);
        let (hc, sc) = parsed(&wider);
        let err = plan_compare(&ha, sa, &hc, sc).unwrap_err();
        assert!(
            err.0.contains("fc.weight [6,10]") && err.0.contains("fc.weight [6,11]"),
            "{}",
            err.0
        );
    }

    proptest! {
        /// Any byte range of a generated file is the same bytes of the whole, from the slices.
        #[test]
        fn slices_cover_exactly_the_range(a in 0u64..3000, b in 0u64..3000) {
            let (src, _, m) = masked_ticket();
            let (h, start) = parsed(&src);
            let kept = m.iter().filter(|x| **x != 0.0).count() as u64;
            let layout = plan_packed(&h, start, "abc", |_| Some(kept)).unwrap();
            let whole = render(&layout, &src);
            let (lo, hi) = (a.min(b) % layout.len, a.max(b) % layout.len);
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let mut got = Vec::new();
            for s in layout.slices(lo, hi) {
                let seg = Layout { len: 0, segments: vec![layout.segments[s.segment].clone()] };
                let bytes = render(&seg, &src);
                got.extend_from_slice(&bytes[s.from as usize..s.to as usize]);
            }
            prop_assert_eq!(&got[..], &whole[lo as usize..=hi as usize]);
        }

        /// find_kept finds where the n-th kept entry starts.
        #[test]
        fn find_kept_agrees_with_a_count(bits in prop::collection::vec(any::<bool>(), 0..64), target in 0u64..70) {
            let bytes: Vec<u8> = bits.iter().map(|b| u8::from(*b)).collect();
            let entry = super::super::kernels::Entry::of(Dtype::U8);
            let total = bits.iter().filter(|b| **b).count() as u64;
            match find_kept(&bytes, entry, target) {
                Ok(i) => {
                    prop_assert_eq!(bits[..i].iter().filter(|b| **b).count() as u64, target);
                    // The smallest such index: the entry before it is kept (or it is the start).
                    prop_assert!(i == 0 || bits[i - 1]);
                }
                Err(k) => { prop_assert_eq!(k, total); prop_assert!(total < target); }
            }
        }
    }
}
