//! Results reported against tickets, the evidence kept in step with them, the transfer
//! matrix, and the open-data dump's reads and records.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{IndexResult, Takedown, Ticket};
use crate::domain::evidence::{Evidence, NewResult, ResultRecord, TransferCell};

/// The latest snapshot of the open-data dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRecord {
    pub object_key: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub tickets: u64,
    pub results: u64,
    pub created_at: DateTime<Utc>,
}

/// Results and what is computed from them.
#[async_trait]
pub trait ResultStore: Send + Sync + 'static {
    /// Stores a result (already validated against the ticket) reported by `user_id`, and
    /// recomputes the ticket's evidence in the same transaction. `NotFound` without the
    /// ticket, `DuplicateResult` for a repeat, `TooManyResults` past the per-ticket cap.
    async fn add_result(
        &self,
        ticket_id: &str,
        user_id: i64,
        result: &NewResult,
        at: DateTime<Utc>,
    ) -> IndexResult<(ResultRecord, Evidence)>;
    /// A ticket's results, oldest first (a ticket holds at most the per-ticket cap).
    async fn results(&self, ticket_id: &str) -> IndexResult<Vec<ResultRecord>>;
    /// Results a user reported, newest first, before `before_seq` when given.
    async fn results_by_user(
        &self,
        user_id: i64,
        before_seq: Option<i64>,
        limit: u32,
    ) -> IndexResult<Vec<(i64, ResultRecord)>>;
    /// One result.
    async fn result(&self, id: &str) -> IndexResult<Option<ResultRecord>>;
    /// Deletes a result and recomputes its ticket's evidence; returns the ticket's id and
    /// evidence. `NotFound` when there is no such result.
    async fn delete_result(&self, id: &str) -> IndexResult<(String, Evidence)>;
    /// An operator removes a result: deleted as above, with a takedown row of kind `result`.
    async fn take_down_result(
        &self,
        id: &str,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> IndexResult<Takedown>;
    /// The transfer matrix of live tickets of one task and architecture, in one metric.
    async fn transfer(
        &self,
        task: &str,
        architecture: &str,
        metric: &str,
    ) -> IndexResult<Vec<TransferCell>>;
    /// Tickets (yanked too, without per-tensor tables) after `after_seq`, by seq.
    async fn tickets_after(&self, after_seq: i64, limit: u32) -> IndexResult<Vec<Ticket>>;
    /// Results with their seq, after `after_seq`, by seq.
    async fn results_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> IndexResult<Vec<(i64, ResultRecord)>>;
    /// The latest dump snapshot, if any.
    async fn latest_dump(&self) -> IndexResult<Option<DumpRecord>>;
    /// Records a new snapshot as the latest; returns the objects of snapshots older than the
    /// one it replaces (their rows are gone), for the caller to delete. The one before stays a
    /// while, so a download that began on it can finish.
    async fn record_dump(&self, dump: &DumpRecord) -> IndexResult<Vec<String>>;
}

/// The columns a [`ResultRecord`] is decoded from (`result_from_row!`).
macro_rules! result_columns {
    () => {
        "SELECT r.seq, r.id, t.id AS ticket_id, u.name AS owner, r.kind, r.accuracy, r.metric, \
         r.seed, r.dataset, r.scope, r.steps, r.framework, r.hardware, r.code_url, r.notes, \
         r.created_at FROM results r JOIN tickets t ON t.seq = r.ticket_seq \
         JOIN users u ON u.id = r.user_id"
    };
}
pub(crate) use result_columns;

/// Decodes a [`result_columns`] row into its seq and record.
macro_rules! result_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<(i64, ResultRecord), sqlx::Error> {
            let kind: String = row.try_get("kind")?;
            let scope: Option<String> = row.try_get("scope")?;
            let seed: i64 = row.try_get("seed")?;
            let bad =
                |what: &str, v: &str| sqlx::Error::Decode(format!("unknown {what} {v:?}").into());
            Ok((
                row.try_get("seq")?,
                ResultRecord {
                    id: row.try_get("id")?,
                    ticket_id: row.try_get("ticket_id")?,
                    owner: row.try_get("owner")?,
                    result: $crate::domain::evidence::NewResult {
                        kind: $crate::domain::evidence::ResultKind::parse(&kind)
                            .ok_or_else(|| bad("kind", &kind))?,
                        accuracy: row.try_get("accuracy")?,
                        metric: row.try_get("metric")?,
                        // -1 is how "no seed" is stored.
                        seed: (seed >= 0).then_some(seed),
                        dataset: row.try_get("dataset")?,
                        scope: scope
                            .map(|s| {
                                $crate::domain::evidence::PruneScope::parse(&s)
                                    .ok_or_else(|| bad("scope", &s))
                            })
                            .transpose()?,
                        steps: row.try_get("steps")?,
                        framework: row.try_get("framework")?,
                        hardware: row.try_get("hardware")?,
                        code_url: row.try_get("code_url")?,
                        notes: row.try_get("notes")?,
                    },
                    created_at: row.try_get("created_at")?,
                },
            ))
        })()
        .map_err(IndexError::from_sqlx)
    }};
}
pub(crate) use result_from_row;

/// Implements [`ResultStore`] for `$ty`, whose write transactions open with `$begin`.
macro_rules! impl_results {
    ($ty:ty, $begin:expr) => {
        use $crate::domain::evidence::{Evidence, NewResult, ResultRecord, TransferCell};
        use $crate::index::results::{DumpRecord, result_columns, result_from_row};

        impl $ty {
            async fn one_result(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                id: &str,
            ) -> IndexResult<Option<ResultRecord>> {
                let row = sqlx::query(concat!(result_columns!(), " WHERE r.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                row.as_ref().map(|row| result_from_row!(row).map(|(_, r)| r)).transpose()
            }

            /// Deletes a result inside `conn`'s transaction; its ticket's id and evidence.
            async fn remove_result(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                id: &str,
            ) -> IndexResult<(ResultRecord, Evidence)> {
                let record = Self::one_result(&mut *conn, id).await?.ok_or(IndexError::NotFound)?;
                sqlx::query("DELETE FROM results WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let evidence = Self::refresh_evidence(&mut *conn, &record.ticket_id).await?;
                Ok((record, evidence))
            }
        }

        #[async_trait::async_trait]
        impl $crate::index::ResultStore for $ty {
            async fn add_result(
                &self,
                ticket_id: &str,
                user_id: i64,
                result: &NewResult,
                at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<(ResultRecord, Evidence)> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                // Locks the ticket: concurrent results for one ticket take turns, so the count
                // below and the evidence see every committed result.
                let ticket = Self::locked(&mut tx, ticket_id).await?;
                let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM results WHERE ticket_seq = $1")
                    .bind(ticket.seq)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                let cap = $crate::domain::evidence::MAX_RESULTS_PER_TICKET;
                if held as usize >= cap {
                    return Err(IndexError::TooManyResults(cap));
                }
                let id = Self::insert_result(&mut tx, ticket.seq, user_id, result, at).await?;
                let evidence = Self::refresh_evidence(&mut tx, ticket_id).await?;
                let record = Self::one_result(&mut tx, &id).await?.ok_or(IndexError::NotFound)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok((record, evidence))
            }

            async fn results(&self, ticket_id: &str) -> IndexResult<Vec<ResultRecord>> {
                let rows = sqlx::query(concat!(result_columns!(), " WHERE t.id = $1 ORDER BY r.seq LIMIT $2"))
                    .bind(ticket_id)
                    .bind($crate::domain::evidence::MAX_RESULTS_PER_TICKET as i64)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                rows.iter().map(|row| result_from_row!(row).map(|(_, r)| r)).collect()
            }

            async fn results_by_user(
                &self,
                user_id: i64,
                before_seq: Option<i64>,
                limit: u32,
            ) -> IndexResult<Vec<(i64, ResultRecord)>> {
                let rows = sqlx::query(concat!(
                    result_columns!(),
                    " WHERE r.user_id = $1 AND r.seq < COALESCE($2, 9223372036854775807) \
                      ORDER BY r.seq DESC LIMIT $3"
                ))
                .bind(user_id)
                .bind(before_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                rows.iter()
                    .map(|r| result_from_row!(r))
                    .collect()
            }

            async fn result(&self, id: &str) -> IndexResult<Option<ResultRecord>> {
                let mut conn = self.pool.acquire().await.map_err(IndexError::from_sqlx)?;
                Self::one_result(&mut conn, id).await
            }

            async fn delete_result(&self, id: &str) -> IndexResult<(String, Evidence)> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let (record, evidence) = Self::remove_result(&mut tx, id).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok((record.ticket_id, evidence))
            }

            async fn take_down_result(
                &self,
                id: &str,
                reason: &str,
                actor: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<$crate::index::Takedown> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let (record, _) = Self::remove_result(&mut tx, id).await?;
                let ticket = Self::locked(&mut tx, &record.ticket_id).await?;
                let (audit_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO takedowns (ticket_id, owner, name, sha256, reason, actor, \
                     detached_children, object_key, created_at, kind, result_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, 'result', $9) RETURNING id",
                )
                .bind(&ticket.id)
                .bind(&record.owner)
                .bind(&ticket.name)
                .bind(&ticket.sha256)
                .bind(reason)
                .bind(actor)
                .bind(sqlx::types::Json(Vec::<String>::new()))
                .bind(at)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok($crate::index::Takedown {
                    id: audit_id,
                    ticket_id: ticket.id,
                    owner: record.owner,
                    name: ticket.name,
                    sha256: ticket.sha256,
                    reason: reason.to_owned(),
                    actor: actor.to_owned(),
                    detached_children: Vec::new(),
                    object_key: None,
                    created_at: at,
                    kind: "result".into(),
                    result_id: Some(id.to_owned()),
                })
            }

            async fn transfer(
                &self,
                task: &str,
                architecture: &str,
                metric: &str,
            ) -> IndexResult<Vec<TransferCell>> {
                let rows: Vec<(String, String, f64, String)> = sqlx::query_as(
                    "SELECT t.dataset, r.dataset, r.accuracy, t.id FROM tickets t \
                     JOIN results r ON r.ticket_seq = t.seq AND r.kind = 'transfer' AND r.metric = $3 \
                     WHERE t.task = $1 AND t.architecture = $2 AND t.yanked = FALSE ORDER BY t.seq, r.seq",
                )
                .bind(task)
                .bind(architecture)
                .bind(metric)
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok($crate::domain::evidence::transfer_cells(rows))
            }

            async fn tickets_after(&self, after_seq: i64, limit: u32) -> IndexResult<Vec<Ticket>> {
                let rows = sqlx::query(concat!(
                    "SELECT ", $crate::index::rows::list_columns!(), " WHERE t.seq > $1 ORDER BY t.seq LIMIT $2"
                ))
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                decode_all(&rows)
            }

            async fn results_after(
                &self,
                after_seq: i64,
                limit: u32,
            ) -> IndexResult<Vec<(i64, ResultRecord)>> {
                let rows = sqlx::query(concat!(result_columns!(), " WHERE r.seq > $1 ORDER BY r.seq LIMIT $2"))
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                rows.iter().map(|row| result_from_row!(row)).collect()
            }

            async fn latest_dump(&self) -> IndexResult<Option<DumpRecord>> {
                let row: Option<(String, String, i64, i64, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT object_key, sha256, size_bytes, tickets, results, created_at FROM dumps \
                     ORDER BY id DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                let n = |v: i64| v.max(0) as u64;
                Ok(row.map(|(object_key, sha256, size, tickets, results, created_at)| DumpRecord {
                    object_key,
                    sha256,
                    size_bytes: n(size),
                    tickets: n(tickets),
                    results: n(results),
                    created_at,
                }))
            }

            async fn record_dump(&self, dump: &DumpRecord) -> IndexResult<Vec<String>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO dumps (object_key, sha256, size_bytes, tickets, results, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&dump.object_key)
                .bind(&dump.sha256)
                .bind(dump.size_bytes as i64)
                .bind(dump.tickets as i64)
                .bind(dump.results as i64)
                .bind(dump.created_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                // Keep this one and the one before it.
                let old: Vec<(String,)> = sqlx::query_as(
                    "DELETE FROM dumps WHERE id < (SELECT MAX(id) FROM dumps WHERE id < $1) RETURNING object_key",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(old.into_iter().map(|(k,)| k).collect())
            }
        }
    };
}
pub(crate) use impl_results;
