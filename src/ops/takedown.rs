//! `admin delete` and `admin takedowns`: a ticket taken down for legal or abuse reasons, and
//! the takedown records (who, why, when) that each takedown leaves in the index.

use chrono::Utc;

use crate::blobs::BlobStore;
use crate::cli::tables::print_table;
use crate::index::DynIndex;

use super::when;

/// `ticketbooth admin delete ID`: the index change commits first (the ticket is gone from every
/// endpoint), then the released object is deleted. If that delete fails the object is an
/// orphan, which is reported (and which `ticketbooth gc` finds), not retried here.
pub async fn take_down(
    index: &DynIndex,
    blobs: &BlobStore,
    id: &str,
    reason: &str,
    actor: &str,
) -> anyhow::Result<()> {
    let reason = reason.trim();
    let actor = actor.trim();
    anyhow::ensure!(!reason.is_empty(), "--reason cannot be empty");
    anyhow::ensure!(
        !actor.is_empty(),
        "--actor cannot be empty (it defaults to $USER)"
    );
    let done = index
        .take_down(id, reason, actor, Utc::now())
        .await
        .map_err(|e| match e {
            crate::index::IndexError::NotFound => {
                anyhow::anyhow!("there is no ticket with id '{id}'")
            }
            other => other.into(),
        })?;
    println!(
        "took down {} ({}/{}, sha256 {}); audit row {}",
        done.ticket_id, done.owner, done.name, done.sha256, done.id
    );
    if !done.detached_children.is_empty() {
        println!(
            "children now without a parent: {}",
            done.detached_children.join(", ")
        );
    }
    match &done.object_key {
        None => println!("content kept: another ticket has the same content"),
        Some(key) => match blobs.delete(key).await {
            Ok(()) => println!("deleted object {key}"),
            Err(e) => {
                tracing::error!(error = %e, key = %key, ticket = %done.ticket_id, "takedown: could not delete the object");
                anyhow::bail!(
                    "the ticket is taken down, but deleting its object {key} failed ({e}); the object is now an orphan that `ticketbooth gc` will find"
                );
            }
        },
    }
    Ok(())
}

/// `ticketbooth admin delete-result RID`: one result removed, the ticket's evidence recomputed,
/// an audit row of kind `result` written, all in one transaction.
pub async fn take_down_result(
    index: &DynIndex,
    id: &str,
    reason: &str,
    actor: &str,
) -> anyhow::Result<()> {
    let (reason, actor) = (reason.trim(), actor.trim());
    anyhow::ensure!(!reason.is_empty(), "--reason cannot be empty");
    anyhow::ensure!(
        !actor.is_empty(),
        "--actor cannot be empty (it defaults to $USER)"
    );
    let done = index
        .take_down_result(id, reason, actor, Utc::now())
        .await
        .map_err(|e| match e {
            crate::index::IndexError::NotFound => {
                anyhow::anyhow!("there is no result with id '{id}'")
            }
            other => other.into(),
        })?;
    println!(
        "removed result {id} by {} from ticket {} ({}); audit row {}",
        done.owner, done.ticket_id, done.name, done.id
    );
    Ok(())
}

/// `ticketbooth admin takedowns`.
pub async fn print_takedowns(index: &DynIndex) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = index
        .takedowns()
        .await?
        .into_iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                match &t.result_id {
                    Some(rid) => format!("result {rid}"),
                    None => t.kind.clone(),
                },
                when(Some(t.created_at)),
                t.actor,
                t.ticket_id,
                format!("{}/{}", t.owner, t.name),
                t.object_key.unwrap_or_else(|| "(shared)".into()),
                if t.detached_children.is_empty() {
                    "-".into()
                } else {
                    t.detached_children.join(",")
                },
                t.reason,
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "KIND", "WHEN", "ACTOR", "TICKET", "NAME", "OBJECT", "CHILDREN", "REASON",
        ],
        &rows,
    );
    Ok(())
}
