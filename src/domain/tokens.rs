//! API tokens: random, recognizable by their prefix, stored only as a sha256. Each carries
//! scopes, an optional expiry and a revocation time. Everything here is pure: the HTTP extractor
//! and the operator commands fetch the record and ask these functions what it allows.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to spot (and to grep for).
pub const PREFIX: &str = "tb_";

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 128;

/// Longest lifetime a token may be given (about ten years).
pub const MAX_LIFETIME_DAYS: i64 = 3650;

/// `last_used_at` is written at most this often per token, so a busy token does not turn
/// every request into a write.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A new random token: the prefix and 32 random bytes in hex.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// What the index stores and looks up. Looking up a hash, not comparing secrets, means no
/// secret-dependent timing.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What a token may do. Reads need no token.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Publish tickets, and edit one's own.
    Upload,
    /// Yank and unyank one's own tickets.
    Yank,
    /// List, create and revoke one's own tokens.
    Tokens,
    /// Report results (reproductions, controls, transfers) and delete one's own.
    Results,
    /// Create organizations and manage their members.
    Orgs,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Upload,
        Scope::Yank,
        Scope::Tokens,
        Scope::Results,
        Scope::Orgs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Upload => "upload",
            Scope::Yank => "yank",
            Scope::Tokens => "tokens",
            Scope::Results => "results",
            Scope::Orgs => "orgs",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| format!("unknown scope '{s}' (known: {})", join(&Scope::ALL)))
    }
}

/// Scopes as `upload,yank`.
pub fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Sorted, without repeats.
pub fn normalize(mut scopes: Vec<Scope>) -> Vec<Scope> {
    scopes.sort();
    scopes.dedup();
    scopes
}

/// What a new token gets, however it is asked for (operator command or self-service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub label: Option<String>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The token that mints this one (self-service); revoking it revokes this one too.
    pub minted_by: Option<i64>,
    /// The most live tokens the user may then hold, checked as this one is stored (self-service
    /// only; the operator is not limited).
    pub max_live: Option<u32>,
}

impl NewToken {
    /// Every scope, no label, no expiry: what `token create` gave before scopes existed.
    pub fn unrestricted() -> Self {
        NewToken {
            label: None,
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            minted_by: None,
            max_live: None,
        }
    }
}

/// A token as its owner and the operator see it: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenRecord {
    pub id: i64,
    /// The user the token acts as.
    pub user: String,
    pub label: Option<String>,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    /// Refused from this instant on; null: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last request it authenticated (to the minute); null: never used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Refused since; null: live.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The id of the token that created this one through the API (null: made by the operator).
    /// Revoking a token revokes every token it minted, and theirs.
    pub minted_by: Option<i64>,
}

/// Why a presented token may not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the API token was revoked at {}", .0.to_rfc3339())]
    Revoked(DateTime<Utc>),
    #[error("the API token expired at {}", .0.to_rfc3339())]
    Expired(DateTime<Utc>),
    #[error("this API token lacks the '{0}' scope")]
    MissingScope(Scope),
}

/// Whether the token may authenticate at all at `now`: not revoked, not expired.
pub fn usable(token: &TokenRecord, now: DateTime<Utc>) -> Result<(), Denied> {
    if let Some(at) = token.revoked_at {
        return Err(Denied::Revoked(at));
    }
    match token.expires_at {
        Some(at) if now >= at => Err(Denied::Expired(at)),
        _ => Ok(()),
    }
}

/// Whether the token carries `scope`.
pub fn require(token: &TokenRecord, scope: Scope) -> Result<(), Denied> {
    if token.scopes.contains(&scope) {
        Ok(())
    } else {
        Err(Denied::MissingScope(scope))
    }
}

/// Whether to record this use: never recorded, or last recorded over [`TOUCH_EVERY`] ago.
pub fn needs_touch(token: &TokenRecord, now: DateTime<Utc>) -> bool {
    token
        .last_used_at
        .is_none_or(|last| now - last >= TOUCH_EVERY)
}

/// A label is free text for people, but one line of it: no control characters (a newline or
/// an escape sequence would garble the operator's terminal table).
pub fn check_label(label: &str) -> Result<(), String> {
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(format!("a label has at most {MAX_LABEL_CHARS} characters"));
    }
    if label.chars().any(char::is_control) {
        return Err("a label cannot contain control characters".into());
    }
    Ok(())
}

/// An expiry must be in the future and at most [`MAX_LIFETIME_DAYS`] away.
pub fn check_expiry(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if at <= now {
        return Err(format!(
            "the expiry {} is not in the future",
            at.to_rfc3339()
        ));
    }
    if at - now > Duration::days(MAX_LIFETIME_DAYS) {
        return Err(format!("a token lives at most {MAX_LIFETIME_DAYS} days"));
    }
    Ok(())
}

/// The self-service request body: `POST /api/v1/tokens`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Free text for people, one line.
    #[schema(max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub label: Option<String>,
    /// Default: the scopes of the token making the request. Never more than those.
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<Scope>>,
    /// Lifetime in days. Give this or `expires_at`, not both. Default: no expiry, or the
    /// calling token's expiry if it has one (a token cannot outlive the token that made it).
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// An absolute expiry, in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a self-service request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// A malformed or out-of-range field: 400.
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The new token would be able to do more, or live longer, than the caller's: 403.
    Escalation {
        field: &'static str,
        message: String,
    },
}

/// What a token created by `caller` at `now` gets, or why it may not exist. A new token never
/// has a scope the caller lacks and never outlives the caller.
pub fn plan(
    req: TokenRequest,
    caller: &TokenRecord,
    now: DateTime<Utc>,
) -> Result<NewToken, RequestError> {
    let invalid = |field, message: String| RequestError::Invalid { field, message };
    if let Some(label) = &req.label {
        check_label(label).map_err(|m| invalid("label", m))?;
    }
    let asked = asked_expiry(&req, now)?;
    let scopes = match req.scopes {
        None => caller.scopes.clone(),
        Some(s) if s.is_empty() => {
            return Err(invalid("scopes", "a token needs at least one scope".into()));
        }
        Some(s) => normalize(s),
    };
    if let Some(extra) = scopes.iter().find(|s| !caller.scopes.contains(s)) {
        return Err(RequestError::Escalation {
            field: "scopes",
            message: format!(
                "this token has only the scopes [{}], so it cannot create one with '{extra}'",
                join(&caller.scopes)
            ),
        });
    }
    let expires_at = match (asked, caller.expires_at) {
        (Some(at), Some(limit)) if at > limit => {
            return Err(RequestError::Escalation {
                field: "expires_at",
                message: format!(
                    "a token cannot outlive the token that creates it (which expires at {})",
                    limit.to_rfc3339()
                ),
            });
        }
        (None, limit) => limit,
        (at, _) => at,
    };
    Ok(NewToken {
        // An empty label is no label.
        label: req.label.filter(|l| !l.is_empty()),
        scopes,
        expires_at,
        minted_by: Some(caller.id),
        max_live: None,
    })
}

/// The expiry a request asks for, if any: `expires_in_days` or `expires_at`, not both.
fn asked_expiry(
    req: &TokenRequest,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, RequestError> {
    let invalid = |field, message: String| RequestError::Invalid { field, message };
    match (req.expires_in_days, req.expires_at) {
        (Some(_), Some(_)) => Err(invalid(
            "expires_at",
            "give expires_in_days or expires_at, not both".into(),
        )),
        (Some(days), None) => {
            if !(1..=MAX_LIFETIME_DAYS).contains(&i64::from(days)) {
                return Err(invalid(
                    "expires_in_days",
                    format!("expires_in_days must be from 1 to {MAX_LIFETIME_DAYS}"),
                ));
            }
            Ok(Some(now + Duration::days(days.into())))
        }
        (None, Some(at)) => {
            check_expiry(at, now).map_err(|m| invalid("expires_at", m))?;
            Ok(Some(at))
        }
        (None, None) => Ok(None),
    }
}

/// What a token created from a signed-in browser session gets: any scopes (default: all), and a
/// lifetime of at most `max_days` (default: that). It belongs to the account, not to the
/// session, so it survives signing out.
pub fn plan_for_session(
    req: TokenRequest,
    now: DateTime<Utc>,
    max_days: u32,
) -> Result<NewToken, RequestError> {
    if let Some(label) = &req.label {
        check_label(label).map_err(|message| RequestError::Invalid {
            field: "label",
            message,
        })?;
    }
    let scopes = match &req.scopes {
        None => Scope::ALL.to_vec(),
        Some(s) if s.is_empty() => {
            return Err(RequestError::Invalid {
                field: "scopes",
                message: "a token needs at least one scope".into(),
            });
        }
        Some(s) => normalize(s.clone()),
    };
    let limit = now + Duration::days(max_days.into());
    let expires_at = match asked_expiry(&req, now)? {
        Some(at) if at > limit => {
            return Err(RequestError::Invalid {
                field: "expires_at",
                message: format!(
                    "a token created from the web page lives at most {max_days} days (--max-session-token-days)"
                ),
            });
        }
        Some(at) => at,
        None => limit,
    };
    Ok(NewToken {
        label: req.label.filter(|l| !l.is_empty()),
        scopes,
        expires_at: Some(expires_at),
        minted_by: None,
        max_live: None,
    })
}

#[cfg(test)]
mod tests;
