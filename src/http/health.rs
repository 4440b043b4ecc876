//! Liveness and readiness probes.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::error::{ApiError, ApiResult};

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The index and the blob store both answer.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.index.ping().await?;
    state.blobs.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(json!({"status": "ready"})))
}
