//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

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
