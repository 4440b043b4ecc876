//! Organizations and profiles: creating an organization, its members and their roles (the
//! rules are `crate::domain::accounts`, applied by the index inside one transaction), and the
//! public profile of any owner, a person or an organization, with the results they reported.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{AppState, Authenticated};
use crate::domain::accounts::{self, AccountKind, MemberChange, Role};
use crate::domain::evidence::ResultRecord;
use crate::domain::tokens::Scope;
use crate::error::{ApiError, ApiResult, Code};
use crate::index::accounts::{Account, Member, Membership};

/// A person or an organization, as their profile page shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Profile {
    #[serde(flatten)]
    account: Account,
    /// Live tickets owned.
    tickets: u64,
    /// Results reported (people only).
    results: u64,
    /// An organization's members, admins first.
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<Vec<Member>>,
    /// The organizations a person belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    organizations: Option<Vec<Membership>>,
}

async fn profile(state: &AppState, account: Account) -> ApiResult<Profile> {
    let (tickets, results) = state.index.owner_counts(account.id).await?;
    let (members, organizations) = match account.kind {
        AccountKind::Org => (Some(state.index.members(account.id).await?), None),
        AccountKind::User => (None, Some(state.index.memberships(account.id).await?)),
    };
    Ok(Profile {
        account,
        tickets,
        results,
        members,
        organizations,
    })
}

async fn account_named(state: &AppState, name: &str) -> ApiResult<Account> {
    state
        .index
        .account(&name.to_lowercase())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user or organization '{name}'")))
}

async fn org_named(state: &AppState, name: &str) -> ApiResult<Account> {
    let account = account_named(state, name).await?;
    if account.kind != AccountKind::Org {
        return Err(ApiError::not_found(format!(
            "'{name}' is a user, not an organization"
        )));
    }
    Ok(account)
}

/// A user's or an organization's profile.
///
/// Who they are (the ORCID iD when an ORCID sign-in verified it; an organization's members) and
/// how many tickets and results they have. Their tickets: `GET /api/v1/tickets?owner=<name>`.
#[utoipa::path(get, path = "/api/v1/owners/{name}", tag = "accounts", operation_id = "show_owner",
    params(("name" = String, Path, description = "A username or organization name")),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 404, description = "No such user or organization", body = crate::error::ErrorBody),
    ))]
pub async fn show_owner(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Profile>> {
    let account = account_named(&state, &name).await?;
    Ok(Json(profile(&state, account).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// At most this many (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 32)]
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OwnerResults {
    /// Newest first.
    items: Vec<ResultRecord>,
    next_cursor: Option<String>,
}

/// Results a user reported.
///
/// Newest first, paginated with `next_cursor`; what the profile page lists.
#[utoipa::path(get, path = "/api/v1/owners/{name}/results", tag = "accounts", operation_id = "owner_results",
    params(("name" = String, Path, description = "A username"), ResultsQuery),
    responses(
        (status = 200, description = "The results, newest first", body = OwnerResults),
        (status = 400, description = "A bad limit or cursor", body = crate::error::ErrorBody),
        (status = 404, description = "No such user or organization", body = crate::error::ErrorBody),
    ))]
pub async fn owner_results(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ResultsQuery>,
) -> ApiResult<Json<OwnerResults>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::with_field(
            Code::InvalidParameter,
            "limit",
            "limit must be from 1 to 100",
        ));
    }
    let before = query
        .cursor
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::with_field(
                    Code::InvalidParameter,
                    "cursor",
                    "not a cursor from this list",
                )
            })
        })
        .transpose()?;
    let account = account_named(&state, &name).await?;
    let mut rows = state
        .index
        .results_by_user(account.id, before, limit + 1)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    Ok(Json(OwnerResults {
        items: rows.into_iter().map(|(_, r)| r).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// 2 to 39 letters, digits and single hyphens; shares the namespace with usernames.
    #[schema(
        min_length = 2,
        max_length = 39,
        pattern = "^[A-Za-z0-9](-?[A-Za-z0-9])+$"
    )]
    name: String,
    /// Free text, one line.
    #[schema(max_length = 128)]
    display_name: Option<String>,
}

/// Create an organization.
///
/// The caller becomes its first admin. Members publish under it by naming it as `owner` in a
/// ticket's metadata.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "accounts", operation_id = "create_org",
    request_body(content = NewOrg, content_type = "application/json"),
    security(("token" = [])),
    responses(
        (status = 201, description = "Created", body = Profile),
        (status = 400, description = "Not a valid name or display name", body = crate::error::ErrorBody),
        (status = 401, description = "Neither a valid token nor a live session", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the orgs scope, or a session request lacks X-CSRF-Token", body = crate::error::ErrorBody),
        (status = 409, description = "The name is taken by a user or an organization", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
    ))]
pub async fn create_org(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<Profile>)> {
    let request: NewOrg = serde_json::from_value(body)
        .map_err(|e| ApiError::new(Code::InvalidParameter, format!("invalid organization: {e}")))?;
    let user = auth.require(Scope::Orgs)?;
    let name = accounts::check_name(&request.name)
        .map_err(|m| ApiError::with_field(Code::InvalidParameter, "name", m))?;
    let display_name = request.display_name.filter(|d| !d.trim().is_empty());
    if let Some(d) = &display_name {
        crate::domain::tokens::check_label(d).map_err(|m| {
            ApiError::with_field(
                Code::InvalidParameter,
                "display_name",
                m.replace("label", "display name"),
            )
        })?;
    }
    match state
        .index
        .create_org(&name, display_name.as_deref(), user.id, Utc::now())
        .await?
    {
        Ok(org) => Ok((StatusCode::CREATED, Json(profile(&state, org).await?))),
        Err(_) => Err(ApiError::with_field(
            Code::Conflict,
            "name",
            format!("the name '{name}' is taken"),
        )),
    }
}

/// An organization's members.
///
/// Everyone may see who belongs to an organization and with which role.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "accounts", operation_id = "list_members",
    params(("org" = String, Path, description = "The organization's name")),
    responses(
        (status = 200, description = "Members, admins first", body = Vec<Member>),
        (status = 404, description = "No such organization", body = crate::error::ErrorBody),
    ))]
pub async fn members(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<Member>>> {
    let org = org_named(&state, &org).await?;
    Ok(Json(state.index.members(org.id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    role: Role,
}

/// Add a member, or change a member's role.
///
/// Admins only. The last admin cannot step down.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{user}", tag = "accounts", operation_id = "set_member",
    params(("org" = String, Path, description = "The organization's name"),
        ("user" = String, Path, description = "The username to add or change")),
    request_body(content = MemberRequest, content_type = "application/json"),
    security(("token" = [])),
    responses(
        (status = 200, description = "The members now", body = Vec<Member>),
        (status = 400, description = "Malformed request (an unknown role, say)", body = crate::error::ErrorBody),
        (status = 401, description = "Neither a valid token nor a live session", body = crate::error::ErrorBody),
        (status = 403, description = "Not an admin of the organization, the token lacks the orgs scope, or a session request lacks X-CSRF-Token", body = crate::error::ErrorBody),
        (status = 404, description = "No such organization or user", body = crate::error::ErrorBody),
        (status = 409, description = "The last admin would step down", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
    ))]
pub async fn set_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((org, member)): Path<(String, String)>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Json<Vec<Member>>> {
    let request: MemberRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::new(Code::InvalidParameter, format!("invalid member: {e}")))?;
    let user = auth.require(Scope::Orgs)?;
    let org = org_named(&state, &org).await?;
    let target = account_named(&state, &member).await?;
    if target.kind != AccountKind::User {
        return Err(ApiError::not_found(format!(
            "'{member}' is an organization, not a user"
        )));
    }
    let change = MemberChange::Set {
        target: target.id,
        role: request.role,
    };
    state
        .index
        .change_member(org.id, user.id, change, Utc::now())
        .await??;
    Ok(Json(state.index.members(org.id).await?))
}

/// Remove a member, or leave.
///
/// Admins remove anyone; a member may remove themselves. The last admin cannot leave. Tickets
/// stay with the organization.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "accounts", operation_id = "remove_member",
    params(("org" = String, Path, description = "The organization's name"),
        ("user" = String, Path, description = "The member to remove")),
    security(("token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Neither a valid token nor a live session", body = crate::error::ErrorBody),
        (status = 403, description = "Not an admin (nor the member themselves), the token lacks the orgs scope, or a session request lacks X-CSRF-Token", body = crate::error::ErrorBody),
        (status = 404, description = "No such organization, user or membership", body = crate::error::ErrorBody),
        (status = 409, description = "The last admin would leave", body = crate::error::ErrorBody),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((org, member)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user = auth.require(Scope::Orgs)?;
    let org = org_named(&state, &org).await?;
    let target = account_named(&state, &member).await?;
    state
        .index
        .change_member(
            org.id,
            user.id,
            MemberChange::Remove { target: target.id },
            Utc::now(),
        )
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `user` may edit and yank `ticket` (its owner; an organization's admins and the
/// member who uploaded it): 403 naming who may otherwise.
pub(super) async fn ensure_steward(
    state: &AppState,
    ticket: &crate::index::Ticket,
    user: &crate::index::User,
) -> ApiResult<()> {
    if ticket.owner == user.name {
        return Ok(());
    }
    let owner = account_named(state, &ticket.owner).await?;
    let role = match owner.kind {
        AccountKind::Org => state.index.role(owner.id, user.id).await?,
        AccountKind::User => None,
    };
    let stewardship = accounts::Stewardship {
        owner_id: owner.id,
        owner_kind: owner.kind,
        uploader_id: ticket.uploader_id,
    };
    if accounts::may_manage(stewardship, user.id, role) {
        return Ok(());
    }
    Err(ApiError::new(
        Code::Forbidden,
        match owner.kind {
            AccountKind::Org => format!(
                "only the admins of {} and the member who uploaded it can change this ticket",
                ticket.owner
            ),
            AccountKind::User => format!("only {} can change this ticket", ticket.owner),
        },
    ))
}
