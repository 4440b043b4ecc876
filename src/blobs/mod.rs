//! Ticket bytes in an object store (local filesystem by default, in-memory for tests).
//!
//! An upload streams into a fresh object whose key is chosen before the hash is known; the
//! index then maps the sha256 to that object. So committing never copies or renames an object
//! (S3's single-request copy stops at 5 GiB), and identical content found later just points at
//! the first object. Every object an upload writes is removed again unless it is kept, whether
//! the upload fails, is rejected or is cancelled by a client disconnect.
//!
//! Crash safety on the local store (`local.rs`'s writer): an upload writes a staging file
//! `objects/<uuid>#1`, creating `objects/` durably (it and the blob root fsynced) if missing;
//! finishing it calls `sync_all` on the file, closes it, renames it to `objects/<uuid>` and
//! fsyncs that directory, as object_store's own local multipart upload does with
//! `with_fsync(true)`. `BlobWriter::finish` returns only after all of that, and the pipeline
//! commits the index row only after `finish` returns, so a committed row never points at bytes
//! that a crash can take back. The blob root itself (and the data dir above it) is created by
//! `create_dir_durably`, which fsyncs those entries. Deletes go through object_store.
//! A crash between `finish` and the commit leaves a complete object that no row references,
//! and a crash mid-body leaves a staging file: `crate::ops::integrity` sweeps both after a grace
//! period.
//!
//! The port is here (the store, its writer, the keep-or-discard [`WrittenBlob`]); `local.rs`
//! holds the local filesystem's specifics (fsync, staging files, the walk that finds them) and
//! `s3.rs` the S3 ones (part size, presigned URLs).

mod file_sink;
mod local;
mod s3;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
};
use sha2::{Digest, Sha256};

/// Parts in flight per upload; with the part being filled this bounds an upload's buffers.
const PARTS_IN_FLIGHT: usize = 2;
/// Every upload's object lives under this prefix; the integrity sweep looks nowhere else.
pub const OBJECT_PREFIX: &str = "objects";

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
    /// For S3: the client that can presign a URL, and the key prefix the store adds.
    signer: Option<(Arc<AmazonS3>, String)>,
    /// For the local store: its root directory, where staging files are found.
    local_root: Option<PathBuf>,
    /// Keys of objects this process is writing and has not yet committed or deleted.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// An object as the store lists it. A staging file (`key#n`, local store only) is a multipart
/// upload still being written, or left behind by a crash; its `key` includes the suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub staging: bool,
}

impl StoredObject {
    /// The object key an upload writes to: a staging file's key without its `#n` suffix.
    pub fn upload_key(&self) -> &str {
        match self.key.rsplit_once('#') {
            Some((base, _)) if self.staging => base,
            _ => &self.key,
        }
    }
}

pub type BlobResult<T> = Result<T, object_store::Error>;

impl BlobStore {
    /// `file:///absolute/dir`, `s3://bucket/prefix` or `memory://`.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return s3::open(rest);
        }
        if url == "memory://" {
            return Ok(Self::new(
                Arc::new(InMemory::new()),
                local::LOCAL_PART_BYTES,
            ));
        }
        if let Some(dir) = url.strip_prefix("file://") {
            return local::open(url, dir);
        }
        anyhow::bail!("unsupported blob store URL {url:?} (expected file:///path or memory://)")
    }

    pub fn new(store: Arc<dyn ObjectStore>, part_bytes: usize) -> Self {
        Self {
            store,
            part_bytes,
            signer: None,
            local_root: None,
            in_flight: Arc::default(),
        }
    }

    /// Starts writing a new object under a fresh key.
    pub async fn begin(&self) -> BlobResult<BlobWriter> {
        let key = format!("{OBJECT_PREFIX}/{}", uuid::Uuid::now_v7());
        // Registered before anything exists in the store, so a sweep that lists the object
        // (or its staging file) also sees it in flight, until it is committed or deleted.
        let claim = InFlightKey::claim(&self.in_flight, &key);
        let sink = match &self.local_root {
            Some(root) => Sink::Local(counted(
                "begin",
                local::LocalWriter::create(root, &key).await,
            )?),
            None => {
                let upload = counted(
                    "begin",
                    self.store.put_multipart(&Path::from(key.as_str())).await,
                )?;
                Sink::Multipart {
                    upload: WriteMultipart::new_with_chunk_size(upload, self.part_bytes),
                    hasher: HashingThread::start(),
                }
            }
        };
        Ok(BlobWriter {
            key,
            store: self.store.clone(),
            sink: Some(sink),
            claim: Some(claim),
        })
    }

    /// Keys of the uploads this process has in flight (written, not yet committed or deleted).
    pub fn in_flight(&self) -> HashSet<String> {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The object's bytes, or a byte range of them, as a stream.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> BlobResult<BoxStream<'static, BlobResult<Bytes>>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = counted("get", self.store.get_opts(&Path::from(key), options).await)?;
        match result.payload {
            GetResultPayload::File(file, _) => Ok(local::read_file(file, result.range)),
            GetResultPayload::Stream(stream) => Ok(stream),
        }
    }

    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The store answers (a missing probe object is an answer).
    pub async fn ping(&self) -> BlobResult<()> {
        match self.store.head(&Path::from("readyz-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object key, for integrity checks and tests.
    pub async fn list(&self) -> BlobResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut stream = self.store.list(None);
        while let Some(meta) = stream.next().await {
            keys.push(meta?.location.to_string());
        }
        Ok(keys)
    }

    /// Every upload object (under [`OBJECT_PREFIX`]) through the store's list API, which works
    /// on S3 too; then, on the local store, the staging files, which that API hides (it skips
    /// names ending in `#<digits>`), from a walk of the directory.
    pub fn list_objects(&self) -> BoxStream<'static, BlobResult<StoredObject>> {
        let listed = self
            .store
            .list(Some(&Path::from(OBJECT_PREFIX)))
            .map(|meta| {
                let meta = meta?;
                Ok(StoredObject {
                    key: meta.location.to_string(),
                    size: meta.size,
                    last_modified: meta.last_modified,
                    staging: false,
                })
            });
        match &self.local_root {
            Some(root) => listed.chain(local::list_staging(root)).boxed(),
            None => listed.boxed(),
        }
    }

    /// Removes a listed object; a staging file directly, as the store's API cannot name it.
    pub async fn remove(&self, object: &StoredObject) -> BlobResult<()> {
        match (&self.local_root, object.staging) {
            (Some(root), true) => local::remove_staging(root, &object.key).await,
            _ => self.delete(&object.key).await,
        }
    }
}

/// A key in the in-flight set, removed again when dropped.
struct InFlightKey {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl InFlightKey {
    fn claim(set: &Arc<Mutex<HashSet<String>>>, key: &str) -> Self {
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
        Self {
            set: set.clone(),
            key: key.to_owned(),
        }
    }
}

impl Drop for InFlightKey {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Counts a failed store operation for /metrics, by operation.
fn counted<T>(op: &'static str, result: BlobResult<T>) -> BlobResult<T> {
    if result.is_err() {
        metrics::counter!(crate::metrics::BLOB_STORE_ERRORS, "op" => op).increment(1);
    }
    result
}

/// An object being written, and hashed as it is written. Dropped before
/// [`BlobWriter::finish`], it aborts the upload.
pub struct BlobWriter {
    key: String,
    store: Arc<dyn ObjectStore>,
    sink: Option<Sink>,
    claim: Option<InFlightKey>,
}

/// Where a writer's bytes go: the local store's own writer, or object_store's multipart
/// upload (S3, memory) with sha256 on a thread beside it.
enum Sink {
    Local(local::LocalWriter),
    Multipart {
        upload: WriteMultipart,
        hasher: HashingThread,
    },
}

impl BlobWriter {
    pub async fn write(&mut self, data: Bytes) -> BlobResult<()> {
        match &mut self.sink {
            Some(Sink::Local(writer)) => counted("write", writer.write(data).await),
            Some(Sink::Multipart { upload, hasher }) => {
                hasher.update(data.clone()).await?;
                // Back-pressure: wait for a part slot, so memory stays bounded whatever the size.
                counted("write", upload.wait_for_capacity(PARTS_IN_FLIGHT).await)?;
                upload.put(data);
                Ok(())
            }
            None => Err(object_store::Error::NotImplemented {
                operation: "write after finish".into(),
                implementer: "BlobWriter".into(),
            }),
        }
    }

    /// Completes the object. It is deleted again when the returned guard drops, unless kept.
    pub async fn finish(mut self) -> BlobResult<WrittenBlob> {
        let sha256 = match self.sink.take() {
            Some(Sink::Local(writer)) => counted("finish", writer.finish().await)?,
            Some(Sink::Multipart { upload, hasher }) => {
                counted("finish", upload.finish().await)?;
                hasher.finish().await?
            }
            None => String::new(),
        };
        Ok(WrittenBlob {
            key: std::mem::take(&mut self.key),
            sha256,
            store: self.store.clone(),
            kept: false,
            _claim: self.claim.take(),
        })
    }

    /// Abandons the upload and waits until its parts are gone.
    pub async fn abort(mut self) {
        match self.sink.take() {
            Some(Sink::Local(writer)) => writer.abort().await,
            Some(Sink::Multipart { upload, .. }) => {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(error = %e, key = %self.key, "could not abort blob upload");
                }
            }
            None => {}
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // A local writer cleans up after itself when dropped.
        if let Some(Sink::Multipart { upload, .. }) = self.sink.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

/// sha256 on its own thread beside an object_store upload, so hashing overlaps the upload.
/// Chunks are shared `Bytes` (no copy); the bounded channel keeps memory flat.
struct HashingThread {
    chunks: tokio::sync::mpsc::Sender<Bytes>,
    digest: tokio::task::JoinHandle<String>,
}

impl HashingThread {
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

    async fn update(&mut self, chunk: Bytes) -> BlobResult<()> {
        self.chunks
            .send(chunk)
            .await
            .map_err(|_| internal("the hashing thread stopped"))
    }

    async fn finish(self) -> BlobResult<String> {
        drop(self.chunks);
        self.digest.await.map_err(|e| internal(&e.to_string()))
    }
}

fn internal(message: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "BlobWriter",
        source: message.to_owned().into(),
    }
}

/// A complete object that no index row points to yet. Dropped without [`WrittenBlob::keep`],
/// it deletes the object, so a failed or cancelled upload leaves nothing behind.
pub struct WrittenBlob {
    key: String,
    sha256: String,
    store: Arc<dyn ObjectStore>,
    kept: bool,
    /// Held until the row is committed (`keep`) or the object deleted: until then a sweep
    /// in this process leaves the object alone.
    _claim: Option<InFlightKey>,
}

impl WrittenBlob {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Hex sha256 of the object's bytes, computed as they were written.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The index now references this object (its row is committed): never delete it here.
    pub fn keep(mut self) {
        self.kept = true;
    }

    /// Deletes the object now, and waits for it.
    pub async fn discard(mut self) {
        self.kept = true;
        let path = Path::from(self.key.as_str());
        if let Err(e) = self.store.delete(&path).await {
            tracing::warn!(error = %e, key = %self.key, "could not delete unreferenced blob");
        }
    }
}

impl Drop for WrittenBlob {
    fn drop(&mut self) {
        if !self.kept
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            let path = Path::from(self.key.as_str());
            rt.spawn(async move {
                let _ = store.delete(&path).await;
            });
        }
    }
}
