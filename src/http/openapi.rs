//! The REST contract, generated from the code with utoipa: `GET /api/openapi.json`, browsable at
//! `/api/docs` (Swagger UI vendored into the binary: nothing is fetched at build or run time).
//! Handlers carry their own `#[utoipa::path]`; the types below describe what the handlers parse
//! by hand (query strings, multipart), for clients generated from the spec.

#![allow(dead_code)] // Types here exist to be described, not constructed.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// A slug: letters, digits, '.', '_' or '-', starting with a letter or digit (lowercased on input).
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length = 128)]
pub struct Slug(String);

/// The filters every list endpoint shares. Unknown parameters are a 400.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only this task, a slug (e.g. `image-classification`; case-insensitive).
    #[param(value_type = Option<Slug>)]
    task: Option<String>,
    /// Only this dataset, a slug (e.g. `cifar10`).
    #[param(value_type = Option<Slug>)]
    dataset: Option<String>,
    /// Only this architecture, a slug (e.g. `resnet20`).
    #[param(value_type = Option<Slug>)]
    architecture: Option<String>,
    /// Only this pruning method, a slug (e.g. `imp`, `snip`).
    #[param(value_type = Option<Slug>)]
    pruning_method: Option<String>,
    /// Only this user's tickets (the owner's user name).
    #[param(value_type = Option<Slug>)]
    owner: Option<String>,
    /// A tag the tickets must have; repeatable, and every tag must match.
    #[param(value_type = Option<Vec<Slug>>)]
    tag: Option<Vec<String>>,
    /// Only the children of this ticket (its id): the next IMP level.
    parent_id: Option<String>,
    /// At least this sparsity (the share of prunable weights removed), inclusive: a fraction in
    /// [0, 1], so 0.9 is 10% of weights remaining. A percentage such as 90 is a 400.
    #[param(minimum = 0.0, maximum = 1.0)]
    min_sparsity: Option<f64>,
    /// At most this sparsity, inclusive: a fraction in [0, 1].
    #[param(minimum = 0.0, maximum = 1.0)]
    max_sparsity: Option<f64>,
    /// At least this accuracy, inclusive: a fraction in [0, 1] (0.97, not 97).
    #[param(minimum = 0.0, maximum = 1.0)]
    min_accuracy: Option<f64>,
    /// At most this accuracy, inclusive: a fraction in [0, 1].
    #[param(minimum = 0.0, maximum = 1.0)]
    max_accuracy: Option<f64>,
    /// Free text: a case-insensitive substring of name, description, architecture, dataset or
    /// tags (at most 256 bytes).
    #[param(max_length = 256)]
    q: Option<String>,
    /// Include yanked tickets (default false).
    include_yanked: Option<bool>,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    Created,
    Accuracy,
    Sparsity,
    Downloads,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

/// Sort and keyset pagination for `GET /api/v1/tickets`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// What to sort by: `created` (default), `accuracy`, `sparsity` or `downloads`.
    sort: Option<SortKey>,
    /// Sort order: `desc` (default) or `asc`.
    order: Option<Order>,
    /// Tickets per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page; bound to the same filters, sort and order.
    cursor: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FrontierParams {
    /// The task, a slug (required).
    #[param(value_type = Slug)]
    task: String,
    /// Only tickets found on this dataset, a slug.
    #[param(value_type = Option<Slug>)]
    dataset: Option<String>,
    /// Only tickets of this architecture, a slug.
    #[param(value_type = Option<Slug>)]
    architecture: Option<String>,
    /// Compare tickets on this metric, a slug (default `top1_accuracy`).
    #[param(value_type = Option<Slug>)]
    metric: Option<String>,
    /// Include yanked tickets (default false).
    include_yanked: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksParams {
    /// Count yanked tickets too (default false).
    include_yanked: Option<bool>,
}

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
fn download_head() {}

/// The upload: a `metadata` part (JSON, [`MetadataInput`]) and a `file` part, in either order.
/// No other parts.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadForm {
    /// JSON object of metadata; may be left out when the file's `__metadata__` has every
    /// required field.
    metadata: Option<String>,
    /// The safetensors bytes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The metadata part's fields. Unknown keys are a 422 naming the key.
#[derive(ToSchema)]
pub struct MetadataInput {
    /// The ticket's name: a slug, unique per owner.
    name: String,
    /// What the ticket was found for, a slug (e.g. `image-classification`).
    task: String,
    /// The dataset it was found on, a slug (e.g. `cifar10`).
    dataset: String,
    /// The network, a slug (e.g. `resnet20`).
    architecture: String,
    /// How it was found, a slug (e.g. `imp`, `imp-rewind`, `snip`, `random`).
    pruning_method: String,
    /// Accuracy of the trained ticket on `metric`: a fraction in [0, 1] (93.4 gets "did you
    /// mean 0.934?").
    #[schema(minimum = 0.0, maximum = 1.0)]
    accuracy: f64,
    /// Accuracy of the dense network on the same setup, a fraction in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    dense_accuracy: Option<f64>,
    /// What `accuracy` measures, a slug (default `top1_accuracy`).
    metric: Option<String>,
    /// What the ticket is good for: markdown, at most 64 KiB.
    description: Option<String>,
    /// At most 32 slugs.
    tags: Option<Vec<String>>,
    /// The ticket one IMP round earlier (an existing ticket's id).
    parent_id: Option<String>,
    /// Training hyperparameters: a JSON object, at most 64 KiB.
    #[schema(value_type = Option<Object>)]
    hyperparameters: Option<serde_json::Value>,
    /// The paper, an http or https URL.
    paper_url: Option<String>,
    /// The code that found the ticket, an http or https URL.
    code_url: Option<String>,
    /// The license the ticket is published under (free text, e.g. `MIT`).
    license: Option<String>,
}

/// `PATCH` body: descriptive fields only; `null` clears one. Other keys are a 422.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// What the ticket is good for: markdown, at most 64 KiB.
    #[schema(max_length = 65536)]
    description: Option<String>,
    /// The new tags (replacing the old), at most 32 slugs.
    #[schema(value_type = Option<Vec<Slug>>, max_items = 32)]
    tags: Option<Vec<String>>,
    /// The paper, an http or https URL.
    #[schema(
        pattern = "^https?://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
        max_length = 2048
    )]
    paper_url: Option<String>,
    /// The code that found the ticket, an http or https URL.
    #[schema(
        pattern = "^https?://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
        max_length = 2048
    )]
    code_url: Option<String>,
    /// The license, free text.
    #[schema(max_length = 2048)]
    license: Option<String>,
}

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
        super::files::download,
        download_head,
        super::search::list,
        super::search::facets,
        super::search::tasks,
        super::search::points,
        super::search::frontier,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(UploadForm, MetadataInput, EditRequest, Slug, SortKey, Order, crate::error::ErrorBody,
        crate::domain::tokens::TokenRequest, crate::domain::tokens::TokenRecord, crate::domain::tokens::Scope)),
    modifiers(&BearerAuth),
    tags((name = "tickets"), (name = "search"), (name = "tokens"), (name = "health"))
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
