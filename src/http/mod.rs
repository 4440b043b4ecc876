//! The HTTP surface. Handlers are thin: parse, authorize, call the domain, shape the reply.

mod account;
mod auth;
mod files;
pub mod head_limits;
mod health;
pub mod limits;
mod masks;
mod matching;
pub mod metrics;
pub mod openapi;
mod orgs;
mod pages;
mod results;
mod schemas;
mod search;
pub mod server;
pub mod session;
mod signin;
mod tickets;
mod tokens;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::blobs::BlobStore;
use crate::error::{ApiError, Code, error_response};
use crate::index::DynIndex;
use crate::ingest::pipeline::UploadLimits;

pub use auth::{Authenticated, Credential};

#[derive(Clone)]
pub struct AppState {
    pub index: DynIndex,
    pub blobs: BlobStore,
    pub limits: UploadLimits,
    /// Answer downloads with a 302 to a presigned URL where the blob store can sign one.
    pub download_redirect: bool,
    /// Timeouts, the upload cap and rate limits, with their shared state.
    pub guards: Arc<limits::Guards>,
    /// Headers read from blobs, comparisons and their slots (`derived`).
    pub derived: Arc<crate::derived::Derived>,
    /// Sign-in providers, cookies and session lifetimes.
    pub accounts: Arc<session::AccountSettings>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application as a router: the seam every test drives.
pub fn app(state: AppState) -> Router {
    let protection = &state.guards.protection;
    let body_idle_timeout = protection.body_idle_timeout;
    let api = api_routes(protection.upload_deadline);
    let routes = Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/auth/{provider}/login", get(signin::login))
        .route("/auth/{provider}/callback", get(signin::callback))
        .route("/static/{name}", get(pages::asset))
        .route("/static/pages/{name}", get(pages::page_module))
        .merge(openapi::docs())
        .fallback(pages::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_reads,
        ))
        .with_state(state);
    with_common_layers(routes, body_idle_timeout)
}

/// `/api/v1`: the REST API.
fn api_routes(deadline: Duration) -> Router<AppState> {
    // The deadline drops the upload (and so its partial blob) however slowly it is being sent.
    // Upload slots are taken inside the handler, once the uploader is authenticated.
    let upload_limits = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |e| async move {
            limits::upload_refused(e, deadline)
        }))
        .timeout(deadline);
    Router::new()
        .route(
            "/tickets",
            get(search::list).post(tickets::upload.layer(upload_limits)),
        )
        .route("/tickets/{id}", get(tickets::show).patch(tickets::edit))
        .route(
            "/tickets/{id}/file",
            get(files::download).head(files::download),
        )
        .route("/tickets/{id}/header", get(masks::header))
        .route(
            "/tickets/{id}/packed",
            get(masks::packed).head(masks::packed),
        )
        .route("/compare", get(masks::compare))
        .route("/tickets/{id}/lineage", get(tickets::lineage))
        .route(
            "/tickets/{id}/results",
            get(results::list_results).post(results::add_result),
        )
        .route("/results/{rid}", delete(results::delete_result))
        .route("/transfer", get(results::transfer_matrix))
        .route(
            "/compatible",
            post(matching::compatible).layer(axum::extract::DefaultBodyLimit::max(
                matching::MAX_COMPATIBLE_BODY,
            )),
        )
        .route("/tickets/{id}/similar", get(matching::similar))
        .route(
            "/dump",
            get(files::download_dump).head(files::download_dump),
        )
        .route("/tickets/{id}/yank", post(tickets::yank))
        .route("/tickets/{id}/unyank", post(tickets::unyank))
        .route("/owners/{owner}/tickets/{name}", get(tickets::show_by_name))
        .route("/tasks", get(search::tasks))
        .route("/facets", get(search::facets))
        .route("/points", get(search::points))
        .route("/frontier", get(search::frontier))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/auth/providers", get(signin::providers))
        .route("/signup", get(signin::show_signup).post(signin::signup))
        .route("/session", delete(account::sign_out))
        .route("/account", get(account::show))
        .route("/account/sessions", delete(account::sign_out_everywhere))
        .route("/account/identities", post(signin::link))
        .route("/account/identities/{id}", delete(account::unlink))
        .route("/orgs", post(orgs::create_org))
        .route("/orgs/{org}/members", get(orgs::members))
        .route(
            "/orgs/{org}/members/{user}",
            put(orgs::set_member).delete(orgs::remove_member),
        )
        .route("/owners/{name}", get(orgs::show_owner))
        .route("/owners/{name}/results", get(orgs::owner_results))
}

/// What every response goes through: JSON errors (also for panics and layer rejections),
/// `nosniff`, a request id on the response and in the request's log span.
fn with_common_layers(routes: Router, body_idle_timeout: Duration) -> Router {
    routes
        // A body that goes quiet this long fails its read; the upload turns that into a 408.
        .layer(RequestBodyTimeoutLayer::new(body_idle_timeout))
        .layer(middleware::from_fn(json_errors))
        .layer(CatchPanicLayer::custom(|_| {
            error_response(Code::Internal, "Internal Server Error", None)
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Anyone may read from any origin (anonymous GETs: no credentials); writes get no CORS
        // headers, so a browser on another origin cannot send them.
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD])
                .allow_headers([axum::http::header::RANGE, axum::http::header::IF_NONE_MATCH])
                .expose_headers([axum::http::header::ETAG, axum::http::header::CONTENT_RANGE]),
        )
        // The application's own limits on the request head, below hyper's, so a refusal is
        // JSON like every other error (hyper answers its own with an empty body).
        .layer(middleware::from_fn(head_limits::limit_heads))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // The path only: no query string, and never a header (tokens stay out of logs).
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(Code::MethodNotAllowed, "method not allowed on this route")
}

/// Errors produced outside our handlers (layers, extractor rejections) get the JSON shape too.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let code = Code::for_status(status);
    let message = match code {
        Code::Internal => "Internal Server Error".to_owned(),
        _ => {
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            if text.is_empty() {
                status.to_string()
            } else {
                text
            }
        }
    };
    let mut out = error_response(code, &message, None);
    *out.status_mut() = status;
    out
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_is_a_json_500_without_internals() {
        let routes = Router::new()
            .route(
                "/boom",
                get(|| async {
                    panic!("secret internal detail");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .route("/fine", get(|| async { "ok" }));
        let service = with_common_layers(routes, Duration::from_secs(30));
        let response = service
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert!(response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
        // The same service keeps serving after the panic.
        let after = service
            .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(after.status(), 200);
    }
}
