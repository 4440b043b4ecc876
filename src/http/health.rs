//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ApiResult};

/// Check that the process is up.
///
/// 200 as long as the process serves HTTP; it checks nothing else (`/readyz` does).
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Up", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Check that the registry can serve requests.
///
/// 200 when the index database and the blob store both answer; 503 otherwise, so a load
/// balancer stops sending traffic until they are back.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Object),
    (status = 503, description = "The index or the blob store is down", body = crate::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.index.ping().await?;
    state.blobs.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(json!({"status": "ready"})))
}
