//! A database outage under steady load. The server reaches Postgres through a loopback TCP
//! proxy this test controls (the shared Postgres itself is never stopped): the proxy first cuts
//! every connection and drops new ones, then swallows new ones without answering, then comes
//! back. Throughout, requests get 200 or a quick 503 JSON, never a hang or a 500; /readyz says
//! so; the server recovers by itself and no acknowledged ticket is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};

use crate::common::{Response, TestServer, fresh_postgres_database, metadata, small_ticket};
use crate::rejections::assert_nothing_stored_beyond;

/// How long the pool waits for a connection (src/index/postgres.rs), plus slack for a loaded
/// 2-core machine: no request may take longer than this during the outage.
const ACQUIRE_BOUND: Duration = Duration::from_millis(5000 + 2000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward to Postgres.
    Up,
    /// Sever every open connection; accept new ones and close them at once.
    Cut,
    /// Accept new connections and never answer (a network black hole).
    Silent,
}

struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Up);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut rx = modes.subscribe();
                let now = *rx.borrow_and_update();
                tokio::spawn(async move {
                    match now {
                        Mode::Cut => drop(client),
                        Mode::Silent => {
                            let _ = rx.wait_for(|m| *m != Mode::Silent).await;
                        }
                        Mode::Up => {
                            let Ok(mut server) = TcpStream::connect(upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = rx.wait_for(|m| *m != Mode::Up) => {}
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

#[derive(Debug)]
struct Sample {
    at: Instant,
    status: u16,
    took: Duration,
    code: Option<String>,
}

/// GETs one ticket every 25 ms until told to stop; every answer is recorded.
fn steady_load(
    srv: &TestServer,
    path: String,
    stop: watch::Receiver<bool>,
) -> Arc<Mutex<Vec<Sample>>> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = srv.api(&path);
    tokio::spawn(async move {
        while !*stop.borrow() {
            let started = Instant::now();
            let r = Response::read(client.get(&url).send().await.unwrap()).await;
            let code = serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|j| j["error"]["code"].as_str().map(str::to_owned));
            out.lock().await.push(Sample {
                at: started,
                status: r.status,
                took: started.elapsed(),
                code,
            });
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_quick_503s_and_recovers_by_itself() {
    if !crate::common::postgres_configured() {
        return;
    }
    let direct = fresh_postgres_database().await;
    let mut url = url::Url::parse(&direct).unwrap();
    let upstream: SocketAddr =
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
            .parse()
            .unwrap();
    let proxy = Proxy::start(upstream).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    let srv = TestServer::builder(crate::common::Backend::Postgres)
        .database_url(url.to_string())
        .start()
        .await;

    // Acknowledged before the outage.
    let before = srv
        .upload(Some(&metadata("before")), Some(small_ticket(1, 2)))
        .await;
    assert_eq!(before.status, 201);
    let id = before.json()["id"].as_str().unwrap().to_owned();
    let (stop, stopped) = watch::channel(false);
    let samples = steady_load(&srv, format!("/tickets/{id}"), stopped);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Phase 1: connections cut, new ones dropped.
    let cut_at = Instant::now();
    proxy.set(Mode::Cut);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = srv
        .client
        .get(format!("{}/readyz", srv.url))
        .send()
        .await
        .unwrap();
    let ready = Response::read(ready).await;
    ready.assert_error(503, "unavailable", None);
    assert!(!String::from_utf8_lossy(&ready.body).contains("127.0.0.1"));
    // An upload during the outage is refused and leaves nothing behind.
    let during = srv
        .upload(Some(&metadata("during")), Some(small_ticket(2, 2)))
        .await;
    during.assert_error(503, "unavailable", None);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Phase 2: connections swallowed: each wait ends at the pool's acquire timeout.
    let silent_at = Instant::now();
    proxy.set(Mode::Silent);
    let started = Instant::now();
    let r = Response::read(
        srv.client
            .get(format!("{}/readyz", srv.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(503, "unavailable", None);
    assert!(
        started.elapsed() <= ACQUIRE_BOUND,
        "readyz took {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Back up: the server recovers with no restart.
    let restored_at = Instant::now();
    proxy.set(Mode::Up);
    let mut recovered = None;
    while restored_at.elapsed() < Duration::from_secs(20) {
        let r = srv
            .client
            .get(format!("{}/readyz", srv.url))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            recovered = Some(restored_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = recovered.expect("the server did not recover within 20 s of the database");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send_replace(true);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let samples = samples.lock().await;
    let outage: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= cut_at + Duration::from_millis(50) && s.at + s.took < restored_at)
        .collect();
    let cut: Vec<&&Sample> = outage.iter().filter(|s| s.at < silent_at).collect();
    assert!(
        cut.len() >= 10,
        "too few requests during the cut: {}",
        cut.len()
    );
    for s in &outage {
        assert!(
            s.status == 503 && s.code.as_deref() == Some("unavailable"),
            "during the outage: {s:?}"
        );
        assert!(s.took <= ACQUIRE_BOUND, "a request hung: {s:?}");
    }
    // A cut connection fails fast, not at the timeout.
    let slowest_cut = cut.iter().map(|s| s.took).max().unwrap();
    assert!(
        slowest_cut < Duration::from_secs(2),
        "slowest 503 while cut: {slowest_cut:?}"
    );
    let silent: Vec<&&Sample> = outage.iter().filter(|s| s.at >= silent_at).collect();
    assert!(
        !silent.is_empty(),
        "no request ran while connections were swallowed"
    );
    let slowest_silent = silent.iter().map(|s| s.took).max().unwrap();
    eprintln!(
        "outage: {} requests while cut (slowest {slowest_cut:?}), {} while silent (slowest {slowest_silent:?})",
        cut.len(),
        silent.len()
    );
    // Never a 500, and 200s again at the end.
    assert!(
        samples.iter().all(|s| s.status == 200 || s.status == 503),
        "{samples:?}"
    );
    assert_eq!(samples.last().unwrap().status, 200);
    drop(samples);

    // Nothing acknowledged was lost; nothing from the refused upload was kept; uploads work.
    let r = srv.get(&format!("/tickets/{id}")).await;
    assert_eq!(r.status, 200);
    assert_nothing_stored_beyond(&srv, 1).await;
    let after = srv
        .upload(Some(&metadata("after")), Some(small_ticket(3, 2)))
        .await;
    assert_eq!(after.status, 201);
    eprintln!("recovered {recovered:?} after the database came back");
}
