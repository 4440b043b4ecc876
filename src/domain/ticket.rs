//! A ticket: what an upload becomes once validated and measured ([`NewTicket`]), and what the
//! API shows of it ([`Ticket`]). Plain data; the index stores and returns it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::evidence::{Evidence, Observation, TicketSetup, evidence};
use super::inspector::TensorReport;
use super::metadata::TicketMetadata;

/// A user: the owner in `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A validated upload, ready to be indexed.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub id: String,
    /// The account it is published under: the uploader, or an organization they belong to.
    pub owner_id: i64,
    /// Who uploaded it; `None`: the owner did.
    pub uploader_id: Option<i64>,
    pub meta: TicketMetadata,
    pub sha256: String,
    pub size_bytes: u64,
    /// Where this upload's bytes were written.
    pub object_key: String,
    pub params_total: u64,
    pub params_kept: u64,
    pub tensors: Vec<TensorReport>,
    pub created_at: DateTime<Utc>,
    /// The description rendered once, here, so that reads render nothing.
    pub description_html: Option<String>,
    pub masks: MaskFacts,
}

/// What the inspector measured of a ticket's masks (docs/masks.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskFacts {
    /// The architecture fingerprint: sha256 hex of the network's shapes.
    pub fingerprint: String,
    /// `1:4`, `2:4`, `4:8` or `unstructured`.
    pub structure: String,
    /// The kept-entry set's MinHash signature.
    pub signature: Vec<u8>,
}

impl Ticket {
    /// The shape the facet counts are kept by: task, dataset, architecture, pruning method.
    pub fn dims(&self) -> (&str, &str, &str, &str) {
        (
            &self.task,
            &self.dataset,
            &self.architecture,
            &self.pruning_method,
        )
    }

    /// What a result reported against this ticket is checked against.
    pub fn setup(&self) -> TicketSetup<'_> {
        TicketSetup {
            dataset: &self.dataset,
            metric: &self.metric,
        }
    }

    /// What a search page's last ticket gives its next cursor.
    pub fn sort_values(&self) -> super::search::SortValues {
        super::search::SortValues {
            accuracy: self.accuracy,
            sparsity: self.sparsity,
            downloads: self.downloads,
            reproductions: self.evidence.reproductions,
            seq: self.seq,
        }
    }
}

impl NewTicket {
    pub fn sparsity(&self) -> f64 {
        1.0 - self.params_kept as f64 / self.params_total as f64
    }

    /// The evidence of the results that come with the upload (all the uploader's own).
    pub fn evidence(&self) -> Evidence {
        let m = &self.meta;
        let observations: Vec<Observation> = m
            .results
            .iter()
            .map(|r| Observation {
                kind: r.kind,
                accuracy: r.accuracy,
                metric: &r.metric,
                by_owner: true,
            })
            .collect();
        evidence(m.accuracy, m.dense_accuracy, &m.metric, &observations)
    }
}

/// A ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub task: String,
    pub dataset: String,
    pub architecture: String,
    pub pruning_method: String,
    pub accuracy: f64,
    pub dense_accuracy: Option<f64>,
    pub metric: String,
    pub description: Option<String>,
    /// `description` rendered from markdown and sanitized. Single-ticket views only: list
    /// items leave it out (as they leave out `tensors`), so a search page renders no markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub description_html: Option<Option<String>>,
    pub tags: Vec<String>,
    pub parent_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub hyperparameters: Option<Map<String, Value>>,
    pub paper_url: Option<String>,
    pub code_url: Option<String>,
    pub license: Option<String>,
    pub sha256: String,
    pub size_bytes: u64,
    pub sparsity: f64,
    pub params_total: u64,
    pub params_kept: u64,
    /// Per-tensor counts; left out of list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<TensorReport>>,
    pub created_at: DateTime<Utc>,
    pub downloads: u64,
    pub yanked: bool,
    /// What the reported results say: statistics per kind and the verdict (docs/evidence.md).
    pub evidence: Evidence,
    /// The sha256 of the network's shapes (docs/masks.md): tickets with the same one fit the
    /// same model. Null on tickets stored before it was measured, until `ticketbooth reindex`.
    pub architecture_fingerprint: Option<String>,
    /// N:M structure: `1:4`, `2:4`, `4:8`, `unstructured`, or `unknown` until reindexed.
    pub structure: String,
    /// Who published it: for an organization's ticket, the member who uploaded it. Given when
    /// one ticket is read, not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploader: Option<String>,
    /// The uploader's account id (internal: who may edit and yank).
    #[serde(skip)]
    #[schema(ignore)]
    pub uploader_id: Option<i64>,
    /// Insertion order: the keyset tie-breaker. Internal.
    #[serde(skip)]
    #[schema(ignore)]
    pub seq: i64,
}
