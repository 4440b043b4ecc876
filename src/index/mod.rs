//! The index: tickets, users, tokens and the sha256 -> object map. One narrow trait, with a
//! Postgres and an embedded SQLite implementation that pass the same conformance suite.

mod migrations;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ingest::inspector::TensorReport;
use crate::ingest::metadata::TicketMetadata;

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
}

impl NewTicket {
    pub fn sparsity(&self) -> f64 {
        1.0 - self.params_kept as f64 / self.params_total as f64
    }
}

/// A ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub tags: Vec<String>,
    pub parent_id: Option<String>,
    pub hyperparameters: Option<Map<String, Value>>,
    pub paper_url: Option<String>,
    pub code_url: Option<String>,
    pub license: Option<String>,
    pub sha256: String,
    pub size_bytes: u64,
    pub sparsity: f64,
    pub params_total: u64,
    pub params_kept: u64,
    pub tensors: Vec<TensorReport>,
    pub created_at: DateTime<Utc>,
    pub downloads: u64,
    pub yanked: bool,
}

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

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("this owner already has a ticket with that name")]
    NameTaken,
    #[error("parent ticket does not exist")]
    UnknownParent,
    #[error("index unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
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
            _ => IndexError::Other(e),
        }
    }

    /// On insert, a unique violation is the (owner, name) key and a foreign key is the parent.
    fn from_insert(e: sqlx::Error) -> Self {
        match e.as_database_error().map(|d| d.kind()) {
            Some(sqlx::error::ErrorKind::UniqueViolation) => IndexError::NameTaken,
            Some(sqlx::error::ErrorKind::ForeignKeyViolation) => IndexError::UnknownParent,
            _ => IndexError::from_sqlx(e),
        }
    }
}

pub type IndexResult<T> = Result<T, IndexError>;

#[async_trait]
pub trait Index: Send + Sync + 'static {
    /// Reachable and answering.
    async fn ping(&self) -> IndexResult<()>;
    /// Creates user `name` if absent and stores a token hash for it.
    async fn create_token(&self, user: &str, token_hash: &[u8]) -> IndexResult<User>;
    async fn user_by_token(&self, token_hash: &[u8]) -> IndexResult<Option<User>>;
    async fn name_taken(&self, owner_id: i64, name: &str) -> IndexResult<bool>;
    async fn ticket_exists(&self, id: &str) -> IndexResult<bool>;
    /// Records the blob (first upload of this content wins) and the ticket, atomically.
    async fn publish(&self, ticket: &NewTicket) -> IndexResult<Published>;
    async fn ticket(&self, id: &str) -> IndexResult<Option<Ticket>>;
    async fn blob_of(&self, id: &str) -> IndexResult<Option<BlobRef>>;
    async fn count_download(&self, id: &str) -> IndexResult<()>;
}

pub type DynIndex = Arc<dyn Index>;

/// Opens the index named by a URL: `postgres://` or `sqlite://`, and applies migrations.
pub async fn open(url: &str) -> anyhow::Result<DynIndex> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgIndex::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteIndex::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL (expected postgres:// or sqlite://)")
    }
}

/// The ticket query's head, as a literal so `concat!` can build static SQL from it.
macro_rules! select_tickets {
    () => {
        "SELECT t.id, t.name, u.name AS owner, t.task, t.dataset, t.architecture, \
         t.pruning_method, t.accuracy, t.dense_accuracy, t.metric, t.description, t.tags, \
         t.parent_id, t.hyperparameters, t.paper_url, t.code_url, t.license, t.sha256, \
         t.size_bytes, t.sparsity, t.params_total, t.params_kept, t.tensors, t.created_at, \
         t.downloads, t.yanked FROM tickets t JOIN users u ON u.id = t.owner_id"
    };
}

/// Decodes a row selected with [`select_tickets`]. A macro, so each backend gets concrete types.
macro_rules! ticket_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        use sqlx::types::Json;
        let row = $row;
        let n = |v: i64| v.max(0) as u64;
        let hp: Option<Json<serde_json::Map<String, serde_json::Value>>> =
            row.try_get("hyperparameters")?;
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
            tensors: row
                .try_get::<Json<Vec<$crate::ingest::inspector::TensorReport>>, _>("tensors")?
                .0,
            created_at: row.try_get("created_at")?,
            downloads: n(row.try_get("downloads")?),
            yanked: row.try_get("yanked")?,
        }
    }};
}

/// The queries both backends share (SQLite accepts `$N` placeholders too). Each backend invokes
/// this with its pool type and the statement that opens a write transaction.
macro_rules! impl_index {
    ($ty:ty, $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::index::Index for $ty {
            async fn ping(&self) -> IndexResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            async fn create_token(&self, user: &str, token_hash: &[u8]) -> IndexResult<User> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                sqlx::query(
                    "INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(user)
                .bind(chrono::Utc::now())
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let (id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE name = $1")
                    .bind(user)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(token_hash)
                    .bind(chrono::Utc::now())
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(User { id, name: user.to_owned() })
            }

            async fn user_by_token(&self, token_hash: &[u8]) -> IndexResult<Option<User>> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "SELECT u.id, u.name FROM api_tokens k JOIN users u ON u.id = k.user_id WHERE k.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(row.map(|(id, name)| User { id, name }))
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
                // The first upload of some content owns its object; later ones point at it.
                sqlx::query(
                    "INSERT INTO blobs (sha256, object_key, size_bytes, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&t.sha256)
                .bind(&t.object_key)
                .bind(t.size_bytes as i64)
                .bind(t.created_at)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let (object_key,): (String,) =
                    sqlx::query_as("SELECT object_key FROM blobs WHERE sha256 = $1")
                        .bind(&t.sha256)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                let m = &t.meta;
                sqlx::query(
                    "INSERT INTO tickets (id, owner_id, name, task, dataset, architecture, pruning_method, \
                     accuracy, dense_accuracy, metric, description, tags, parent_id, hyperparameters, \
                     paper_url, code_url, license, sha256, size_bytes, sparsity, params_total, params_kept, \
                     tensors, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                     $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
                )
                .bind(&t.id)
                .bind(t.owner_id)
                .bind(&m.name)
                .bind(&m.task)
                .bind(&m.dataset)
                .bind(&m.architecture)
                .bind(&m.pruning_method)
                .bind(m.accuracy)
                .bind(m.dense_accuracy)
                .bind(&m.metric)
                .bind(&m.description)
                .bind(sqlx::types::Json(&m.tags))
                .bind(&m.parent_id)
                .bind(m.hyperparameters.as_ref().map(sqlx::types::Json))
                .bind(&m.paper_url)
                .bind(&m.code_url)
                .bind(&m.license)
                .bind(&t.sha256)
                .bind(t.size_bytes as i64)
                .bind(t.sparsity())
                .bind(t.params_total as i64)
                .bind(t.params_kept as i64)
                .bind(sqlx::types::Json(&t.tensors))
                .bind(t.created_at)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_insert)?;
                let row = sqlx::query(concat!($crate::index::select_tickets!(), " WHERE t.id = $1"))
                .bind(&t.id)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                let ticket = (|| -> Result<Ticket, sqlx::Error> { Ok($crate::index::ticket_from_row!(&row)) })()
                    .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(Published { ticket, object_key })
            }

            async fn ticket(&self, id: &str) -> IndexResult<Option<Ticket>> {
                let row = sqlx::query(concat!($crate::index::select_tickets!(), " WHERE t.id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                row.map(|row| -> Result<Ticket, sqlx::Error> { Ok($crate::index::ticket_from_row!(&row)) })
                    .transpose()
                    .map_err(IndexError::from_sqlx)
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

            async fn count_download(&self, id: &str) -> IndexResult<()> {
                sqlx::query("UPDATE tickets SET downloads = downloads + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_index;
pub(crate) use select_tickets;
pub(crate) use ticket_from_row;
