//! Keeping the index running: health, pool figures for `/metrics`, and the start-up pass that
//! renders descriptions stored before their HTML was.

use async_trait::async_trait;

use super::IndexResult;

/// Health, metrics and start-up maintenance.
#[async_trait]
pub trait Upkeep: Send + Sync + 'static {
    /// Reachable and answering.
    async fn ping(&self) -> IndexResult<()>;
    /// Connections open in the pool, and how many of them are idle (for /metrics).
    fn pool_usage(&self) -> (u32, usize);
    /// Up to `limit` tickets with a description but no stored HTML (rows from before the
    /// HTML was stored), as (id, description).
    async fn unrendered_descriptions(&self, limit: u32) -> IndexResult<Vec<(String, String)>>;
    /// Stores a ticket's rendered description.
    async fn set_description_html(&self, id: &str, html: &str) -> IndexResult<()>;
}

/// Implements [`Upkeep`] for `$ty`.
macro_rules! impl_upkeep {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::index::Upkeep for $ty {
            async fn ping(&self) -> IndexResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                Ok(())
            }

            fn pool_usage(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
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
        }
    };
}
pub(crate) use impl_upkeep;
