//! The web page: a few static files, embedded in the binary so it runs from anywhere, and
//! real page URLs that all load the same client. The client speaks only the public API.

use axum::extract::Path;
use axum::http::Uri;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The page loads only its own files and talks only to its own API. Inline `style` attributes
/// draw the bars; no inline script runs. Descriptions are sanitized HTML from the server.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../static/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// The files under `/static/`: name, content type, content. `app.js` routes to one module per
/// page (`pages/`); `ui.js` is what the pages share, `lib.js` their pure logic.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("../../static/app.js")),
    ("ui.js", JS, include_str!("../../static/ui.js")),
    ("lib.js", JS, include_str!("../../static/lib.js")),
    (
        "pages/home.js",
        JS,
        include_str!("../../static/pages/home.js"),
    ),
    (
        "pages/search.js",
        JS,
        include_str!("../../static/pages/search.js"),
    ),
    (
        "pages/ticket.js",
        JS,
        include_str!("../../static/pages/ticket.js"),
    ),
    (
        "pages/frontier.js",
        JS,
        include_str!("../../static/pages/frontier.js"),
    ),
    (
        "pages/transfer.js",
        JS,
        include_str!("../../static/pages/transfer.js"),
    ),
    (
        "pages/compare.js",
        JS,
        include_str!("../../static/pages/compare.js"),
    ),
    (
        "pages/upload.js",
        JS,
        include_str!("../../static/pages/upload.js"),
    ),
    (
        "pages/signup.js",
        JS,
        include_str!("../../static/pages/signup.js"),
    ),
    (
        "pages/account.js",
        JS,
        include_str!("../../static/pages/account.js"),
    ),
    (
        "pages/owner.js",
        JS,
        include_str!("../../static/pages/owner.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../static/favicon.svg"),
    ),
];

/// `/static/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    serve(&name)
}

/// `/static/pages/{name}`: the page modules.
pub async fn page_module(Path(name): Path<String>) -> Response {
    serve(&format!("pages/{name}"))
}

/// A file of [`ASSETS`] by its exact name; anything else is a JSON 404 (names are looked up,
/// never joined to a path, so nothing outside the table can be reached).
fn serve(name: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found(format!("no static file '{name}'")).into_response();
    };
    // Small files, revalidated on each load, so a new server version shows at once.
    (
        [(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "no-cache")],
        *body,
    )
        .into_response()
}

/// Page URLs get the client; anything else (unknown `/api/...` paths included) is a JSON 404.
pub async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    let is_page = path == "/"
        || [
            "/search",
            "/upload",
            "/frontier",
            "/transfer",
            "/compare",
            "/account",
            "/signup",
        ]
        .contains(&path)
        || ["/tickets/", "/tasks/", "/owners/"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
    if is_page {
        (
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CACHE_CONTROL, "no-cache"),
                (CONTENT_SECURITY_POLICY, PAGE_CSP),
            ],
            INDEX_HTML,
        )
            .into_response()
    } else {
        ApiError::not_found("no such route").into_response()
    }
}
