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
                // 34 values a row: 500 rows stay under both backends' bind-parameter limits.
                for chunk in tickets.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO tickets (id, owner_id, name, task, dataset, architecture, pruning_method, \
                         accuracy, dense_accuracy, metric, description, tags, parent_id, hyperparameters, \
                         paper_url, code_url, license, sha256, size_bytes, sparsity, params_total, params_kept, \
                         tensors, created_at, search_text, description_html, evidence, verdict, \
                         reproductions, reproductions_by_others, reproduced_accuracy, \
                         architecture_fingerprint, structure, mask_signature, uploader_id) ",
                    );
                    insert.push_values(chunk, |mut row, t| {
                        let m = &t.meta;
                        let evidence = t.evidence();
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
                            .push_bind(t.description_html.clone())
                            .push_bind(sqlx::types::Json(evidence.clone()))
                            .push_bind(evidence.verdict.as_str())
                            .push_bind(evidence.reproductions as i64)
                            .push_bind(evidence.reproductions_by_others as i64)
                            .push_bind(evidence.ticket.mean)
                            .push_bind(t.masks.fingerprint.clone())
                            .push_bind(t.masks.structure.clone())
                            .push_bind(t.masks.signature.clone())
                            .push_bind(t.uploader_id.unwrap_or(t.owner_id));
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
                    let results: Vec<(i64, i64, &$crate::domain::evidence::NewResult, chrono::DateTime<chrono::Utc>)> = chunk
                        .iter()
                        .flat_map(|t| t.meta.results.iter().map(|r| (seq_of[&t.id], t.owner_id, r, t.created_at)))
                        .collect();
                    // 15 values a row: 1000 rows a statement.
                    for results in results.chunks(1000) {
                        let mut insert = sqlx::QueryBuilder::<Db>::new(
                            "INSERT INTO results (id, ticket_seq, user_id, kind, accuracy, metric, seed, dataset, \
                             scope, steps, framework, hardware, code_url, notes, created_at) ",
                        );
                        insert.push_values(results, |mut row, (seq, user, r, at)| {
                            row.push_bind(uuid::Uuid::now_v7().to_string())
                                .push_bind(*seq)
                                .push_bind(*user)
                                .push_bind(r.kind.as_str())
                                .push_bind(r.accuracy)
                                .push_bind(r.metric.clone())
                                .push_bind(r.seed.unwrap_or(-1))
                                .push_bind(r.dataset.clone())
                                .push_bind(r.scope.map(|s| s.as_str()))
                                .push_bind(r.steps)
                                .push_bind(r.framework.clone())
                                .push_bind(r.hardware.clone())
                                .push_bind(r.code_url.clone())
                                .push_bind(r.notes.clone())
                                .push_bind(*at);
                        });
                        insert
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(IndexError::from_result_insert)?;
                    }
                    let bands: Vec<(&str, i16, i64, i64)> = chunk
                        .iter()
                        .flat_map(|t| {
                            let seq = seq_of[&t.id];
                            $crate::domain::masks::signature::bands(&t.masks.signature)
                                .into_iter()
                                .enumerate()
                                .map(move |(band, hash)| (t.masks.fingerprint.as_str(), band as i16, hash, seq))
                        })
                        .collect();
                    for bands in bands.chunks(2000) {
                        let mut insert = sqlx::QueryBuilder::<Db>::new(
                            "INSERT INTO ticket_bands (fingerprint, band, hash, ticket_seq) ",
                        );
                        insert.push_values(bands, |mut row, (fp, band, hash, seq)| {
                            row.push_bind(fp.to_string()).push_bind(*band).push_bind(*hash).push_bind(*seq);
                        });
                        insert.build().execute(&mut *conn).await.map_err(IndexError::from_sqlx)?;
                    }
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
                for ((dims, verdict, structure), n) in counts {
                    Self::bump(&mut *conn, dims, false, (verdict, structure), &[], n).await?;
                }
                for (((dims, verdict, structure), tag), n) in tag_counts {
                    Self::bump_tags(&mut *conn, dims, false, (verdict, structure), &[tag.to_owned()], n).await?;
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

            /// Stores one result of the ticket `ticket_seq`, reported by `user_id`. The unique key
            /// (ticket, user, kind, dataset, seed) makes a repeat a `DuplicateResult`.
            async fn insert_result(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                ticket_seq: i64,
                user_id: i64,
                r: &$crate::domain::evidence::NewResult,
                at: chrono::DateTime<chrono::Utc>,
            ) -> IndexResult<String> {
                let id = uuid::Uuid::now_v7().to_string();
                sqlx::query(
                    "INSERT INTO results (id, ticket_seq, user_id, kind, accuracy, metric, seed, dataset, scope, \
                     steps, framework, hardware, code_url, notes, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&id)
                .bind(ticket_seq)
                .bind(user_id)
                .bind(r.kind.as_str())
                .bind(r.accuracy)
                .bind(&r.metric)
                // -1: no seed, one value of the unique key like any other.
                .bind(r.seed.unwrap_or(-1))
                .bind(&r.dataset)
                .bind(r.scope.map(|s| s.as_str()))
                .bind(r.steps)
                .bind(&r.framework)
                .bind(&r.hardware)
                .bind(&r.code_url)
                .bind(&r.notes)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(IndexError::from_result_insert)?;
                Ok(id)
            }

            /// Recomputes a ticket's evidence from its stored results and stores it (with the
            /// columns search filters on), moving the verdict's facet count when it changed.
            async fn refresh_evidence(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                ticket_id: &str,
            ) -> IndexResult<$crate::domain::evidence::Evidence> {
                let old = Self::locked(&mut *conn, ticket_id).await?;
                let rows: Vec<(String, f64, String, bool)> = sqlx::query_as(
                    // The owner's side: the owner, the uploader, and for an organization its
                    // members (docs/accounts.md); everyone else is "others".
                    "SELECT r.kind, r.accuracy, r.metric, (r.user_id = t.owner_id \
                     OR r.user_id = COALESCE(t.uploader_id, t.owner_id) OR EXISTS (SELECT 1 FROM org_members m \
                     WHERE m.org_id = t.owner_id AND m.user_id = r.user_id)) AS by_owner FROM results r \
                     JOIN tickets t ON t.seq = r.ticket_seq WHERE r.ticket_seq = $1",
                )
                .bind(old.seq)
                .fetch_all(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                let observations: Vec<$crate::domain::evidence::Observation> = rows
                    .iter()
                    .filter_map(|(kind, accuracy, metric, by_owner)| {
                        Some($crate::domain::evidence::Observation {
                            kind: $crate::domain::evidence::ResultKind::parse(kind)?,
                            accuracy: *accuracy,
                            metric,
                            by_owner: *by_owner,
                        })
                    })
                    .collect();
                let evidence = $crate::domain::evidence::evidence(
                    old.accuracy,
                    old.dense_accuracy,
                    &old.metric,
                    &observations,
                );
                sqlx::query(
                    "UPDATE tickets SET evidence = $1, verdict = $2, reproductions = $3, \
                     reproductions_by_others = $4, reproduced_accuracy = $5 WHERE seq = $6",
                )
                .bind(sqlx::types::Json(&evidence))
                .bind(evidence.verdict.as_str())
                .bind(evidence.reproductions as i64)
                .bind(evidence.reproductions_by_others as i64)
                .bind(evidence.ticket.mean)
                .bind(old.seq)
                .execute(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                if old.evidence.verdict != evidence.verdict {
                    let dims = old.dims();
                    let structure = old.structure.as_str();
                    Self::bump(&mut *conn, dims, old.yanked, (old.evidence.verdict.as_str(), structure), &old.tags, -1).await?;
                    Self::bump(&mut *conn, dims, old.yanked, (evidence.verdict.as_str(), structure), &old.tags, 1).await?;
                }
                Ok(evidence)
            }

            /// Adds `delta` to the facet count of a ticket shape (with its yanked flag, verdict
            /// and structure), and to its tags' counts.
            async fn bump(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                dims: (&str, &str, &str, &str),
                yanked: bool,
                (verdict, structure): (&str, &str),
                tags: &[String],
                delta: i64,
            ) -> IndexResult<()> {
                sqlx::query(
                    "INSERT INTO facet_counts (task, dataset, architecture, pruning_method, yanked, verdict, structure, n) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (task, dataset, architecture, pruning_method, yanked, verdict, structure) \
                     DO UPDATE SET n = facet_counts.n + excluded.n",
                )
                .bind(dims.0)
                .bind(dims.1)
                .bind(dims.2)
                .bind(dims.3)
                .bind(yanked)
                .bind(verdict)
                .bind(structure)
                .bind(delta)
                .execute(&mut *conn)
                .await
                .map_err(IndexError::from_sqlx)?;
                Self::bump_tags(conn, dims, yanked, (verdict, structure), tags, delta).await
            }

            /// Adds `delta` to the tag counts of a ticket shape (yanked flag, verdict, structure).
            async fn bump_tags(
                conn: &mut <$ty as $crate::index::HasDb>::Connection,
                dims: (&str, &str, &str, &str),
                yanked: bool,
                (verdict, structure): (&str, &str),
                tags: &[String],
                delta: i64,
            ) -> IndexResult<()> {
                for tag in tags {
                    sqlx::query(
                        "INSERT INTO tag_counts (task, dataset, architecture, pruning_method, yanked, verdict, structure, tag, n) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (task, dataset, architecture, pruning_method, yanked, verdict, structure, tag) \
                         DO UPDATE SET n = tag_counts.n + excluded.n",
                    )
                    .bind(dims.0)
                    .bind(dims.1)
                    .bind(dims.2)
                    .bind(dims.3)
                    .bind(yanked)
                    .bind(verdict)
                    .bind(structure)
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

/// What the facet and tag counts are kept by: the shape, the verdict and the structure.
type Counted<'a> = (Dims<'a>, &'static str, &'a str);

/// How many of these new tickets have each counted key, and each (key, tag): what inserting
/// them adds to the facet and tag counts.
#[allow(clippy::type_complexity)]
pub(crate) fn shape_counts(
    tickets: &[NewTicket],
) -> (HashMap<Counted<'_>, i64>, HashMap<(Counted<'_>, &str), i64>) {
    let mut counts: HashMap<Counted<'_>, i64> = HashMap::new();
    let mut tag_counts: HashMap<(Counted<'_>, &str), i64> = HashMap::new();
    for t in tickets {
        let m = &t.meta;
        let dims = (
            m.task.as_str(),
            m.dataset.as_str(),
            m.architecture.as_str(),
            m.pruning_method.as_str(),
        );
        let key = (
            dims,
            t.evidence().verdict.as_str(),
            t.masks.structure.as_str(),
        );
        *counts.entry(key).or_default() += 1;
        for tag in &m.tags {
            *tag_counts.entry((key, tag.as_str())).or_default() += 1;
        }
    }
    (counts, tag_counts)
}
