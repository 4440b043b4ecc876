//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ApiResult};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Up", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The index and the blob store both answer.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Object),
    (status = 503, description = "The index or the blob store is down", body = crate::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.index.ping().await?;
    state.blobs.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(json!({"status": "ready"})))
}
