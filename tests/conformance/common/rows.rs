//! Ticket rows for tests that write straight into the index (bulk scenarios, contract suites):
//! one valid row with neutral values, for a test to change what it is about.

use chrono::Utc;
use ticketbooth::domain::metadata::{DEFAULT_METRIC, TicketMetadata};
use ticketbooth::domain::ticket::MaskFacts;
use ticketbooth::index::NewTicket;

/// A ticket `name` of `owner_id` (task `t`, dataset `d`, architecture `a`, accuracy 0.5, half
/// of 10 entries kept), pointing at content `0...0` stored as `none`.
pub fn ticket_row(owner_id: i64, name: &str) -> NewTicket {
    NewTicket {
        id: uuid::Uuid::now_v7().to_string(),
        owner_id,
        uploader_id: None,
        meta: TicketMetadata {
            owner: None,
            name: name.to_owned(),
            task: "t".into(),
            dataset: "d".into(),
            architecture: "a".into(),
            pruning_method: "imp".into(),
            accuracy: 0.5,
            dense_accuracy: None,
            metric: DEFAULT_METRIC.into(),
            description: None,
            tags: vec![],
            parent_id: None,
            hyperparameters: None,
            paper_url: None,
            code_url: None,
            license: None,
            results: Vec::new(),
        },
        sha256: "0".repeat(64),
        size_bytes: 1,
        object_key: "none".into(),
        params_total: 10,
        params_kept: 5,
        tensors: vec![],
        created_at: Utc::now(),
        description_html: None,
        masks: MaskFacts {
            fingerprint: "f".repeat(64),
            structure: "unstructured".into(),
            signature: Vec::new(),
        },
    }
}
