//! Limits that keep one client from exhausting the server: a deadline and a concurrency cap
//! for uploads (tower layers), an idle timeout for request bodies (tower-http), and rate limits
//! per user for uploads and per client address for anonymous reads (governor's GCRA).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::BoxError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use super::Authenticated;
use super::auth::{authenticate, bearer};
pub use crate::config::serve::Protection;
use crate::error::{ApiError, Code};

/// The shared state behind the limits: one per server process.
pub struct Guards {
    pub protection: Protection,
    /// Upload slots of the whole server, taken only once the uploader is authenticated.
    pub upload_slots: Arc<Semaphore>,
    /// Slots held per user, so one account cannot take them all.
    uploads_by_user: Arc<Mutex<HashMap<i64, u32>>>,
    uploads: Option<Limiter<i64>>,
    results: Option<Limiter<i64>>,
    reads: Option<Limiter<IpAddr>>,
    /// Which client has been counted as downloading which ticket lately.
    pub downloads: DownloadLedger,
}

/// Who is downloading, for counting each client once: the user when the request carries a
/// live token, else the address the rate limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    User(i64),
    Address(IpAddr),
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Authenticated>() {
            return Ok(Client::User(caller.user.id));
        }
        if let Some(caller) = caller(state, &parts.headers).await {
            return Ok(Client::User(caller.user.id));
        }
        Ok(Client::Address(address(
            state,
            &parts.headers,
            &parts.extensions,
        )))
    }
}

/// A download counts once per client and ticket per [`DownloadLedger::WINDOW`]: refreshing a
/// page, or a script fetching in a loop, does not inflate the count. Per server process.
#[derive(Default)]
pub struct DownloadLedger {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    at: HashMap<(Client, String), Instant>,
    /// When expired entries were last forgotten: at most once a minute, so a full ledger does
    /// not cost a sweep of every entry on every download.
    pruned: Option<Instant>,
}

impl DownloadLedger {
    pub const WINDOW: Duration = Duration::from_secs(3600);
    /// Entries kept at most. When full even after forgetting old ones, nothing more is
    /// counted until room frees up: the count may run low, memory never runs away.
    pub const CAPACITY: usize = 200_000;

    /// Whether this completed download is the client's first of the ticket in the window
    /// (and so should be counted); records it.
    pub fn first_in_window(&self, client: Client, ticket: &str, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let key = (client, ticket.to_owned());
        if let Some(at) = seen.at.get(&key)
            && now.duration_since(*at) < Self::WINDOW
        {
            return false;
        }
        if seen.at.len() >= Self::CAPACITY && !seen.at.contains_key(&key) {
            let due = seen
                .pruned
                .is_none_or(|p| now.duration_since(p) >= Duration::from_secs(60));
            if due {
                seen.at
                    .retain(|_, at| now.duration_since(*at) < Self::WINDOW);
                seen.pruned = Some(now);
            }
            if seen.at.len() >= Self::CAPACITY {
                return false;
            }
        }
        seen.at.insert(key, now);
        true
    }
}

/// One upload's slot: released (for the server and for its user) when dropped.
pub struct UploadSlot {
    _permit: OwnedSemaphorePermit,
    user: i64,
    by_user: Arc<Mutex<HashMap<i64, u32>>>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                by_user.remove(&self.user);
            }
        }
    }
}

impl Guards {
    pub fn new(protection: Protection) -> Self {
        Guards {
            upload_slots: Arc::new(Semaphore::new(protection.max_concurrent_uploads as usize)),
            uploads_by_user: Arc::default(),
            uploads: protection.upload_rate.0.map(Limiter::new),
            results: protection.result_rate.0.map(Limiter::new),
            reads: protection.read_rate.0.map(Limiter::new),
            downloads: DownloadLedger::default(),
            protection,
        }
    }

    /// A slot for an upload by `user` (authenticated first, so strangers take none): refused
    /// with 429 past the user's own cap, with 503 when the server's are all taken. Neither
    /// waits: a refused client retries after `Retry-After`.
    pub fn upload_slot(&self, user: i64) -> Result<UploadSlot, ApiError> {
        let mut by_user = self
            .uploads_by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let held = by_user.get(&user).copied().unwrap_or(0);
        let cap = self.protection.max_uploads_per_user;
        if held >= cap {
            return Err(ApiError::busy(
                Code::RateLimited,
                format!(
                    "this account already has {held} uploads in progress, the most one account may run at once; retry when one finishes"
                ),
                Duration::from_secs(5),
            ));
        }
        let permit = self.upload_slots.clone().try_acquire_owned().map_err(|_| {
            ApiError::busy(
                Code::Unavailable,
                "this server is handling as many uploads as it accepts at once; retry shortly",
                Duration::from_secs(5),
            )
        })?;
        *by_user.entry(user).or_default() += 1;
        Ok(UploadSlot {
            _permit: permit,
            user,
            by_user: self.uploads_by_user.clone(),
        })
    }

    /// Counts one upload by `user` against the per-user rate. Keyed by user rather than by
    /// token, so minting more tokens does not buy more uploads.
    pub fn check_upload(&self, user: i64) -> Result<(), ApiError> {
        per_user(&self.uploads, user, "upload")
    }

    /// Counts one reported result by `user` against its own per-user rate.
    pub fn check_result(&self, user: i64) -> Result<(), ApiError> {
        per_user(&self.results, user, "result")
    }
}

fn per_user(limiter: &Option<Limiter<i64>>, user: i64, what: &str) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check(&user).map_err(|wait| {
        ApiError::busy(
            Code::RateLimited,
            format!(
                "{what} rate limit reached for this account; retry in {} s",
                wait.as_secs().max(1)
            ),
            wait,
        )
    })
}

/// A keyed GCRA limiter that forgets idle keys now and then, so memory stays bounded.
struct Limiter<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new((count, period): (u32, Duration)) -> Self {
        let burst = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
        let every = (period / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(every)
            .expect("the period is positive")
            .allow_burst(burst);
        Limiter {
            inner: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Allowed, or how long until the next request would be.
    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.inner.retain_recent();
        }
        self.inner
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The address a request is counted against: the TCP peer, or behind a proxy the last
/// `X-Forwarded-For` entry, which the proxy appended (earlier entries are the client's word).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, behind_proxy: bool) -> IpAddr {
    let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    if behind_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty());
        if let Some(ip) = forwarded.and_then(|v| v.parse().ok()) {
            return ip;
        }
    }
    peer.unwrap_or(unknown)
}

/// The request's live token, if it carries one; an invalid token is no caller (anonymous).
async fn caller(state: &AppState, headers: &HeaderMap) -> Option<Authenticated> {
    authenticate(state, bearer(headers)?).await.ok()
}

/// The address an anonymous request is counted against (see [`client_ip`]).
fn address(state: &AppState, headers: &HeaderMap, extensions: &axum::http::Extensions) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    client_ip(peer, headers, state.guards.protection.behind_proxy)
}

/// Probes and scrapes are never throttled.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Middleware: the per-address limit on anonymous requests (any method). A request with a
/// valid token is not anonymous and is not counted; an invalid token counts like none.
pub async fn limit_reads(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Every method counts: made-up methods and failed writes cost the server too.
    let path = request.uri().path();
    let Some(limiter) = state.guards.reads.as_ref().filter(|_| !exempt(path)) else {
        return next.run(request).await;
    };
    if let Some(caller) = caller(&state, request.headers()).await {
        // Handed on, so a handler that needs the caller does not look the token up again.
        request.extensions_mut().insert(caller);
        return next.run(request).await;
    }
    let ip = address(&state, request.headers(), request.extensions());
    match limiter.check(&ip) {
        Ok(()) => next.run(request).await,
        Err(wait) => ApiError::busy(
            Code::RateLimited,
            format!(
                "too many requests from this address; retry in {} s (a token lifts this limit)",
                wait.as_secs().max(1)
            ),
            wait,
        )
        .into_response(),
    }
}

/// What the upload route's deadline layer refuses with.
pub fn upload_refused(error: BoxError, deadline: Duration) -> ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            Code::RequestTimeout,
            format!(
                "the upload took longer than the {} limit",
                humantime::format_duration(deadline)
            ),
        )
    } else {
        ApiError::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_trusted_only_behind_a_proxy_and_only_its_last_hop() {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let peer = Some(ip);
        let spoofed = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_ip(peer, &spoofed, false), ip);
        assert_eq!(
            client_ip(peer, &spoofed, true),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // Two headers: the proxy's entry is the last of the last.
        let two = headers(&["6.6.6.6", "198.51.100.2"]);
        assert_eq!(
            client_ip(peer, &two, true),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        // Garbage or nothing: the peer.
        assert_eq!(client_ip(peer, &headers(&["nonsense"]), true), ip);
        assert_eq!(client_ip(peer, &HeaderMap::new(), true), ip);
    }

    #[test]
    fn limiter_allows_a_burst_then_says_how_long_to_wait() {
        let limiter = Limiter::new((3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert!(limiter.check(&1).is_ok());
        }
        let wait = limiter.check(&1).unwrap_err();
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20));
        // Keys are independent.
        assert!(limiter.check(&2).is_ok());
    }

    #[test]
    fn upload_slots_are_capped_per_user_then_per_server() {
        let guards = Guards::new(Protection {
            max_concurrent_uploads: 3,
            max_uploads_per_user: 2,
            ..Protection::without_rate_limits()
        });
        let a1 = guards.upload_slot(1).unwrap();
        let _a2 = guards.upload_slot(1).unwrap();
        assert_eq!(
            guards.upload_slot(1).err().unwrap().code(),
            Code::RateLimited
        );
        let _b1 = guards.upload_slot(2).unwrap();
        // The server's three are taken: user 3 waits for one, with a 503.
        assert_eq!(
            guards.upload_slot(3).err().unwrap().code(),
            Code::Unavailable
        );
        drop(a1);
        let _c1 = guards.upload_slot(3).unwrap();
        assert_eq!(guards.upload_slots.available_permits(), 0);
        assert_eq!(
            *guards.uploads_by_user.lock().unwrap(),
            HashMap::from([(1, 1), (2, 1), (3, 1)])
        );
    }

    #[test]
    fn a_download_counts_once_per_client_and_ticket_per_window() {
        let ledger = DownloadLedger::default();
        let t0 = Instant::now();
        let alice = Client::User(1);
        let addr = Client::Address("192.0.2.1".parse().unwrap());
        assert!(ledger.first_in_window(alice.clone(), "t", t0));
        assert!(!ledger.first_in_window(alice.clone(), "t", t0 + Duration::from_secs(3599)));
        assert!(ledger.first_in_window(alice.clone(), "other", t0));
        assert!(ledger.first_in_window(addr.clone(), "t", t0));
        assert!(ledger.first_in_window(alice, "t", t0 + DownloadLedger::WINDOW));
        assert!(!ledger.first_in_window(addr, "t", t0 + Duration::from_secs(1)));
    }

    #[test]
    fn a_full_ledger_counts_nothing_new_until_entries_expire() {
        let ledger = DownloadLedger::default();
        let t0 = Instant::now();
        for i in 0..DownloadLedger::CAPACITY {
            assert!(ledger.first_in_window(Client::User(i as i64), "t", t0));
        }
        let newcomer = Client::User(-1);
        assert!(!ledger.first_in_window(newcomer.clone(), "t", t0));
        // Once the window has passed, the next download sweeps the expired entries out.
        let later = t0 + DownloadLedger::WINDOW + Duration::from_secs(1);
        assert!(ledger.first_in_window(newcomer, "t", later));
        assert_eq!(ledger.seen.lock().unwrap().at.len(), 1);
    }

    #[test]
    fn refusals_map_to_408() {
        let late = upload_refused(
            Box::new(tower::timeout::error::Elapsed::new()),
            Duration::from_secs(90),
        );
        assert_eq!(late.code(), Code::RequestTimeout);
        assert!(late.to_string().contains("1m 30s"));
    }
}
