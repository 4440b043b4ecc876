//! ticketbooth: the open registry of lottery tickets (pruned subnetworks as safetensors).
//!
//! [`http::app`] is the whole service as a router; [`http::server`] starts it; [`domain`] holds the
//! pure logic (safetensors inspection, metadata validation, markdown, tokens); [`ingest`] is the
//! upload pipeline; [`index`] and [`blobs`] are the two storage ports; [`config`] parses the
//! command line, [`ops`] runs the operator commands and [`cli`] the client commands.

pub mod blobs;
pub mod cli;
pub mod config;
pub mod derived;
pub mod domain;
pub mod error;
pub mod http;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod oidc;
pub mod ops;

pub use http::{AppState, app};
