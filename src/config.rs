//! Command line and environment. Every flag also reads `TICKETBOOTH_<FLAG>` (the database URL
//! reads the conventional `DATABASE_URL`). Relative paths become absolute at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::domain::tokens::Scope;

#[derive(Debug, Parser)]
#[command(
    name = "ticketbooth",
    version,
    about = "The open registry of lottery tickets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as `text` or `json` (on stderr; `RUST_LOG` filters them).
    #[arg(long, global = true, env = "TICKETBOOTH_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Operator actions on the index: take a ticket down for legal or abuse reasons.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Insert N synthetic tickets (owner `synthetic`) for benchmarks and demos.
    Seed(SeedArgs),
    /// Print the SQL the server runs for an API query, with values inlined (for EXPLAIN).
    Sql(SqlArgs),
    /// Remember a server and token for the client commands (XDG config dir, mode 0600).
    Login {
        /// The registry's base URL.
        #[arg(long)]
        server: String,
        /// An API token (`ticketbooth token create` on the server).
        #[arg(long)]
        token: String,
    },
    /// Upload a ticket file: checked locally first, with a progress bar.
    Upload(UploadArgs),
    /// Search tickets and print a table (or JSON lines).
    Search(SearchArgs),
    /// Print a ticket's metadata and per-tensor sparsity table.
    Show {
        /// Ticket id or owner/name.
        ticket: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the ticket JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print a task's sparsity/accuracy frontier.
    Frontier(FrontierArgs),
    /// Download a ticket, resuming an interrupted download and verifying its sha256.
    Download(DownloadArgs),
    /// Exit 0 if URL answers 2xx (a health check for images without curl).
    Probe {
        /// The URL to fetch, e.g. http://127.0.0.1:8080/readyz.
        url: String,
    },
    /// Remove objects no ticket references (left by crashes) once older than the grace period.
    Gc(GcArgs),
    /// Re-hash every blob against the index; report missing, corrupt and orphaned objects.
    /// Exits 1 if any blob is missing or does not match.
    Verify(IntegrityArgs),
}

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

/// Where the client commands talk to. Flags and environment win over `ticketbooth login`.
#[derive(Args, Clone, Default)]
pub struct ClientArgs {
    /// Registry base URL (default: the one saved by `login`, else http://127.0.0.1:8080).
    #[arg(long, env = "TICKETBOOTH_URL")]
    pub server: Option<String>,
    /// API token (default: the one saved by `login`).
    #[arg(long, env = "TICKETBOOTH_TOKEN")]
    pub token: Option<String>,
}

// Tokens are secrets: never print them.
impl std::fmt::Debug for ClientArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientArgs")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Args, Clone)]
pub struct UploadArgs {
    /// The .safetensors file (a PyTorch checkpoint must be converted first:
    /// `safetensors.torch.save_file(model.state_dict(), path)`).
    pub file: PathBuf,
    /// A JSON file of metadata (flags override it; it overrides the file's __metadata__).
    #[arg(long, value_name = "PATH")]
    pub metadata: Option<PathBuf>,
    /// The ticket's name, a slug unique among your tickets (e.g. lenet-imp-l7).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Accuracy of the trained ticket on the metric, a fraction in [0, 1] (0.981, not 98.1).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub accuracy: Option<f64>,
    /// Accuracy of the dense network on the same setup, a fraction in [0, 1].
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub dense_accuracy: Option<f64>,
    /// What the accuracy measures, a slug (default: top1_accuracy).
    #[arg(long)]
    pub metric: Option<String>,
    /// The parent ticket (one IMP round earlier): id or owner/name.
    #[arg(long)]
    pub parent: Option<String>,
    /// What the ticket is good for, in markdown (at most 64 KiB).
    #[arg(long)]
    pub description: Option<String>,
    /// Comma-separated tags (slugs, at most 32).
    #[arg(long)]
    pub tags: Option<String>,
    /// Training hyperparameters as a JSON object, e.g. '{"lr": 0.1, "batch_size": 128}'.
    #[arg(long, value_name = "JSON")]
    pub hyperparameters: Option<String>,
    /// The license the ticket is published under (e.g. MIT, CC-BY-4.0).
    #[arg(long)]
    pub license: Option<String>,
    /// The paper the ticket comes from, an http(s) URL.
    #[arg(long, value_name = "URL")]
    pub paper_url: Option<String>,
    /// The code that found the ticket, an http(s) URL.
    #[arg(long, value_name = "URL")]
    pub code_url: Option<String>,
    /// Print the whole ticket JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// What a ticket is for and how it was found: metadata on upload, filters in a search.
#[derive(Debug, Args, Clone)]
pub struct ShapeArgs {
    /// The task, a slug (e.g. image-classification).
    #[arg(long)]
    pub task: Option<String>,
    /// The dataset, a slug (e.g. cifar10, mnist).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The architecture, a slug (e.g. resnet20, lenet-300-100).
    #[arg(long)]
    pub architecture: Option<String>,
    /// How the ticket was found, a slug (e.g. imp, imp-rewind, snip, random).
    #[arg(long)]
    pub pruning_method: Option<String>,
}

impl ShapeArgs {
    pub fn pairs(&self) -> [(&'static str, Option<String>); 4] {
        [
            ("task", self.task.clone()),
            ("dataset", self.dataset.clone()),
            ("architecture", self.architecture.clone()),
            ("pruning_method", self.pruning_method.clone()),
        ]
    }
}

#[derive(Debug, Args, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Only this user's tickets.
    #[arg(long)]
    pub owner: Option<String>,
    /// A tag the tickets must have; repeat for several (all must match).
    #[arg(long)]
    pub tag: Vec<String>,
    /// At least this sparsity (share of weights removed), a fraction in [0, 1]: 0.9 is 10% of
    /// weights remaining.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub min_sparsity: Option<f64>,
    /// At most this sparsity, a fraction in [0, 1].
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub max_sparsity: Option<f64>,
    /// At least this accuracy, a fraction in [0, 1] (0.97, not 97).
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub min_accuracy: Option<f64>,
    /// At most this accuracy, a fraction in [0, 1].
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub max_accuracy: Option<f64>,
    /// Free text: a case-insensitive substring of name, description, architecture, dataset or
    /// tags.
    #[arg(long, visible_alias = "q", value_name = "TEXT")]
    pub query: Option<String>,
    /// Sort by created (default), accuracy, sparsity or downloads.
    #[arg(long, value_parser = ["created", "accuracy", "sparsity", "downloads"])]
    pub sort: Option<String>,
    /// Sort order: desc (default) or asc.
    #[arg(long, value_parser = ["asc", "desc"])]
    pub order: Option<String>,
    /// How many tickets to show, 1 to 100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A fraction flag, checked before any request with the server's own rule: `97` is refused
/// with "did you mean 0.97?" (a usage error, exit 2).
fn parse_fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| "must be a number, a fraction in [0, 1]".to_owned())?;
    crate::domain::metadata::check_fraction(x)
}

#[derive(Debug, Args, Clone)]
pub struct FrontierArgs {
    /// The task, a slug (e.g. image-classification).
    #[arg(long)]
    pub task: String,
    /// Only tickets found on this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Only tickets of this architecture.
    #[arg(long)]
    pub architecture: Option<String>,
    /// Compare tickets on this metric (default: top1_accuracy).
    #[arg(long)]
    pub metric: Option<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DownloadArgs {
    /// Ticket id or owner/name.
    pub ticket: String,
    /// Where to write it (default: ./<name>.safetensors).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
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
        #[arg(long, value_delimiter = ',', default_value = "upload,yank,tokens")]
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
    /// List the takedown audit rows, oldest first.
    Takedowns {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Where the index lives; shared by every command that opens it.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Directory for the embedded database and the default blob store.
    #[arg(
        long,
        env = "TICKETBOOTH_DATA_DIR",
        default_value = "./ticketbooth-data"
    )]
    pub data_dir: PathBuf,
    /// Index database: `postgres://...`, or `sqlite://path`. Default: a SQLite file in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

// The database URL may carry a password: never print it.
impl std::fmt::Debug for StorageArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageArgs")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .finish()
    }
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, env = "TICKETBOOTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Blob store: `file:///dir` (or a plain path), `s3://bucket/prefix`, or `memory://`.
    /// Default: `<data-dir>/blobs`.
    #[arg(long, env = "TICKETBOOTH_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// Largest ticket file accepted, in bytes (`8GiB`, `512MiB` and plain numbers all work).
    #[arg(long, env = "TICKETBOOTH_MAX_UPLOAD_BYTES", default_value = "8GiB", value_parser = parse_size)]
    pub max_upload_bytes: u64,
    /// With an s3:// blob store, answer downloads with a 302 to a short-lived presigned URL, so
    /// the bytes leave from the bucket instead of the API servers.
    #[arg(long, env = "TICKETBOOTH_DOWNLOAD_REDIRECT")]
    pub download_redirect: bool,
    #[command(flatten)]
    pub protection: Protection,
    /// Check the configuration (paths, URLs, blob store settings), print it and exit, without
    /// connecting to anything.
    #[arg(long)]
    pub check: bool,
    /// At start-up, objects no ticket references (crash leftovers) are removed in the
    /// background once older than this (`30m`, `2h`): longer than your longest upload.
    #[arg(long, env = "TICKETBOOTH_GC_GRACE", default_value = "2h", value_parser = parse_duration)]
    pub gc_grace: std::time::Duration,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
}

/// Limits that keep one client from exhausting the server: slow or endless bodies, too many
/// uploads at once, too many requests. The flags are the runtime settings (`http::limits`).
#[derive(Debug, Args, Clone)]
pub struct Protection {
    /// Longest a client may take to send a request's line and headers (a slowloris defence);
    /// past it the connection is closed.
    #[arg(long, env = "TICKETBOOTH_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Longest silence inside a request body (a stalled or slow-drip upload) before it is
    /// dropped with 408.
    #[arg(long, env = "TICKETBOOTH_BODY_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_idle_timeout: Duration,
    /// Longest one upload may take, first byte to answer (408 after it).
    #[arg(long, env = "TICKETBOOTH_UPLOAD_DEADLINE", default_value = "1h", value_parser = parse_duration)]
    pub upload_deadline: Duration,
    /// Uploads processed at once by this server; more get 503 with Retry-After.
    #[arg(long, env = "TICKETBOOTH_MAX_CONCURRENT_UPLOADS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_uploads: u32,
    /// Uploads per user, as `COUNT/PERIOD` (`60/1h`: bursts of 60, then one per minute), or
    /// `off`. Past it: 429 with Retry-After.
    #[arg(long, env = "TICKETBOOTH_UPLOAD_RATE", default_value = "60/1h", value_parser = parse_rate)]
    pub upload_rate: Rate,
    /// Anonymous requests (any method) per client address, as `COUNT/PERIOD`, or `off`. Requests
    /// with a valid token and the health and metrics endpoints are not counted.
    #[arg(long, env = "TICKETBOOTH_READ_RATE", default_value = "50/1s", value_parser = parse_rate)]
    pub read_rate: Rate,
    /// Sitting behind a reverse proxy: take the client address from the last `X-Forwarded-For`
    /// entry (the one the proxy appended). Without it, the header is ignored: anyone can send it.
    #[arg(long, env = "TICKETBOOTH_BEHIND_PROXY")]
    pub behind_proxy: bool,
    /// Uploads one user may have in progress at once (of the server's
    /// `--max-concurrent-uploads`), so one account cannot take every slot. More get 429.
    #[arg(long, env = "TICKETBOOTH_MAX_UPLOADS_PER_USER", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_uploads_per_user: u32,
    /// Longest one database statement may run while serving (Postgres); it is then cancelled
    /// and the request answered 503 with Retry-After. Operator commands are not cut off.
    #[arg(long, env = "TICKETBOOTH_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub statement_timeout: Duration,
    /// Live (unrevoked, unexpired) tokens one user may hold; creating more is a 409.
    #[arg(long, env = "TICKETBOOTH_MAX_TOKENS_PER_USER", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens_per_user: u32,
}

impl Protection {
    /// The timeouts and cap of a default server, without rate limits (the library default, so
    /// tests and embedders opt in to rate limiting).
    pub fn without_rate_limits() -> Self {
        Protection {
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
            upload_deadline: Duration::from_secs(3600),
            max_concurrent_uploads: 16,
            upload_rate: Rate(None),
            read_rate: Rate(None),
            behind_proxy: false,
            max_uploads_per_user: 4,
            statement_timeout: Duration::from_secs(5),
            max_tokens_per_user: 100,
        }
    }
}

/// `COUNT` requests per `PERIOD`, replenished evenly; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub Option<(u32, Duration)>);

fn parse_rate(s: &str) -> Result<Rate, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(Rate(None));
    }
    let (count, period) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not COUNT/PERIOD (like 60/1h) or off"))?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| format!("'{count}' is not a positive count"))?;
    let period =
        humantime::parse_duration(period.trim()).map_err(|e| format!("'{period}': {e}"))?;
    if period < Duration::from_millis(1) {
        return Err("the period must be at least 1ms".to_owned());
    }
    Ok(Rate(Some((count, period))))
}

fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| e.to_string())
}

/// Where everything lives, with every path absolute.
#[derive(Clone)]
pub struct Locations {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub blob_store_url: String,
}

impl std::fmt::Debug for Locations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locations")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("blob_store_url", &self.blob_store_url)
            .finish()
    }
}

impl Locations {
    /// Where things are, in words, for the start-up line: "data dir /x, index: SQLite at
    /// /x/ticketbooth.db, blobs: local files in /x/blobs". Never a password.
    pub fn describe(&self) -> String {
        format!(
            "data dir {}, index: {}, blobs: {}",
            self.data_dir.display(),
            describe_database(&self.database_url),
            describe_blob_store(&self.blob_store_url)
        )
    }
}

fn describe_database(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        return if path.starts_with(":memory:") {
            "SQLite in memory".into()
        } else {
            format!("SQLite at {path}")
        };
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {
            let database = u.path().trim_start_matches('/');
            let host = u.host_str().unwrap_or("localhost");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let user = match u.username() {
                "" => String::new(),
                name => format!(" as {name}"),
            };
            format!("Postgres database '{database}' on {host}{port}{user}")
        }
        _ => redact_url(url),
    }
}

fn describe_blob_store(url: &str) -> String {
    if let Some(path) = url.strip_prefix("file://") {
        return format!("local files in {path}");
    }
    if url.starts_with("memory://") {
        return "in memory (lost when the server stops)".into();
    }
    if url.starts_with("s3://") {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty())
            .map(|e| format!(" via {}", redact_url(&e)))
            .unwrap_or_default();
        return format!("S3 at {url}{endpoint}");
    }
    redact_url(url)
}

impl StorageArgs {
    pub fn locate(&self, blob_store: Option<&str>) -> anyhow::Result<Locations> {
        let data_dir = std::path::absolute(&self.data_dir)?;
        std::fs::create_dir_all(&data_dir)?;
        let database_url = match self.database_url.as_deref() {
            None => sqlite_url(&data_dir.join("ticketbooth.db")),
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(rest) if !rest.starts_with(":memory:") => {
                    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                    let abs = std::path::absolute(path)?;
                    let base = sqlite_url(&abs);
                    if query.is_empty() {
                        base
                    } else {
                        format!("{base}?{query}")
                    }
                }
                _ => url.to_owned(),
            },
        };
        let blob_store_url = match blob_store {
            None => file_url(&data_dir.join("blobs")),
            Some(url) if url.contains("://") => match url.strip_prefix("file://") {
                Some(path) => file_url(&std::path::absolute(path)?),
                None => url.to_owned(),
            },
            Some(path) => file_url(&std::path::absolute(path)?),
        };
        Ok(Locations {
            data_dir,
            database_url,
            blob_store_url,
        })
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded_and_absolute() {
        let cli = Cli::try_parse_from(["ticketbooth", "serve", "--data-dir", "rel/dir"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.max_upload_bytes, 8 << 30);
        // The library default differs from the flags' only in having no rate limits.
        let p = &args.protection;
        assert_eq!(p.upload_rate, Rate(Some((60, Duration::from_secs(3600)))));
        assert_eq!(p.read_rate, Rate(Some((50, Duration::from_secs(1)))));
        let lib = Protection {
            upload_rate: p.upload_rate,
            read_rate: p.read_rate,
            ..Protection::without_rate_limits()
        };
        assert_eq!(format!("{lib:?}"), format!("{p:?}"));
        let tmp = tempfile::tempdir().unwrap();
        let storage = StorageArgs {
            data_dir: tmp.path().join("d"),
            database_url: None,
        };
        let loc = storage.locate(Some("relative-blobs")).unwrap();
        assert!(loc.database_url.starts_with("sqlite:///"));
        assert!(loc.blob_store_url.starts_with("file:///"));
        let loc = storage.locate(None).unwrap();
        assert!(loc.blob_store_url.ends_with("/d/blobs"));
    }

    /// Every flag and argument of every subcommand says what it is for.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ticketbooth", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:#?}");
        // Fraction flags say so.
        let cmd = Cli::command();
        for (sub, flag) in [
            ("search", "min_sparsity"),
            ("search", "max_sparsity"),
            ("search", "min_accuracy"),
            ("search", "max_accuracy"),
            ("upload", "accuracy"),
            ("upload", "dense_accuracy"),
        ] {
            let arg = cmd
                .find_subcommand(sub)
                .and_then(|c| c.get_arguments().find(|a| a.get_id() == flag))
                .unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(
                help.contains("fraction in [0, 1]"),
                "{sub} --{flag}: {help}"
            );
        }
    }

    #[test]
    fn fraction_flags_are_checked_before_any_request() {
        let e = Cli::try_parse_from(["ticketbooth", "search", "--min-accuracy", "97"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("did you mean 0.97?"), "{e}");
        assert!(Cli::try_parse_from(["ticketbooth", "search", "--max-sparsity", "-0.1"]).is_err());
        let cli =
            Cli::try_parse_from(["ticketbooth", "search", "--min-sparsity", "0.9", "--q", "x"])
                .unwrap();
        let Command::Search(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.min_sparsity, args.query.as_deref()),
            (Some(0.9), Some("x"))
        );
    }

    #[test]
    fn locations_are_described_in_words_without_passwords() {
        let sqlite = Locations {
            data_dir: "/srv/tb".into(),
            database_url: "sqlite:///srv/tb/ticketbooth.db".into(),
            blob_store_url: "file:///srv/tb/blobs".into(),
        };
        assert_eq!(
            sqlite.describe(),
            "data dir /srv/tb, index: SQLite at /srv/tb/ticketbooth.db, blobs: local files in /srv/tb/blobs"
        );
        let pg = Locations {
            data_dir: "/d".into(),
            database_url: "postgres://tb:s3cret@db.internal:5432/tickets?sslmode=require".into(),
            blob_store_url: "memory://".into(),
        };
        let text = pg.describe();
        assert_eq!(
            text,
            "data dir /d, index: Postgres database 'tickets' on db.internal:5432 as tb, blobs: in memory (lost when the server stops)"
        );
        assert!(!text.contains("s3cret"));
        assert_eq!(
            describe_blob_store("s3://bucket/prefix")
                .split(" via ")
                .next(),
            Some("S3 at s3://bucket/prefix")
        );
    }

    #[test]
    fn sizes_and_secrets() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("0s").unwrap().as_secs(), 0);
        assert!(parse_duration("soon").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_rate("off").unwrap(), Rate(None));
        assert_eq!(
            parse_rate("60/1h").unwrap(),
            Rate(Some((60, Duration::from_secs(3600))))
        );
        assert_eq!(
            parse_rate(" 5 / 10s ").unwrap(),
            Rate(Some((5, Duration::from_secs(10))))
        );
        for bad in ["60", "0/1s", "-1/1s", "x/1s", "5/soon", "5/0s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
