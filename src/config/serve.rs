//! `serve`'s flags: where to listen, the upload cap, and the protection (timeouts, caps and
//! rate limits) that keeps one client from exhausting the server.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::parse_duration;
use super::storage::StorageArgs;

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub accounts: super::accounts::AccountArgs,
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
    /// How often the open-data dump (`GET /api/v1/dump`) is refreshed (`1h`, `30m`), the first
    /// time at start-up; `off` leaves it to `ticketbooth dump`.
    #[arg(long, env = "TICKETBOOTH_DUMP_INTERVAL", default_value = "1h", value_parser = parse_interval)]
    pub dump_interval: Interval,
}

/// A period, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Option<Duration>);

fn parse_interval(s: &str) -> Result<Interval, String> {
    if s.trim() == "off" {
        return Ok(Interval(None));
    }
    let every = parse_duration(s)?;
    if every.is_zero() {
        return Err("must be longer than zero, or off".into());
    }
    Ok(Interval(Some(every)))
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
    /// Results reported per user (`POST /api/v1/tickets/{id}/results`), as `COUNT/PERIOD`, or
    /// `off`; apart from uploads. Past it: 429 with Retry-After.
    #[arg(long, env = "TICKETBOOTH_RESULT_RATE", default_value = "120/1h", value_parser = parse_rate)]
    pub result_rate: Rate,
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
    /// Mask comparisons (`GET /api/v1/compare`) computed at once; each reads both files once.
    /// More get 503 with Retry-After (cached answers are not counted).
    #[arg(long, env = "TICKETBOOTH_MAX_CONCURRENT_COMPARES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_compares: u32,
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
            result_rate: Rate(None),
            read_rate: Rate(None),
            behind_proxy: false,
            max_uploads_per_user: 4,
            statement_timeout: Duration::from_secs(5),
            max_tokens_per_user: 100,
            max_concurrent_compares: 2,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::storage::redact_url;

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
