//! What the index stores and returns: the row types, and the SQL fragments and decoders that
//! turn a row into one of them (shared by both backends).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::accounts::{AccountKind, Role};

pub use crate::domain::ticket::{NewTicket, Ticket, User};

/// One facet value and how many tickets have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Facets {
    pub task: Vec<FacetCount>,
    pub dataset: Vec<FacetCount>,
    pub architecture: Vec<FacetCount>,
    pub pruning_method: Vec<FacetCount>,
    pub tag: Vec<FacetCount>,
    /// What the evidence says (docs/evidence.md).
    pub verdict: Vec<FacetCount>,
    /// N:M structure (docs/masks.md).
    pub structure: Vec<FacetCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TaskSummary {
    pub task: String,
    pub tickets: u64,
    pub best_accuracy: Option<f64>,
    pub max_sparsity: Option<f64>,
}

/// A compact row for plots: `[id, name, sparsity, accuracy, parent_id]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point(pub String, pub String, pub f64, pub f64, pub Option<String>);

/// The result of indexing an upload.
#[derive(Debug)]
pub struct Published {
    pub ticket: Ticket,
    /// The object that holds the content: the upload's own, or an earlier identical one.
    pub object_key: String,
}

/// What a download needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub ticket_name: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub object_key: String,
}

/// A row of the sha256 -> object map, as the integrity audit reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub object_key: String,
    pub size_bytes: u64,
}

/// The audit row of a ticket (or one result of a ticket) an operator took down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Takedown {
    pub id: i64,
    pub ticket_id: String,
    pub owner: String,
    pub name: String,
    pub sha256: String,
    pub reason: String,
    pub actor: String,
    /// Tickets whose parent was the removed one; their `parent_id` is now null.
    pub detached_children: Vec<String>,
    /// The object no ticket references any more, to delete once the transaction committed;
    /// None when another ticket has the same content.
    pub object_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `ticket`, or `result` for one result removed (then `owner` is who reported it).
    pub kind: String,
    /// The removed result's id, for kind `result`.
    pub result_id: Option<String>,
}

/// Ticket columns for lists (no per-tensor table), as a literal for `concat!`.
macro_rules! list_columns {
    () => {
        "t.seq, t.id, t.name, u.name AS owner, t.task, t.dataset, t.architecture, \
         t.pruning_method, t.accuracy, t.dense_accuracy, t.metric, t.description, t.tags, \
         t.parent_id, t.hyperparameters, t.paper_url, t.code_url, t.license, t.sha256, \
         t.size_bytes, t.sparsity, t.params_total, t.params_kept, t.created_at, \
         t.downloads, t.yanked, t.evidence, t.architecture_fingerprint, t.structure, t.uploader_id \
         FROM tickets t JOIN users u ON u.id = t.owner_id"
    };
}

/// The list columns and `FROM` clause, for tools that print the server's SQL.
pub const LIST_COLUMNS: &str = list_columns!();

/// The single-ticket query: list columns plus the per-tensor table.
macro_rules! select_ticket {
    () => {
        concat!(
            "SELECT t.tensors, t.description_html, \
             (SELECT name FROM users WHERE id = t.uploader_id) AS uploader, ",
            $crate::index::rows::list_columns!()
        )
    };
}

/// Decodes a ticket row; `tensors` only when the query selected it.
macro_rules! ticket_from_row {
    ($row:expr) => {{
        use sqlx::types::Json;
        use sqlx::{Column as _, Row as _};
        let row = $row;
        let n = |v: i64| v.max(0) as u64;
        let hp: Option<Json<serde_json::Map<String, serde_json::Value>>> =
            row.try_get("hyperparameters")?;
        let single = row.columns().iter().any(|c| c.name() == "tensors");
        let tensors = if single {
            Some(
                row.try_get::<Json<Vec<$crate::domain::inspector::TensorReport>>, _>("tensors")?
                    .0,
            )
        } else {
            None
        };
        let uploader: Option<String> = if single {
            row.try_get("uploader")?
        } else {
            None
        };
        let description_html: Option<Option<String>> = if single {
            Some(row.try_get("description_html")?)
        } else {
            None
        };
        $crate::index::Ticket {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            owner: row.try_get("owner")?,
            task: row.try_get("task")?,
            dataset: row.try_get("dataset")?,
            architecture: row.try_get("architecture")?,
            pruning_method: row.try_get("pruning_method")?,
            accuracy: row.try_get("accuracy")?,
            dense_accuracy: row.try_get("dense_accuracy")?,
            metric: row.try_get("metric")?,
            description_html,
            description: row.try_get("description")?,
            tags: row.try_get::<Json<Vec<String>>, _>("tags")?.0,
            parent_id: row.try_get("parent_id")?,
            hyperparameters: hp.map(|j| j.0),
            paper_url: row.try_get("paper_url")?,
            code_url: row.try_get("code_url")?,
            license: row.try_get("license")?,
            sha256: row.try_get("sha256")?,
            size_bytes: n(row.try_get("size_bytes")?),
            sparsity: row.try_get("sparsity")?,
            params_total: n(row.try_get("params_total")?),
            params_kept: n(row.try_get("params_kept")?),
            tensors,
            created_at: row.try_get("created_at")?,
            downloads: n(row.try_get("downloads")?),
            yanked: row.try_get("yanked")?,
            evidence: match row
                .try_get::<Option<Json<$crate::domain::evidence::Evidence>>, _>("evidence")?
            {
                Some(e) => e.0,
                // Rows from before results existed have none: their own accuracy alone.
                None => {
                    let accuracy: f64 = row.try_get("accuracy")?;
                    let dense: Option<f64> = row.try_get("dense_accuracy")?;
                    let metric: String = row.try_get("metric")?;
                    $crate::domain::evidence::evidence(accuracy, dense, &metric, &[])
                }
            },
            architecture_fingerprint: row.try_get("architecture_fingerprint")?,
            structure: row.try_get("structure")?,
            seq: row.try_get("seq")?,
            uploader,
            uploader_id: row.try_get("uploader_id")?,
        }
    }};
}

/// A token with its user: `token_from_row!` decodes it.
macro_rules! token_columns {
    () => {
        "SELECT k.id, k.label, k.scopes, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, \
         k.parent_token_id, u.id AS user_id, u.name AS user_name FROM api_tokens k JOIN users u ON u.id = k.user_id"
    };
}

/// Decodes a [`token_columns`] row into its user and record. A scope this build does not
/// know (written by a newer one) is left out rather than failing the request.
macro_rules! token_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<_, sqlx::Error> {
            let scopes: sqlx::types::Json<Vec<String>> = row.try_get("scopes")?;
            let user = $crate::index::User {
                id: row.try_get("user_id")?,
                name: row.try_get("user_name")?,
            };
            let record = $crate::domain::tokens::TokenRecord {
                id: row.try_get("id")?,
                user: user.name.clone(),
                label: row.try_get("label")?,
                scopes: $crate::domain::tokens::normalize(
                    scopes.0.iter().filter_map(|s| s.parse().ok()).collect(),
                ),
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                last_used_at: row.try_get("last_used_at")?,
                revoked_at: row.try_get("revoked_at")?,
                minted_by: row.try_get("parent_token_id")?,
            };
            Ok((user, record))
        })()
    }};
}

/// Binds [`sql::Arg`]s to a query, in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::index::sql::Arg::Text(s) => query.bind(s),
                $crate::index::sql::Arg::Real(x) => query.bind(x),
                $crate::index::sql::Arg::Int(i) => query.bind(i),
            };
        }
        query
    }};
}

pub(crate) use bind_args;
pub(crate) use list_columns;
pub(crate) use select_ticket;
pub(crate) use ticket_from_row;
pub(crate) use token_columns;
pub(crate) use token_from_row;

/// A person or an organization, as a profile shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Account {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub kind: AccountKind,
    pub display_name: Option<String>,
    /// The ORCID iD, verified by an ORCID sign-in (people only).
    pub orcid: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: i64,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub orcid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub name: String,
    pub role: Role,
    pub since: DateTime<Utc>,
}

/// An organization a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Membership {
    pub org: String,
    pub role: Role,
}
