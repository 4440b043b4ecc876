//! The server under test: a real server on a port-0 loopback listener, with its own data dir
//! and its own fresh database, set up by [`TestServer::builder`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use ticketbooth::AppState;
use ticketbooth::config::storage::{Locations, StorageArgs};
use ticketbooth::domain::tokens;
use ticketbooth::http::limits::Protection;
use ticketbooth::http::server;
use ticketbooth::http::session::AccountSettings;
use ticketbooth::ingest::pipeline::UploadLimits;
use ticketbooth::oidc::{ProviderConfig, Providers};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Backend, Response};

pub struct TestServer {
    pub backend: Backend,
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub locations: Locations,
    pub state: AppState,
    /// The sign-in providers it offers (`TestServerBuilder::sign_in`).
    providers: Vec<ProviderConfig>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

/// How a [`TestServer`] is set up; every setting has the default [`TestServer::start`] uses.
pub struct TestServerBuilder {
    backend: Backend,
    limits: UploadLimits,
    blob_store: Option<String>,
    download_redirect: bool,
    protection: Protection,
    database_url: Option<String>,
    providers: Vec<ProviderConfig>,
}

impl TestServerBuilder {
    /// The upload limits (64 MiB files by default).
    pub fn limits(mut self, limits: UploadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Blobs go to `url` (an `s3://` URL, say) instead of the data dir.
    pub fn blob_store(mut self, url: &str) -> Self {
        self.blob_store = Some(url.to_owned());
        self
    }

    /// Whether downloads redirect to presigned URLs (`--download-redirect`).
    pub fn redirect(mut self, on: bool) -> Self {
        self.download_redirect = on;
        self
    }

    /// The timeouts, upload cap and rate limits (none of the rate limits by default).
    pub fn protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// A Postgres-backed server reaching its database at `url` (through a proxy, say), instead
    /// of a fresh database of its own.
    pub fn database_url(mut self, url: String) -> Self {
        self.database_url = Some(url);
        self
    }

    /// Offers sign-in with these OpenID Connect providers (`common::oidc::test_providers`),
    /// with the server's own URL as its public URL.
    pub fn sign_in(mut self, providers: Vec<ProviderConfig>) -> Self {
        self.providers = providers;
        self
    }

    /// Opens the state, serves it on a port-0 listener and gives alice a token.
    pub async fn start(self) -> TestServer {
        // reqwest is built without a default TLS provider (the CLI installs ring); so do tests.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let database_url = match (self.backend, self.database_url) {
            (_, Some(url)) => Some(url),
            (Backend::Sqlite, None) => None,
            (Backend::Postgres, None) => Some(fresh_postgres_database().await),
        };
        let storage = StorageArgs {
            data_dir: dir.path().join("data"),
            database_url,
        };
        let locations = storage.locate(self.blob_store.as_deref()).unwrap();
        let token = tokens::generate().unwrap();
        let mut server = TestServer::serve(
            self.backend,
            locations,
            self.limits,
            dir,
            self.download_redirect,
            self.protection,
            self.providers,
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
}

impl TestServer {
    /// The common case: default limits, blobs in the data dir, no rate limits.
    pub async fn start(backend: Backend) -> Self {
        Self::builder(backend).start().await
    }

    /// A server configured step by step, then [`TestServerBuilder::start`]ed.
    pub fn builder(backend: Backend) -> TestServerBuilder {
        TestServerBuilder {
            backend,
            limits: UploadLimits {
                max_file_bytes: 64 << 20,
            },
            blob_store: None,
            download_redirect: false,
            protection: Protection::without_rate_limits(),
            database_url: None,
            providers: Vec::new(),
        }
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
            self.providers.clone(),
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
        providers: Vec<ProviderConfig>,
    ) -> Self {
        let mut state = server::open_state(&locations, limits, protection)
            .await
            .unwrap();
        state.download_redirect = download_redirect;
        let token = String::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        if !providers.is_empty() {
            let mut accounts = AccountSettings::disabled();
            accounts.providers =
                Providers::new(providers.clone(), url::Url::parse(&url).unwrap()).unwrap();
            state.accounts = std::sync::Arc::new(accounts);
        }
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
            providers,
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

    /// Runs statements straight on this server's database (to stage what the API cannot, such
    /// as a row from before a migration).
    pub async fn exec(&self, statements: &[&str]) {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.locations.database_url)
                    .await
                    .unwrap();
                for s in statements {
                    sqlx::query(sqlx::AssertSqlSafe(*s))
                        .execute(&mut c)
                        .await
                        .unwrap();
                }
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.locations.database_url)
                    .await
                    .unwrap();
                for s in statements {
                    sqlx::query(sqlx::AssertSqlSafe(*s))
                        .execute(&mut c)
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// Rows in the tickets table, read straight from the database.
    pub async fn ticket_rows(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM tickets").await
    }

    /// A `SELECT COUNT(*) ...` read straight from the database.
    pub async fn count(&self, sql: &'static str) -> i64 {
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
