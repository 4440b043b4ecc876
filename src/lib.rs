//! ticketbooth: the open registry of lottery tickets (pruned subnetworks as safetensors).
//!
//! [`http::app`] is the whole service as a router; [`server`] starts it; [`ingest`] holds the
//! pure domain logic (safetensors inspection, metadata validation) and the upload pipeline;
//! [`index`] and [`blobs`] are the two storage ports.

pub mod audit;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod index;
pub mod ingest;
pub mod markdown;
pub mod metrics;
pub mod operator;
pub mod search;
pub mod seed;
pub mod server;
pub mod tokens;

pub use http::{AppState, app};
