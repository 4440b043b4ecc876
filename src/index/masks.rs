//! What the index keeps of the masks (docs/masks.md): similar tickets through the LSH bands,
//! and the rows `ticketbooth reindex` fills in for tickets stored before masks were measured.

use async_trait::async_trait;

use super::{IndexResult, Ticket};
use crate::domain::inspector::TensorReport;
use crate::domain::ticket::MaskFacts;

/// A fingerprint group this small is ranked by scanning every signature; a larger one through
/// the LSH bands.
pub const SCAN_UP_TO: i64 = 2000;
/// Candidates the bands bring, at most: those sharing the most bands with the ticket (the
/// count of shared bands rises with the Jaccard index), ranked then by their signatures.
pub const CANDIDATES: i64 = 300;

/// A ticket that still needs its masks measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmeasured {
    pub seq: i64,
    pub id: String,
    pub object_key: String,
}

#[async_trait]
pub trait MaskStore: Send + Sync + 'static {
    /// Tickets with the same fingerprint as `id` (live, not `id` itself), ranked by the
    /// estimated Jaccard index of their kept sets, best first, at most `limit`. `NotFound`
    /// without the ticket; empty when its masks were not measured yet.
    async fn similar(&self, id: &str, limit: usize) -> IndexResult<Vec<(Ticket, f64)>>;
    /// Tickets whose masks were not measured (stored before 0007), by seq after `after`.
    async fn unmeasured(&self, after: i64, limit: u32) -> IndexResult<Vec<Unmeasured>>;
    /// Stores what `reindex` measured: the fingerprint, structure, signature and bands, and the
    /// per-tensor table with each tensor's structure; moves the structure's facet count.
    async fn set_masks(
        &self,
        id: &str,
        masks: &MaskFacts,
        tensors: &[TensorReport],
    ) -> IndexResult<()>;
}

/// Implements [`MaskStore`] for `$ty`, whose write transactions open with `$begin`.
macro_rules! impl_masks {
    ($ty:ty, $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::index::MaskStore for $ty {
            async fn similar(&self, id: &str, limit: usize) -> IndexResult<Vec<(Ticket, f64)>> {
                use $crate::domain::masks::signature;
                use $crate::index::masks::{CANDIDATES, SCAN_UP_TO};
                let facts: Option<(i64, Option<String>, Option<Vec<u8>>)> = sqlx::query_as(
                    "SELECT seq, architecture_fingerprint, mask_signature FROM tickets WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                let (seq, Some(fp), Some(sig)) = facts.ok_or(IndexError::NotFound)? else {
                    return Ok(Vec::new());
                };
                // A small group is scanned whole; a large one through the bands.
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE architecture_fingerprint = $1 \
                     AND yanked = FALSE LIMIT $2) g",
                )
                .bind(&fp)
                .bind(SCAN_UP_TO + 1)
                .fetch_one(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                let candidates: Vec<(String, Vec<u8>)> = if n <= SCAN_UP_TO {
                    sqlx::query_as(
                        "SELECT id, mask_signature FROM tickets WHERE architecture_fingerprint = $1 \
                         AND yanked = FALSE AND seq <> $2 AND mask_signature IS NOT NULL",
                    )
                    .bind(&fp)
                    .bind(seq)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?
                } else {
                    let mut sql = Sql::default();
                    let f = sql.bind(sql::Arg::Text(fp.clone()));
                    let bands: Vec<String> = signature::bands(&sig)
                        .into_iter()
                        .enumerate()
                        .map(|(band, hash)| {
                            let b = sql.bind(sql::Arg::Int(band as i64));
                            let h = sql.bind(sql::Arg::Int(hash));
                            format!("(band = {b} AND hash = {h})")
                        })
                        .collect();
                    let s = sql.bind(sql::Arg::Int(seq));
                    let cap = sql.bind(sql::Arg::Int(CANDIDATES));
                    sql.text = format!(
                        "SELECT t.id, t.mask_signature FROM tickets t JOIN \
                         (SELECT ticket_seq, COUNT(*) AS shared FROM ticket_bands WHERE fingerprint = {f} AND ({}) \
                          AND ticket_seq <> {s} GROUP BY ticket_seq ORDER BY shared DESC, ticket_seq LIMIT {cap}) c \
                         ON c.ticket_seq = t.seq WHERE t.yanked = FALSE AND t.mask_signature IS NOT NULL",
                        bands.join(" OR ")
                    );
                    $crate::index::rows::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(IndexError::from_sqlx)?
                };
                let ranked = signature::rank(&sig, candidates, limit);
                let ids: Vec<String> = ranked.iter().map(|(id, _)| id.clone()).collect();
                let score: std::collections::HashMap<String, f64> = ranked.into_iter().collect();
                let tickets = $crate::index::Catalog::tickets_by_ids(self, &ids).await?;
                Ok(tickets
                    .into_iter()
                    .map(|t| {
                        let j = score.get(&t.id).copied().unwrap_or_default();
                        (t, j)
                    })
                    .collect())
            }

            async fn unmeasured(
                &self,
                after: i64,
                limit: u32,
            ) -> IndexResult<Vec<$crate::index::masks::Unmeasured>> {
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT t.seq, t.id, b.object_key FROM tickets t JOIN blobs b ON b.sha256 = t.sha256 \
                     WHERE t.structure = 'unknown' AND t.seq > $1 ORDER BY t.seq LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, id, object_key)| $crate::index::masks::Unmeasured { seq, id, object_key })
                    .collect())
            }

            async fn set_masks(
                &self,
                id: &str,
                masks: &$crate::domain::ticket::MaskFacts,
                tensors: &[$crate::domain::inspector::TensorReport],
            ) -> IndexResult<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(IndexError::from_sqlx)?;
                let old = Self::locked(&mut tx, id).await?;
                sqlx::query(
                    "UPDATE tickets SET architecture_fingerprint = $1, structure = $2, mask_signature = $3, \
                     tensors = $4 WHERE seq = $5",
                )
                .bind(&masks.fingerprint)
                .bind(&masks.structure)
                .bind(&masks.signature)
                .bind(sqlx::types::Json(tensors))
                .bind(old.seq)
                .execute(&mut *tx)
                .await
                .map_err(IndexError::from_sqlx)?;
                sqlx::query("DELETE FROM ticket_bands WHERE ticket_seq = $1")
                    .bind(old.seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                for (band, hash) in $crate::domain::masks::signature::bands(&masks.signature).into_iter().enumerate() {
                    sqlx::query("INSERT INTO ticket_bands (fingerprint, band, hash, ticket_seq) VALUES ($1, $2, $3, $4)")
                        .bind(&masks.fingerprint)
                        .bind(band as i16)
                        .bind(hash)
                        .bind(old.seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(IndexError::from_sqlx)?;
                }
                if old.structure != masks.structure {
                    let (dims, verdict) = (old.dims(), old.evidence.verdict.as_str());
                    Self::bump(&mut tx, dims, old.yanked, (verdict, old.structure.as_str()), &old.tags, -1).await?;
                    Self::bump(&mut tx, dims, old.yanked, (verdict, masks.structure.as_str()), &old.tags, 1).await?;
                }
                tx.commit().await.map_err(IndexError::from_sqlx)
            }
        }
    };
}
pub(crate) use impl_masks;
