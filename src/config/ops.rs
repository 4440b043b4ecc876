//! The operator commands' flags: `token`, `admin`, `gc`, `verify`, `seed` and `sql` (the
//! commands themselves are in `crate::ops`).

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::parse_duration;
use super::storage::StorageArgs;
use crate::domain::tokens::Scope;

/// What the integrity commands (`gc`, `verify`) open.
#[derive(Debug, Args, Clone)]
pub struct IntegrityArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Blob store, as for `serve`. Default: `<data-dir>/blobs`.
    #[arg(long, env = "TICKETBOOTH_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// Unreferenced objects younger than this are left alone: they may be another replica's
    /// upload still in progress. Make it longer than your longest upload.
    #[arg(long, env = "TICKETBOOTH_GC_GRACE", default_value = "2h", value_parser = parse_duration)]
    pub grace: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct GcArgs {
    #[command(flatten)]
    pub integrity: IntegrityArgs,
    /// List what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SeedArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Blob store for the one small file every synthetic ticket shares.
    #[arg(long, env = "TICKETBOOTH_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// How many tickets to insert.
    #[arg(long)]
    pub count: u64,
    /// Seed of the generator, so runs are repeatable.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Results (controls, reproductions, dense runs) reported with each ticket, by its owner.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=64))]
    pub results_per_ticket: u64,
}

#[derive(Debug, Args, Clone)]
pub struct SqlArgs {
    /// The endpoint: tickets, facets, tasks, points or frontier.
    pub endpoint: String,
    /// The query string, as in the URL (`task=x&sort=accuracy`).
    #[arg(default_value = "")]
    pub query: String,
    /// Which backend's SQL: postgres or sqlite.
    #[arg(long, default_value = "postgres")]
    pub backend: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create user NAME if absent and print a new API token for it (the only line on stdout).
    Create {
        /// The user's name, a slug.
        #[arg(long)]
        name: String,
        /// What the token may do, comma-separated: upload (publish, edit own tickets), yank
        /// (yank and unyank own tickets), tokens (list, create and revoke own tokens).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "upload,yank,tokens,results,orgs"
        )]
        scopes: Vec<Scope>,
        /// Lifetime, e.g. `90d`, `12h`, `1month` (default: no expiry).
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "expires_at")]
        expires_in: Option<std::time::Duration>,
        /// Absolute expiry, RFC 3339 (`2027-01-31T00:00:00Z`).
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
        /// A name for the token, shown in lists ("ci", "laptop").
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List tokens (never the tokens themselves or their hashes).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a token by id (from `token list`): refused from now on.
    Revoke {
        /// The token's id, from `token list`.
        id: i64,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Remove ticket ID for legal or abuse reasons: its row, its tags and counts, its children's
    /// parent links, its blob when no other ticket shares the content, with an audit row.
    Delete {
        /// The ticket's id.
        id: String,
        /// Why (recorded in the audit row).
        #[arg(long)]
        reason: String,
        /// Who is doing it (recorded in the audit row). Default: $USER.
        #[arg(long, env = "USER")]
        actor: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
        /// The blob store the server uses (default: `<data-dir>/blobs`).
        #[arg(long, env = "TICKETBOOTH_BLOB_STORE")]
        blob_store: Option<String>,
    },
    /// Remove one result (a reproduction, control...) for legal or abuse reasons, with an audit
    /// row of kind `result`; the ticket's evidence is recomputed.
    DeleteResult {
        /// The result's id.
        id: String,
        /// Why (recorded in the audit row).
        #[arg(long)]
        reason: String,
        /// Who is doing it (recorded in the audit row). Default: $USER.
        #[arg(long, env = "USER")]
        actor: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List the takedown audit rows, oldest first.
    Takedowns {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// `ticketbooth dump` and `ticketbooth reindex`: the index and the blob store.
#[derive(Debug, Args)]
pub struct StoresArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// The blob store the server uses (default: `<data-dir>/blobs`).
    #[arg(long, env = "TICKETBOOTH_BLOB_STORE")]
    pub blob_store: Option<String>,
}
