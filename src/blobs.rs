//! Ticket bytes in an object store (local filesystem by default, in-memory for tests).
//!
//! An upload streams into a fresh object whose key is chosen before the hash is known; the
//! index then maps the sha256 to that object. So committing never copies or renames an object
//! (S3's single-request copy stops at 5 GiB), and identical content found later just points at
//! the first object. Every object an upload writes is removed again unless it is kept, whether
//! the upload fails, is rejected or is cancelled by a client disconnect.
//!
//! Crash safety on the local store (object_store 0.14's `local.rs`, with `with_fsync(true)`):
//! a multipart upload writes a staging file `objects/<uuid>#<n>`; completing it calls
//! `sync_all` on the file, closes it, renames it to `objects/<uuid>` and fsyncs that directory
//! (`finish_staged_rename`), and creating `objects/` fsyncs it and the blob root
//! (`create_parent_dirs`). `BlobWriter::finish` returns only after all of that, and the pipeline
//! commits the index row only after `finish` returns, so a committed row never points at bytes
//! that a crash can take back. What object_store does not cover is the blob root itself (and
//! the data dir above it), which we create here: [`create_dir_durably`] fsyncs those entries.
//! A crash between `finish` and the commit leaves a complete object that no row references,
//! and a crash mid-body leaves a staging file: `crate::audit` sweeps both after a grace period.

use std::collections::HashSet;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
};

/// Part size for the local filesystem, which has no minimum part size. Small parts are written
/// while still in the CPU cache: with 8 MiB parts the kernel's copy into the page cache took
/// 62% of the server's CPU samples during a 1 GiB upload, with 1 MiB parts under 10%.
const LOCAL_PART_BYTES: usize = 1 << 20;
/// Multipart part size for S3-compatible stores: above S3's 5 MiB minimum, small enough to
/// keep an upload's memory flat (at most PARTS_IN_FLIGHT + 1 parts buffered).
const REMOTE_PART_BYTES: usize = 8 << 20;
/// Read size when streaming a local file to a client.
const READ_CHUNK_BYTES: u64 = 256 << 10;
/// Parts in flight per upload; with the part being filled this bounds an upload's buffers.
const PARTS_IN_FLIGHT: usize = 2;
/// Every upload's object lives under this prefix; the audit looks nowhere else.
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
            return Self::s3(rest);
        }
        if url == "memory://" {
            return Ok(Self::new(Arc::new(InMemory::new()), LOCAL_PART_BYTES));
        }
        if let Some(dir) = url.strip_prefix("file://") {
            let dir = FsPath::new(dir);
            anyhow::ensure!(dir.is_absolute(), "blob store path must be absolute: {url}");
            create_dir_durably(dir)?;
            // fsync the file, rename it into place, fsync its directory (see the module doc).
            let local = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
            return Ok(Self {
                local_root: Some(dir.to_owned()),
                ..Self::new(Arc::new(local), LOCAL_PART_BYTES)
            });
        }
        anyhow::bail!("unsupported blob store URL {url:?} (expected file:///path or memory://)")
    }

    /// An S3-compatible bucket, configured by the standard `AWS_*` variables (credentials,
    /// `AWS_REGION`/`AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL` for MinIO-style endpoints).
    /// Plain http is allowed for loopback endpoints, or anywhere with `AWS_ALLOW_HTTP=true`.
    fn s3(bucket_and_prefix: &str) -> anyhow::Result<Self> {
        let (bucket, prefix) = bucket_and_prefix
            .split_once('/')
            .unwrap_or((bucket_and_prefix, ""));
        anyhow::ensure!(
            !bucket.is_empty(),
            "s3:// blob store URL needs a bucket: s3://bucket/prefix"
        );
        // The HTTP client underneath needs a TLS provider; ring, as everywhere in this crate.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            let parsed = url::Url::parse(&endpoint)?;
            if parsed.scheme() == "http" {
                let loopback = match parsed.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                let allowed = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true");
                anyhow::ensure!(
                    loopback || allowed,
                    "AWS_ENDPOINT_URL may use plain http only on loopback (or with AWS_ALLOW_HTTP=true on a private network); use https"
                );
                builder = builder.with_allow_http(true);
            }
            builder = builder.with_endpoint(endpoint);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        let s3 = Arc::new(builder.build()?);
        let prefix = prefix.trim_matches('/').to_owned();
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            s3.clone()
        } else {
            Arc::new(PrefixStore::new(s3.clone(), prefix.as_str()))
        };
        Ok(Self {
            signer: Some((s3, prefix)),
            ..Self::new(store, REMOTE_PART_BYTES)
        })
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

    /// A short-lived URL the client can fetch the object from directly (S3 only), so the
    /// bytes need not pass through the API servers.
    pub async fn presigned_get(
        &self,
        key: &str,
        valid_for: std::time::Duration,
    ) -> Option<BlobResult<String>> {
        let (s3, prefix) = self.signer.as_ref()?;
        let full = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        };
        let url = s3
            .signed_url(axum::http::Method::GET, &Path::from(full), valid_for)
            .await
            .map(|u| u.to_string());
        Some(counted("presign", url))
    }

    /// Starts writing a new object under a fresh key.
    pub async fn begin(&self) -> BlobResult<BlobWriter> {
        let key = format!("{OBJECT_PREFIX}/{}", uuid::Uuid::now_v7());
        // Registered before anything exists in the store, so a sweep that lists the object
        // (or its staging file) also sees it in flight, until it is committed or deleted.
        let claim = InFlightKey::claim(&self.in_flight, &key);
        let upload = counted(
            "begin",
            self.store.put_multipart(&Path::from(key.as_str())).await,
        )?;
        Ok(BlobWriter {
            key,
            store: self.store.clone(),
            upload: Some(WriteMultipart::new_with_chunk_size(upload, self.part_bytes)),
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
            GetResultPayload::File(file, _) => Ok(read_file(file, result.range)),
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

    /// Every object key, for audits and tests.
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
        let Some(root) = self.local_root.clone() else {
            return listed.boxed();
        };
        let staging = futures_util::stream::once(async move {
            tokio::task::spawn_blocking(move || staging_files(&root))
                .await
                .map_err(|e| generic_error(e.into()))?
                .map_err(|e| generic_error(e.into()))
        })
        .map(|found| match found {
            Ok(files) => futures_util::stream::iter(files.into_iter().map(Ok)).left_stream(),
            Err(e) => futures_util::stream::iter([Err(e)]).right_stream(),
        })
        .flatten();
        listed.chain(staging).boxed()
    }

    /// Removes a listed object; a staging file directly, as the store's API cannot name it.
    pub async fn remove(&self, object: &StoredObject) -> BlobResult<()> {
        match (&self.local_root, object.staging) {
            (Some(root), true) => {
                let path = root.join(&object.key);
                tokio::task::spawn_blocking(move || match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                })
                .await
                .map_err(|e| generic_error(e.into()))?
                .map_err(|e| generic_error(e.into()))
            }
            _ => self.delete(&object.key).await,
        }
    }
}

/// Creates `dir` and any missing parents, and fsyncs each new entry's directory (up to the
/// first that already existed), so the blob root itself survives a power cut.
fn create_dir_durably(dir: &FsPath) -> std::io::Result<()> {
    let mut first_existing = dir;
    while !first_existing.exists() {
        match first_existing.parent() {
            Some(parent) => first_existing = parent,
            None => break,
        }
    }
    std::fs::create_dir_all(dir)?;
    let mut synced = dir;
    loop {
        File::open(synced)?.sync_all()?;
        if synced == first_existing {
            return Ok(());
        }
        match synced.parent() {
            Some(parent) => synced = parent,
            None => return Ok(()),
        }
    }
}

/// object_store's local staging files under `root/objects`: names ending in `#<digits>`.
fn staging_files(root: &FsPath) -> std::io::Result<Vec<StoredObject>> {
    let entries = match std::fs::read_dir(root.join(OBJECT_PREFIX)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_staging = name.rsplit_once('#').is_some_and(|(base, n)| {
            !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        });
        if !is_staging {
            continue;
        }
        // The file may be completed (renamed away) between listing and stat: skip it then.
        let meta = match entry.metadata() {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.push(StoredObject {
            key: format!("{OBJECT_PREFIX}/{name}"),
            size: meta.len(),
            last_modified: meta.modified()?.into(),
            staging: true,
        });
    }
    Ok(out)
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

/// Streams a byte range of a local file. object_store's own local stream reads 8 KiB per
/// blocking task; reading 256 KiB per task made downloads several times faster here.
fn read_file(file: File, range: Range<u64>) -> BoxStream<'static, BlobResult<Bytes>> {
    let file = Arc::new(file);
    futures_util::stream::try_unfold(range, move |range| {
        let file = file.clone();
        async move {
            if range.start >= range.end {
                return Ok(None);
            }
            let len = (range.end - range.start).min(READ_CHUNK_BYTES) as usize;
            let offset = range.start;
            let chunk = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; len];
                file.read_exact_at(&mut buf, offset)
                    .map(|()| Bytes::from(buf))
            })
            .await
            .map_err(|e| generic_error(e.into()))?
            .map_err(|e| generic_error(e.into()))?;
            Ok(Some((chunk, offset + len as u64..range.end)))
        }
    })
    .boxed()
}

fn generic_error(source: Box<dyn std::error::Error + Send + Sync>) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source,
    }
}

/// An object being written. Dropped before [`BlobWriter::finish`], it aborts the upload.
pub struct BlobWriter {
    key: String,
    store: Arc<dyn ObjectStore>,
    upload: Option<WriteMultipart>,
    claim: Option<InFlightKey>,
}

impl BlobWriter {
    pub async fn write(&mut self, data: Bytes) -> BlobResult<()> {
        let upload = self
            .upload
            .as_mut()
            .ok_or(object_store::Error::NotImplemented {
                operation: "write after finish".into(),
                implementer: "BlobWriter".into(),
            })?;
        // Back-pressure: wait for a part slot, so memory stays bounded whatever the file size.
        counted("write", upload.wait_for_capacity(PARTS_IN_FLIGHT).await)?;
        upload.put(data);
        Ok(())
    }

    /// Completes the object. It is deleted again when the returned guard drops, unless kept.
    pub async fn finish(mut self) -> BlobResult<WrittenBlob> {
        if let Some(upload) = self.upload.take() {
            counted("finish", upload.finish().await)?;
        }
        Ok(WrittenBlob {
            key: std::mem::take(&mut self.key),
            store: self.store.clone(),
            kept: false,
            _claim: self.claim.take(),
        })
    }

    /// Abandons the upload and waits until its parts are gone.
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, key = %self.key, "could not abort blob upload");
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

/// A complete object that no index row points to yet. Dropped without [`WrittenBlob::keep`],
/// it deletes the object, so a failed or cancelled upload leaves nothing behind.
pub struct WrittenBlob {
    key: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_store_syncs_and_creates_its_root_durably() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a/b/blobs");
        let blobs = BlobStore::from_url(&format!("file://{}", root.display())).unwrap();
        assert!(root.is_dir(), "the whole chain of directories exists");
        // The durability argument in the module doc rests on object_store's fsync mode.
        assert!(
            format!("{:?}", blobs.store).contains("fsync: true"),
            "{:?}",
            blobs.store
        );
        // Creating an existing root again is fine (every start does it).
        create_dir_durably(&root).unwrap();
    }

    #[tokio::test]
    async fn staging_files_are_listed_and_uploads_are_in_flight_until_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = BlobStore::from_url(&format!("file://{}", tmp.path().display())).unwrap();
        let mut writer = blobs.begin().await.unwrap();
        writer.write(Bytes::from(vec![7u8; 3000])).await.unwrap();
        let key = writer.key.clone();
        assert_eq!(blobs.in_flight(), HashSet::from([key.clone()]));

        // Mid-upload the object exists only as a staging file, which object_store's list hides.
        let listed: Vec<StoredObject> = blobs.list_objects().map(|o| o.unwrap()).collect().await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].staging);
        assert_eq!(listed[0].key, format!("{key}#1"));
        assert_eq!(listed[0].upload_key(), key);

        let written = writer.finish().await.unwrap();
        assert!(
            blobs.in_flight().contains(&key),
            "written but not yet committed"
        );
        let listed: Vec<StoredObject> = blobs.list_objects().map(|o| o.unwrap()).collect().await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(
            (listed[0].key.as_str(), listed[0].size),
            (key.as_str(), 3000)
        );
        assert!(!listed[0].staging);
        written.keep();
        assert!(blobs.in_flight().is_empty());

        // An abandoned staging file (a crash mid-body) is removed by path.
        let stale = tmp.path().join(format!("{key}x#2"));
        std::fs::write(&stale, b"partial").unwrap();
        let stale = blobs
            .list_objects()
            .map(|o| o.unwrap())
            .filter(|o| std::future::ready(o.staging))
            .collect::<Vec<_>>()
            .await;
        assert_eq!(stale.len(), 1);
        blobs.remove(&stale[0]).await.unwrap();
        assert_eq!(blobs.list().await.unwrap(), vec![key]);
        assert!(
            std::fs::read_dir(tmp.path().join(OBJECT_PREFIX))
                .unwrap()
                .count()
                == 1
        );
    }
}
