//! Tickets that match: tickets for a model (`POST /compatible`, by architecture fingerprint) and similar
//! tickets. The rules are the domain's (`domain::masks`); these handlers parse and make one
//! index call.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::Serialize;

use super::AppState;
use super::search::query_pairs;
use crate::domain::masks::model;
use crate::domain::search;
use crate::error::{ApiError, ApiResult, Code};
use crate::index::Ticket;

/// The body `POST /compatible` reads at most: a header is at most 16 MiB, plus its length.
pub const MAX_COMPATIBLE_BODY: usize = (16 << 20) + 8;

#[derive(Serialize, utoipa::ToSchema)]
pub struct CompatiblePage {
    /// The architecture fingerprint of what was sent.
    fingerprint: String,
    items: Vec<Ticket>,
    next_cursor: Option<String>,
}

/// Find tickets for a model.
///
/// Send the model's tensors as JSON `{"tensors": [{"name", "shape", "dtype"?}]}` (a
/// `state_dict` as is, biases and all: tensors of rank < 2 do not count), or as
/// `application/octet-stream` the start of a safetensors file (its 8-byte length and header; no
/// weights are needed). The answer is the architecture fingerprint (docs/masks.md) and the
/// tickets that have it, most accurate first, paged like search (`limit`, `cursor` and the
/// search filters in the query string).
#[utoipa::path(post, path = "/api/v1/compatible", tag = "masks",
    params(crate::http::schemas::PageParams),
    request_body(content = crate::http::schemas::ModelTensors, description = "A model's tensors, or (application/octet-stream) a safetensors header"),
    responses(
        (status = 200, description = "The fingerprint and one page of tickets", body = CompatiblePage),
        (status = 400, description = "A bad parameter or tensor list, named", body = crate::error::ErrorBody),
        (status = 413, description = "Larger than a header can be", body = crate::error::ErrorBody),
        (status = 415, description = "Neither JSON nor octet-stream", body = crate::error::ErrorBody),
        (status = 422, description = "Not a valid safetensors header", body = crate::error::ErrorBody),
    ))]
pub async fn compatible(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<CompatiblePage>> {
    let fingerprint = fingerprint_of(&headers, &body)?;
    let mut pairs = query_pairs(raw);
    if pairs.iter().any(|(k, _)| k == "fingerprint") {
        return Err(ApiError::with_field(
            Code::InvalidParameter,
            "fingerprint",
            "comes from the body here; use GET /api/v1/tickets?fingerprint= to search by one",
        ));
    }
    if !pairs.iter().any(|(k, _)| k == "sort") {
        pairs.push(("sort".into(), "accuracy".into()));
    }
    pairs.push(("fingerprint".into(), fingerprint.clone()));
    let (filter, page) = search::parse_search(&pairs)?;
    let rows = state.index.search(&filter, &page).await?;
    let (items, next_cursor) = search::paginate(rows, &filter, &page, Ticket::sort_values);
    Ok(Json(CompatiblePage {
        fingerprint,
        items,
        next_cursor,
    }))
}

fn fingerprint_of(headers: &HeaderMap, body: &[u8]) -> ApiResult<String> {
    let kind = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("application/json") {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::with_field(Code::BadRequest, "tensors", format!("not valid JSON: {e}"))
        })?;
        Ok(model::of_tensor_list(&value)?)
    } else if kind.starts_with("application/octet-stream") {
        Ok(model::of_header(body)?)
    } else {
        Err(ApiError::new(
            Code::UnsupportedMediaType,
            "send application/json (a tensor list) or application/octet-stream (a safetensors header)",
        ))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SimilarTicket {
    #[serde(flatten)]
    ticket: Ticket,
    /// The estimated Jaccard index of the two tickets' kept-entry sets.
    jaccard: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SimilarList {
    items: Vec<SimilarTicket>,
}

/// Tickets whose masks are like this one's.
///
/// Tickets with the same architecture fingerprint, ranked by the estimated Jaccard index of
/// their kept-entry sets (a MinHash signature measured at upload; docs/masks.md), best first.
/// A fingerprint shared by more than 2,000 tickets is searched through an LSH band index, which
/// finds tickets with a Jaccard index above about 0.5 reliably and lower ones by chance.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/similar", tag = "masks",
    params(("id" = String, Path, description = "The ticket's id"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 10", minimum = 1, maximum = 100)),
    responses(
        (status = 200, description = "Similar tickets, most similar first", body = SimilarList),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn similar(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SimilarList>> {
    let limit = search::parse_limit(&query_pairs(raw), 10)?;
    let found = state.index.similar(&id, limit).await.map_err(|e| match e {
        crate::index::IndexError::NotFound => {
            ApiError::not_found(format!("no ticket with id '{id}'"))
        }
        e => e.into(),
    })?;
    Ok(Json(SimilarList {
        items: found
            .into_iter()
            .map(|(ticket, jaccard)| SimilarTicket { ticket, jaccard })
            .collect(),
    }))
}
