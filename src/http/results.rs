//! Results reported against tickets (reproductions, controls, dense baselines, transfers), the
//! evidence they add up to, and the transfer matrix. The rule is the domain's
//! (`domain::evidence`); these handlers parse, authorize and make one index call.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use chrono::Utc;
use serde::Serialize;

use super::search::query_pairs;
use super::{AppState, Authenticated};
use crate::domain::evidence::{self, Evidence, ResultRecord, TransferCell};
use crate::domain::search;
use crate::domain::tokens::Scope;
use crate::error::{ApiError, ApiResult, Code};

/// A stored result and the ticket's evidence after it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Added {
    result: ResultRecord,
    evidence: Evidence,
}

/// A deleted result and its ticket's evidence after it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    deleted: String,
    ticket_id: String,
    evidence: Evidence,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResultList {
    items: Vec<ResultRecord>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TransferMatrix {
    task: String,
    architecture: String,
    metric: String,
    cells: Vec<TransferCell>,
}

/// Report a result against a ticket.
///
/// A training run that tests the ticket's claim: a `reproduction` (this ticket again), a control
/// (`random_reinit`: the same mask from a fresh initialization; `random_prune`: a random mask at
/// the same sparsity, with `scope`), the `dense` network, or a `transfer` to another `dataset`.
/// Needs a token with scope `results`; counted against the per-user result rate. One result per
/// (user, ticket, kind, dataset, seed): a repeat is a 409. The answer carries the ticket's
/// evidence with this result in it. The verdict's rule, in order (tolerance 1e-9):
/// `unverified` without any `random_reinit` or `random_prune` result; `below_dense` when the
/// ticket's mean accuracy (its own and its reproductions') is more than 0.005 below the dense
/// accuracy; `no_better_than_controls` when a control's mean is within 0.01 of the ticket's
/// mean or above it; `wins` otherwise.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/results", tag = "evidence",
    params(("id" = String, Path, description = "The ticket's id")),
    request_body(content = crate::http::schemas::ResultInput, content_type = "application/json"),
    security(("token" = [])),
    responses(
        (status = 201, description = "Stored; Location names the result", body = Added,
            headers(("Location" = String, description = "/api/v1/results/{rid}"))),
        (status = 400, description = "Malformed JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the results scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
        (status = 409, description = "Already reported (same kind, dataset and seed), or the ticket holds 1,000 results", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 422, description = "An invalid field, named", body = crate::error::ErrorBody),
        (status = 429, description = "Result rate limit", body = crate::error::ErrorBody),
    ))]
pub async fn add_result(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    let user = auth.require(Scope::Results)?;
    state.guards.check_result(user.id)?;
    let ticket = state
        .index
        .ticket(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id '{id}'")))?;
    let result = evidence::parse_result(&body, ticket.setup(), "")?;
    let (result, evidence) = state
        .index
        .add_result(&id, user.id, &result, Utc::now())
        .await?;
    let location = format!("/api/v1/results/{}", result.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(Added { result, evidence }),
    ))
}

/// List a ticket's results.
///
/// Oldest first; a ticket holds at most 1,000. Results in a metric other than the ticket's are
/// listed but left out of its evidence.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/results", tag = "evidence",
    params(("id" = String, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The results, oldest first", body = ResultList),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn list_results(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ResultList>> {
    if !state.index.ticket_exists(&id).await? {
        return Err(ApiError::not_found(format!("no ticket with id '{id}'")));
    }
    Ok(Json(ResultList {
        items: state.index.results(&id).await?,
    }))
}

/// Delete a result.
///
/// Its reporter only, with a token of scope `results`. The answer carries the ticket's evidence
/// without it.
#[utoipa::path(delete, path = "/api/v1/results/{rid}", tag = "evidence",
    params(("rid" = String, Path, description = "The result's id")),
    security(("token" = [])),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "Not the reporter, or the token lacks the results scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such result", body = crate::error::ErrorBody),
    ))]
pub async fn delete_result(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(rid): Path<String>,
) -> ApiResult<Json<Deleted>> {
    let user = auth.require(Scope::Results)?;
    let no_such = || ApiError::not_found(format!("no result with id '{rid}'"));
    let result = state.index.result(&rid).await?.ok_or_else(no_such)?;
    if result.owner != user.name {
        return Err(ApiError::new(
            Code::Forbidden,
            format!("only {} can delete this result", result.owner),
        ));
    }
    let (ticket_id, evidence) = state.index.delete_result(&rid).await.map_err(|e| match e {
        crate::index::IndexError::NotFound => no_such(),
        e => e.into(),
    })?;
    Ok(Json(Deleted {
        deleted: rid,
        ticket_id,
        evidence,
    }))
}

/// The transfer matrix of one task and architecture.
///
/// For every (dataset tickets were found on, dataset a `transfer` result trained them on): how
/// many results, their mean accuracy and the tickets behind them (at most 100 ids a cell).
/// Live tickets only; results on `metric` only.
#[utoipa::path(get, path = "/api/v1/transfer", tag = "evidence",
    params(crate::http::schemas::TransferParams),
    responses(
        (status = 200, description = "Cells ordered by source, then target", body = TransferMatrix),
        (status = 400, description = "A bad or missing parameter", body = crate::error::ErrorBody),
    ))]
pub async fn transfer_matrix(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TransferMatrix>> {
    let (task, architecture, metric) = search::parse_transfer(&query_pairs(raw))?;
    let cells = state.index.transfer(&task, &architecture, &metric).await?;
    Ok(Json(TransferMatrix {
        task,
        architecture,
        metric,
        cells,
    }))
}
