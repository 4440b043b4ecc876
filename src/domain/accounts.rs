//! Accounts: the names users and organizations are known by (one namespace, the `owner` of
//! `owner/name`), organization roles and who may change what, verified ORCID iDs, and the small
//! checks of the sign-in flow (where it may return to, comparing secrets). Pure: the handlers
//! and the index ask these functions and do the I/O.

use serde::{Deserialize, Serialize};

/// Longest account name, as on GitHub.
pub const MAX_NAME_LEN: usize = 39;

/// Names that would read as part of the site rather than as somebody.
pub const RESERVED_NAMES: &[&str] = &[
    "about",
    "account",
    "admin",
    "anonymous",
    "api",
    "auth",
    "compare",
    "docs",
    "explore",
    "help",
    "login",
    "logout",
    "me",
    "new",
    "null",
    "orgs",
    "owners",
    "root",
    "search",
    "settings",
    "signin",
    "signout",
    "signup",
    "static",
    "system",
    "ticketbooth",
    "tickets",
    "transfer",
];

/// A new username or organization name, lowercased: 2 to 39 letters, digits and single
/// hyphens, starting and ending with a letter or digit, and not reserved. (Names made by the
/// operator's `token create` before accounts existed are not re-checked.)
pub fn check_name(value: &str) -> Result<String, String> {
    let name = value.trim().to_lowercase();
    let len = name.len();
    if !(2..=MAX_NAME_LEN).contains(&len) {
        return Err(format!(
            "a name has 2 to {MAX_NAME_LEN} characters; got {}",
            value.chars().count()
        ));
    }
    let allowed = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !allowed || name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(format!(
            "a name is letters, digits and single hyphens, starting and ending with a letter or digit; got {value:?}"
        ));
    }
    if RESERVED_NAMES.contains(&name.as_str()) {
        return Err(format!("'{name}' is reserved"));
    }
    Ok(name)
}

/// A suggestion for the username form, from what the provider said (its preferred username or
/// the email's local part); `None` when nothing usable is there.
pub fn suggest_name(candidates: &[Option<&str>]) -> Option<String> {
    candidates.iter().flatten().find_map(|raw| {
        let local = raw.split('@').next().unwrap_or(raw);
        let mut out = String::new();
        for c in local.to_lowercase().chars() {
            match c {
                'a'..='z' | '0'..='9' => out.push(c),
                _ if !out.is_empty() && !out.ends_with('-') => out.push('-'),
                _ => {}
            }
        }
        let trimmed: String = out
            .trim_end_matches('-')
            .chars()
            .take(MAX_NAME_LEN)
            .collect();
        check_name(trimmed.trim_end_matches('-')).ok()
    })
}

/// What a provider's verified ID token says about who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The configured provider's id.
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Set for a provider of kind `orcid`: its subject, checked as an ORCID iD.
    pub orcid: Option<String>,
}

/// Whether an account is a person (who signs in) or an organization (which people publish for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    User,
    Org,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Org => "org",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(AccountKind::User),
            "org" => Some(AccountKind::Org),
            _ => None,
        }
    }
}

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Adds and removes members, edits and yanks every ticket of the organization.
    Admin,
    /// Publishes under the organization; edits and yanks the tickets they uploaded.
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// Who a ticket belongs to, as far as changing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stewardship {
    pub owner_id: i64,
    pub owner_kind: AccountKind,
    /// Who published it; `None` for rows from before uploaders were recorded (the owner did).
    pub uploader_id: Option<i64>,
}

/// Whether `caller` (with `role` in the owning organization, if any) may edit and yank the
/// ticket: its owner; for an organization's ticket, the organization's admins and the member
/// who uploaded it. A former member keeps nothing: the ticket stays with the organization.
pub fn may_manage(ticket: Stewardship, caller: i64, role: Option<Role>) -> bool {
    if ticket.owner_id == caller {
        return true;
    }
    match (ticket.owner_kind, role) {
        (AccountKind::Org, Some(Role::Admin)) => true,
        (AccountKind::Org, Some(Role::Member)) => ticket.uploader_id == Some(caller),
        _ => false,
    }
}

/// A change to an organization's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// Add `target` with a role, or change their role.
    Set { target: i64, role: Role },
    /// Remove `target` (themselves: leaving).
    Remove { target: i64 },
}

/// Why a change to an organization's members is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberDenied {
    #[error("only an admin of the organization can do that")]
    NotAdmin,
    #[error("that user is not a member of the organization")]
    NotMember,
    #[error(
        "an organization keeps at least one admin: make another member admin before the last one leaves or steps down"
    )]
    LastAdmin,
}

/// Whether `caller` (whose role is `caller_role`) may make `change`, given the target's current
/// role and how many admins the organization has now.
pub fn check_member_change(
    caller: i64,
    caller_role: Option<Role>,
    change: MemberChange,
    target_role: Option<Role>,
    admins: u64,
) -> Result<(), MemberDenied> {
    let is_admin = caller_role == Some(Role::Admin);
    let last_admin = target_role == Some(Role::Admin) && admins <= 1;
    match change {
        MemberChange::Set { role, .. } => {
            if !is_admin {
                return Err(MemberDenied::NotAdmin);
            }
            if last_admin && role != Role::Admin {
                return Err(MemberDenied::LastAdmin);
            }
        }
        MemberChange::Remove { target } => {
            if target != caller && !is_admin {
                return Err(MemberDenied::NotAdmin);
            }
            if target_role.is_none() {
                return Err(MemberDenied::NotMember);
            }
            if last_admin {
                return Err(MemberDenied::LastAdmin);
            }
        }
    }
    Ok(())
}

/// The ORCID iD in `value` (bare, or as an `https://orcid.org/` URL), in its bare form
/// `0000-0002-1825-0097`, if it is one: four groups of four digits, the last character a check
/// digit (0-9 or X) by ISO 7064 MOD 11-2.
pub fn orcid(value: &str) -> Option<String> {
    let bare = value
        .trim()
        .trim_start_matches("https://orcid.org/")
        .trim_start_matches("http://orcid.org/");
    let bytes = bare.as_bytes();
    if bytes.len() != 19 || [4, 9, 14].iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    let chars: Vec<u8> = bare.bytes().filter(|&b| b != b'-').collect();
    let (body, check) = chars.split_at(15);
    if !body.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let total = body
        .iter()
        .fold(0u32, |acc, d| (acc + u32::from(d - b'0')) * 2);
    let expected = match (12 - total % 11) % 11 {
        10 => b'X',
        n => b'0' + n as u8,
    };
    (check[0] == expected).then(|| bare.to_owned())
}

/// Where a sign-in may send the browser afterwards: a path on this site, never another origin
/// (`//evil`, `/\evil` and absolute URLs are open redirects). Anything else is `/`.
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 512
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A random secret: 32 bytes in hex (session cookies, CSRF tokens, sign-in states).
pub fn secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests;
