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
