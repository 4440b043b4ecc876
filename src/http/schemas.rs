//! What the spec documents but no handler parses with serde: query strings and multipart forms
//! are read by hand (repeatable `tag`, hints for typos), so these types exist to describe them
//! to clients generated from the spec (`openapi.rs` lists them).

#![allow(dead_code)] // Types here exist to be described, not constructed.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
    /// Only tickets with this verdict (docs/evidence.md): `unverified`, `below_dense`,
    /// `no_better_than_controls` or `wins`.
    #[param(value_type = Option<crate::domain::evidence::Verdict>)]
    verdict: Option<String>,
    /// At least this many reproductions (any reporter).
    #[param(minimum = 0, maximum = 1000000)]
    min_reproductions: Option<u64>,
    /// Only tickets reproduced by someone other than their owner.
    reproduced_by_others: Option<bool>,
    /// Only tickets of this architecture fingerprint (64 hex digits, docs/masks.md): tickets
    /// that fit one model.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    fingerprint: Option<String>,
    /// Only tickets with this N:M structure: `1:4`, `2:4` (also matches 1:4), `4:8` (also
    /// matches 1:4 and 2:4), or `unstructured`.
    #[param(value_type = Option<StructureFilter>)]
    structure: Option<String>,
}

#[derive(ToSchema, Serialize)]
pub enum StructureFilter {
    #[serde(rename = "1:4")]
    OneOfFour,
    #[serde(rename = "2:4")]
    TwoOfFour,
    #[serde(rename = "4:8")]
    FourOfEight,
    #[serde(rename = "unstructured")]
    Unstructured,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    Created,
    Accuracy,
    Sparsity,
    Downloads,
    Reproductions,
}

/// Which accuracy ranks the frontier.
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontierAccuracy {
    /// The uploaded accuracy (the default).
    Reported,
    /// The mean of the ticket's own accuracy and its reproductions.
    Reproduced,
}

/// The transfer matrix's query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransferParams {
    /// The task, a slug (required).
    #[param(value_type = Slug)]
    task: String,
    /// The architecture, a slug (required).
    #[param(value_type = Slug)]
    architecture: String,
    /// Only results on this metric, a slug (default `top1_accuracy`).
    #[param(value_type = Option<Slug>)]
    metric: Option<String>,
}

/// A result as reported (`POST /api/v1/tickets/{id}/results`). Unknown keys are a 422.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultInput {
    kind: crate::domain::evidence::ResultKind,
    /// A fraction in [0, 1] on `metric`.
    #[schema(minimum = 0.0, maximum = 1.0)]
    accuracy: f64,
    /// A slug; defaults to the ticket's metric.
    #[schema(value_type = Option<Slug>)]
    metric: Option<String>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    seed: Option<i64>,
    /// The ticket's dataset (may be omitted), or for a `transfer` (required) another one.
    #[schema(value_type = Option<Slug>)]
    dataset: Option<String>,
    /// For `random_prune` only.
    scope: Option<crate::domain::evidence::PruneScope>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    steps: Option<i64>,
    #[schema(max_length = 64)]
    framework: Option<String>,
    #[schema(max_length = 64)]
    hardware: Option<String>,
    /// An http or https URL.
    code_url: Option<String>,
    #[schema(max_length = 2000)]
    notes: Option<String>,
}

/// Which part of a ticket's file to download: every `*_mask` tensor, or every other tensor.
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilePart {
    Masks,
    Weights,
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
    /// What to sort by: `created` (default), `accuracy`, `sparsity`, `downloads` or
    /// `reproductions`.
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
    /// Which accuracy ranks tickets: `reported` (default) or `reproduced`.
    #[param(value_type = Option<FrontierAccuracy>)]
    accuracy: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksParams {
    /// Count yanked tickets too (default false).
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
    /// Results reported with the upload (at most 64; in `__metadata__` a JSON string).
    results: Option<Vec<ResultInput>>,
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

/// A model's tensors, as a `state_dict` gives them (`POST /api/v1/compatible`).
#[derive(ToSchema, Deserialize)]
pub struct ModelTensors {
    #[schema(max_items = 100000)]
    tensors: Vec<ModelTensor>,
}

#[derive(ToSchema, Deserialize)]
pub struct ModelTensor {
    #[schema(min_length = 1, max_length = 1024)]
    name: String,
    #[schema(max_items = 8)]
    shape: Vec<u64>,
    /// The safetensors dtype (`F32`, `BF16`...); absent counts as floating.
    dtype: Option<String>,
}
