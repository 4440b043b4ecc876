//! Start-up: open the index and the blob store, bind, serve until a signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

use super::limits::{Guards, Protection};
use super::{AppState, app};
use crate::blobs::BlobStore;
use crate::config::serve::ServeArgs;
use crate::config::storage::Locations;
use crate::index;
use crate::ingest::pipeline::UploadLimits;

/// How long a graceful shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Opens everything the app needs (and applies migrations).
pub async fn open_state(
    locations: &Locations,
    limits: UploadLimits,
    protection: Protection,
) -> anyhow::Result<AppState> {
    let index =
        index::open_serving(&locations.database_url, Some(protection.statement_timeout)).await?;
    render_stored_descriptions(&index).await?;
    Ok(AppState {
        index,
        blobs: BlobStore::from_url(&locations.blob_store_url)?,
        limits,
        download_redirect: false,
        derived: Arc::new(crate::derived::Derived::new(
            protection.max_concurrent_compares as usize,
        )),
        guards: Arc::new(Guards::new(protection)),
        accounts: Arc::new(super::session::AccountSettings::disabled()),
    })
}

/// Renders the descriptions of rows stored before rendered HTML was kept (a one-off after the
/// upgrade; a no-op after it). A description deeper than the cap is shown as escaped text.
async fn render_stored_descriptions(index: &index::DynIndex) -> anyhow::Result<()> {
    loop {
        let batch = index.unrendered_descriptions(200).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let rendered = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|(id, text)| (id, crate::domain::markdown::render_or_escape(&text)))
                .collect::<Vec<_>>()
        })
        .await?;
        for (id, html) in rendered {
            index.set_description_html(&id, &html).await?;
        }
    }
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish.
///
/// hyper directly rather than `axum::serve`, for one setting axum does not expose: a deadline for
/// the request head, so a client trickling header bytes (slowloris) cannot hold a connection open
/// for ever. Bodies have their own idle timeout (`--body-idle-timeout`).
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = state.guards.protection.header_read_timeout;
    let router = app(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Above the application's limits (http::limits), so it answers first, in JSON.
        .max_headers(super::head_limits::HYPER_MAX_HEADERS)
        .max_header_size(super::head_limits::HYPER_MAX_HEAD_BYTES);
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, say: back off instead of spinning, keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        // The peer address feeds the per-address read limit (as axum's ConnectInfo).
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            // A client that vanishes or times out is routine, not an error worth a log line.
            let _ = connection.await;
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let locations = args.storage.locate(args.blob_store.as_deref())?;
    if args.check {
        BlobStore::from_url(&locations.blob_store_url)?;
        anyhow::ensure!(
            locations.database_url.starts_with("postgres")
                || locations.database_url.starts_with("sqlite:"),
            "unsupported database URL (expected postgres:// or sqlite://)"
        );
        let providers = crate::config::accounts::providers_from_env(std::env::vars())?;
        println!(
            "configuration ok: listen on http://{}, {}, max upload {} bytes, {} sign-in provider(s)",
            args.listen,
            locations.describe(),
            args.max_upload_bytes,
            providers.len()
        );
        return Ok(());
    }
    let limits = UploadLimits {
        max_file_bytes: args.max_upload_bytes,
    };
    let mut state = open_state(&locations, limits, args.protection.clone()).await?;
    state.download_redirect = args.download_redirect;
    state.accounts = Arc::new(super::session::AccountSettings::from_args(
        &args.accounts,
        args.listen,
        std::env::vars(),
    )?);
    crate::ops::integrity::spawn_startup_sweep(
        state.index.clone(),
        state.blobs.clone(),
        args.gc_grace,
    );
    if let Some(every) = args.dump_interval.0 {
        crate::ops::dump::spawn_schedule(state.index.clone(), state.blobs.clone(), every);
    }
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(
        "ticketbooth listening on http://{} ({})",
        listener.local_addr()?,
        locations.describe()
    );
    // On a signal, stop accepting and let in-flight requests finish, for a while.
    let signalled = Arc::new(Notify::new());
    let notify = signalled.clone();
    let shutdown = async move {
        shutdown_signal().await;
        notify.notify_one();
    };
    tokio::select! {
        served = serve_on(listener, state, shutdown) => served?,
        () = async {
            signalled.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
