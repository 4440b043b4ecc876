//! Getting a ticket in: safetensors inspection and metadata validation (both pure), and the
//! pipeline that runs an upload through them into the blob store and the index.

#[cfg(test)]
mod differential;
pub mod framing;
pub mod inspector;
pub mod metadata;
pub mod pipeline;
