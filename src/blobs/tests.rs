use super::local::create_dir_durably;
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

#[tokio::test]
async fn writers_hash_what_they_write_and_aborts_leave_nothing() {
    use sha2::{Digest, Sha256};
    let tmp = tempfile::tempdir().unwrap();
    let local = BlobStore::from_url(&format!("file://{}", tmp.path().display())).unwrap();
    let memory = BlobStore::from_url("memory://").unwrap();
    // Several batches and writeback ranges, and a tail that is neither.
    let data: Vec<u8> = (0..(9u32 << 20) + 12345).map(|i| (i % 251) as u8).collect();
    for blobs in [&local, &memory] {
        let mut writer = blobs.begin().await.unwrap();
        for chunk in data.chunks(300 << 10) {
            writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let written = writer.finish().await.unwrap();
        assert_eq!(written.sha256(), hex::encode(Sha256::digest(&data)));
        let mut read = Vec::new();
        let mut stream = blobs.get(written.key(), None).await.unwrap();
        while let Some(chunk) = stream.next().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert!(read == data, "the bytes read back are the bytes written");
        let mut ranged = Vec::new();
        let mut stream = blobs
            .get(written.key(), Some(5..(5 << 20) + 7))
            .await
            .unwrap();
        while let Some(chunk) = stream.next().await {
            ranged.extend_from_slice(&chunk.unwrap());
        }
        assert!(
            ranged == data[5..(5 << 20) + 7],
            "a range across map windows"
        );
        written.keep();

        let mut aborted = blobs.begin().await.unwrap();
        aborted
            .write(Bytes::from(vec![1u8; 3 << 20]))
            .await
            .unwrap();
        aborted.abort().await;
        assert_eq!(
            blobs.list_objects().count().await,
            1,
            "only the kept object"
        );
    }
    assert_eq!(
        std::fs::read_dir(tmp.path().join(OBJECT_PREFIX))
            .unwrap()
            .count(),
        1,
        "no staging file left on disk"
    );
}
