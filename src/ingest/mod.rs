//! Getting a ticket in: the pipeline that runs an upload through the domain's inspector and
//! metadata checks into the blob store and the index, and the bounded multipart reader it takes
//! the upload from.

pub mod multipart;
pub mod pipeline;
