//! Ticket bytes in an object store (local filesystem by default, in-memory for tests).
//!
//! An upload streams into a fresh object whose key is chosen before the hash is known; the
//! index then maps the sha256 to that object. So committing never copies or renames an object
//! (S3's single-request copy stops at 5 GiB), and identical content found later just points at
//! the first object. Every object an upload writes is removed again unless it is kept, whether
//! the upload fails, is rejected or is cancelled by a client disconnect.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
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

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
    /// For S3: the client that can presign a URL, and the key prefix the store adds.
    signer: Option<(Arc<AmazonS3>, String)>,
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
            std::fs::create_dir_all(dir)?;
            // fsync before rename, so an acknowledged upload survives a crash.
            let local = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
            return Ok(Self::new(Arc::new(local), LOCAL_PART_BYTES));
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
        let key = format!("objects/{}", uuid::Uuid::now_v7());
        let upload = counted(
            "begin",
            self.store.put_multipart(&Path::from(key.as_str())).await,
        )?;
        Ok(BlobWriter {
            key,
            store: self.store.clone(),
            upload: Some(WriteMultipart::new_with_chunk_size(upload, self.part_bytes)),
        })
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
}

/// Counts a failed store operation for /metrics, by operation.
fn counted<T>(op: &'static str, result: BlobResult<T>) -> BlobResult<T> {
    if result.is_err() {
        metrics::counter!(crate::http::metrics::BLOB_STORE_ERRORS, "op" => op).increment(1);
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
}

impl WrittenBlob {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The index now references this object: never delete it here.
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
