//! Operator commands: they open the index (and the blob store) directly, on the server's host,
//! instead of going through the API. Token management and takedowns.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::blobs::BlobStore;
use crate::cli::tables::print_table;
use crate::domain::tokens::{self, NewToken, Scope, TokenRecord};
use crate::index::DynIndex;

/// What `token create`'s flags ask for, checked: a label of one short line, at least one
/// scope, an expiry in the future.
pub fn token_spec(
    scopes: Vec<Scope>,
    expires_in: Option<Duration>,
    expires_at: Option<DateTime<Utc>>,
    label: Option<String>,
    now: DateTime<Utc>,
) -> Result<NewToken, String> {
    if let Some(label) = &label {
        tokens::check_label(label)?;
    }
    let scopes = tokens::normalize(scopes);
    if scopes.is_empty() {
        return Err("a token needs at least one scope".into());
    }
    let expires_at = match (expires_in, expires_at) {
        (Some(_), Some(_)) => return Err("give --expires-in or --expires-at, not both".into()),
        (Some(d), None) => {
            let d = chrono::Duration::from_std(d).map_err(|_| "--expires-in is too long")?;
            Some(
                now.checked_add_signed(d)
                    .ok_or("--expires-in is too long")?,
            )
        }
        (None, at) => at,
    };
    if let Some(at) = expires_at {
        tokens::check_expiry(at, now)?;
    }
    Ok(NewToken {
        label: label.filter(|l| !l.is_empty()),
        scopes,
        expires_at,
        minted_by: None,
        max_live: None,
    })
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// Prints token records as a table: never a token or a hash (the records hold neither).
pub fn print_tokens(records: &[TokenRecord]) {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.user.clone(),
                t.label.clone().unwrap_or_else(|| "-".into()),
                tokens::join(&t.scopes),
                when(Some(t.created_at)),
                when(t.expires_at),
                when(t.last_used_at),
                when(t.revoked_at),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "USER",
            "LABEL",
            "SCOPES",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "REVOKED",
        ],
        &rows,
    );
}

/// `ticketbooth token revoke ID`.
pub async fn revoke(index: &DynIndex, id: i64) -> anyhow::Result<()> {
    let record = index
        .revoke_token(id, None, Utc::now())
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no token with id {id}"))?;
    println!(
        "revoked token {} of {} ({}) at {}",
        record.id,
        record.user,
        record.label.as_deref().unwrap_or("no label"),
        when(record.revoked_at)
    );
    Ok(())
}

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

/// `ticketbooth admin takedowns`.
pub async fn print_takedowns(index: &DynIndex) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = index
        .takedowns()
        .await?
        .into_iter()
        .map(|t| {
            vec![
                t.id.to_string(),
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
            "ID", "WHEN", "ACTOR", "TICKET", "NAME", "OBJECT", "CHILDREN", "REASON",
        ],
        &rows,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_flags_are_checked() {
        let now = Utc::now();
        let day = Duration::from_secs(86_400);
        let spec = token_spec(
            vec![Scope::Yank, Scope::Upload, Scope::Yank],
            Some(90 * day),
            None,
            Some("ci".into()),
            now,
        )
        .unwrap();
        assert_eq!(spec.scopes, vec![Scope::Upload, Scope::Yank]);
        assert_eq!(spec.expires_at, Some(now + chrono::Duration::days(90)));
        assert_eq!(
            humantime::parse_duration("90d").unwrap(),
            90 * day,
            "the documented flag form"
        );
        assert!(token_spec(vec![], None, None, None, now).is_err());
        assert!(token_spec(vec![Scope::Upload], None, Some(now), None, now).is_err());
        assert!(token_spec(vec![Scope::Upload], Some(day), Some(now), None, now).is_err());
        assert!(
            token_spec(vec![Scope::Upload], Some(Duration::MAX), None, None, now).is_err(),
            "overflow is an error, not a panic"
        );
        assert!(token_spec(vec![Scope::Upload], None, None, Some("a\nb".into()), now).is_err());
    }
}
