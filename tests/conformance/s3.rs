//! S3-compatible blob storage and several replicas, against a real S3 server on loopback (the
//! test command starts moto's) and the shared Postgres: uploads stream as multipart uploads, are
//! deduplicated without copies, leave nothing behind when refused or cut off, and any replica
//! sees what another stored.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::common::{
    Backend, Response, TestServer, f32_bytes, metadata, postgres_configured, safetensors_file,
    small_ticket,
};
use ticketbooth::ingest::pipeline::UploadLimits;

/// The S3 endpoint, or None (locally) when the test command did not start one.
pub(crate) fn endpoint() -> Option<String> {
    match std::env::var("TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_S3_ENDPOINT is not set: the S3 tests cannot be skipped")
        }
        _ => {
            eprintln!(
                "skipping: TEST_S3_ENDPOINT is not set (scripts/test.sh starts an S3 server)"
            );
            None
        }
    }
}

/// A fresh bucket for one test.
pub(crate) async fn bucket(endpoint: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let name = format!("tb-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "cannot create bucket: {}",
        r.status()
    );
    name
}

async fn s3_get(endpoint: &str, bucket: &str, query: &str) -> String {
    reqwest::get(format!("{endpoint}/{bucket}?{query}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn objects(endpoint: &str, bucket: &str) -> usize {
    s3_get(endpoint, bucket, "list-type=2")
        .await
        .matches("<Key>")
        .count()
}

pub(crate) async fn pending_multipart_uploads(endpoint: &str, bucket: &str) -> usize {
    s3_get(endpoint, bucket, "uploads")
        .await
        .matches("<Upload>")
        .count()
}

/// Cleanup after a cancelled upload runs in the background: wait for it, bounded.
async fn expect_objects(endpoint: &str, bucket: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (objects, pending) = (
            objects(endpoint, bucket).await,
            pending_multipart_uploads(endpoint, bucket).await,
        );
        if objects == n && pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} objects and no pending uploads, found {objects} and {pending}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn backend() -> Backend {
    if postgres_configured() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_dedup_and_nothing_left_behind() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket(&endpoint).await;
    let limits = UploadLimits {
        max_file_bytes: 64 << 20,
    };
    let srv = TestServer::builder(backend())
        .limits(limits)
        .blob_store(&format!("s3://{bucket}/registry"))
        .start()
        .await;

    // 10 MiB: more than one 8 MiB part, so the multipart path is real.
    let big = safetensors_file(
        &[(
            "w",
            safetensors::Dtype::F32,
            vec![1280, 2048],
            f32_bytes((0..1280 * 2048).map(|i| (i % 3) as f32)),
        )],
        &[],
    );
    let a = srv.upload(Some(&metadata("a")), Some(big.clone())).await;
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let b = srv.upload(Some(&metadata("b")), Some(big.clone())).await;
    assert_eq!(b.status, 201);
    expect_objects(&endpoint, &bucket, 1).await;
    let keys = s3_get(&endpoint, &bucket, "list-type=2").await;
    assert!(
        keys.contains("<Key>registry/objects/"),
        "objects live under the prefix: {keys}"
    );

    let id = b.json()["id"].as_str().unwrap().to_owned();
    let down = srv.get(&format!("/tickets/{id}/file")).await;
    assert!(down.body == big, "download differs");
    let part = Response::read(
        srv.client
            .get(srv.api(&format!("/tickets/{id}/file")))
            .header("range", "bytes=100-199")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((part.status, &part.body[..]), (206, &big[100..200]));

    // Refused and cut-off uploads leave no object and no pending multipart upload.
    let mut bad = small_ticket(1, 2);
    bad.truncate(bad.len() - 1);
    srv.upload(Some(&metadata("bad")), Some(bad))
        .await
        .assert_error(422, "invalid_safetensors", Some("file"));
    let mut body =
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n".to_vec();
    body.extend_from_slice(&big);
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
        srv.token,
        body.len() + 100
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() - 1000]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stream);
    expect_objects(&endpoint, &bucket, 1).await;
    assert_eq!(srv.ticket_rows().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_index_and_one_bucket() {
    let Some(endpoint) = endpoint() else { return };
    if !postgres_configured() {
        return;
    }
    let bucket = bucket(&endpoint).await;
    let limits = UploadLimits {
        max_file_bytes: 64 << 20,
    };
    let one = TestServer::builder(Backend::Postgres)
        .limits(limits)
        .blob_store(&format!("s3://{bucket}"))
        .start()
        .await;
    let two = one.replica().await;

    // Stored through one, found and downloaded through the other, at once.
    let file = small_ticket(21, 4);
    let id = one
        .upload(Some(&metadata("shared")), Some(file.clone()))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        two.get("/tickets?q=shared").await.json()["items"][0]["id"],
        id.as_str()
    );
    assert!(two.get(&format!("/tickets/{id}/file")).await.body == file);

    // The same content through both replicas at once: two tickets, one object.
    let same = small_ticket(22, 2);
    let (m1, m2) = (metadata("same-1"), metadata("same-2"));
    let (x, y) = tokio::join!(
        one.upload(Some(&m1), Some(same.clone())),
        two.upload(Some(&m2), Some(same.clone()))
    );
    assert_eq!((x.status, y.status), (201, 201));
    assert_eq!(x.json()["sha256"], y.json()["sha256"]);
    expect_objects(&endpoint, &bucket, 2).await;

    // The same name through both at once: exactly one wins.
    let race = metadata("race");
    let (p, q) = tokio::join!(
        one.upload(Some(&race), Some(small_ticket(23, 2))),
        two.upload(Some(&race), Some(small_ticket(24, 2)))
    );
    let mut statuses = [p.status, q.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    expect_objects(&endpoint, &bucket, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    if !postgres_configured() {
        return;
    }
    let url = crate::common::fresh_postgres_database().await;
    let (a, b, c) = tokio::join!(
        ticketbooth::index::open(&url),
        ticketbooth::index::open(&url),
        ticketbooth::index::open(&url)
    );
    assert!(
        a.is_ok() && b.is_ok() && c.is_ok(),
        "{:?} {:?} {:?}",
        a.err(),
        b.err(),
        c.err()
    );
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_can_redirect_to_presigned_urls() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket(&endpoint).await;
    let limits = UploadLimits {
        max_file_bytes: 64 << 20,
    };
    let srv = TestServer::builder(backend())
        .limits(limits)
        .blob_store(&format!("s3://{bucket}/p"))
        .redirect(true)
        .start()
        .await;
    let file = small_ticket(41, 2);
    let id = srv
        .upload(Some(&metadata("redirected")), Some(file.clone()))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_follow
        .get(srv.api(&format!("/tickets/{id}/file")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&endpoint) && location.contains("X-Amz-Signature="),
        "{location}"
    );
    assert_eq!(
        srv.get(&format!("/tickets/{id}")).await.json()["downloads"],
        1,
        "counted when the redirect is issued"
    );
    // Following it gives the exact bytes, straight from the bucket.
    let bytes = reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes[..] == file[..]);
    // HEAD still answers here, with the size, and is not counted.
    let head = no_follow
        .head(srv.api(&format!("/tickets/{id}/file")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        file.len().to_string().as_str()
    );
    assert_eq!(
        srv.get(&format!("/tickets/{id}")).await.json()["downloads"],
        1
    );
    // A redirect for a range short of the end is not a download; the whole file is, once per
    // client (here another user) and hour.
    let bob = srv.token_for("bob").await;
    let url = srv.api(&format!("/tickets/{id}/file"));
    let first_byte = no_follow
        .get(&url)
        .bearer_auth(&bob)
        .header("range", "bytes=0-0");
    assert_eq!(first_byte.send().await.unwrap().status(), 302);
    let count = || async { srv.get(&format!("/tickets/{id}")).await.json()["downloads"].clone() };
    assert_eq!(count().await, 1);
    for _ in 0..2 {
        let whole = no_follow.get(&url).bearer_auth(&bob).send().await.unwrap();
        assert_eq!(whole.status(), 302);
    }
    assert_eq!(count().await, 2);
}
