//! The blob port's contract, driven directly (no server) on every store it supports alike:
//! `memory://`, `file://` and S3 (moto, via TEST_S3_ENDPOINT; under CI=true a missing
//! endpoint is a failure, never a skip). Each scenario below runs once per store.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use ticketbooth::blobs::{BlobStore, OBJECT_PREFIX, StoredObject};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Memory,
    File,
    S3,
}

/// A fresh, empty store of one kind (and the directory it lives in, for `file://`).
struct Store {
    blobs: BlobStore,
    kind: Kind,
    /// For S3: the endpoint and bucket, to see multipart uploads the port cannot list.
    s3: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Store {
    /// None only for S3 when no endpoint is configured outside CI.
    async fn open(kind: Kind) -> Option<Self> {
        let mut s3 = None;
        let (url, dir) = match kind {
            Kind::Memory => ("memory://".to_owned(), None),
            Kind::File => {
                let dir = tempfile::tempdir().unwrap();
                (format!("file://{}/blobs", dir.path().display()), Some(dir))
            }
            Kind::S3 => {
                let endpoint = crate::s3::endpoint()?;
                let bucket = crate::s3::bucket(&endpoint).await;
                let url = format!("s3://{bucket}/contract");
                s3 = Some((endpoint, bucket));
                (url, None)
            }
        };
        let blobs = BlobStore::from_url(&url).unwrap();
        Some(Self {
            blobs,
            kind,
            s3,
            _dir: dir,
        })
    }
}

/// Runs each scenario (an async fn taking a [`Store`]) as one test per store kind.
macro_rules! contract {
    ($($name:ident)*) => {
        mod memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Store::open(super::Kind::Memory).await.unwrap()).await;
            })*
        }
        mod file {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Store::open(super::Kind::File).await.unwrap()).await;
            })*
        }
        mod s3 {
            $(#[tokio::test]
            async fn $name() {
                if let Some(store) = super::Store::open(super::Kind::S3).await {
                    super::$name(store).await;
                }
            })*
        }
    };
}

contract! {
    kept_object_reads_back_whole_and_ranged
    discard_removes_the_object
    aborted_or_dropped_writer_leaves_nothing
    dropping_an_unkept_written_blob_removes_it
    listing_sees_kept_objects_and_in_flight_until_kept
    delete_and_ping_tolerate_missing_objects
    presigned_url_only_on_s3
}

/// Bytes that differ at every offset that matters: 600 KiB spans several local read chunks.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Writes `data` in uneven chunks and finishes the object.
async fn write(blobs: &BlobStore, data: &[u8]) -> ticketbooth::blobs::WrittenBlob {
    let mut writer = blobs.begin().await.unwrap();
    for chunk in data.chunks(100_003) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    writer.finish().await.unwrap()
}

async fn read(blobs: &BlobStore, key: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let chunks: Vec<Bytes> = blobs
        .get(key, range)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

async fn listed(blobs: &BlobStore) -> Vec<StoredObject> {
    blobs.list_objects().try_collect().await.unwrap()
}

/// Whether the store holds anything of the upload to `key` (the object or a staging file).
async fn holds(blobs: &BlobStore, key: &str) -> bool {
    listed(blobs).await.iter().any(|o| o.upload_key() == key)
}

/// Waits (bounded) until nothing of the upload to `key` is left: drop-time cleanup runs in
/// the background.
async fn expect_gone(blobs: &BlobStore, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while holds(blobs, key).await {
        assert!(Instant::now() < deadline, "{key} was never removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn kept_object_reads_back_whole_and_ranged(store: Store) {
    let blobs = &store.blobs;
    let data = content(600 << 10);
    let written = write(blobs, &data).await;
    let key = written.key().to_owned();
    assert!(key.starts_with(&format!("{OBJECT_PREFIX}/")), "{key}");
    written.keep();

    assert_eq!(read(blobs, &key, None).await, data);
    assert_eq!(read(blobs, &key, Some(0..1)).await, &data[..1]);
    assert_eq!(
        read(blobs, &key, Some(1000..300_000)).await,
        &data[1000..300_000]
    );
    let len = data.len() as u64;
    assert_eq!(
        read(blobs, &key, Some(len - 7..len)).await,
        &data[data.len() - 7..]
    );
    // Another upload of the same bytes is another object: keys never depend on content.
    let again = write(blobs, &data).await;
    assert_ne!(again.key(), key);
    again.keep();
}

async fn discard_removes_the_object(store: Store) {
    let blobs = &store.blobs;
    let written = write(blobs, b"to be discarded").await;
    let key = written.key().to_owned();
    assert!(holds(blobs, &key).await);
    written.discard().await;
    // `discard` waits for the delete: no polling.
    assert!(!holds(blobs, &key).await);
    assert!(blobs.get(&key, None).await.is_err());
    assert!(blobs.in_flight().is_empty());
}

async fn aborted_or_dropped_writer_leaves_nothing(store: Store) {
    let blobs = &store.blobs;
    let mut writer = blobs.begin().await.unwrap();
    writer.write(Bytes::from(content(3000))).await.unwrap();
    assert_eq!(blobs.in_flight().len(), 1);
    writer.abort().await;
    assert!(listed(blobs).await.is_empty(), "abort waits for the parts");
    assert!(blobs.in_flight().is_empty());
    if let Some((endpoint, bucket)) = &store.s3 {
        assert_eq!(
            crate::s3::pending_multipart_uploads(endpoint, bucket).await,
            0,
            "abort waits for S3 to drop the multipart upload"
        );
    }

    let mut writer = blobs.begin().await.unwrap();
    writer.write(Bytes::from(content(3000))).await.unwrap();
    let key = blobs.in_flight().into_iter().next().unwrap();
    drop(writer);
    assert!(blobs.in_flight().is_empty());
    expect_gone(blobs, &key).await;
    assert!(listed(blobs).await.is_empty());
    if let Some((endpoint, bucket)) = &store.s3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while crate::s3::pending_multipart_uploads(endpoint, bucket).await > 0 {
            assert!(
                Instant::now() < deadline,
                "the dropped upload was never aborted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn dropping_an_unkept_written_blob_removes_it(store: Store) {
    let blobs = &store.blobs;
    let written = write(blobs, b"nobody keeps me").await;
    let key = written.key().to_owned();
    assert_eq!(read(blobs, &key, None).await, b"nobody keeps me");
    drop(written);
    assert!(blobs.in_flight().is_empty());
    expect_gone(blobs, &key).await;
    assert!(blobs.get(&key, None).await.is_err());
}

async fn listing_sees_kept_objects_and_in_flight_until_kept(store: Store) {
    let blobs = &store.blobs;
    let a = write(blobs, &content(10)).await;
    let b = write(blobs, &content(2000)).await;
    let (ka, kb) = (a.key().to_owned(), b.key().to_owned());
    assert_eq!(
        blobs.in_flight(),
        [ka.clone(), kb.clone()].into_iter().collect(),
        "written but not committed: a sweep must spare them"
    );
    a.keep();
    b.keep();
    assert!(blobs.in_flight().is_empty());

    let mut objects = listed(blobs).await;
    objects.sort_by(|x, y| x.key.cmp(&y.key));
    let mut expected = vec![(ka.clone(), 10), (kb.clone(), 2000)];
    expected.sort();
    assert_eq!(
        objects
            .iter()
            .map(|o| (o.key.clone(), o.size))
            .collect::<Vec<_>>(),
        expected
    );
    for o in &objects {
        assert!(!o.staging);
        assert_eq!(o.upload_key(), o.key);
        let age = chrono::Utc::now() - o.last_modified;
        assert!(age < chrono::Duration::minutes(5), "{o:?}");
    }
    let mut all = blobs.list().await.unwrap();
    all.sort();
    let mut keys = vec![ka.clone(), kb.clone()];
    keys.sort();
    assert_eq!(all, keys);

    // Removing a listed object through the port removes exactly that one.
    blobs.remove(&objects[0]).await.unwrap();
    let left: Vec<String> = listed(blobs).await.into_iter().map(|o| o.key).collect();
    assert_eq!(left, vec![objects[1].key.clone()]);
}

async fn delete_and_ping_tolerate_missing_objects(store: Store) {
    let blobs = &store.blobs;
    blobs.ping().await.unwrap();
    blobs
        .delete(&format!("{OBJECT_PREFIX}/never-written"))
        .await
        .unwrap();
    let written = write(blobs, b"x").await;
    let key = written.key().to_owned();
    written.keep();
    blobs.delete(&key).await.unwrap();
    blobs.delete(&key).await.unwrap();
    assert!(!holds(blobs, &key).await);
}

async fn presigned_url_only_on_s3(store: Store) {
    let blobs = &store.blobs;
    let data = content(5000);
    let written = write(blobs, &data).await;
    let key = written.key().to_owned();
    written.keep();
    let presigned = blobs.presigned_get(&key, Duration::from_secs(60)).await;
    if store.kind != Kind::S3 {
        assert!(presigned.is_none(), "{:?} cannot presign", store.kind);
        return;
    }
    let url = presigned.expect("S3 presigns").unwrap();
    let response = reqwest::get(&url).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.bytes().await.unwrap(), data);
}
