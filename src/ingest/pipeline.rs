//! The upload pipeline: multipart parts in, one indexed ticket out. The file part streams
//! once through the inspector and the blob writer (which hashes it); nothing is indexed until
//! everything is valid, and any failure removes what this upload wrote.

use chrono::Utc;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::blobs::{BlobStore, WrittenBlob};
use crate::domain::inspector::{Inspection, Inspector, InvalidSafetensors};
use crate::domain::metadata::{self, InvalidMetadata, TicketMetadata};
use crate::domain::ticket::MaskFacts;
use crate::index::IndexError;
use crate::index::{Index, NewTicket, Published, User};
use crate::ingest::multipart::{Multipart, MultipartError, PartLimits};

/// The largest `metadata` part accepted.
pub const MAX_METADATA_PART_BYTES: u64 = 1 << 20;

/// A failure of a storage layer, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an upload was not published. `crate::error` maps each to its HTTP answer; this layer
/// knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The multipart body itself: too large, malformed, cut, stalled (classified by the HTTP
    /// layer, which knows the body's own errors).
    #[error("multipart: {0}")]
    Multipart(#[from] MultipartError),
    #[error("part '{0}' appears twice")]
    DuplicatePart(String),
    #[error("a multipart part has no name")]
    UnnamedPart,
    #[error("missing part 'file' (the safetensors bytes)")]
    MissingFile,
    #[error(transparent)]
    Safetensors(#[from] InvalidSafetensors),
    #[error(transparent)]
    Metadata(#[from] InvalidMetadata),
    #[error("{0}")]
    Description(#[from] crate::domain::markdown::TooDeep),
    /// The owner (the uploader: "you"; or an organization) has a ticket of that name.
    #[error("{0} already {have} a ticket named '{1}'", have = if .0 == "you" { "have" } else { "has" })]
    NameTaken(String, String),
    /// `owner` names an account the uploader may not publish under.
    #[error("{0}")]
    NotYourOwner(String),
    /// `owner` names no account.
    #[error("there is no organization '{0}'")]
    UnknownOwner(String),
    #[error("parent ticket '{0}' does not exist")]
    UnknownParent(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The blob store failed (an outage, not the upload's fault).
    #[error("blob store: {0}")]
    Storage(Cause),
    #[error("internal: {0}")]
    Internal(Cause),
}

pub type IngestResult<T> = Result<T, IngestError>;

fn storage(e: impl Into<Cause>) -> IngestError {
    IngestError::Storage(e.into())
}

#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Largest safetensors file accepted.
    pub max_file_bytes: u64,
}

impl UploadLimits {
    /// The whole request body: the file plus the metadata part and multipart framing.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_file_bytes
            .saturating_add(MAX_METADATA_PART_BYTES + (64 << 10))
    }

    /// What the multipart reader accepts: the two parts, each within its size.
    pub fn parts(&self) -> PartLimits {
        PartLimits {
            body: self.max_body_bytes(),
            parts: vec![
                ("metadata", MAX_METADATA_PART_BYTES),
                ("file", self.max_file_bytes),
            ],
        }
    }
}

/// A fully received, valid file whose object is written but not yet referenced.
struct ReceivedFile {
    inspection: Inspection,
    sha256: String,
    blob: WrittenBlob,
}

/// Runs one upload to completion. The size limits travel with the reader (`UploadLimits::parts`).
pub async fn ingest(
    index: &dyn Index,
    blobs: &BlobStore,
    owner: &User,
    mut multipart: Multipart,
) -> IngestResult<Published> {
    let mut json: Option<Map<String, Value>> = None;
    let mut file: Option<ReceivedFile> = None;
    while let Some(part) = multipart.next_part().await? {
        match part.name.as_deref() {
            Some("metadata") if json.is_none() => {
                let bytes = multipart.bytes().await?;
                json = Some(metadata::parse_json_part(&bytes)?);
            }
            Some("file") if file.is_none() => {
                let received = receive_file(index, blobs, owner, &mut multipart, json.as_ref());
                file = Some(received.await?);
            }
            Some(name) => return Err(IngestError::DuplicatePart(name.to_owned())),
            None => return Err(IngestError::UnnamedPart),
        }
    }
    let Some(file) = file else {
        return Err(IngestError::MissingFile);
    };
    let meta = metadata::resolve(json.as_ref(), &file.inspection.metadata)?;
    let owner_id = precheck(index, owner, &meta).await?;
    let description_html = render_description(meta.description.clone()).await?;

    let ticket = NewTicket {
        id: uuid::Uuid::now_v7().to_string(),
        owner_id,
        uploader_id: Some(owner.id),
        meta,
        sha256: file.sha256,
        size_bytes: file.inspection.file_len,
        object_key: file.blob.key().to_owned(),
        params_total: file.inspection.params_total,
        params_kept: file.inspection.params_kept,
        tensors: file.inspection.tensors,
        created_at: Utc::now(),
        description_html,
        masks: MaskFacts {
            fingerprint: file.inspection.fingerprint,
            structure: file.inspection.structure,
            signature: file.inspection.signature,
        },
    };
    match index.publish(&ticket).await {
        Ok(published) => {
            if published.object_key == file.blob.key() {
                file.blob.keep();
            } else {
                // Identical content was already stored: drop our copy, never theirs.
                file.blob.discard().await;
            }
            Ok(published)
        }
        Err(e) if e.outcome_known() => {
            file.blob.discard().await;
            Err(e.into())
        }
        Err(e) => {
            // The connection failed around COMMIT: the row may have committed, and deleting its
            // object would leave a ticket pointing at nothing. An unreferenced object is
            // garbage that `gc` removes after the grace period; a dangling row is data loss.
            tracing::warn!(error = %e, object = file.blob.key(), "publish outcome unknown; object left for gc");
            file.blob.keep();
            Err(e.into())
        }
    }
}

/// Streams the file part through the inspector and the blob writer (which hashes it) in one
/// pass.
async fn receive_file(
    index: &dyn Index,
    blobs: &BlobStore,
    owner: &User,
    multipart: &mut Multipart,
    json: Option<&Map<String, Value>>,
) -> IngestResult<ReceivedFile> {
    let _in_flight = crate::metrics::InFlight::upload();
    let mut writer = blobs.begin().await.map_err(storage)?;
    let mut inspector = Inspector::default();
    let streamed: IngestResult<()> = async {
        let mut checked_early = false;
        // The reader refuses the part past its size limit (`UploadLimits::parts`).
        while let Some(chunk) = multipart.chunk().await? {
            inspector.feed(&chunk)?;
            // With the header in and the metadata part already read, a bad name or parent
            // fails now rather than after gigabytes of tensor data.
            if !checked_early && let Some(header) = inspector.header() {
                checked_early = true;
                if let Some(json) = json {
                    precheck(
                        index,
                        owner,
                        &metadata::resolve(Some(json), &header.metadata)?,
                    )
                    .await?;
                }
            }
            metrics::counter!(crate::metrics::UPLOAD_BYTES).increment(chunk.len() as u64);
            writer.write(chunk).await.map_err(storage)?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = streamed {
        writer.abort().await;
        return Err(e);
    }
    let inspection = match inspector.finish() {
        Ok(i) => i,
        Err(e) => {
            writer.abort().await;
            return Err(e.into());
        }
    };
    let blob = writer.finish().await.map_err(storage)?;
    Ok(ReceivedFile {
        inspection,
        sha256: blob.sha256().to_owned(),
        blob,
    })
}

/// Renders a description once, when it is written, on a blocking thread (markdown and the
/// sanitizer are CPU work the async workers should not do); too deep is a 422 naming it.
pub async fn render_description(description: Option<String>) -> IngestResult<Option<String>> {
    let Some(text) = description else {
        return Ok(None);
    };
    let rendered = tokio::task::spawn_blocking(move || crate::domain::markdown::render(&text))
        .await
        .map_err(|e| IngestError::Internal(e.into()))?;
    Ok(Some(rendered?))
}

/// Who the ticket is published under, and clear errors for the two conflicts the index would
/// otherwise report at commit. The owner is the uploader, or the organization named in `owner`
/// if the uploader is one of its members.
async fn precheck(index: &dyn Index, uploader: &User, meta: &TicketMetadata) -> IngestResult<i64> {
    let (owner_id, owner_name) = match meta.owner.as_deref() {
        None => (uploader.id, "you"),
        Some(name) if name == uploader.name => (uploader.id, "you"),
        Some(name) => {
            let account = index
                .account(name)
                .await?
                .ok_or_else(|| IngestError::UnknownOwner(name.to_owned()))?;
            if account.kind != crate::domain::accounts::AccountKind::Org {
                return Err(IngestError::NotYourOwner(format!(
                    "you can publish under your own name or an organization you belong to, not as '{name}'"
                )));
            }
            if index.role(account.id, uploader.id).await?.is_none() {
                return Err(IngestError::NotYourOwner(format!(
                    "you are not a member of the organization '{name}'"
                )));
            }
            (account.id, name)
        }
    };
    if index.name_taken(owner_id, &meta.name).await? {
        return Err(IngestError::NameTaken(
            owner_name.to_owned(),
            meta.name.clone(),
        ));
    }
    if let Some(parent) = &meta.parent_id
        && !index.ticket_exists(parent).await?
    {
        return Err(IngestError::UnknownParent(parent.clone()));
    }
    Ok(owner_id)
}

/// Hex sha256 of bytes already in memory (small files: seeding, tests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
