//! The fixture every conformance test uses: a real server on a port-0 loopback listener, with
//! its own data dir and its own fresh database (a SQLite file, or a new Postgres database
//! created from TEST_DATABASE_URL), plus small request and file helpers.
//!
//! - `server.rs`: [`TestServer`] and its builder.
//! - `http.rs`: [`Response`] and the metadata tests upload.
//! - `files.rs`: safetensors files, well-formed and not.
//! - `rows.rs`: ticket rows for tests that write straight into the index.
//! - `oidc.rs`: the test OpenID Connect provider and a cookie-keeping browser.

mod files;
mod http;
pub mod oidc;
mod rows;
mod server;

pub use files::{f32_bytes, raw_file, safetensors_file, sha256_hex, small_ticket};
pub use http::{Response, metadata};
pub use rows::ticket_row;
pub use server::{TestServer, fresh_postgres_database};

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
