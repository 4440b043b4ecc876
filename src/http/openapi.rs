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
    /// Task slug, e.g. `image-classification`.
    #[param(value_type = Option<Slug>)]
    task: Option<String>,
    #[param(value_type = Option<Slug>)]
    dataset: Option<String>,
    #[param(value_type = Option<Slug>)]
    architecture: Option<String>,
    #[param(value_type = Option<Slug>)]
    pruning_method: Option<String>,
    /// Owner's user name.
    #[param(value_type = Option<Slug>)]
    owner: Option<String>,
    /// Repeatable; every tag must match.
    #[param(value_type = Option<Vec<Slug>>)]
    tag: Option<Vec<String>>,
    parent_id: Option<String>,
    /// Inclusive bound, a fraction in [0, 1].
    min_sparsity: Option<f64>,
    max_sparsity: Option<f64>,
    min_accuracy: Option<f64>,
    max_accuracy: Option<f64>,
    /// Case-insensitive substring of name, description, architecture, dataset or tags.
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
    /// Default `created`.
    sort: Option<SortKey>,
    /// Default `desc`.
    order: Option<Order>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page; bound to the same filters, sort and order.
    cursor: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FrontierParams {
    #[param(value_type = Slug)]
    task: String,
    #[param(value_type = Option<Slug>)]
    dataset: Option<String>,
    #[param(value_type = Option<Slug>)]
    architecture: Option<String>,
    /// Default `top1_accuracy`.
    #[param(value_type = Option<Slug>)]
    metric: Option<String>,
    include_yanked: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksParams {
    include_yanked: Option<bool>,
}

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
    /// Slug, unique per owner.
    name: String,
    task: String,
    dataset: String,
    architecture: String,
    pruning_method: String,
    /// Fraction in [0, 1].
    accuracy: f64,
    dense_accuracy: Option<f64>,
    metric: Option<String>,
    /// Markdown, at most 64 KiB.
    description: Option<String>,
    tags: Option<Vec<String>>,
    parent_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    hyperparameters: Option<serde_json::Value>,
    paper_url: Option<String>,
    code_url: Option<String>,
    license: Option<String>,
}

/// `PATCH` body: descriptive fields only; `null` clears one. Other keys are a 422.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// Markdown, at most 64 KiB.
    #[schema(max_length = 65536)]
    description: Option<String>,
    #[schema(value_type = Option<Vec<Slug>>, max_items = 32)]
    tags: Option<Vec<String>>,
    #[schema(
        pattern = "^https?://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
        max_length = 2048
    )]
    paper_url: Option<String>,
    #[schema(
        pattern = "^https?://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
        max_length = 2048
    )]
    code_url: Option<String>,
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
        crate::tokens::TokenRequest, crate::tokens::TokenRecord, crate::tokens::Scope)),
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
