//! Upload and fetch tickets.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use super::{AppState, Authenticated};
use crate::error::{ApiError, ApiResult, Code};
use crate::index::Ticket;
use crate::ingest::pipeline;

/// `POST /api/v1/tickets`: multipart `metadata` (JSON) and `file` (safetensors), any order.
pub async fn upload(
    State(state): State<AppState>,
    Authenticated(owner): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let boundary = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            ApiError::new(
                Code::UnsupportedMediaType,
                "uploads must be multipart/form-data with parts 'metadata' and 'file'",
            )
        })?;
    // Refuse an announced oversized body before reading a byte of it.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.limits.max_body_bytes()) {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            format!(
                "the request body is larger than the {} byte limit",
                state.limits.max_body_bytes()
            ),
        ));
    }
    let multipart = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        state.limits.constraints(),
    );
    let published =
        pipeline::ingest(&*state.index, &state.blobs, &owner, multipart, state.limits).await?;
    let location = format!("/api/v1/tickets/{}", published.ticket.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(published.ticket),
    ))
}

/// `GET /api/v1/tickets/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Ticket>> {
    state
        .index
        .ticket(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id '{id}'")))
}
