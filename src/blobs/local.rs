//! The local filesystem store's specifics: a durable root, fsync on every object, the
//! multipart staging files (`objects/<uuid>#<n>`) that object_store's list hides, and
//! streaming a file's bytes in large reads. The durability argument is in the parent's doc.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;

use super::{BlobResult, BlobStore, OBJECT_PREFIX, StoredObject};

/// Part size for the local filesystem, which has no minimum part size. Small parts are written
/// while still in the CPU cache: with 8 MiB parts the kernel's copy into the page cache took
/// 62% of the server's CPU samples during a 1 GiB upload, with 1 MiB parts under 10%.
pub(super) const LOCAL_PART_BYTES: usize = 1 << 20;
/// Read size when streaming a local file to a client.
const READ_CHUNK_BYTES: u64 = 256 << 10;

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
    futures_util::stream::once(async move {
        tokio::task::spawn_blocking(move || staging_files(&root))
            .await
            .map_err(|e| generic_error(e.into()))?
            .map_err(|e| generic_error(e.into()))
    })
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
    tokio::task::spawn_blocking(move || match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    })
    .await
    .map_err(|e| generic_error(e.into()))?
    .map_err(|e| generic_error(e.into()))
}

/// Streams a byte range of a local file. object_store's own local stream reads 8 KiB per
/// blocking task; reading 256 KiB per task made downloads several times faster here.
pub(super) fn read_file(file: File, range: Range<u64>) -> BoxStream<'static, BlobResult<Bytes>> {
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
