//! The sha256 -> object map as the integrity checks read it (`verify`, `gc`, the start-up
//! sweep), and takedowns: an operator removing a ticket, with an audit row.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{IndexResult, StoredBlob, Takedown};

/// The blob map for the integrity checks, and takedowns.
#[async_trait]
pub trait Integrity: Send + Sync + 'static {
    /// Blob rows in sha256 order, after `after` (keyset paging), at most `limit`.
    async fn blobs_page(&self, after: Option<&str>, limit: u32) -> IndexResult<Vec<StoredBlob>>;
    /// Which of these object keys a blob row (or a dump snapshot) references.
    async fn referenced_objects(&self, keys: &[String]) -> IndexResult<HashSet<String>>;
    /// The tickets whose content is this blob, as `id (owner/name)`.
    async fn blob_tickets(&self, sha256: &str) -> IndexResult<Vec<String>>;
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

/// Implements [`Integrity`] for `$ty`, whose write transactions open with `$begin`.
macro_rules! impl_integrity {
    ($ty:ty, $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::index::Integrity for $ty {
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
                        // Dump snapshots are objects too (`ops::dump`).
                        "SELECT object_key FROM (SELECT object_key FROM blobs UNION ALL \
                         SELECT object_key FROM dumps) k WHERE object_key IN (",
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
                let dims = old.dims();
                let counted = (old.evidence.verdict.as_str(), old.structure.as_str());
                Self::bump(&mut tx, dims, old.yanked, counted, &old.tags, -1).await?;
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
                    kind: "ticket".into(),
                    result_id: None,
                })
            }

            async fn takedowns(&self) -> IndexResult<Vec<$crate::index::Takedown>> {
                let rows: Vec<$crate::index::integrity::TakedownRow> = sqlx::query_as(
                    "SELECT id, ticket_id, owner, name, sha256, reason, actor, detached_children, \
                     object_key, created_at, kind, result_id FROM takedowns ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(rows.into_iter().map($crate::index::integrity::takedown).collect())
            }
        }
    };
}
pub(crate) use impl_integrity;

/// A `takedowns` row, in the order [`Integrity::takedowns`] selects its columns.
pub(crate) type TakedownRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Json<Vec<String>>,
    Option<String>,
    DateTime<Utc>,
    String,
    Option<String>,
);

/// The audit record a `takedowns` row holds.
pub(crate) fn takedown(row: TakedownRow) -> Takedown {
    let (
        id,
        ticket_id,
        owner,
        name,
        sha256,
        reason,
        actor,
        children,
        object_key,
        created_at,
        kind,
        result_id,
    ) = row;
    Takedown {
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
        kind,
        result_id,
    }
}
