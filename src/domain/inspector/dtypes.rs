//! The dtypes ticketbooth accepts, their sizes, and what makes an entry nonzero.

use safetensors::Dtype;

use super::{InvalidSafetensors, invalid};

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

pub fn is_float(dtype: Dtype) -> bool {
    matches!(
        dtype,
        Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 | Dtype::F8_E4M3 | Dtype::F8_E5M2
    )
}

pub fn elem_size(dtype: Dtype) -> usize {
    dtype.bitsize() / 8
}

/// Bits that make an entry nonzero: for floats every bit but the sign, so -0.0 counts as zero.
pub fn nonzero_mask(dtype: Dtype) -> u64 {
    let bits = dtype.bitsize() as u32;
    let all = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    if is_float(dtype) { all >> 1 } else { all }
}

pub fn dtype_name(dtype: Dtype) -> String {
    // Dtype serializes as its safetensors spelling ("F8_E4M3", ...).
    serde_json::to_value(dtype)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{dtype:?}"))
}

pub(super) fn parse_dtype(name: &str, tensor: &str) -> Result<Dtype, InvalidSafetensors> {
    match serde_json::from_value::<Dtype>(serde_json::Value::String(name.to_owned())) {
        Ok(d) if ACCEPTED.contains(&d) => Ok(d),
        Ok(_) => invalid(format!(
            "dtype {name} is not supported (tensor '{tensor}'; accepted: BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2)"
        )),
        Err(_) => invalid(format!("tensor '{tensor}': unknown dtype '{name}'")),
    }
}
