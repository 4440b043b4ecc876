//! One ticket at a time: publishing, reading by id or name, editing, yanking, counting a
//! download.

use async_trait::async_trait;

use super::{BlobRef, IndexResult, NewTicket, Published, Ticket, TicketEdit};

/// Writes and single reads of tickets.
#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    /// Records the blob (first upload of this content wins) and the ticket, atomically. The
    /// returned `object_key` is the earlier upload's when the content was already stored.
    /// [`IndexError::NameTaken`](super::IndexError::NameTaken) when the owner already has a
    /// ticket of that name, `UnknownParent` when the parent does not exist.
    async fn publish(&self, ticket: &NewTicket) -> IndexResult<Published>;
    /// Bulk insert for seeding benchmarks and demos: one shared blob, many tickets.
    async fn insert_many(&self, tickets: &[NewTicket]) -> IndexResult<()>;
    /// Whether `owner_id` already has a ticket called `name` (a pre-check before the body).
    async fn name_taken(&self, owner_id: i64, name: &str) -> IndexResult<bool>;
    /// Whether a ticket with this id exists (a parent, checked before the body).
    async fn ticket_exists(&self, id: &str) -> IndexResult<bool>;
    /// The ticket with its per-tensor table and rendered description, if it exists.
    async fn ticket(&self, id: &str) -> IndexResult<Option<Ticket>>;
    /// The ticket `owner/name`, as [`TicketStore::ticket`] gives it.
    async fn ticket_by_name(&self, owner: &str, name: &str) -> IndexResult<Option<Ticket>>;
    /// Applies an edit (description, tags, links, license) and returns the ticket after it;
    /// a change of tags moves the tag counts. `NotFound` when there is no such ticket.
    async fn edit(&self, id: &str, edit: &TicketEdit) -> IndexResult<Ticket>;
    /// Sets the yanked flag, moving the facet counts; idempotent.
    async fn set_yanked(&self, id: &str, yanked: bool) -> IndexResult<Ticket>;
    /// What a download of this ticket needs: its content's object, hash and size.
    async fn blob_of(&self, id: &str) -> IndexResult<Option<BlobRef>>;
    /// Adds one to the ticket's download count.
    async fn count_download(&self, id: &str) -> IndexResult<()>;
}

/// Implements [`TicketStore`] for `$ty`, whose write transactions open with `$begin`.
macro_rules! impl_tickets {
    ($ty:ty, $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::index::TicketStore for $ty {
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

            async fn ticket(&self, id: &str) -> IndexResult<Option<Ticket>> {
                let row = sqlx::query(concat!($crate::index::rows::select_ticket!(), " WHERE t.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                row.as_ref().map(decode).transpose().map_err(IndexError::from_sqlx)
            }

            async fn ticket_by_name(&self, owner: &str, name: &str) -> IndexResult<Option<Ticket>> {
                let row = sqlx::query(concat!(
                    $crate::index::rows::select_ticket!(),
                    " WHERE u.name = $1 AND t.name = $2"
                ))
                .bind(owner)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(IndexError::from_sqlx)?;
                row.as_ref().map(decode).transpose().map_err(IndexError::from_sqlx)
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
                    let dims = old.dims();
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
                    let counted = (old.evidence.verdict.as_str(), old.structure.as_str());
                    Self::bump_tags(&mut tx, dims, old.yanked, counted, &old.tags, -1).await?;
                    Self::bump_tags(&mut tx, dims, old.yanked, counted, &tags, 1).await?;
                }
                let ticket = Self::reread(&mut tx, id).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(ticket)
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
                    let dims = old.dims();
                    let counted = (old.evidence.verdict.as_str(), old.structure.as_str());
                    Self::bump(&mut tx, dims, old.yanked, counted, &old.tags, -1).await?;
                    Self::bump(&mut tx, dims, yanked, counted, &old.tags, 1).await?;
                }
                let ticket = Self::reread(&mut tx, id).await?;
                tx.commit().await.map_err(IndexError::from_sqlx)?;
                Ok(ticket)
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
pub(crate) use impl_tickets;
