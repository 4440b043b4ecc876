//! Finding tickets: search, facets, tasks, points for plots, the frontier.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;

use super::AppState;
use super::schemas::{FilterParams, FrontierParams, PageParams, TasksParams};
use crate::domain::search;
use crate::error::ApiResult;
use crate::index::{Facets, Point, TaskSummary, Ticket};

/// Query pairs in order; names may repeat (`tag`).
pub fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    items: Vec<Ticket>,
    next_cursor: Option<String>,
}

/// Search tickets by their metadata and measured sparsity.
///
/// Every filter narrows the set and all combine; newest first unless `sort` says otherwise.
/// Pages continue with `cursor=<next_cursor>`, bound to the same filters, sort and order. Bad
/// parameters are a 400 naming the parameter: unknown ones (with a suggestion for typos), and
/// fraction bounds outside [0, 1] (`min_accuracy=97` gets "did you mean 0.97?"). Items leave out
/// `tensors` and `description_html`.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "search",
    params(FilterParams, PageParams),
    responses(
        (status = 200, description = "One page; list items leave out `tensors`", body = SearchPage),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SearchPage>> {
    let (filter, page) = search::parse_search(&query_pairs(raw))?;
    let rows = state.index.search(&filter, &page).await?;
    let (items, next_cursor) = search::paginate(rows, &filter, &page, Ticket::sort_values);
    Ok(Json(SearchPage { items, next_cursor }))
}

/// Count tickets per task, dataset, architecture, pruning method and tag.
///
/// Under the same filters as search, the 50 most frequent values of each, most frequent first,
/// for filter menus with counts.
#[utoipa::path(get, path = "/api/v1/facets", tag = "search",
    params(FilterParams),
    responses(
        (status = 200, description = "Top 50 values per facet under the filters", body = Facets),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
    ))]
pub async fn facets(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Facets>> {
    let filter = search::parse_filter_only(&query_pairs(raw))?;
    Ok(Json(state.index.facets(&filter).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskList {
    items: Vec<TaskSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TicketList {
    items: Vec<Ticket>,
}

/// List every task with its ticket count, best accuracy and highest sparsity.
///
/// Accuracy and sparsity are fractions in [0, 1]. Yanked tickets are left out unless
/// `include_yanked=true`.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "search",
    params(TasksParams),
    responses(
        (status = 200, description = "Every task with its ticket count, best accuracy and highest sparsity", body = TaskList),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
    ))]
pub async fn tasks(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TaskList>> {
    let include_yanked = search::parse_tasks(&query_pairs(raw))?;
    Ok(Json(TaskList {
        items: state.index.tasks(include_yanked).await?,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PointsPage {
    /// `[id, name, sparsity, accuracy, parent_id]`, by ascending sparsity.
    #[schema(value_type = Vec<Vec<Value>>)]
    items: Vec<Point>,
    /// More than the cap matched; narrow the filters to see them all.
    truncated: bool,
}

/// Get compact rows of every matching ticket, for plots.
///
/// Each row is `[id, name, sparsity, accuracy, parent_id]` (fractions in [0, 1]), by ascending
/// sparsity, under the same filters as search; at most 100,000 rows (`truncated` says when more
/// matched).
#[utoipa::path(get, path = "/api/v1/points", tag = "search",
    params(FilterParams),
    responses(
        (status = 200, description = "Compact rows for plots (at most 100,000)", body = PointsPage),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
    ))]
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

/// Get a task's Pareto frontier of sparsity against accuracy.
///
/// The tickets that no other ticket of the same metric matches or beats in both sparsity and
/// accuracy, by ascending sparsity: the best known ticket at every size. `task` is required;
/// `dataset` and `architecture` narrow it as the papers do.
#[utoipa::path(get, path = "/api/v1/frontier", tag = "search",
    params(FrontierParams),
    responses(
        (status = 200, description = "The Pareto-optimal tickets by ascending sparsity", body = TicketList),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
    ))]
pub async fn frontier(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TicketList>> {
    let filter = search::parse_frontier(&query_pairs(raw))?;
    let frontier = search::pareto_frontier(state.index.candidates(&filter).await?);
    let ids: Vec<String> = frontier.iter().map(|c| c.id.clone()).collect();
    Ok(Json(TicketList {
        items: state.index.tickets_by_ids(&ids).await?,
    }))
}
