//! Getting a ticket in: the pipeline that runs an upload through the domain's inspector and
//! metadata checks into the blob store and the index, and the bound on multipart framing.

pub mod framing;
pub mod pipeline;
