//! The REST contract, generated from the code with utoipa: `GET /api/openapi.json`, browsable at
//! `/api/docs` (Swagger UI vendored into the binary: nothing is fetched at build or run time).
//! Handlers carry their own `#[utoipa::path]`; `schemas.rs` describes what they parse by hand.

use utoipa::OpenApi;

use super::schemas::{
    EditRequest, FilePart, FrontierAccuracy, MetadataInput, Order, Slug, SortKey, StructureFilter,
    UploadForm,
};

/// Check a ticket's file without downloading it.
///
/// The headers a GET would send (`Content-Length`, `ETag`, `Accept-Ranges`, and
/// `Content-Range` for a `Range`), with no body. Not counted as a download.
// Served by the GET handler (`files::download`, which axum also routes HEAD to); this stub only
// describes it, with an operation id of its own.
#[utoipa::path(head, path = "/api/v1/tickets/{id}/file", tag = "tickets", operation_id = "download_head",
    params(("id" = String, Path, description = "The ticket's id"),
        ("Range" = Option<String>, Header, description = "One byte range: bytes=START-END, bytes=START- or bytes=-SUFFIX (bytes, from 0)"),
        ("If-Range" = Option<String>, Header, description = "The ETag the range must still match; otherwise the whole file is described"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client already has (the quoted sha256, or *): 304 when one matches")),
    responses(
        (status = 200, description = "The file exists; its headers, no body",
            headers(("ETag" = String, description = "The quoted sha256"),
                ("Content-Length" = u64, description = "The file's size in bytes"))),
        (status = 206, description = "The headers of a byte range, no body",
            headers(("Content-Range" = String, description = "bytes START-END/SIZE"))),
        (status = 304, description = "Not modified: If-None-Match matched"),
        (status = 404, description = "No such ticket (no body)"),
        (status = 416, description = "Range not satisfiable (no body)"),
    ))]
#[allow(dead_code)] // Described, never called.
fn download_head() {}

/// Check a ticket's packed file without downloading it.
///
/// The headers a GET of `/packed` would send (`Content-Length`, `ETag`, `Accept-Ranges`, and
/// `Content-Range` for a `Range`), with no body.
// Served by `masks::packed` (axum routes HEAD to it); this stub only describes it.
#[utoipa::path(head, path = "/api/v1/tickets/{id}/packed", tag = "masks", operation_id = "packed_head",
    params(("id" = String, Path, description = "The ticket's id"),
        ("Range" = Option<String>, Header, description = "One byte range"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client already has: 304 when one matches")),
    responses(
        (status = 200, description = "The packed file's headers, no body",
            headers(("ETag" = String, description = "The packed file's own ETag"),
                ("Content-Length" = u64, description = "The packed file's exact size in bytes"))),
        (status = 206, description = "The headers of a byte range, no body"),
        (status = 304, description = "Not modified: If-None-Match matched"),
        (status = 404, description = "No such ticket (no body)"),
    ))]
#[allow(dead_code)] // Described, never called.
fn packed_head() {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ticketbooth",
        description = "The open registry of lottery tickets: pruned subnetworks as safetensors, with sparsity measured by the server."
    ),
    paths(
        super::tickets::upload,
        super::tickets::show,
        super::tickets::show_by_name,
        super::tickets::edit,
        super::tickets::yank,
        super::tickets::unyank,
        super::tickets::lineage,
        super::masks::header,
        super::masks::packed,
        packed_head,
        super::masks::compare,
        super::files::download,
        download_head,
        super::search::list,
        super::search::facets,
        super::search::tasks,
        super::search::points,
        super::search::frontier,
        super::results::add_result,
        super::results::list_results,
        super::results::delete_result,
        super::results::transfer_matrix,
        super::files::download_dump,
        super::matching::compatible,
        super::matching::similar,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::signin::providers,
        super::signin::login,
        super::signin::callback,
        super::signin::show_signup,
        super::signin::signup,
        super::signin::link,
        super::account::show,
        super::account::sign_out,
        super::account::sign_out_everywhere,
        super::account::unlink,
        super::orgs::create_org,
        super::orgs::members,
        super::orgs::set_member,
        super::orgs::remove_member,
        super::orgs::show_owner,
        super::orgs::owner_results,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(UploadForm, MetadataInput, EditRequest, Slug, SortKey, Order, FilePart, FrontierAccuracy, StructureFilter, crate::error::ErrorBody,
        crate::domain::tokens::TokenRequest, crate::domain::tokens::TokenRecord, crate::domain::tokens::Scope)),
    modifiers(&BearerAuth),
    tags((name = "tickets"), (name = "search"), (name = "evidence"), (name = "masks"), (name = "tokens"), (name = "accounts"), (name = "health"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The strictest policy Swagger UI runs under (checked in Chromium by tests/browser/docs.py):
/// its own scripts only (no inline script, no eval), inline styles (it sets them at run time),
/// data: images (its icons), and requests to this origin only.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// `/api/docs` (Swagger UI) and `/api/openapi.json`, with [`DOCS_CSP`] on the UI.
pub fn docs<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let ui: axum::Router<S> = utoipa_swagger_ui::SwaggerUi::new("/api/docs")
        .url("/api/openapi.json", ApiDoc::openapi())
        .into();
    ui.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(DOCS_CSP),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation explains itself: a summary that is a sentence, a description, and a
    /// description for every parameter; HEAD of a file is in the spec.
    #[test]
    fn the_spec_documents_every_operation_and_parameter() {
        let spec = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut problems = Vec::new();
        let mut operations = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if !["get", "head", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                    continue;
                }
                operations += 1;
                let at = format!("{} {path}", method.to_uppercase());
                let summary = op["summary"].as_str().unwrap_or("");
                let sentence = summary.chars().next().is_some_and(char::is_uppercase)
                    && summary.ends_with('.')
                    && !summary.contains('\n');
                if !sentence {
                    problems.push(format!("{at}: summary {summary:?} is not a sentence"));
                }
                if op["description"]
                    .as_str()
                    .is_none_or(|d| d.trim().len() < 20)
                {
                    problems.push(format!("{at}: no description"));
                }
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["description"]
                        .as_str()
                        .is_none_or(|d| d.trim().is_empty())
                    {
                        problems.push(format!("{at}: parameter {} has no description", p["name"]));
                    }
                }
                for (status, r) in op["responses"].as_object().into_iter().flatten() {
                    if r["description"]
                        .as_str()
                        .is_none_or(|d| d.trim().is_empty())
                    {
                        problems.push(format!("{at}: response {status} has no description"));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(operations >= 19, "{operations} operations");
        let file = &spec["paths"]["/api/v1/tickets/{id}/file"];
        assert!(
            file["head"].is_object() && file["get"].is_object(),
            "{file}"
        );
        assert_ne!(file["head"]["operationId"], file["get"]["operationId"]);
        // Fraction bounds carry their range, so generated clients and fuzzers know it.
        let search = &spec["paths"]["/api/v1/tickets"]["get"]["parameters"];
        let min_accuracy = search
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "min_accuracy")
            .unwrap();
        assert_eq!(min_accuracy["schema"]["maximum"], 1.0, "{min_accuracy}");
        assert!(
            min_accuracy["description"]
                .as_str()
                .unwrap()
                .contains("[0, 1]")
        );
    }
}
