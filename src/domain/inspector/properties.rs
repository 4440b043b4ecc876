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
