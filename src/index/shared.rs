//! The helpers the roles share inside a write transaction: decoding a ticket row, reading it
//! locked or fresh, recording a blob, inserting tickets, and keeping the facet counts in step.
//! Every write that changes a ticket's shape, tags or yanked flag goes through `bump`, which
//! keeps the counts `facets` reads in step with the tickets.

use std::collections::HashMap;

use super::NewTicket;

/// Defines, in a backend's module, `decode`/`decode_all` and the helpers above, for `$ty`
/// with its row-lock clause `$lock`.
macro_rules! impl_shared {
    ($ty:ty, $lock:expr) => {
        fn decode(row: &<$ty as $crate::index::HasDb>::Row) -> Result<Ticket, sqlx::Error> {
            Ok($crate::index::rows::ticket_from_row!(row))
        }

        fn decode_all(rows: &[<$ty as $crate::index::HasDb>::Row]) -> IndexResult<Vec<Ticket>> {
            rows.iter().map(decode).collect::<Result<_, _>>().map_err(IndexError::from_sqlx)
        }

        impl $ty {
            /// Inserts tickets (their blobs already recorded), their tags and facet counts, with
            /// multi-row statements (a round trip per statement is what bulk loads pay for).
            async fn insert_rows(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                tickets: &[NewTicket],
            ) -> IndexResult<()> {
                type Db = <$ty as $crate::index::HasDb>::Db;
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
                let (counts, tag_counts) = $crate::index::shared::shape_counts(tickets);
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
                    "SELECT ", $crate::index::rows::list_columns!(), " WHERE t.id = $1", $lock
                ))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?
                .ok_or(IndexError::NotFound)?;
                decode(&row).map_err(IndexError::from_sqlx)
            }

            async fn reread(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                id: &str,
            ) -> IndexResult<Ticket> {
                let row = sqlx::query(concat!($crate::index::rows::select_ticket!(), " WHERE t.id = $1"))
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(IndexError::from_sqlx)?;
                decode(&row).map_err(IndexError::from_sqlx)
            }
        }
    };
}
pub(crate) use impl_shared;

/// A ticket's shape: task, dataset, architecture, pruning method.
type Dims<'a> = (&'a str, &'a str, &'a str, &'a str);

/// How many of these new tickets have each shape, and each (shape, tag): what inserting them
/// adds to the facet and tag counts.
#[allow(clippy::type_complexity)]
pub(crate) fn shape_counts(
    tickets: &[NewTicket],
) -> (
    HashMap<Dims<'_>, i64>,
    HashMap<(&str, &str, &str, &str, &str), i64>,
) {
    let mut counts: HashMap<Dims<'_>, i64> = HashMap::new();
    let mut tag_counts: HashMap<(&str, &str, &str, &str, &str), i64> = HashMap::new();
    for t in tickets {
        let m = &t.meta;
        let dims = (
            m.task.as_str(),
            m.dataset.as_str(),
            m.architecture.as_str(),
            m.pruning_method.as_str(),
        );
        *counts.entry(dims).or_default() += 1;
        for tag in &m.tags {
            *tag_counts
                .entry((dims.0, dims.1, dims.2, dims.3, tag.as_str()))
                .or_default() += 1;
        }
    }
    (counts, tag_counts)
}
