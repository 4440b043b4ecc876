//! The upload pipeline: multipart parts in, one indexed ticket out. The file part streams
//! once through the inspector, sha256 and the blob writer together; nothing is indexed until
//! everything is valid, and any failure removes what this upload wrote.

use bytes::Bytes;
use chrono::Utc;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::blobs::{BlobStore, WrittenBlob};
use crate::error::{ApiError, ApiResult, Code};
use crate::index::{Index, NewTicket, Published, User};
use crate::ingest::framing::FramingTooLong;
use crate::ingest::inspector::{Inspection, Inspector};
use crate::ingest::metadata::{self, TicketMetadata};

/// The largest `metadata` part accepted.
pub const MAX_METADATA_PART_BYTES: u64 = 1 << 20;

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

    pub fn constraints(&self) -> multer::Constraints {
        multer::Constraints::new()
            .allowed_fields(vec!["metadata", "file"])
            .size_limit(
                multer::SizeLimit::new()
                    .whole_stream(self.max_body_bytes())
                    .for_field("metadata", MAX_METADATA_PART_BYTES)
                    .for_field("file", self.max_file_bytes),
            )
    }
}

/// A fully received, valid file whose object is written but not yet referenced.
struct ReceivedFile {
    inspection: Inspection,
    sha256: String,
    blob: WrittenBlob,
}

/// Runs one upload to completion.
pub async fn ingest(
    index: &dyn Index,
    blobs: &BlobStore,
    owner: &User,
    mut multipart: multer::Multipart<'static>,
    limits: UploadLimits,
) -> ApiResult<Published> {
    let mut json: Option<Map<String, Value>> = None;
    let mut file: Option<ReceivedFile> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("metadata") if json.is_none() => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                json = Some(metadata::parse_json_part(&bytes)?);
            }
            Some("file") if file.is_none() => {
                file = Some(receive_file(index, blobs, owner, field, json.as_ref(), limits).await?);
            }
            Some(name) => {
                return Err(ApiError::with_field(
                    Code::BadRequest,
                    name,
                    format!("part '{name}' appears twice"),
                ));
            }
            None => {
                return Err(ApiError::new(
                    Code::BadRequest,
                    "a multipart part has no name",
                ));
            }
        }
    }
    let Some(file) = file else {
        return Err(ApiError::with_field(
            Code::BadRequest,
            "file",
            "missing part 'file' (the safetensors bytes)",
        ));
    };
    let meta = metadata::resolve(json.as_ref(), &file.inspection.metadata)?;
    precheck(index, owner, &meta).await?;
    let description_html = render_description(meta.description.clone()).await?;

    let ticket = NewTicket {
        id: uuid::Uuid::now_v7().to_string(),
        owner_id: owner.id,
        meta,
        sha256: file.sha256,
        size_bytes: file.inspection.file_len,
        object_key: file.blob.key().to_owned(),
        params_total: file.inspection.params_total,
        params_kept: file.inspection.params_kept,
        tensors: file.inspection.tensors,
        created_at: Utc::now(),
        description_html,
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

/// Streams the file part through the inspector, sha256 and the blob writer in one pass.
async fn receive_file(
    index: &dyn Index,
    blobs: &BlobStore,
    owner: &User,
    mut field: multer::Field<'static>,
    json: Option<&Map<String, Value>>,
    limits: UploadLimits,
) -> ApiResult<ReceivedFile> {
    let _in_flight = crate::metrics::InFlight::upload();
    let mut writer = blobs.begin().await.map_err(ApiError::unavailable)?;
    let mut inspector = Inspector::default();
    let mut hasher = ParallelSha256::start();
    let streamed: ApiResult<()> = async {
        let mut checked_early = false;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if inspector.consumed() + chunk.len() as u64 > limits.max_file_bytes {
                return Err(too_large(limits));
            }
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
            hasher.update(chunk.clone()).await?;
            writer.write(chunk).await.map_err(ApiError::unavailable)?;
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
    let blob = writer.finish().await.map_err(ApiError::unavailable)?;
    Ok(ReceivedFile {
        inspection,
        sha256: hasher.finish().await?,
        blob,
    })
}

/// sha256 on its own thread, so hashing overlaps parsing, counting and writing instead of
/// adding to them. Chunks are shared `Bytes` (no copy); the bounded channel keeps memory flat.
struct ParallelSha256 {
    chunks: tokio::sync::mpsc::Sender<Bytes>,
    digest: tokio::task::JoinHandle<String>,
}

impl ParallelSha256 {
    fn start() -> Self {
        let (chunks, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let digest = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            while let Some(chunk) = rx.blocking_recv() {
                hasher.update(&chunk);
            }
            hex::encode(hasher.finalize())
        });
        Self { chunks, digest }
    }

    async fn update(&mut self, chunk: Bytes) -> ApiResult<()> {
        self.chunks
            .send(chunk)
            .await
            .map_err(|_| ApiError::internal("the hashing thread stopped"))
    }

    async fn finish(self) -> ApiResult<String> {
        drop(self.chunks);
        self.digest.await.map_err(ApiError::internal)
    }
}

/// Renders a description once, when it is written, on a blocking thread (markdown and the
/// sanitizer are CPU work the async workers should not do); too deep is a 422 naming it.
pub async fn render_description(description: Option<String>) -> ApiResult<Option<String>> {
    let Some(text) = description else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || crate::markdown::render(&text))
        .await
        .map_err(ApiError::internal)?
        .map(Some)
        .map_err(|e| ApiError::with_field(Code::InvalidMetadata, "description", e.to_string()))
}

/// Clear errors for the two conflicts the index would otherwise report at commit.
async fn precheck(index: &dyn Index, owner: &User, meta: &TicketMetadata) -> ApiResult<()> {
    if index.name_taken(owner.id, &meta.name).await? {
        return Err(ApiError::with_field(
            Code::Conflict,
            "name",
            format!("you already have a ticket named '{}'", meta.name),
        ));
    }
    if let Some(parent) = &meta.parent_id
        && !index.ticket_exists(parent).await?
    {
        return Err(ApiError::with_field(
            Code::InvalidMetadata,
            "parent_id",
            format!("parent ticket '{parent}' does not exist"),
        ));
    }
    Ok(())
}

fn too_large(limits: UploadLimits) -> ApiError {
    ApiError::with_field(
        Code::PayloadTooLarge,
        "file",
        format!(
            "the file is larger than the {} byte limit",
            limits.max_file_bytes
        ),
    )
}

fn multipart_error(e: multer::Error) -> ApiError {
    use multer::Error as E;
    match e {
        E::StreamSizeExceeded { limit } => ApiError::new(
            Code::PayloadTooLarge,
            format!("the request body is larger than the {limit} byte limit"),
        ),
        E::FieldSizeExceeded { limit, field_name } => ApiError::with_field(
            Code::PayloadTooLarge,
            field_name.clone().unwrap_or_default(),
            format!(
                "part '{}' is larger than its {limit} byte limit",
                field_name.unwrap_or_default()
            ),
        ),
        E::UnknownField { field_name } => {
            let name = field_name.unwrap_or_default();
            ApiError::with_field(
                Code::BadRequest,
                name.clone(),
                format!("unexpected part '{name}' (expected 'metadata' and 'file')"),
            )
        }
        E::StreamReadFailed(cause) if cause.is::<FramingTooLong>() => {
            ApiError::new(Code::BadRequest, cause.to_string())
        }
        E::StreamReadFailed(cause) if went_quiet(&*cause) => ApiError::new(
            Code::RequestTimeout,
            "the request body stopped arriving (idle timeout); the upload was dropped",
        ),
        E::StreamReadFailed(_) => ApiError::new(
            Code::BadRequest,
            "the request body ended before the upload was complete",
        ),
        other => ApiError::new(
            Code::BadRequest,
            format!("malformed multipart body: {other}"),
        ),
    }
}

/// Whether a body read failed because tower-http's idle timeout fired (the cause is wrapped).
fn went_quiet(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Hex sha256 of bytes already in memory (small files: seeding, tests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
