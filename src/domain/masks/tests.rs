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
