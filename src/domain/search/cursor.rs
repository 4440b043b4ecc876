//! Cursors: where a page ended (its last ticket's sort value, carried bit-exactly, and seq),
//! bound to the query that made it, and the page a search answers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{InvalidParameter, Page, SortKey, TicketFilter, bad};

/// Where the previous page ended: its last ticket's sort value and seq.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct After {
    /// The sort column's value (absent when sorting by creation).
    #[serde(rename = "v", skip_serializing_if = "Option::is_none", default)]
    pub value: Option<SortValue>,
    #[serde(rename = "s")]
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    #[serde(rename = "i")]
    Int(i64),
    /// Carried as the float's bit pattern: a decimal form of 16-17 significant digits does not
    /// always parse back to the same `f64`, and an inexact value lets tied rows repeat.
    #[serde(rename = "r", with = "f64_bits")]
    Real(f64),
}

/// `f64` as its IEEE 754 bits, so a cursor round-trips the value exactly.
mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(x.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// Binds a cursor to its query: filters, sort and order (not the limit, which may change).
fn fingerprint(filter: &TicketFilter, page: &Page) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(filter).unwrap_or_default());
    h.update(serde_json::to_vec(&(page.sort, page.order)).unwrap_or_default());
    hex::encode(&h.finalize()[..8])
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    #[serde(flatten)]
    after: After,
    #[serde(rename = "q")]
    query: String,
}

pub fn encode_cursor(after: After, filter: &TicketFilter, page: &Page) -> String {
    let body = CursorBody {
        after,
        query: fingerprint(filter, page),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

pub(super) fn decode_cursor(
    cursor: &str,
    filter: &TicketFilter,
    page: &Page,
) -> Result<After, InvalidParameter> {
    let body: CursorBody = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| InvalidParameter {
            field: "cursor".into(),
            message: "the cursor is not valid; use next_cursor from a previous page".into(),
        })?;
    if body.query != fingerprint(filter, page) {
        return bad(
            "cursor",
            "the cursor belongs to a different query (filters, sort or order changed)",
        );
    }
    let value_ok = match (page.sort, body.after.value) {
        (SortKey::Created, None)
        | (SortKey::Downloads | SortKey::Reproductions, Some(SortValue::Int(_))) => true,
        (SortKey::Accuracy | SortKey::Sparsity, Some(SortValue::Real(x))) => x.is_finite(),
        _ => false,
    };
    if !value_ok {
        return bad("cursor", "the cursor does not match the sort");
    }
    Ok(body.after)
}

/// What a page's last ticket contributes to the next page's cursor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SortValues {
    pub accuracy: f64,
    pub sparsity: f64,
    pub downloads: u64,
    pub reproductions: u64,
    pub seq: i64,
}

/// The page a search answers: the index returns one row past the limit, so whether another
/// page follows is known; the cursor carries the last item's sort value and seq.
pub fn paginate<T>(
    mut items: Vec<T>,
    filter: &TicketFilter,
    page: &Page,
    key: impl Fn(&T) -> SortValues,
) -> (Vec<T>, Option<String>) {
    if items.len() <= page.limit {
        return (items, None);
    }
    items.truncate(page.limit);
    let cursor = items.last().map(|last| {
        let v = key(last);
        let value = match page.sort {
            SortKey::Created => None,
            SortKey::Accuracy => Some(SortValue::Real(v.accuracy)),
            SortKey::Sparsity => Some(SortValue::Real(v.sparsity)),
            SortKey::Downloads => Some(SortValue::Int(v.downloads as i64)),
            SortKey::Reproductions => Some(SortValue::Int(v.reproductions as i64)),
        };
        encode_cursor(After { value, seq: v.seq }, filter, page)
    });
    (items, cursor)
}
