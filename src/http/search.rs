//! Finding tickets: search, facets, tasks, points for plots, the frontier.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;

use super::AppState;
use crate::error::ApiResult;
use crate::index::{Facets, Point, TaskSummary, Ticket};
use crate::search::{self, After, SortKey, SortValue};

/// Query pairs in order; names may repeat (`tag`).
pub fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[derive(Serialize)]
pub struct SearchPage {
    items: Vec<Ticket>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/tickets`.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SearchPage>> {
    let (filter, page) = search::parse_search(&query_pairs(raw))?;
    let mut items = state.index.search(&filter, &page).await?;
    let next_cursor = if items.len() > page.limit {
        items.truncate(page.limit);
        items.last().map(|last| {
            let value = match page.sort {
                SortKey::Created => None,
                SortKey::Accuracy => Some(SortValue::Real(last.accuracy)),
                SortKey::Sparsity => Some(SortValue::Real(last.sparsity)),
                SortKey::Downloads => Some(SortValue::Int(last.downloads as i64)),
            };
            search::encode_cursor(
                After {
                    value,
                    seq: last.seq,
                },
                &filter,
                &page,
            )
        })
    } else {
        None
    };
    Ok(Json(SearchPage { items, next_cursor }))
}

/// `GET /api/v1/facets`.
pub async fn facets(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Facets>> {
    let filter = search::parse_filter_only(&query_pairs(raw))?;
    Ok(Json(state.index.facets(&filter).await?))
}

#[derive(Serialize)]
pub struct Items<T> {
    items: Vec<T>,
}

/// `GET /api/v1/tasks`.
pub async fn tasks(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Items<TaskSummary>>> {
    let include_yanked = search::parse_tasks(&query_pairs(raw))?;
    Ok(Json(Items {
        items: state.index.tasks(include_yanked).await?,
    }))
}

#[derive(Serialize)]
pub struct PointsPage {
    /// `[id, name, sparsity, accuracy, parent_id]`, by ascending sparsity.
    items: Vec<Point>,
    /// More than the cap matched; narrow the filters to see them all.
    truncated: bool,
}

/// `GET /api/v1/points`.
pub async fn points(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<PointsPage>> {
    let filter = search::parse_filter_only(&query_pairs(raw))?;
    let mut items = state.index.points(&filter, search::POINTS_CAP + 1).await?;
    let truncated = items.len() > search::POINTS_CAP;
    items.truncate(search::POINTS_CAP);
    Ok(Json(PointsPage { items, truncated }))
}

/// `GET /api/v1/frontier`: the Pareto-optimal tickets, by ascending sparsity.
pub async fn frontier(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Items<Ticket>>> {
    let filter = search::parse_frontier(&query_pairs(raw))?;
    let frontier = search::pareto_frontier(state.index.candidates(&filter).await?);
    let ids: Vec<String> = frontier.iter().map(|c| c.id.clone()).collect();
    Ok(Json(Items {
        items: in_order(&ids, state.index.tickets_by_ids(&ids).await?),
    }))
}

/// Tickets arranged in the order of `ids`.
pub fn in_order(ids: &[String], mut tickets: Vec<Ticket>) -> Vec<Ticket> {
    tickets.sort_by_key(|t| ids.iter().position(|id| *id == t.id));
    tickets
}
