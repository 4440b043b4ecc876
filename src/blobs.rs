//! Ticket bytes in an object store (local filesystem by default, in-memory for tests).
//!
//! An upload streams into a fresh object whose key is chosen before the hash is known; the
//! index then maps the sha256 to that object. So committing never copies or renames an object
//! (S3's single-request copy stops at 5 GiB), and identical content found later just points at
//! the first object. Every object an upload writes is removed again unless it is kept, whether
//! the upload fails, is rejected or is cancelled by a client disconnect.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};

/// Multipart part size: above S3's 5 MiB minimum, small enough to keep memory flat.
const PART_BYTES: usize = 8 << 20;
/// Parts in flight per upload; with the part being filled this bounds an upload's buffers.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
}

pub type BlobResult<T> = Result<T, object_store::Error>;

impl BlobStore {
    /// `file:///absolute/dir` or `memory://`.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url == "memory://" {
            return Ok(Self::new(Arc::new(InMemory::new())));
        }
        if let Some(dir) = url.strip_prefix("file://") {
            let dir = FsPath::new(dir);
            anyhow::ensure!(dir.is_absolute(), "blob store path must be absolute: {url}");
            std::fs::create_dir_all(dir)?;
            // fsync before rename, so an acknowledged upload survives a crash.
            let local = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
            return Ok(Self::new(Arc::new(local)));
        }
        anyhow::bail!("unsupported blob store URL {url:?} (expected file:///path or memory://)")
    }

    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Starts writing a new object under a fresh key.
    pub async fn begin(&self) -> BlobResult<BlobWriter> {
        let key = format!("objects/{}", uuid::Uuid::now_v7());
        let upload = self.store.put_multipart(&Path::from(key.as_str())).await?;
        Ok(BlobWriter {
            key,
            store: self.store.clone(),
            upload: Some(WriteMultipart::new_with_chunk_size(upload, PART_BYTES)),
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
        let result = self.store.get_opts(&Path::from(key), options).await?;
        Ok(result.into_stream().boxed())
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
        upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        upload.put(data);
        Ok(())
    }

    /// Completes the object. It is deleted again when the returned guard drops, unless kept.
    pub async fn finish(mut self) -> BlobResult<WrittenBlob> {
        if let Some(upload) = self.upload.take() {
            upload.finish().await?;
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
