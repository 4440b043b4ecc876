//! `token create`, `token list`, `token revoke`: tokens minted, listed and revoked on the
//! index directly. A table shows records only, never a token or its hash.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cli::tables::print_table;
use crate::domain::tokens::{self, NewToken, Scope, TokenRecord};
use crate::index::DynIndex;

use super::when;

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
