//! The pure core: what a ticket is and every rule about it, with no I/O. Nothing here imports
//! sqlx, axum, hyper, object_store or tokio; the storage ports (`index`, `blobs`), the ingest
//! pipeline and the HTTP surface are built on it.
//!
//! - [`inspector`]: the streaming safetensors state machine (any chunking, one verdict; the
//!   sparsity rule), with its differential test against the reference crate.
//! - [`masks`]: which tensor masks which parameter, and the architecture fingerprint.
//! - [`metadata`]: validating uploaded metadata and edits, hints for typos and percentages.
//! - [`markdown`]: descriptions to sanitized HTML, with a nesting cap.
//! - [`search`]: query parameters to a filter and a page, cursors bound to their query, the
//!   page a search answers, and the Pareto frontier.
//! - [`ticket`]: a ticket as uploaded and as shown, and its owner.
//! - [`tokens`]: token generation and hashing, scopes, expiry and the escalation rules.

pub mod accounts;
#[cfg(test)]
mod differential;
pub mod evidence;
pub mod inspector;
pub mod markdown;
pub mod masks;
pub mod metadata;
pub mod search;
pub mod ticket;
pub mod tokens;
