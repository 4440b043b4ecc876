//! Upload and fetch tickets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;

use serde::Serialize;

use super::upload::{UploadBody, Uploader};
use super::{AppState, Authenticated};
use crate::domain::metadata;
use crate::domain::tokens::Scope;
use crate::error::{ApiError, ApiResult};
use crate::index::{Ticket, User};
use crate::ingest::pipeline;

/// Publish a ticket: a safetensors file and its metadata.
///
/// A multipart body with a `metadata` part (JSON, see `MetadataInput`) and a `file` part
/// (safetensors), in either order. The file is inspected as it streams: the server measures the
/// sparsity itself (the uploader's number is never used), stores the bytes by sha256 and indexes
/// the ticket. Needs a token with scope `upload`. Any error stores nothing.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets",
    request_body(content = crate::http::schemas::UploadForm, content_type = "multipart/form-data"),
    security(("token" = [])),
    responses(
        (status = 201, description = "Stored; Location names the new ticket", body = Ticket,
            headers(("Location" = String, description = "/api/v1/tickets/{id}"))),
        (status = 400, description = "Malformed multipart or a missing part", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token (missing, unknown, expired or revoked)", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the upload scope", body = crate::error::ErrorBody),
        (status = 409, description = "The owner already has a ticket of that name", body = crate::error::ErrorBody),
        (status = 413, description = "Too large", body = crate::error::ErrorBody),
        (status = 415, description = "Not multipart/form-data", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid safetensors or metadata", body = crate::error::ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    uploader: Uploader,
    UploadBody(multipart): UploadBody,
) -> ApiResult<impl IntoResponse> {
    let published =
        pipeline::ingest(&*state.index, &state.blobs, &uploader.user, multipart).await?;
    let location = format!("/api/v1/tickets/{}", published.ticket.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(published.ticket),
    ))
}

/// Fetch one ticket by id.
///
/// Every field: the metadata, `sha256`, `size_bytes`, the measured `sparsity` (the share of
/// prunable weights removed, a fraction in [0, 1]), `params_kept` of `params_total`, the
/// per-tensor table in data-offset order and the description rendered to sanitized HTML.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id, as upload and search return it")),
    responses(
        (status = 200, description = "The ticket, with its per-tensor table", body = Ticket),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
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

/// Fetch one ticket by its owner and name.
///
/// The same ticket as `GET /api/v1/tickets/{id}`, addressed as owner/name (as on the Hugging
/// Face Hub). Both are matched case-insensitively.
#[utoipa::path(get, path = "/api/v1/owners/{owner}/tickets/{name}", tag = "tickets",
    params(("owner" = String, Path, description = "The owner's user name"),
        ("name" = String, Path, description = "The ticket's name, a slug unique per owner")),
    responses(
        (status = 200, description = "The ticket", body = Ticket),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn show_by_name(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> ApiResult<Json<Ticket>> {
    state
        .index
        .ticket_by_name(&owner.to_lowercase(), &name.to_lowercase())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no ticket '{owner}/{name}'")))
}

/// The ticket, if the caller may change it (its owner; for an organization's, its admins and
/// the member who uploaded it): 404 when missing, 403 otherwise.
async fn owned(state: &AppState, id: &str, user: &User) -> ApiResult<Ticket> {
    let ticket = state
        .index
        .ticket(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id '{id}'")))?;
    super::orgs::ensure_steward(state, &ticket, user).await?;
    Ok(ticket)
}

/// Edit a ticket's descriptive fields.
///
/// Owner only, with a token of scope `upload`. The body may set `description`, `tags`,
/// `paper_url`, `code_url` and `license`; `null` clears one. What was measured or uploaded never
/// changes: a corrected ticket is a new upload.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id")),
    request_body(content = crate::http::schemas::EditRequest, content_type = "application/json"),
    security(("token" = [])),
    responses(
        (status = 200, description = "The edited ticket", body = Ticket),
        (status = 400, description = "Malformed JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token (missing, unknown, expired or revoked)", body = crate::error::ErrorBody),
        (status = 403, description = "Not the owner, or the token lacks the upload scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 422, description = "A read-only, unknown or invalid field", body = crate::error::ErrorBody),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Json<Ticket>> {
    let user = auth.require(Scope::Upload)?;
    owned(&state, &id, user).await?;
    let mut edit = metadata::parse_edit(&body)?;
    if let Some(description) = &edit.description {
        edit.description_html = Some(pipeline::render_description(description.clone()).await?);
    }
    Ok(Json(state.index.edit(&id, &edit).await?))
}

/// Yank a ticket: take it out of lists.
///
/// Owner only, with a token of scope `yank`; idempotent. A yanked ticket leaves search, facets,
/// tasks and the frontier (unless `include_yanked=true`), but its page, file and lineage stay
/// reachable, so nothing that depends on it breaks.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/yank", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id")), security(("token" = [])),
    responses(
        (status = 200, description = "Yanked (idempotent)", body = Ticket),
        (status = 401, description = "No valid token (missing, unknown, expired or revoked)", body = crate::error::ErrorBody),
        (status = 403, description = "Not the owner, or the token lacks the yank scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn yank(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Ticket>> {
    set_yanked(&state, &auth, &id, true).await
}

/// Unyank a ticket: put it back in lists.
///
/// Owner only, with a token of scope `yank`; idempotent.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/unyank", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id")), security(("token" = [])),
    responses(
        (status = 200, description = "Back in lists (idempotent)", body = Ticket),
        (status = 401, description = "No valid token (missing, unknown, expired or revoked)", body = crate::error::ErrorBody),
        (status = 403, description = "Not the owner, or the token lacks the yank scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn unyank(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Ticket>> {
    set_yanked(&state, &auth, &id, false).await
}

/// Yank and unyank: the owner, with a token that has the `yank` scope.
async fn set_yanked(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    yanked: bool,
) -> ApiResult<Json<Ticket>> {
    owned(state, id, auth.require(Scope::Yank)?).await?;
    Ok(Json(state.index.set_yanked(id, yanked).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Lineage {
    /// Nearest first: the parent, then its parent, ...
    ancestors: Vec<Relative>,
    /// Tickets naming this one as their parent: the owner's next rounds, and (with
    /// `same_owner: false`) tickets other researchers built on it.
    children: Vec<Relative>,
}

/// A ticket in another's lineage.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Relative {
    #[serde(flatten)]
    ticket: Ticket,
    /// Whether it has the same owner as the ticket whose lineage this is. Anyone may name any
    /// ticket as a parent (building on another's ticket is provenance), so this tells a run's
    /// own levels from others' work.
    same_owner: bool,
}

fn relatives(owner: &str, tickets: Vec<Ticket>) -> Vec<Relative> {
    tickets
        .into_iter()
        .map(|ticket| Relative {
            same_owner: ticket.owner == owner,
            ticket,
        })
        .collect()
}

/// Fetch a ticket's lineage: its ancestors and its children.
///
/// Ancestors follow `parent_id`, nearest first (the parent, then its parent, ...); children are
/// the tickets whose parent it is. An IMP run's levels form one chain.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/lineage", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "Ancestors nearest first, and children", body = Lineage),
        (status = 404, description = "No such ticket", body = crate::error::ErrorBody),
    ))]
pub async fn lineage(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Lineage>> {
    let this = state
        .index
        .tickets_by_ids(std::slice::from_ref(&id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id '{id}'")))?;
    let ids = state.index.ancestors(&id).await?;
    let ancestors = state.index.tickets_by_ids(&ids).await?;
    Ok(Json(Lineage {
        ancestors: relatives(&this.owner, ancestors),
        children: relatives(&this.owner, state.index.children(&id).await?),
    }))
}
