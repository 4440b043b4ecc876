//! SIGKILL the real server while uploads are mid-body, restart it on the same data dir and
//! database, and check: every ticket acknowledged with 201 is there and downloads with its
//! sha256; every blob row's object exists with the right size; no ticket is partial (each one
//! is byte-for-byte a file that was sent); and the start-up sweep removes what the crash left
//! (staging files, objects whose row never committed). CRASH_ITERATIONS sets the kill count.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use safetensors::Dtype;
use sqlx::Connection;
use tokio::process::{Child, Command};

use crate::common::{
    Backend, fresh_postgres_database, metadata, postgres_configured, safetensors_file, sha256_hex,
};

const WORKERS: usize = 4;
/// Upload sizes, in turn, up to multi-MiB.
const SIZES: [usize; 4] = [4 << 10, 256 << 10, 1 << 20, 3 << 20];
/// Bodies go out in chunks with pauses adding up to this, so that at any moment most uploads
/// are mid-body (their objects begun, not complete).
const BODY_TIME: Duration = Duration::from_millis(200);
const CHUNK: usize = 32 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_sigkill_mid_upload() {
    crash_loop(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_survives_sigkill_mid_upload() {
    if postgres_configured() {
        crash_loop(Backend::Postgres).await;
    }
}

#[derive(Default)]
struct Ledger {
    /// Every upload sent, by ticket name: (sha256, size).
    sent: HashMap<String, (String, u64)>,
    /// Tickets answered with 201: id -> name.
    acknowledged: HashMap<String, String>,
    /// Any answer other than 201 (none is expected: every file sent is valid).
    unexpected: Vec<String>,
    /// Tickets already downloaded and checked.
    checked: HashSet<String>,
}

struct Env {
    dir: tempfile::TempDir,
    database_url: String,
    token: String,
    client: reqwest::Client,
}

async fn crash_loop(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let iterations: usize = std::env::var("CRASH_ITERATIONS")
        .ok()
        .map(|v| v.parse().expect("CRASH_ITERATIONS is a number"))
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let database_url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            dir.path().join("data/ticketbooth.db").display()
        ),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let token = create_token(dir.path(), &database_url);
    let env = Env {
        dir,
        database_url,
        token,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    };
    ticket_file(0, SIZES[0]); // builds the base files before the clock starts
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counter = Arc::new(AtomicUsize::new(0));
    let mut leftovers = 0;
    for round in 0..iterations {
        let mut server = Server::start(&env, round).await;
        check(&env, &server, &ledger, false).await;

        let in_flight = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                tokio::spawn(worker(
                    env.client.clone(),
                    server.url.clone(),
                    env.token.clone(),
                    ledger.clone(),
                    counter.clone(),
                    in_flight.clone(),
                ))
            })
            .collect();
        // Each round makes progress (an upload acknowledged), then dies at a random moment.
        let acked = ledger.lock().unwrap().acknowledged.len();
        let deadline = Instant::now() + Duration::from_secs(20);
        while ledger.lock().unwrap().acknowledged.len() == acked {
            assert!(
                Instant::now() < deadline,
                "no upload completed\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let delay = getrandom::u64().unwrap() % 600;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let uploading = in_flight.load(Ordering::SeqCst);
        server.kill().await;
        for w in workers {
            tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .expect("uploads end once the server is gone")
                .unwrap();
        }
        assert!(
            uploading > 0,
            "round {round}: no upload was in flight at the kill"
        );
        let found = unreferenced_files(&env).await;
        eprintln!(
            "{backend:?} round {round}: killed {delay} ms after an acknowledgement, with {uploading} uploads in flight; \
             {} acknowledged so far; the crash left {} unreferenced files",
            ledger.lock().unwrap().acknowledged.len(),
            found
        );
        leftovers += found;
    }
    let mut server = Server::start(&env, iterations).await;
    check(&env, &server, &ledger, true).await;
    server.kill().await;
    let ledger = ledger.lock().unwrap();
    assert!(ledger.unexpected.is_empty(), "{:?}", ledger.unexpected);
    assert!(!ledger.acknowledged.is_empty(), "no upload ever completed");
    if iterations >= 3 {
        assert!(
            leftovers > 0,
            "no kill left a partial upload behind: the sweep was not exercised"
        );
    }
}

/// The checks after a restart, with no upload running. `all` re-downloads every ticket.
async fn check(env: &Env, server: &Server, ledger: &Mutex<Ledger>, all: bool) {
    // The start-up sweep (grace 0s here) leaves exactly the objects the blob rows name, each
    // with its row's size: no row without its object, no crash leftover.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows: HashMap<String, u64> = blob_rows(&env.database_url).await.into_iter().collect();
        let files = blob_files(env);
        if rows == files {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = rows
                .iter()
                .filter(|(k, s)| files.get(*k) != Some(s))
                .collect();
            let extra: Vec<_> = files.keys().filter(|k| !rows.contains_key(*k)).collect();
            panic!(
                "blob rows without their object (or of another size): {missing:?}; files not swept: {extra:?}\n{}",
                server.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let tickets = ticket_rows(&env.database_url).await;
    let mut to_download = Vec::new();
    {
        let ledger = ledger.lock().unwrap();
        for (id, name) in &ledger.acknowledged {
            assert!(
                tickets.contains_key(id),
                "acknowledged ticket {id} ({name}) is gone"
            );
        }
        for (id, (name, sha256, size)) in &tickets {
            // Committed but never acknowledged is fine (the kill came before the 201); partial
            // is not: every ticket is exactly one of the files sent.
            let sent = ledger
                .sent
                .get(name)
                .unwrap_or_else(|| panic!("ticket {name} was never sent"));
            assert_eq!((sha256, size), (&sent.0, &sent.1), "ticket {id} ({name})");
            if all || !ledger.checked.contains(id) {
                to_download.push((id.clone(), sha256.clone()));
            }
        }
    }
    let downloads =
        futures_util::stream::iter(to_download.into_iter().map(|(id, sha256)| async move {
            let r = env
                .client
                .get(format!("{}/api/v1/tickets/{id}/file", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "download of {id}");
            let body = r.bytes().await.unwrap();
            assert_eq!(
                sha256_hex(&body),
                sha256,
                "ticket {id} downloads other bytes"
            );
            id
        }))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    ledger.lock().unwrap().checked.extend(downloads);
}

/// Uploads distinct valid tickets until the server goes away.
async fn worker(
    client: reqwest::Client,
    url: String,
    token: String,
    ledger: Arc<Mutex<Ledger>>,
    counter: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
) {
    loop {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("crash-{n}");
        let file = ticket_file(n, SIZES[n % SIZES.len()]);
        let size = file.len() as u64;
        // Hashed while it uploads (a debug build hashes slowly), recorded whatever the outcome:
        // the row may have committed even if the answer never came.
        let hashing = tokio::task::spawn_blocking({
            let file = file.clone();
            move || sha256_hex(&file)
        });
        in_flight.fetch_add(1, Ordering::SeqCst);
        let sent = upload(&client, &url, &token, &name, file).await;
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let sha256 = hashing.await.unwrap();
        ledger
            .lock()
            .unwrap()
            .sent
            .insert(name.clone(), (sha256, size));
        let Ok((status, body)) = sent else {
            return; // the server was killed
        };
        let mut ledger = ledger.lock().unwrap();
        match (status, body["id"].as_str()) {
            (201, Some(id)) => {
                ledger.acknowledged.insert(id.to_owned(), name);
            }
            _ => ledger.unexpected.push(format!("{name}: {status} {body}")),
        }
    }
}

async fn upload(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    file: Vec<u8>,
) -> reqwest::Result<(u16, serde_json::Value)> {
    let len = file.len() as u64;
    let chunks: Vec<Bytes> = file.chunks(CHUNK).map(Bytes::copy_from_slice).collect();
    let pause = BODY_TIME / chunks.len() as u32;
    let body = futures_util::stream::iter(chunks).then(move |chunk| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(chunk)
    });
    let form = reqwest::multipart::Form::new()
        .text("metadata", metadata(name).to_string())
        .part(
            "file",
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), len)
                .file_name("t.safetensors"),
        );
    let r = client
        .post(format!("{url}/api/v1/tickets"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    let status = r.status().as_u16();
    let body = r.json().await?;
    Ok((status, body))
}

/// A valid ticket with `size` bytes of tensor data, distinct for each `n`: one base file per
/// size (built once; a debug build is slow to build 5 MiB value by value), with `n` written
/// over its first weight.
fn ticket_file(n: usize, size: usize) -> Vec<u8> {
    static BASES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    let bases = BASES.get_or_init(|| {
        SIZES
            .iter()
            .map(|&size| {
                let count = size / 4;
                let data: Vec<u8> = (0..count)
                    .flat_map(|i| {
                        let x = if i % 2 == 0 {
                            0.0
                        } else {
                            (i % 1000) as f32 + 1.0
                        };
                        x.to_le_bytes()
                    })
                    .collect();
                safetensors_file(
                    &[("fc.weight", Dtype::F32, vec![count / 64, 64], data)],
                    &[],
                )
            })
            .collect()
    });
    let base = &bases[SIZES.iter().position(|&s| s == size).unwrap()];
    let mut file = base.clone();
    // The data follows the 8-byte length and the header; its first value is a kept weight.
    let header = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let first = 8 + header + 4;
    file[first..first + 4].copy_from_slice(&(n as f32 + 1.0).to_le_bytes());
    file
}

struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    /// `ticketbooth serve` on the shared data dir and database, ready to answer.
    async fn start(env: &Env, round: usize) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = env.dir.path().join(format!("server-{round}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
            // Rate limits are tested elsewhere; here they would only slow the workers.
            .args([
                "serve",
                // Dump snapshots are objects no blob row names; this test counts upload objects.
                "--dump-interval",
                "off",
                "--gc-grace",
                "0s",
                "--read-rate",
                "off",
                "--upload-rate",
                "off",
            ])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(env.dir.path().join("data"))
            .env("DATABASE_URL", &env.database_url)
            .env_remove("TICKETBOOTH_BLOB_STORE")
            .env_remove("TICKETBOOTH_GC_GRACE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = env
                .client
                .get(format!("{}/readyz", server.url))
                .send()
                .await
                && r.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown handler runs, nothing is flushed or cleaned up.
    async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn create_token(dir: &Path, database_url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
        .args(["token", "create", "--name", "crasher", "--data-dir"])
        .arg(dir.join("data"))
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Every file under the blob root (staging files included), by key, with its size.
fn blob_files(env: &Env) -> HashMap<String, u64> {
    let root = env.dir.path().join("data/blobs");
    let mut out = HashMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                let key = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(key, meta.len());
            }
        }
    }
    out
}

/// Files no blob row names (staging files, objects whose row never committed).
async fn unreferenced_files(env: &Env) -> usize {
    let rows: HashSet<String> = blob_rows(&env.database_url)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    blob_files(env)
        .keys()
        .filter(|k| !rows.contains(*k))
        .count()
}

async fn blob_rows(database_url: &str) -> Vec<(String, u64)> {
    let sql = "SELECT object_key, size_bytes FROM blobs";
    let rows: Vec<(String, i64)> = if database_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    };
    rows.into_iter().map(|(k, s)| (k, s as u64)).collect()
}

/// id -> (name, sha256, size).
async fn ticket_rows(database_url: &str) -> HashMap<String, (String, String, u64)> {
    let sql = "SELECT id, name, sha256, size_bytes FROM tickets";
    let rows: Vec<(String, String, String, i64)> = if database_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    };
    rows.into_iter()
        .map(|(id, name, sha, size)| (id, (name, sha, size as u64)))
        .collect()
}
