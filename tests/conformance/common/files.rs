//! Safetensors files for tests: written by the reference crate, or raw for malformed cases.

use std::collections::HashMap;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// A safetensors file from (name, dtype, shape, bytes), written by the reference crate.
pub fn safetensors_file(
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    meta: &[(&str, &str)],
) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, (!meta.is_empty()).then_some(meta)).unwrap()
}

pub fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small ticket: a 16x16 weight with every `keep_every`-th entry nonzero, and a bias.
/// `seed` varies the content so tests can make distinct or identical files at will.
pub fn small_ticket(seed: u32, keep_every: usize) -> Vec<u8> {
    let w = f32_bytes((0..256).map(|i| {
        if i % keep_every == 0 {
            (i as f32) + seed as f32 + 1.0
        } else {
            0.0
        }
    }));
    safetensors_file(
        &[
            ("fc.weight", Dtype::F32, vec![16, 16], w),
            (
                "fc.bias",
                Dtype::F32,
                vec![16],
                f32_bytes((0..16).map(|i| i as f32)),
            ),
        ],
        &[],
    )
}

/// A raw safetensors file from a header string and data, for malformed cases.
pub fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
