//! Reads over many tickets: a search page, its facets, the task summary, plot points,
//! frontier candidates, tickets by id, and lineage. The SQL is built in [`super::sql`].

use async_trait::async_trait;

use super::{Facets, IndexResult, Point, TaskSummary, Ticket};
use crate::domain::search::{Candidate, Page, TicketFilter};

/// Searching and browsing.
#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// One page (plus one row, to tell whether more follow), without per-tensor tables.
    async fn search(&self, filter: &TicketFilter, page: &Page) -> IndexResult<Vec<Ticket>>;
    /// How many matching tickets have each task, dataset, architecture, method and tag.
    async fn facets(&self, filter: &TicketFilter) -> IndexResult<Facets>;
    /// Every task with its ticket count, best accuracy and highest sparsity.
    async fn tasks(&self, include_yanked: bool) -> IndexResult<Vec<TaskSummary>>;
    /// Every match as a compact row, by ascending sparsity, at most `cap`.
    async fn points(&self, filter: &TicketFilter, cap: usize) -> IndexResult<Vec<Point>>;
    /// Frontier candidates: every match's id, sparsity and accuracy.
    async fn candidates(&self, filter: &TicketFilter) -> IndexResult<Vec<Candidate>>;
    /// Tickets by id, without per-tensor tables, in the order of `ids` (missing ones left out).
    async fn tickets_by_ids(&self, ids: &[String]) -> IndexResult<Vec<Ticket>>;
    /// Ancestor ids, nearest first.
    async fn ancestors(&self, id: &str) -> IndexResult<Vec<String>>;
    /// The tickets whose parent is `id`, oldest first, without per-tensor tables.
    async fn children(&self, id: &str) -> IndexResult<Vec<Ticket>>;
}

/// Tickets arranged in the order of `ids`.
pub(crate) fn in_order(ids: &[String], tickets: Vec<Ticket>) -> Vec<Ticket> {
    let position: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut tickets = tickets;
    tickets.sort_by_key(|t| position.get(t.id.as_str()).copied());
    tickets
}

/// Implements [`Catalog`] for `$ty`, which matches `q` with the text search `$text`.
macro_rules! impl_catalog {
    ($ty:ty, $text:expr) => {
        impl $ty {
            async fn fetch_tickets(&self, sql: Sql) -> IndexResult<Vec<Ticket>> {
                let rows = $crate::index::rows::bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql.text)), sql.args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                decode_all(&rows)
            }
        }

        #[async_trait::async_trait]
        impl $crate::index::Catalog for $ty {
            async fn search(&self, filter: &TicketFilter, page: &Page) -> IndexResult<Vec<Ticket>> {
                self.fetch_tickets(sql::search_sql($crate::index::rows::list_columns!(), filter, page, $text))
                    .await
            }

            async fn facets(&self, filter: &TicketFilter) -> IndexResult<Facets> {
                let mut out = Facets::default();
                let sql = sql::facets_sql(filter, $text);
                let rows: Vec<(i64, String, i64)> =
                    $crate::index::rows::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                for (facet, value, count) in rows {
                    let counts = match sql::Facet::ALL.get(facet as usize) {
                        Some(sql::Facet::Task) => &mut out.task,
                        Some(sql::Facet::Dataset) => &mut out.dataset,
                        Some(sql::Facet::Architecture) => &mut out.architecture,
                        Some(sql::Facet::PruningMethod) => &mut out.pruning_method,
                        Some(sql::Facet::Tag) => &mut out.tag,
                        Some(sql::Facet::Verdict) => &mut out.verdict,
                        Some(sql::Facet::Structure) => &mut out.structure,
                        None => continue,
                    };
                    counts.push(FacetCount { value, count: count.max(0) as u64 });
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
                    $crate::index::rows::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                Ok(rows.into_iter().map(|(a, b, c, d, e)| Point(a, b, c, d, e)).collect())
            }

            async fn candidates(&self, filter: &TicketFilter) -> IndexResult<Vec<Candidate>> {
                let sql = sql::candidates_sql(filter, $text);
                let rows: Vec<(String, f64, f64)> =
                    $crate::index::rows::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
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
                    concat!("SELECT ", $crate::index::rows::list_columns!(), " WHERE t.id IN ({})"),
                    list.join(", ")
                );
                Ok($crate::index::catalog::in_order(ids, self.fetch_tickets(sql).await?))
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
                    concat!("SELECT ", $crate::index::rows::list_columns!(), " WHERE t.parent_id = {} ORDER BY t.seq"),
                    p
                );
                self.fetch_tickets(sql).await
            }
        }
    };
}
pub(crate) use impl_catalog;
