//! Metric names and the small guards that keep them, shared by every layer that records one
//! (the ingest pipeline, the blob store, the HTTP surface). Rendering `/metrics` is the HTTP
//! layer's (`http::metrics`); recording is everyone's, through the `metrics` crate's macros.

pub const UPLOAD_BYTES: &str = "ticketbooth_upload_bytes_total";
pub const DOWNLOAD_BYTES: &str = "ticketbooth_download_bytes_total";
pub const UPLOADS_IN_FLIGHT: &str = "ticketbooth_uploads_in_flight";
pub const BLOB_STORE_ERRORS: &str = "ticketbooth_blob_store_errors_total";

/// Counts an upload in flight for as long as it lives.
pub struct InFlight;

impl InFlight {
    pub fn upload() -> Self {
        metrics::gauge!(UPLOADS_IN_FLIGHT).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(UPLOADS_IN_FLIGHT).decrement(1.0);
    }
}
