//! The index: tickets, users, tokens and the sha256 -> object map. One narrow trait, with a
//! Postgres and an embedded SQLite implementation that pass the same conformance suite.

mod migrations;
pub mod postgres;
pub mod sql;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::inspector::TensorReport;
pub use crate::domain::metadata::TicketEdit;
use crate::domain::metadata::TicketMetadata;
use crate::domain::search::{Candidate, Page, TicketFilter};
use crate::domain::tokens::{NewToken, TokenRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A validated upload, ready to be indexed.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub id: String,
    pub owner_id: i64,
    pub meta: TicketMetadata,
    pub sha256: String,
    pub size_bytes: u64,
    /// Where this upload's bytes were written.
    pub object_key: String,
    pub params_total: u64,
    pub params_kept: u64,
    pub tensors: Vec<TensorReport>,
    pub created_at: DateTime<Utc>,
    /// The description rendered once, here, so that reads render nothing.
    pub description_html: Option<String>,
}

impl Ticket {
    /// What a search page's last ticket gives its next cursor.
    pub fn sort_values(&self) -> crate::domain::search::SortValues {
        crate::domain::search::SortValues {
            accuracy: self.accuracy,
            sparsity: self.sparsity,
            downloads: self.downloads,
            seq: self.seq,
        }
    }
}

impl NewTicket {
    pub fn sparsity(&self) -> f64 {
        1.0 - self.params_kept as f64 / self.params_total as f64
    }
}

/// A ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub task: String,
    pub dataset: String,
    pub architecture: String,
    pub pruning_method: String,
    pub accuracy: f64,
    pub dense_accuracy: Option<f64>,
    pub metric: String,
    pub description: Option<String>,
    /// `description` rendered from markdown and sanitized. Single-ticket views only: list
    /// items leave it out (as they leave out `tensors`), so a search page renders no markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub description_html: Option<Option<String>>,
    pub tags: Vec<String>,
    pub parent_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub hyperparameters: Option<Map<String, Value>>,
    pub paper_url: Option<String>,
    pub code_url: Option<String>,
    pub license: Option<String>,
    pub sha256: String,
    pub size_bytes: u64,
    pub sparsity: f64,
    pub params_total: u64,
    pub params_kept: u64,
    /// Per-tensor counts; left out of list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<TensorReport>>,
    pub created_at: DateTime<Utc>,
    pub downloads: u64,
    pub yanked: bool,
    /// Insertion order: the keyset tie-breaker. Internal.
    #[serde(skip)]
    #[schema(ignore)]
    pub seq: i64,
}

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

/// The audit row of a ticket an operator took down.
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
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("this owner already has a ticket with that name")]
    NameTaken,
    #[error("parent ticket does not exist")]
    UnknownParent,
    #[error("no such ticket")]
    NotFound,
    #[error("index unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The user already holds this many live tokens.
    #[error("the user already has {0} live tokens")]
    TooManyTokens(u32),
    /// The statement ran past the serving pool's `statement_timeout` and was cancelled.
    #[error("statement cancelled: {0}")]
    Cancelled(#[source] sqlx::Error),
    #[error("index error: {0}")]
    Other(#[source] sqlx::Error),
}

impl IndexError {
    /// Connection trouble is an outage (503); anything else is a bug (500).
    pub(crate) fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => IndexError::Unavailable(e),
            // 57014 query_canceled: our statement_timeout fired.
            sqlx::Error::Database(ref d) if d.code().as_deref() == Some("57014") => {
                IndexError::Cancelled(e)
            }
            _ => IndexError::Other(e),
        }
    }

    /// Whether the database certainly did not apply the write: it answered with an error (a
    /// constraint, a cancelled statement...), so the transaction rolled back. A broken
    /// connection leaves the outcome unknown, since the COMMIT may have been applied.
    pub fn outcome_known(&self) -> bool {
        match self {
            IndexError::NameTaken
            | IndexError::UnknownParent
            | IndexError::NotFound
            | IndexError::TooManyTokens(_)
            | IndexError::Cancelled(_) => true,
            IndexError::Unavailable(e) => {
                matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
            }
            IndexError::Other(e) => matches!(e, sqlx::Error::Database(_)),
        }
    }

    /// On insert, the (owner, name) key is a taken name and a foreign key is the parent; any
    /// other violation is a bug, not the user's conflict.
    fn from_insert(e: sqlx::Error) -> Self {
        let Some(db) = e.as_database_error() else {
            return IndexError::from_sqlx(e);
        };
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation
                if is_owner_name_conflict(db.constraint(), db.message()) =>
            {
                IndexError::NameTaken
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => IndexError::UnknownParent,
            _ => IndexError::from_sqlx(e),
        }
    }
}

/// Whether a unique violation is the `(owner_id, name)` key of tickets: by the constraint's
/// name on Postgres; on SQLite, whose driver reports no names, by the columns its message lists.
fn is_owner_name_conflict(constraint: Option<&str>, message: &str) -> bool {
    match constraint {
        Some(name) => name == "tickets_owner_name_key",
        None => message.contains("tickets.owner_id, tickets.name"),
    }
}

pub type IndexResult<T> = Result<T, IndexError>;

#[async_trait]
pub trait Index: Send + Sync + 'static {
    /// Reachable and answering.
    async fn ping(&self) -> IndexResult<()>;
    /// Creates user `name` if absent and stores a token hash for it, with every scope.
    async fn create_token(&self, user: &str, token_hash: &[u8]) -> IndexResult<User>;
    async fn name_taken(&self, owner_id: i64, name: &str) -> IndexResult<bool>;
    async fn ticket_exists(&self, id: &str) -> IndexResult<bool>;
    /// Records the blob (first upload of this content wins) and the ticket, atomically.
    async fn publish(&self, ticket: &NewTicket) -> IndexResult<Published>;
    async fn ticket(&self, id: &str) -> IndexResult<Option<Ticket>>;
    async fn blob_of(&self, id: &str) -> IndexResult<Option<BlobRef>>;
    async fn count_download(&self, id: &str) -> IndexResult<()>;
    /// Up to `limit` tickets with a description but no stored HTML (rows from before the
    /// HTML was stored), as (id, description).
    async fn unrendered_descriptions(&self, limit: u32) -> IndexResult<Vec<(String, String)>>;
    async fn set_description_html(&self, id: &str, html: &str) -> IndexResult<()>;

    async fn ticket_by_name(&self, owner: &str, name: &str) -> IndexResult<Option<Ticket>>;
    /// One page (plus one row, to tell whether more follow), without per-tensor tables.
    async fn search(&self, filter: &TicketFilter, page: &Page) -> IndexResult<Vec<Ticket>>;
    async fn facets(&self, filter: &TicketFilter) -> IndexResult<Facets>;
    async fn tasks(&self, include_yanked: bool) -> IndexResult<Vec<TaskSummary>>;
    /// Every match as a compact row, by ascending sparsity, at most `cap`.
    async fn points(&self, filter: &TicketFilter, cap: usize) -> IndexResult<Vec<Point>>;
    /// Frontier candidates: every match's id, sparsity and accuracy.
    async fn candidates(&self, filter: &TicketFilter) -> IndexResult<Vec<Candidate>>;
    /// Tickets by id, without per-tensor tables, in the order of `ids` (missing ones left out).
    async fn tickets_by_ids(&self, ids: &[String]) -> IndexResult<Vec<Ticket>>;
    /// Ancestor ids, nearest first.
    async fn ancestors(&self, id: &str) -> IndexResult<Vec<String>>;
    async fn children(&self, id: &str) -> IndexResult<Vec<Ticket>>;
    async fn edit(&self, id: &str, edit: &TicketEdit) -> IndexResult<Ticket>;
    /// Sets the yanked flag; idempotent.
    async fn set_yanked(&self, id: &str, yanked: bool) -> IndexResult<Ticket>;
    /// Bulk insert for seeding benchmarks and demos: one shared blob, many tickets.
    async fn insert_many(&self, tickets: &[NewTicket]) -> IndexResult<()>;
    /// Connections open in the pool, and how many of them are idle (for /metrics).
    fn pool_usage(&self) -> (u32, usize);

    // Integrity audit (`verify`, `gc`, the start-up sweep).
    /// Blob rows in sha256 order, after `after` (keyset paging), at most `limit`.
    async fn blobs_page(&self, after: Option<&str>, limit: u32) -> IndexResult<Vec<StoredBlob>>;
    /// Which of these object keys a blob row references.
    async fn referenced_objects(
        &self,
        keys: &[String],
    ) -> IndexResult<std::collections::HashSet<String>>;
    /// The tickets whose content is this blob, as `id (owner/name)`.
    async fn blob_tickets(&self, sha256: &str) -> IndexResult<Vec<String>>;

    // Token scopes, expiry, revocation, and takedowns (kept together).
    /// Creates user `user` if absent and stores a token hash with its label, scopes and expiry.
    async fn create_token_with(
        &self,
        user: &str,
        token_hash: &[u8],
        spec: &NewToken,
    ) -> IndexResult<TokenRecord>;
    /// The token with this hash and its user, revoked or expired ones too: the caller decides.
    async fn token_by_hash(&self, token_hash: &[u8]) -> IndexResult<Option<(User, TokenRecord)>>;
    /// Records that the token authenticated a request at `at`.
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> IndexResult<()>;
    /// Token records by id: one user's, or everyone's.
    async fn tokens(&self, user: Option<&str>) -> IndexResult<Vec<TokenRecord>>;
    /// Revokes a token, limited to `owner`'s tokens when given. Idempotent: the first
    /// revocation time stays. None when there is no such token (of that owner).
    async fn revoke_token(
        &self,
        id: i64,
        owner: Option<i64>,
        at: DateTime<Utc>,
    ) -> IndexResult<Option<TokenRecord>>;
    /// Removes a ticket for legal or abuse reasons, in one transaction: its tags and counts,
    /// its children's parent links, its blob row when no other ticket shares the content, and
    /// an audit row. The caller deletes [`Takedown::object_key`] from the blob store after.
    async fn take_down(
        &self,
        id: &str,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> IndexResult<Takedown>;
    /// The audit rows, oldest first.
    async fn takedowns(&self) -> IndexResult<Vec<Takedown>>;
}

pub type DynIndex = Arc<dyn Index>;

/// Opens the index named by a URL: `postgres://` or `sqlite://`, and applies migrations. For
/// operator commands (`seed`, `gc`, `verify`...): no statement is cut off.
pub async fn open(url: &str) -> anyhow::Result<DynIndex> {
    open_serving(url, None).await
}

/// The index for serving requests: on Postgres, a statement running past `statement_timeout`
/// is cancelled (and answered 503). SQLite runs in-process and has no such setting.
pub async fn open_serving(
    url: &str,
    statement_timeout: Option<Duration>,
) -> anyhow::Result<DynIndex> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgIndex::connect(url, statement_timeout).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteIndex::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL (expected postgres:// or sqlite://)")
    }
}

/// Tickets arranged in the order of `ids`.
fn in_order(ids: &[String], tickets: Vec<Ticket>) -> Vec<Ticket> {
    let position: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut tickets = tickets;
    tickets.sort_by_key(|t| position.get(t.id.as_str()).copied());
    tickets
}

/// Ticket columns for lists (no per-tensor table), as a literal for `concat!`.
macro_rules! list_columns {
    () => {
        "t.seq, t.id, t.name, u.name AS owner, t.task, t.dataset, t.architecture, \
         t.pruning_method, t.accuracy, t.dense_accuracy, t.metric, t.description, t.tags, \
         t.parent_id, t.hyperparameters, t.paper_url, t.code_url, t.license, t.sha256, \
         t.size_bytes, t.sparsity, t.params_total, t.params_kept, t.created_at, \
         t.downloads, t.yanked FROM tickets t JOIN users u ON u.id = t.owner_id"
    };
}

/// The list columns and `FROM` clause, for tools that print the server's SQL.
pub const LIST_COLUMNS: &str = list_columns!();

/// The single-ticket query: list columns plus the per-tensor table.
macro_rules! select_ticket {
    () => {
        concat!(
            "SELECT t.tensors, t.description_html, ",
            $crate::index::list_columns!()
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
            seq: row.try_get("seq")?,
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

/// The queries both backends share (SQLite accepts `$N` placeholders too). Each backend invokes
/// this with its type, the statement that opens a write transaction, how it matches `q`, and
/// how it locks a row it is about to change.
macro_rules! impl_index {
    ($ty:ty, $begin:expr, $text:expr, $lock:expr) => {
        use $crate::domain::search::{Candidate, Page, TicketFilter};
        use $crate::index::sql::{self, Sql};
        use $crate::index::{Facets, FacetCount, Point, TaskSummary, TicketEdit};

        fn decode(row: &<$ty as $crate::index::HasDb>::Row) -> Result<Ticket, sqlx::Error> {
            Ok($crate::index::ticket_from_row!(row))
        }

        fn decode_all(rows: &[<$ty as $crate::index::HasDb>::Row]) -> IndexResult<Vec<Ticket>> {
            rows.iter().map(decode).collect::<Result<_, _>>().map_err(IndexError::from_sqlx)
        }

        impl $ty {
            async fn fetch_tickets(&self, sql: Sql) -> IndexResult<Vec<Ticket>> {
                let rows = $crate::index::bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql.text)), sql.args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                decode_all(&rows)
            }

            /// Inserts tickets (their blobs already recorded), their tags and facet counts, with
            /// multi-row statements (a round trip per statement is what bulk loads pay for).
            async fn insert_rows(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                tickets: &[NewTicket],
            ) -> IndexResult<()> {
                type Db = <$ty as $crate::index::HasDb>::Db;
                let mut counts: std::collections::HashMap<(&str, &str, &str, &str), i64> =
                    Default::default();
                let mut tag_counts: std::collections::HashMap<(&str, &str, &str, &str, &str), i64> =
                    Default::default();
                // 26 values a row: 500 rows stay under both backends' bind-parameter limits.
                for chunk in tickets.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO tickets (id, owner_id, name, task, dataset, architecture, pruning_method, \
                         accuracy, dense_accuracy, metric, description, tags, parent_id, hyperparameters, \
                         paper_url, code_url, license, sha256, size_bytes, sparsity, params_total, params_kept, \
                         tensors, created_at, search_text, description_html) ",
                    );
                    insert.push_values(chunk, |mut row, t| {
                        let m = &t.meta;
                        row.push_bind(t.id.clone())
                            .push_bind(t.owner_id)
                            .push_bind(m.name.clone())
                            .push_bind(m.task.clone())
                            .push_bind(m.dataset.clone())
                            .push_bind(m.architecture.clone())
                            .push_bind(m.pruning_method.clone())
                            .push_bind(m.accuracy)
                            .push_bind(m.dense_accuracy)
                            .push_bind(m.metric.clone())
                            .push_bind(m.description.clone())
                            .push_bind(sqlx::types::Json(m.tags.clone()))
                            .push_bind(m.parent_id.clone())
                            .push_bind(m.hyperparameters.clone().map(sqlx::types::Json))
                            .push_bind(m.paper_url.clone())
                            .push_bind(m.code_url.clone())
                            .push_bind(m.license.clone())
                            .push_bind(t.sha256.clone())
                            .push_bind(t.size_bytes as i64)
                            .push_bind(t.sparsity())
                            .push_bind(t.params_total as i64)
                            .push_bind(t.params_kept as i64)
                            .push_bind(sqlx::types::Json(t.tensors.clone()))
                            .push_bind(t.created_at)
                            .push_bind(sql::search_text(
                                &m.name,
                                m.description.as_deref(),
                                &m.architecture,
                                &m.dataset,
                                &m.tags,
                            ))
                            .push_bind(t.description_html.clone());
                    });
                    insert.push(" RETURNING id, seq");
                    let seqs: Vec<(String, i64)> = insert
                        .build_query_as()
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(IndexError::from_insert)?;
                    let seq_of: std::collections::HashMap<String, i64> = seqs.into_iter().collect();
                    let tags: Vec<(&str, i64)> = chunk
                        .iter()
                        .flat_map(|t| t.meta.tags.iter().map(|tag| (tag.as_str(), seq_of[&t.id])))
                        .collect();
                    for tags in tags.chunks(1000) {
                        let mut insert =
                            sqlx::QueryBuilder::<Db>::new("INSERT INTO ticket_tags (tag, ticket_seq) ");
                        insert.push_values(tags, |mut row, (tag, seq)| {
                            row.push_bind(tag.to_string()).push_bind(*seq);
                        });
                        insert
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(IndexError::from_sqlx)?;
                    }
                }
                for t in tickets {
                    let m = &t.meta;
                    let dims = (m.task.as_str(), m.dataset.as_str(), m.architecture.as_str(), m.pruning_method.as_str());
                    *counts.entry(dims).or_default() += 1;
                    for tag in &m.tags {
                        *tag_counts.entry((dims.0, dims.1, dims.2, dims.3, tag.as_str())).or_default() += 1;
                    }
                }
                for (dims, n) in counts {
                    Self::bump(&mut *conn, dims, false, &[], n).await?;
                }
                for ((task, dataset, arch, method, tag), n) in tag_counts {
                    Self::bump_tags(&mut *conn, (task, dataset, arch, method), false, &[tag.to_owned()], n).await?;
                }
                Ok(())
            }

            /// Maps the content's sha256 to this upload's object, unless identical content is
            /// already stored: the first upload of some content owns its object.
            async fn record_blob(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                t: &NewTicket,
            ) -> IndexResult<()> {
                sqlx::query(
                    "INSERT INTO blobs (sha256, object_key, size_bytes, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&t.sha256)
                .bind(&t.object_key)
                .bind(t.size_bytes as i64)
                .bind(t.created_at)
                .execute(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            /// Adds `delta` to the facet count of a ticket shape, and to its tags' counts.
            async fn bump(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                dims: (&str, &str, &str, &str),
                yanked: bool,
                tags: &[String],
                delta: i64,
            ) -> IndexResult<()> {
                sqlx::query(
                    "INSERT INTO facet_counts (task, dataset, architecture, pruning_method, yanked, n) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (task, dataset, architecture, pruning_method, yanked) \
                     DO UPDATE SET n = facet_counts.n + excluded.n",
                )
                .bind(dims.0)
                .bind(dims.1)
                .bind(dims.2)
                .bind(dims.3)
                .bind(yanked)
                .bind(delta)
                .execute(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                Self::bump_tags(conn, dims, yanked, tags, delta).await
            }

            async fn bump_tags(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                dims: (&str, &str, &str, &str),
                yanked: bool,
                tags: &[String],
                delta: i64,
            ) -> IndexResult<()> {
                for tag in tags {
                    sqlx::query(
                        "INSERT INTO tag_counts (task, dataset, architecture, pruning_method, yanked, tag, n) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (task, dataset, architecture, pruning_method, yanked, tag) \
                         DO UPDATE SET n = tag_counts.n + excluded.n",
                    )
                    .bind(dims.0)
                    .bind(dims.1)
                    .bind(dims.2)
                    .bind(dims.3)
                    .bind(yanked)
                    .bind(tag)
                    .bind(delta)
                    .execute(&mut *conn)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                }
                Ok(())
            }

            /// The ticket, read inside a write transaction (locked where the backend can).
            async fn locked(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                id: &str,
            ) -> IndexResult<Ticket> {
                let row = sqlx::query(concat!(
                    "SELECT ", $crate::index::list_columns!(), " WHERE t.id = $1", $lock
                ))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?
                .ok_or(IndexError::NotFound)?;
                decode(&row).map_err(IndexError::from_sqlx)
            }

            async fn insert_token(
                &self,
                user: &str,
                token_hash: &[u8],
                spec: &$crate::domain::tokens::NewToken,
            ) -> IndexResult<(User, $crate::domain::tokens::TokenRecord)> {
                let now = chrono::Utc::now();
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                sqlx::query(
                    "INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let (user_id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE name = $1")
                    .bind(user)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                if let Some(limit) = spec.max_live {
                    // Taking the user's row serializes concurrent creations, so a burst cannot
                    // slip past the count.
                    sqlx::query("UPDATE users SET name = name WHERE id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                    let (live,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL \
                         AND (expires_at IS NULL OR expires_at > $2)",
                    )
                    .bind(user_id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                    if live >= i64::from(limit) {
                        return Err(IndexError::TooManyTokens(limit));
                    }
                }
                let scopes: Vec<&str> = spec.scopes.iter().map(|s| s.as_str()).collect();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO api_tokens (user_id, token_hash, created_at, label, scopes, expires_at, \
                     parent_token_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(user_id)
                .bind(token_hash)
                .bind(now)
                .bind(&spec.label)
                .bind(sqlx::types::Json(&scopes))
                .bind(spec.expires_at)
                .bind(spec.minted_by)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                let record = $crate::domain::tokens::TokenRecord {
                    id,
                    user: user.to_owned(),
                    label: spec.label.clone(),
                    scopes: spec.scopes.clone(),
                    created_at: now,
                    expires_at: spec.expires_at,
                    last_used_at: None,
                    revoked_at: None,
                    minted_by: spec.minted_by,
                };
                Ok((User { id: user_id, name: user.to_owned() }, record))
            }

            async fn reread(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                id: &str,
            ) -> IndexResult<Ticket> {
                let row = sqlx::query(concat!($crate::index::select_ticket!(), " WHERE t.id = $1"))
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                decode(&row).map_err(IndexError::from_sqlx)
            }
        }

        #[async_trait::async_trait]
        impl $crate::index::Index for $ty {
            fn pool_usage(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
            }

            async fn ping(&self) -> IndexResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn create_token(&self, user: &str, token_hash: &[u8]) -> IndexResult<User> {
                let (user, _) = self.insert_token(user, token_hash, &$crate::domain::tokens::NewToken::unrestricted()).await?;
                Ok(user)
            }

            async fn name_taken(&self, owner_id: i64, name: &str) -> IndexResult<bool> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM tickets WHERE owner_id = $1 AND name = $2")
                        .bind(owner_id)
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                Ok(row.is_some())
            }

            async fn ticket_exists(&self, id: &str) -> IndexResult<bool> {
                let row: Option<(String,)> = sqlx::query_as("SELECT id FROM tickets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(row.is_some())
            }

            async fn publish(&self, t: &NewTicket) -> IndexResult<Published> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                Self::record_blob(&mut tx, t).await?;
                let (object_key,): (String,) =
                    sqlx::query_as("SELECT object_key FROM blobs WHERE sha256 = $1")
                        .bind(&t.sha256)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                Self::insert_rows(&mut tx, std::slice::from_ref(t)).await?;
                let ticket = Self::reread(&mut tx, &t.id).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Published { ticket, object_key })
            }

            async fn insert_many(&self, tickets: &[NewTicket]) -> IndexResult<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let mut blobs = std::collections::HashSet::new();
                for t in tickets {
                    if blobs.insert(&t.sha256) {
                        Self::record_blob(&mut tx, t).await?;
                    }
                }
                Self::insert_rows(&mut tx, tickets).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)
            }

            async fn ticket(&self, id: &str) -> IndexResult<Option<Ticket>> {
                let row = sqlx::query(concat!($crate::index::select_ticket!(), " WHERE t.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                row.as_ref().map(decode).transpose().map_err(IndexError::from_sqlx)
            }

            async fn ticket_by_name(&self, owner: &str, name: &str) -> IndexResult<Option<Ticket>> {
                let row = sqlx::query(concat!(
                    $crate::index::select_ticket!(),
                    " WHERE u.name = $1 AND t.name = $2"
                ))
                .bind(owner)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                row.as_ref().map(decode).transpose().map_err(IndexError::from_sqlx)
            }

            async fn blob_of(&self, id: &str) -> IndexResult<Option<BlobRef>> {
                let row: Option<(String, String, i64, String)> = sqlx::query_as(
                    "SELECT t.name, t.sha256, t.size_bytes, b.object_key FROM tickets t \
                     JOIN blobs b ON b.sha256 = t.sha256 WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(row.map(|(ticket_name, sha256, size, object_key)| BlobRef {
                    ticket_name,
                    sha256,
                    size_bytes: size.max(0) as u64,
                    object_key,
                }))
            }

            async fn unrendered_descriptions(&self, limit: u32) -> IndexResult<Vec<(String, String)>> {
                sqlx::query_as(
                    "SELECT id, description FROM tickets \
                     WHERE description IS NOT NULL AND description_html IS NULL ORDER BY seq LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)
            }

            async fn set_description_html(&self, id: &str, html: &str) -> IndexResult<()> {
                sqlx::query("UPDATE tickets SET description_html = $1 WHERE id = $2")
                    .bind(html)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn count_download(&self, id: &str) -> IndexResult<()> {
                sqlx::query("UPDATE tickets SET downloads = downloads + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn search(&self, filter: &TicketFilter, page: &Page) -> IndexResult<Vec<Ticket>> {
                self.fetch_tickets(sql::search_sql($crate::index::list_columns!(), filter, page, $text))
                    .await
            }

            async fn facets(&self, filter: &TicketFilter) -> IndexResult<Facets> {
                let mut out = Facets::default();
                for facet in sql::Facet::ALL {
                    let sql = sql::facet_sql(facet, filter, $text);
                    let rows: Vec<(String, i64)> =
                        $crate::index::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(IndexError::from_sqlx)?;
                    let counts = rows
                        .into_iter()
                        .map(|(value, count)| FacetCount { value, count: count.max(0) as u64 })
                        .collect();
                    match facet {
                        sql::Facet::Task => out.task = counts,
                        sql::Facet::Dataset => out.dataset = counts,
                        sql::Facet::Architecture => out.architecture = counts,
                        sql::Facet::PruningMethod => out.pruning_method = counts,
                        sql::Facet::Tag => out.tag = counts,
                    }
                }
                Ok(out)
            }

            async fn tasks(&self, include_yanked: bool) -> IndexResult<Vec<TaskSummary>> {
                let rows: Vec<(String, i64, Option<f64>, Option<f64>)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql::tasks_sql(include_yanked)))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                Ok(rows
                    .into_iter()
                    .map(|(task, n, best_accuracy, max_sparsity)| TaskSummary {
                        task,
                        tickets: n.max(0) as u64,
                        best_accuracy,
                        max_sparsity,
                    })
                    .collect())
            }

            async fn points(&self, filter: &TicketFilter, cap: usize) -> IndexResult<Vec<Point>> {
                let sql = sql::points_sql(filter, cap, $text);
                let rows: Vec<(String, String, f64, f64, Option<String>)> =
                    $crate::index::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                Ok(rows.into_iter().map(|(a, b, c, d, e)| Point(a, b, c, d, e)).collect())
            }

            async fn candidates(&self, filter: &TicketFilter) -> IndexResult<Vec<Candidate>> {
                let sql = sql::candidates_sql(filter, $text);
                let rows: Vec<(String, f64, f64)> =
                    $crate::index::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, sparsity, accuracy)| Candidate { id, sparsity, accuracy })
                    .collect())
            }

            async fn tickets_by_ids(&self, ids: &[String]) -> IndexResult<Vec<Ticket>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut sql = Sql::default();
                let list: Vec<String> =
                    ids.iter().map(|id| sql.bind(sql::Arg::Text(id.clone()))).collect();
                sql.text = format!(
                    concat!("SELECT ", $crate::index::list_columns!(), " WHERE t.id IN ({})"),
                    list.join(", ")
                );
                Ok($crate::index::in_order(ids, self.fetch_tickets(sql).await?))
            }

            async fn ancestors(&self, id: &str) -> IndexResult<Vec<String>> {
                // Parents always exist before their children, so the chain has no cycle; the
                // depth cap is a guard all the same.
                let rows: Vec<(String,)> = sqlx::query_as(
                    "WITH RECURSIVE chain (id, parent_id, depth) AS ( \
                       SELECT id, parent_id, 0 FROM tickets WHERE id = $1 \
                       UNION ALL \
                       SELECT t.id, t.parent_id, c.depth + 1 FROM tickets t JOIN chain c ON t.id = c.parent_id \
                       WHERE c.depth < 10000 \
                     ) SELECT id FROM chain WHERE depth > 0 ORDER BY depth",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn children(&self, id: &str) -> IndexResult<Vec<Ticket>> {
                let mut sql = Sql::default();
                let p = sql.bind(sql::Arg::Text(id.to_owned()));
                sql.text = format!(
                    concat!("SELECT ", $crate::index::list_columns!(), " WHERE t.parent_id = {} ORDER BY t.seq"),
                    p
                );
                self.fetch_tickets(sql).await
            }

            async fn edit(&self, id: &str, edit: &TicketEdit) -> IndexResult<Ticket> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let old = Self::locked(&mut tx, id).await?;
                let description = edit.description.clone().unwrap_or(old.description.clone());
                // Rendered by the caller with the new description; left as stored otherwise.
                let (html_changed, description_html) = match &edit.description_html {
                    Some(html) => (true, html.clone()),
                    None => (false, None),
                };
                let tags = edit.tags.clone().unwrap_or(old.tags.clone());
                let text = sql::search_text(&old.name, description.as_deref(), &old.architecture, &old.dataset, &tags);
                sqlx::query(
                    "UPDATE tickets SET description = $1, tags = $2, paper_url = $3, code_url = $4, \
                     license = $5, search_text = $6, \
                     description_html = CASE WHEN $9 THEN $8 ELSE description_html END WHERE id = $7",
                )
                .bind(&description)
                .bind(sqlx::types::Json(&tags))
                .bind(edit.paper_url.clone().unwrap_or(old.paper_url.clone()))
                .bind(edit.code_url.clone().unwrap_or(old.code_url.clone()))
                .bind(edit.license.clone().unwrap_or(old.license.clone()))
                .bind(text)
                .bind(id)
                .bind(description_html)
                .bind(html_changed)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                if tags != old.tags {
                    let dims = (old.task.as_str(), old.dataset.as_str(), old.architecture.as_str(), old.pruning_method.as_str());
                    sqlx::query("DELETE FROM ticket_tags WHERE ticket_seq = $1")
                        .bind(old.seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                    for tag in &tags {
                        sqlx::query("INSERT INTO ticket_tags (tag, ticket_seq) VALUES ($1, $2)")
                            .bind(tag)
                            .bind(old.seq)
                            .execute(&mut *tx)
                            .await
                            .map_err(IndexError::from_sqlx)?;
                    }
                    Self::bump_tags(&mut tx, dims, old.yanked, &old.tags, -1).await?;
                    Self::bump_tags(&mut tx, dims, old.yanked, &tags, 1).await?;
                }
                let ticket = Self::reread(&mut tx, id).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(ticket)
            }

            // Integrity audit (`verify`, `gc`, the start-up sweep).
            async fn blobs_page(
                &self,
                after: Option<&str>,
                limit: u32,
            ) -> IndexResult<Vec<$crate::index::StoredBlob>> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT sha256, object_key, size_bytes FROM blobs WHERE sha256 > $1 \
                     ORDER BY sha256 LIMIT $2",
                )
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(rows
                    .into_iter()
                    .map(|(sha256, object_key, size)| $crate::index::StoredBlob {
                        sha256,
                        object_key,
                        size_bytes: size.max(0) as u64,
                    })
                    .collect())
            }

            async fn referenced_objects(
                &self,
                keys: &[String],
            ) -> IndexResult<std::collections::HashSet<String>> {
                let mut found = std::collections::HashSet::new();
                // 500 binds a statement: under both backends' limits.
                for chunk in keys.chunks(500) {
                    let mut query = sqlx::QueryBuilder::<<$ty as $crate::index::HasDb>::Db>::new(
                        "SELECT object_key FROM blobs WHERE object_key IN (",
                    );
                    let mut list = query.separated(", ");
                    for key in chunk {
                        list.push_bind(key.clone());
                    }
                    query.push(")");
                    let rows: Vec<(String,)> = query
                        .build_query_as()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                    found.extend(rows.into_iter().map(|(key,)| key));
                }
                Ok(found)
            }

            async fn blob_tickets(&self, sha256: &str) -> IndexResult<Vec<String>> {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT t.id, u.name, t.name FROM tickets t JOIN users u ON u.id = t.owner_id \
                     WHERE t.sha256 = $1 ORDER BY t.seq",
                )
                .bind(sha256)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, owner, name)| format!("{id} ({owner}/{name})"))
                    .collect())
            }

            async fn set_yanked(&self, id: &str, yanked: bool) -> IndexResult<Ticket> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let old = Self::locked(&mut tx, id).await?;
                if old.yanked != yanked {
                    sqlx::query("UPDATE tickets SET yanked = $1 WHERE id = $2")
                        .bind(yanked)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                    let dims = (old.task.as_str(), old.dataset.as_str(), old.architecture.as_str(), old.pruning_method.as_str());
                    Self::bump(&mut tx, dims, old.yanked, &old.tags, -1).await?;
                    Self::bump(&mut tx, dims, yanked, &old.tags, 1).await?;
                }
                let ticket = Self::reread(&mut tx, id).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(ticket)
            }

            // Token scopes, expiry, revocation, and takedowns (kept together).
            async fn create_token_with(
                &self,
                user: &str,
                token_hash: &[u8],
                spec: &$crate::domain::tokens::NewToken,
            ) -> IndexResult<$crate::domain::tokens::TokenRecord> {
                Ok(self.insert_token(user, token_hash, spec).await?.1)
            }

            async fn token_by_hash(
                &self,
                token_hash: &[u8],
            ) -> IndexResult<Option<(User, $crate::domain::tokens::TokenRecord)>> {
                let row = sqlx::query(concat!($crate::index::token_columns!(), " WHERE k.token_hash = $1"))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                row.as_ref()
                    .map(|r| $crate::index::token_from_row!(r))
                    .transpose()
                    .map_err(IndexError::from_sqlx)
            }

            async fn touch_token(&self, id: i64, at: chrono::DateTime<chrono::Utc>) -> IndexResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn tokens(&self, user: Option<&str>) -> IndexResult<Vec<$crate::domain::tokens::TokenRecord>> {
                let rows = sqlx::query(concat!(
                    $crate::index::token_columns!(),
                    " WHERE u.name = COALESCE($1, u.name) ORDER BY k.id"
                ))
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.iter()
                    .map(|r| $crate::index::token_from_row!(r).map(|(_, t)| t))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(IndexError::from_sqlx)
            }

            async fn revoke_token(
                &self,
                id: i64,
                owner: Option<i64>,
                at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<Option<$crate::domain::tokens::TokenRecord>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let changed = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                     WHERE id = $2 AND user_id = COALESCE($3, user_id)",
                )
                .bind(at)
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?
                .rows_affected();
                if changed == 0 {
                    return Ok(None);
                }
                // What it minted goes with it, and what those minted: a leaked token's
                // offspring must not outlive it.
                sqlx::query(
                    "WITH RECURSIVE minted (id) AS ( \
                       SELECT id FROM api_tokens WHERE parent_token_id = $2 \
                       UNION SELECT k.id FROM api_tokens k JOIN minted m ON k.parent_token_id = m.id) \
                     UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                     WHERE id IN (SELECT id FROM minted)",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let row = sqlx::query(concat!($crate::index::token_columns!(), " WHERE k.id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let (_, record) = $crate::index::token_from_row!(&row).map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Some(record))
            }

            async fn take_down(
                &self,
                id: &str,
                reason: &str,
                actor: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<$crate::index::Takedown> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let old = Self::locked(&mut tx, id).await?;
                // Children keep existing; they lose the link to a ticket that is gone (the
                // audit row lists them, so the link can be explained or restored).
                let children: Vec<(String,)> =
                    sqlx::query_as("SELECT id FROM tickets WHERE parent_id = $1 ORDER BY seq")
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                let children: Vec<String> = children.into_iter().map(|(c,)| c).collect();
                sqlx::query("UPDATE tickets SET parent_id = NULL WHERE parent_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                // Its tag rows go with it (ON DELETE CASCADE), and on SQLite its text-search row
                // (trigger); the counts kept on write are ours to keep in step.
                sqlx::query("DELETE FROM tickets WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let dims = (old.task.as_str(), old.dataset.as_str(), old.architecture.as_str(), old.pruning_method.as_str());
                Self::bump(&mut tx, dims, old.yanked, &old.tags, -1).await?;
                // The blob row goes only when no other ticket has the same content.
                let released: Option<(String,)> = sqlx::query_as(
                    "DELETE FROM blobs WHERE sha256 = $1 \
                     AND NOT EXISTS (SELECT 1 FROM tickets WHERE sha256 = $2) RETURNING object_key",
                )
                .bind(&old.sha256)
                .bind(&old.sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let object_key = released.map(|(k,)| k);
                let (audit_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO takedowns (ticket_id, owner, name, sha256, reason, actor, \
                     detached_children, object_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(id)
                .bind(&old.owner)
                .bind(&old.name)
                .bind(&old.sha256)
                .bind(reason)
                .bind(actor)
                .bind(sqlx::types::Json(&children))
                .bind(&object_key)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok($crate::index::Takedown {
                    id: audit_id,
                    ticket_id: id.to_owned(),
                    owner: old.owner,
                    name: old.name,
                    sha256: old.sha256,
                    reason: reason.to_owned(),
                    actor: actor.to_owned(),
                    detached_children: children,
                    object_key,
                    created_at: at,
                })
            }

            async fn takedowns(&self) -> IndexResult<Vec<$crate::index::Takedown>> {
                type Row = (
                    i64, String, String, String, String, String, String,
                    sqlx::types::Json<Vec<String>>, Option<String>, chrono::DateTime<chrono::Utc>,
                );
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT id, ticket_id, owner, name, sha256, reason, actor, detached_children, \
                     object_key, created_at FROM takedowns ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, ticket_id, owner, name, sha256, reason, actor, children, object_key, created_at)| {
                        $crate::index::Takedown {
                            id,
                            ticket_id,
                            owner,
                            name,
                            sha256,
                            reason,
                            actor,
                            detached_children: children.0,
                            object_key,
                            created_at,
                        }
                    })
                    .collect())
            }
        }
    };
}

/// Names a backend's row and connection types, so the shared macro can use them.
pub trait HasDb {
    type Db: sqlx::Database;
    type Row: sqlx::Row;
    type Connection;
}

pub(crate) use bind_args;
pub(crate) use impl_index;
pub(crate) use list_columns;
pub(crate) use select_ticket;
pub(crate) use ticket_from_row;
pub(crate) use token_columns;
pub(crate) use token_from_row;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_name_key_is_a_taken_name() {
        // Postgres names the constraint; SQLite's message names the columns.
        assert!(is_owner_name_conflict(Some("tickets_owner_name_key"), ""));
        assert!(!is_owner_name_conflict(Some("tickets_pkey"), ""));
        assert!(!is_owner_name_conflict(Some("tickets_seq_key"), ""));
        assert!(is_owner_name_conflict(
            None,
            "UNIQUE constraint failed: tickets.owner_id, tickets.name"
        ));
        assert!(!is_owner_name_conflict(
            None,
            "UNIQUE constraint failed: tickets.id"
        ));
    }
}
