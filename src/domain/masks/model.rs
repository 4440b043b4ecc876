//! "Is there a ticket for my model?": the architecture fingerprint of what a client sends, a
//! model's tensor list (`[{name, shape, dtype?}]`, what a `state_dict` gives, biases and all) or
//! the start of a safetensors file (its 8-byte length and header, no weights).

use serde_json::Value;

use super::fingerprint;
use crate::domain::inspector::{self, InvalidSafetensors};
use crate::domain::search::InvalidParameter;

/// Tensors a model's list may hold.
pub const MAX_TENSORS: usize = 100_000;
const MAX_NAME: usize = 1024;
const MAX_RANK: usize = 8;

fn bad<T>(field: &str, message: impl Into<String>) -> Result<T, InvalidParameter> {
    Err(InvalidParameter {
        field: field.into(),
        message: message.into(),
    })
}

/// The fingerprint of `{"tensors": [{"name", "shape", "dtype"?}, ...]}`. A missing dtype counts
/// as floating (a `state_dict`'s parameters are); tensors of rank < 2 are left out by the
/// fingerprint's own rule.
pub fn of_tensor_list(body: &Value) -> Result<String, InvalidParameter> {
    let Some(list) = body.get("tensors").and_then(Value::as_array) else {
        return bad(
            "tensors",
            "the body must be {\"tensors\": [{\"name\", \"shape\"}, ...]}",
        );
    };
    if list.len() > MAX_TENSORS {
        return bad(
            "tensors",
            format!("at most {MAX_TENSORS} tensors; got {}", list.len()),
        );
    }
    let mut tensors: Vec<(String, String, Vec<u64>)> = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let field = format!("tensors[{i}]");
        let name = match t.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n.len() <= MAX_NAME => n.to_owned(),
            _ => {
                return bad(
                    &field,
                    format!("needs a \"name\": a string of 1 to {MAX_NAME} bytes"),
                );
            }
        };
        let shape = match t.get("shape").and_then(Value::as_array) {
            Some(dims) if dims.len() <= MAX_RANK => dims
                .iter()
                .map(Value::as_u64)
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| InvalidParameter {
                    field: field.clone(),
                    message: "\"shape\" must be a list of whole numbers".into(),
                })?,
            _ => {
                return bad(
                    &field,
                    format!("needs a \"shape\": a list of at most {MAX_RANK} sizes"),
                );
            }
        };
        let dtype = match t.get("dtype") {
            None | Some(Value::Null) => "F32".to_owned(),
            Some(Value::String(d)) => d.to_uppercase(),
            Some(_) => return bad(&field, "\"dtype\" must be a string such as \"F32\""),
        };
        tensors.push((name, dtype, shape));
    }
    Ok(fingerprint(
        tensors
            .iter()
            .map(|(n, d, s)| (n.as_str(), d.as_str(), s.as_slice())),
    ))
}

/// The fingerprint of the start of a safetensors file: the 8-byte length, then the header
/// (anything after it is ignored). Checked as an upload's header is.
pub fn of_header(bytes: &[u8]) -> Result<String, InvalidSafetensors> {
    let Some(prefix) = bytes.get(..8) else {
        return Err(InvalidSafetensors(
            "send the file's first bytes: its 8-byte header length, then the header".into(),
        ));
    };
    let len = u64::from_le_bytes(prefix.try_into().unwrap_or_default());
    if len > inspector::MAX_HEADER_BYTES {
        return Err(InvalidSafetensors(format!(
            "header length {len} is over the {} byte limit",
            inspector::MAX_HEADER_BYTES
        )));
    }
    let Some(header) = bytes.get(8..8 + len as usize) else {
        return Err(InvalidSafetensors(format!(
            "the header is {len} bytes but only {} were sent",
            bytes.len() - 8
        )));
    };
    let header = inspector::parse_header(header)?;
    let dtypes: Vec<String> = header
        .tensors
        .iter()
        .map(|t| {
            serde_json::to_value(t.dtype)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    Ok(fingerprint(header.tensors.iter().zip(&dtypes).map(
        |(t, d)| (t.name.as_str(), d.as_str(), t.shape.as_slice()),
    )))
}
