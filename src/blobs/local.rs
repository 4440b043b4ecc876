//! The local filesystem store's specifics: a durable root; its own writer (one thread per
//! upload that hashes each chunk and writes it through [`FileSink`], and syncs, renames and
//! syncs the directory at the end); the staging files
//! (`objects/<uuid>#1`) that object_store's list hides; and serving a file's bytes from
//! memory-mapped windows. The durability argument is in the parent's doc.

use std::fs::File;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::file_sink::FileSink;
use super::{BlobResult, BlobStore, OBJECT_PREFIX, StoredObject};

/// Part size of object_store multipart uploads where the store has no minimum (the in-memory
/// store; the local store uses its own writer below).
pub(super) const LOCAL_PART_BYTES: usize = 1 << 20;
/// Chunks are handed to a local writer's thread in batches of about this many bytes: one
/// wake-up of the thread per batch rather than per chunk (hyper delivers a few hundred KiB).
const BATCH_BYTES: usize = 1 << 20;
/// Batches queued to the thread; with the one being gathered this bounds an upload's buffers.
const QUEUED_BATCHES: usize = 4;
/// The size of each memory-mapped window a local download is served from.
const MAP_WINDOW_BYTES: u64 = 4 << 20;
/// While a window is sent, the kernel is asked to read this much beyond it, so a blob that is
/// not in the page cache (uploads bypass it) streams at the disk's pace rather than one
/// window's read latency at a time.
const READ_AHEAD_BYTES: u64 = 16 << 20;

/// The store for `file://<dir>`: `dir` must be absolute; it is created durably.
pub(super) fn open(url: &str, dir: &str) -> anyhow::Result<BlobStore> {
    let dir = FsPath::new(dir);
    anyhow::ensure!(dir.is_absolute(), "blob store path must be absolute: {url}");
    create_dir_durably(dir)?;
    // fsync the file, rename it into place, fsync its directory (see the module doc).
    let local = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
    Ok(BlobStore {
        local_root: Some(dir.to_owned()),
        ..BlobStore::new(Arc::new(local), LOCAL_PART_BYTES)
    })
}

/// An upload being written to `objects/<uuid>#1`. A thread of its own hashes and writes, so
/// both overlap the parsing and counting on the async side (BENCHMARKS.md, issue 18).
pub(super) struct LocalWriter {
    chunks: Option<mpsc::Sender<Vec<Bytes>>>,
    batch: Vec<Bytes>,
    batch_bytes: usize,
    thread: Option<JoinHandle<std::io::Result<(File, Sha256)>>>,
    staging: PathBuf,
    target: PathBuf,
}

impl LocalWriter {
    /// Creates the staging file for `key` (its directory durably, the file exclusively).
    pub(super) async fn create(root: &FsPath, key: &str) -> BlobResult<Self> {
        let target = root.join(key);
        let staging = PathBuf::from(format!("{}#1", target.display()));
        let path = staging.clone();
        let file = blocking(move || {
            if let Some(dir) = path.parent().filter(|dir| !dir.is_dir()) {
                create_dir_durably(dir)?;
            }
            File::options().write(true).create_new(true).open(&path)
        })
        .await?;
        let (chunks, rx) = mpsc::channel(QUEUED_BATCHES);
        let thread = tokio::task::spawn_blocking(move || write_chunks(file, rx));
        Ok(Self {
            chunks: Some(chunks),
            batch: Vec::new(),
            batch_bytes: 0,
            thread: Some(thread),
            staging,
            target,
        })
    }

    pub(super) async fn write(&mut self, data: Bytes) -> BlobResult<()> {
        let Some(chunks) = &self.chunks else {
            return Err(generic_error("write after finish".into()));
        };
        self.batch_bytes += data.len();
        self.batch.push(data);
        if self.batch_bytes < BATCH_BYTES {
            return Ok(());
        }
        self.batch_bytes = 0;
        if chunks.send(std::mem::take(&mut self.batch)).await.is_ok() {
            return Ok(());
        }
        // The thread stopped early: only an I/O error does that.
        match self.stop(false).await {
            Err(e) => Err(e),
            Ok(_) => Err(generic_error("the blob writer stopped".into())),
        }
    }

    /// Waits for the writes, then fsyncs the file, renames it into place and fsyncs the
    /// directory. Returns the hex sha256 of everything written.
    pub(super) async fn finish(mut self) -> BlobResult<String> {
        let (file, hasher) = self.stop(true).await?;
        let (staging, target) = (self.staging.clone(), self.target.clone());
        let done = blocking(move || {
            file.sync_all()?;
            drop(file);
            std::fs::rename(&staging, &target)?;
            match target.parent() {
                Some(dir) => File::open(dir)?.sync_all(),
                None => Ok(()),
            }
        })
        .await;
        if let Err(e) = done {
            self.remove_staging().await;
            return Err(e);
        }
        self.staging = PathBuf::new();
        Ok(hex::encode(hasher.finalize()))
    }

    /// Stops writing and removes the staging file.
    pub(super) async fn abort(mut self) {
        let _ = self.stop(false).await;
        self.remove_staging().await;
    }

    /// Closes the queue (after handing over the batch being gathered, when finishing) and
    /// waits for the thread: the file and hash, or its error.
    async fn stop(&mut self, flush: bool) -> BlobResult<(File, Sha256)> {
        let batch = std::mem::take(&mut self.batch);
        if let Some(chunks) = self.chunks.take()
            && flush
            && !batch.is_empty()
        {
            // A failed send means the thread stopped; its own error is what is reported.
            let _ = chunks.send(batch).await;
        }
        match self.thread.take() {
            Some(thread) => thread
                .await
                .map_err(|e| generic_error(e.into()))?
                .map_err(|e| generic_error(e.into())),
            None => Err(generic_error("the blob writer already stopped".into())),
        }
    }

    async fn remove_staging(&mut self) {
        let path = std::mem::take(&mut self.staging);
        if path.as_os_str().is_empty() {
            return;
        }
        if let Err(e) = blocking(move || remove_if_present(&path)).await {
            tracing::warn!(error = %e, "could not remove a staging file");
        }
    }
}

impl Drop for LocalWriter {
    /// Dropped unfinished (a failed or cancelled upload): stop the thread, remove the file.
    fn drop(&mut self) {
        drop(self.chunks.take());
        let thread = self.thread.take();
        let path = std::mem::take(&mut self.staging);
        if path.as_os_str().is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(thread) = thread {
                    let _ = thread.await;
                }
                let _ = blocking(move || remove_if_present(&path)).await;
            });
        }
    }
}

/// The writer thread: hash each chunk and hand it to the file sink (direct I/O where the
/// filesystem allows it).
fn write_chunks(
    file: File,
    mut batches: mpsc::Receiver<Vec<Bytes>>,
) -> std::io::Result<(File, Sha256)> {
    let mut hasher = Sha256::new();
    let mut sink = FileSink::new(file, true);
    while let Some(batch) = batches.blocking_recv() {
        for chunk in batch {
            hasher.update(&chunk);
            sink.write(&chunk)?;
        }
    }
    Ok((sink.finish()?, hasher))
}

fn remove_if_present(path: &FsPath) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Runs blocking file work on tokio's blocking pool, as a store error.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> BlobResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| generic_error(e.into()))?
        .map_err(|e| generic_error(e.into()))
}

/// Creates `dir` and any missing parents, and fsyncs each new entry's directory (up to the
/// first that already existed), so the blob root itself survives a power cut.
pub(super) fn create_dir_durably(dir: &FsPath) -> std::io::Result<()> {
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

/// The staging files under `root/objects`, found by a walk of the directory on a blocking
/// thread, as a stream (one error item if the walk fails).
pub(super) fn list_staging(root: &FsPath) -> BoxStream<'static, BlobResult<StoredObject>> {
    let root = root.to_owned();
    futures_util::stream::once(async move { blocking(move || staging_files(&root)).await })
        .map(|found| match found {
            Ok(files) => futures_util::stream::iter(files.into_iter().map(Ok)).left_stream(),
            Err(e) => futures_util::stream::iter([Err(e)]).right_stream(),
        })
        .flatten()
        .boxed()
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

/// Removes a staging file by path (the store's API cannot name it); a missing one is fine.
pub(super) async fn remove_staging(root: &FsPath, key: &str) -> BlobResult<()> {
    let path = root.join(key);
    blocking(move || remove_if_present(&path)).await
}

/// Streams a byte range of a local file as memory-mapped windows handed to hyper as `Bytes`,
/// so the only copy is the kernel's from the page cache into the socket. With 256 KiB reads
/// into a zeroed buffer the server spent 2.7x nginx's `sendfile` CPU per GiB served; the
/// figures are in BENCHMARKS.md (issue 18). At most a window or two is mapped at once (hyper
/// asks for the next chunk once the last is written), so memory stays flat whatever the size.
///
/// Mapping is safe here because a blob is never modified once it is complete: uploads write
/// staging files and rename them into place, and removal unlinks (the mapped inode lives on).
/// Truncation, the one thing that could fault a mapped read, never happens to an object.
pub(super) fn read_file(file: File, range: Range<u64>) -> BoxStream<'static, BlobResult<Bytes>> {
    let file = Arc::new(file);
    futures_util::stream::try_unfold(range, move |range| {
        let file = file.clone();
        async move {
            if range.start >= range.end {
                return Ok(None);
            }
            let len = (range.end - range.start).min(MAP_WINDOW_BYTES) as usize;
            let offset = range.start;
            let next = offset + len as u64;
            let ahead = (range.end - next).min(READ_AHEAD_BYTES);
            let window = blocking(move || {
                let window = map_window(&file, offset, len)?;
                read_ahead(&file, next, ahead);
                Ok(window)
            })
            .await?;
            Ok(Some((window, offset + len as u64..range.end)))
        }
    })
    .boxed()
}

/// `len` bytes of `file` from `offset`, mapped read-only and faulted in up front (on this
/// blocking thread rather than page by page inside the socket write).
fn map_window(file: &File, offset: u64, len: usize) -> std::io::Result<Bytes> {
    // SAFETY: the file is a complete blob, never written or truncated again (see read_file).
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .populate()
            .map(file)?
    };
    Ok(Bytes::from_owner(map))
}

/// Asks the kernel to start reading a range into the page cache, without waiting. Advisory:
/// a failure only means the next window is read when it is mapped.
#[cfg(target_os = "linux")]
fn read_ahead(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return;
    }
    // SAFETY: a plain syscall on an open descriptor; no memory is passed.
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_WILLNEED,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn read_ahead(_file: &File, _offset: u64, _len: u64) {}

fn generic_error(source: Box<dyn std::error::Error + Send + Sync>) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source,
    }
}
