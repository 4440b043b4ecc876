//! The fixture every conformance test uses: a real server on a port-0 loopback listener, with
//! its own data dir and its own fresh database (a SQLite file, or a new Postgres database
//! created from TEST_DATABASE_URL), plus small request and file helpers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};
use sqlx::Connection;
use tempfile::TempDir;

use ticketbooth::config::storage::{Locations, StorageArgs};
use ticketbooth::domain::tokens;
use ticketbooth::http::limits::Protection;
use ticketbooth::ingest::pipeline::UploadLimits;
use ticketbooth::{AppState, server};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the listed tests once per backend: `mod sqlite` always, `mod postgres` when
/// TEST_DATABASE_URL is set (required under CI=true).
macro_rules! conformance {
    ($(async fn $name:ident($srv:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $srv = $crate::common::TestServer::start($crate::common::Backend::Sqlite).await;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::common::postgres_configured() {
                        return;
                    }
                    let $srv = $crate::common::TestServer::start($crate::common::Backend::Postgres).await;
                    $body
                }
            )*
        }
    };
}
pub(crate) use conformance;

/// Runs one scenario (an async fn taking the backend) as two tests, one per backend.
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $scenario(Backend::Sqlite).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            if crate::common::postgres_configured() {
                $scenario(Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use on_both_backends;

/// Whether Postgres tests should run. Under CI=true a missing TEST_DATABASE_URL is a failure.
pub fn postgres_configured() -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but TEST_DATABASE_URL is not set: the Postgres conformance run cannot be skipped"
        );
    }
    eprintln!("skipping the Postgres run: TEST_DATABASE_URL is not set");
    false
}

pub struct TestServer {
    pub backend: Backend,
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub locations: Locations,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(
            backend,
            UploadLimits {
                max_file_bytes: 64 << 20,
            },
        )
        .await
    }

    pub async fn start_with(backend: Backend, limits: UploadLimits) -> Self {
        Self::start_on(backend, limits, None).await
    }

    /// A server whose blobs go to `blob_store` (an `s3://` URL, say) instead of its data dir.
    pub async fn start_on(
        backend: Backend,
        limits: UploadLimits,
        blob_store: Option<&str>,
    ) -> Self {
        Self::start_full(backend, limits, blob_store, false).await
    }

    /// Everything configurable: also whether downloads redirect to presigned URLs.
    pub async fn start_full(
        backend: Backend,
        limits: UploadLimits,
        blob_store: Option<&str>,
        download_redirect: bool,
    ) -> Self {
        Self::start_guarded(
            backend,
            limits,
            blob_store,
            download_redirect,
            Protection::without_rate_limits(),
            None,
        )
        .await
    }

    /// A Postgres-backed server reaching its database at `database_url` (through a proxy, say).
    pub async fn start_on_postgres(database_url: String) -> Self {
        Self::start_guarded(
            Backend::Postgres,
            UploadLimits {
                max_file_bytes: 64 << 20,
            },
            None,
            false,
            Protection::without_rate_limits(),
            Some(database_url),
        )
        .await
    }

    /// A server with the given timeouts, upload cap and rate limits.
    pub async fn start_protected(backend: Backend, protection: Protection) -> Self {
        Self::start_guarded(
            backend,
            UploadLimits {
                max_file_bytes: 64 << 20,
            },
            None,
            false,
            protection,
            None,
        )
        .await
    }

    async fn start_guarded(
        backend: Backend,
        limits: UploadLimits,
        blob_store: Option<&str>,
        download_redirect: bool,
        protection: Protection,
        database_url: Option<String>,
    ) -> Self {
        // reqwest is built without a default TLS provider (the CLI installs ring); so do tests.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let database_url = match (backend, database_url) {
            (_, Some(url)) => Some(url),
            (Backend::Sqlite, None) => None,
            (Backend::Postgres, None) => Some(fresh_postgres_database().await),
        };
        let storage = StorageArgs {
            data_dir: dir.path().join("data"),
            database_url,
        };
        let locations = storage.locate(blob_store).unwrap();
        let token = tokens::generate().unwrap();
        let mut server = Self::serve(
            backend,
            locations,
            limits,
            dir,
            download_redirect,
            protection,
        )
        .await;
        server
            .state
            .index
            .create_token("alice", &tokens::hash(&token))
            .await
            .unwrap();
        server.token = token;
        server
    }

    /// Another replica: its own process state and port, the same database and blob store.
    pub async fn replica(&self) -> Self {
        let limits = self.state.limits;
        let mut server = Self::serve(
            self.backend,
            self.locations.clone(),
            limits,
            tempfile::tempdir().unwrap(),
            self.state.download_redirect,
            self.state.guards.protection.clone(),
        )
        .await;
        server.token = self.token.clone();
        server
    }

    async fn serve(
        backend: Backend,
        locations: Locations,
        limits: UploadLimits,
        dir: TempDir,
        download_redirect: bool,
        protection: Protection,
    ) -> Self {
        let mut state = server::open_state(&locations, limits, protection)
            .await
            .unwrap();
        state.download_redirect = download_redirect;
        let token = String::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let serving = state.clone();
        tokio::spawn(async move {
            server::serve_on(listener, serving, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            backend,
            url,
            token,
            client: reqwest::Client::new(),
            locations,
            state,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// Another user's token on the same server.
    pub async fn token_for(&self, user: &str) -> String {
        let token = tokens::generate().unwrap();
        self.state
            .index
            .create_token(user, &tokens::hash(&token))
            .await
            .unwrap();
        token
    }

    pub async fn upload(&self, metadata: Option<&Value>, file: Option<Vec<u8>>) -> Response {
        self.upload_as(&self.token, metadata, file).await
    }

    pub async fn upload_as(
        &self,
        token: &str,
        metadata: Option<&Value>,
        file: Option<Vec<u8>>,
    ) -> Response {
        let mut form = reqwest::multipart::Form::new();
        if let Some(m) = metadata {
            form = form.text("metadata", m.to_string());
        }
        if let Some(f) = file {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(f).file_name("t.safetensors"),
            );
        }
        let r = self
            .client
            .post(self.api("/tickets"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        Response::read(r).await
    }

    pub async fn get(&self, path: &str) -> Response {
        Response::read(self.client.get(self.api(path)).send().await.unwrap()).await
    }

    /// Rows in the tickets table, read straight from the database.
    pub async fn ticket_rows(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM tickets";
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.locations.database_url)
                    .await
                    .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.locations.database_url)
                    .await
                    .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
        }
    }

    /// Every file under the blob directory, staging files included.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let root = PathBuf::from(
            self.locations
                .blob_store_url
                .strip_prefix("file://")
                .unwrap(),
        );
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p)
                } else {
                    out.push(p)
                }
            }
        }
        out
    }

    /// Waits (bounded) until the blob store holds exactly `n` files: cleanup after a
    /// cancelled upload runs in the background.
    pub async fn expect_blob_files(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let files = self.blob_files();
            if files.len() == n {
                return;
            }
            if Instant::now() > deadline {
                panic!("expected {n} blob files, found {files:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A new, empty Postgres database for one test.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = format!("tbt_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    url.to_string()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub async fn read(r: reqwest::Response) -> Self {
        Response {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Asserts a JSON error with this status, code and field.
    pub fn assert_error(&self, status: u16, code: &str, field: Option<&str>) -> String {
        let body = self.json();
        assert_eq!(self.status, status, "body: {body}");
        assert_eq!(body["error"]["code"], code, "body: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "body: {body}");
        body["error"]["message"].as_str().unwrap().to_owned()
    }
}

pub fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "task": "image-classification",
        "dataset": "cifar10",
        "architecture": "resnet20",
        "pruning_method": "imp-rewind",
        "accuracy": 0.912
    })
}

/// A safetensors file from (name, dtype, shape, bytes), written by the reference crate.
pub fn safetensors_file(
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    meta: &[(&str, &str)],
) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, (!meta.is_empty()).then_some(meta)).unwrap()
}

pub fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small ticket: a 16x16 weight with every `keep_every`-th entry nonzero, and a bias.
/// `seed` varies the content so tests can make distinct or identical files at will.
pub fn small_ticket(seed: u32, keep_every: usize) -> Vec<u8> {
    let w = f32_bytes((0..256).map(|i| {
        if i % keep_every == 0 {
            (i as f32) + seed as f32 + 1.0
        } else {
            0.0
        }
    }));
    safetensors_file(
        &[
            ("fc.weight", Dtype::F32, vec![16, 16], w),
            (
                "fc.bias",
                Dtype::F32,
                vec![16],
                f32_bytes((0..16).map(|i| i as f32)),
            ),
        ],
        &[],
    )
}

/// A raw safetensors file from a header string and data, for malformed cases.
pub fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
