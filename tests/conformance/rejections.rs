//! Every class of bad upload gets a clear 4xx JSON error, stores nothing, and leaves the
//! server up.

use std::time::Duration;

use safetensors::Dtype;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    Backend, TestServer, conformance, f32_bytes, metadata, raw_file, safetensors_file, small_ticket,
};
use ticketbooth::ingest::pipeline::UploadLimits;

const ENTRY: &str = r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}"#;
const ONE: [u8; 4] = [0, 0, 128, 63];

/// Bad files: (what, bytes, words the message must contain).
fn bad_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let ok = small_ticket(0, 2);
    let mut long = ok.clone();
    long.extend_from_slice(&[0; 4]);
    vec![
        (
            "leading whitespace",
            raw_file(&format!(" {{{ENTRY}}}"), &ONE),
            "whitespace",
        ),
        (
            "duplicate tensor",
            raw_file(&format!("{{{ENTRY},{ENTRY}}}"), &ONE),
            "duplicate tensor name",
        ),
        (
            "duplicate metadata key",
            raw_file(
                &format!(r#"{{"__metadata__":{{"k":"1","k":"2"}},{ENTRY}}}"#),
                &ONE,
            ),
            "duplicate key",
        ),
        (
            "unknown entry field",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4],"extra":0}}"#,
                &ONE,
            ),
            "unknown field",
        ),
        (
            "NUL in name",
            raw_file(
                r#"{"w\u0000x":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#,
                &ONE,
            ),
            "control character",
        ),
        (
            "long name",
            raw_file(
                &format!(
                    r#"{{"{}":{{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}}}"#,
                    "n".repeat(1100)
                ),
                &ONE,
            ),
            "1024",
        ),
        ("no tensors", raw_file("{}", &[]), "no tensors"),
        (
            "no prunable entries",
            safetensors_file(&[("bias", Dtype::F32, vec![4], f32_bytes([1.0; 4]))], &[]),
            "no prunable entries",
        ),
        ("short data", ok[..ok.len() - 3].to_vec(), "shorter"),
        ("long data", long, "longer"),
        (
            "mask shape",
            safetensors_file(
                &[
                    ("w_orig", Dtype::F32, vec![2, 2], f32_bytes([1.0; 4])),
                    ("w_mask", Dtype::U8, vec![4, 1], vec![1; 4]),
                ],
                &[],
            ),
            "has shape",
        ),
        (
            "mask without parameter",
            safetensors_file(&[("w_mask", Dtype::BOOL, vec![2, 2], vec![1; 4])], &[]),
            "no parameter",
        ),
        (
            "unsupported dtype",
            raw_file(
                r#"{"w":{"dtype":"F8_E8M0","shape":[2,2],"data_offsets":[0,4]}}"#,
                &[1; 4],
            ),
            "F8_E8M0 is not supported",
        ),
        (
            "pickle",
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.".to_vec(),
            "pickle",
        ),
        (
            "zip",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00!\x00".to_vec(),
            "zip",
        ),
        ("json", br#"{"weights": [1, 2, 3]}"#.to_vec(), "JSON"),
        ("tiny", b"abc".to_vec(), "8-byte header length"),
    ]
}

pub(crate) async fn assert_nothing_stored(srv: &TestServer) {
    assert_nothing_stored_beyond(srv, 0).await;
}

/// Exactly `tickets` rows and as many blob files (each test ticket has distinct content), and
/// the server still answers.
pub(crate) async fn assert_nothing_stored_beyond(srv: &TestServer, tickets: usize) {
    assert_eq!(srv.ticket_rows().await, tickets as i64);
    srv.expect_blob_files(tickets).await;
    let up = reqwest::get(format!("{}/healthz", srv.url)).await.unwrap();
    assert_eq!(up.status(), 200, "server must stay up");
}

pub(crate) fn multipart_body(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

async fn post_raw(srv: &TestServer, content_type: &str, body: Vec<u8>) -> crate::common::Response {
    let r = srv
        .client
        .post(srv.api("/tickets"))
        .bearer_auth(&srv.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    crate::common::Response::read(r).await
}

conformance! {
    async fn bad_files_are_rejected_with_nothing_stored(srv) {
        for (what, bytes, words) in bad_files() {
            // Metadata first, so the early (header-time) path is exercised too.
            let r = srv.upload(Some(&metadata(what.replace(' ', "-").as_str())), Some(bytes)).await;
            let message = r.assert_error(422, "invalid_safetensors", Some("file"));
            assert!(message.contains(words), "{what}: {message}");
            if ["pickle", "zip", "json", "tiny"].contains(&what) {
                assert!(message.contains("save it with `safetensors.torch.save_file(model.state_dict(), path)`"), "{what}: {message}");
            }
            assert_nothing_stored(&srv).await;
        }
    }

    async fn bad_metadata_is_rejected_with_nothing_stored(srv) {
        let file = small_ticket(1, 2);
        let mut without_task = metadata("x");
        without_task.as_object_mut().unwrap().remove("task");
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"acuracy": 0.9}), "acuracy", "did you mean 'accuracy'"),
            ({ let mut m = metadata("x"); m["accuracy"] = json!(93.4); m }, "accuracy", "0.934"),
            (without_task, "task", "required"),
            ({ let mut m = metadata("x"); m["name"] = json!("bad name!"); m }, "name", "slug"),
            ({ let mut m = metadata("x"); m["paper_url"] = json!("file:///etc/passwd"); m }, "paper_url", "http"),
            ({ let mut m = metadata("x"); m["hyperparameters"] = json!("lr=1"); m }, "hyperparameters", "object"),
        ];
        for (meta, field, words) in cases {
            let r = srv.upload(Some(&meta), Some(file.clone())).await;
            let message = r.assert_error(422, "invalid_metadata", Some(field));
            assert!(message.contains(words), "{field}: {message}");
            assert_nothing_stored(&srv).await;
        }
        // Metadata that is not JSON at all, in either part order.
        let b = "BOUNDARY";
        for parts in [[("metadata", &b"{nope"[..]), ("file", &file[..])], [("file", &file[..]), ("metadata", &b"[1]"[..])]] {
            let r = post_raw(&srv, &format!("multipart/form-data; boundary={b}"), multipart_body(b, &parts)).await;
            r.assert_error(422, "invalid_metadata", Some("metadata"));
            assert_nothing_stored(&srv).await;
        }
    }

    async fn bad_requests_are_rejected_with_nothing_stored(srv) {
        let file = small_ticket(1, 2);
        let meta = metadata("ok").to_string();
        let b = "BOUNDARY";
        let ct = format!("multipart/form-data; boundary={b}");

        // Authentication comes first.
        let r = srv.client.post(srv.api("/tickets")).multipart(reqwest::multipart::Form::new().text("metadata", meta.clone())).send().await.unwrap();
        crate::common::Response::read(r).await.assert_error(401, "unauthorized", None);
        srv.upload_as("tb_not-a-token", Some(&metadata("x")), Some(file.clone())).await.assert_error(401, "unauthorized", None);
        assert_nothing_stored(&srv).await;

        post_raw(&srv, "application/json", meta.clone().into_bytes()).await.assert_error(415, "unsupported_media_type", None);
        srv.upload(Some(&metadata("x")), None).await.assert_error(400, "bad_request", Some("file"));
        let dup = multipart_body(b, &[("metadata", meta.as_bytes()), ("metadata", meta.as_bytes()), ("file", &file)]);
        post_raw(&srv, &ct, dup).await.assert_error(400, "bad_request", Some("metadata"));
        let dup_file = multipart_body(b, &[("file", &file), ("file", &file)]);
        post_raw(&srv, &ct, dup_file).await.assert_error(400, "bad_request", Some("file"));
        let unknown = multipart_body(b, &[("metadata", meta.as_bytes()), ("weights", &file)]);
        post_raw(&srv, &ct, unknown).await.assert_error(400, "bad_request", Some("weights"));
        let mut truncated = multipart_body(b, &[("metadata", meta.as_bytes()), ("file", &file)]);
        truncated.truncate(truncated.len() - 40);
        post_raw(&srv, &ct, truncated).await.assert_error(400, "bad_request", None);
        assert_nothing_stored(&srv).await;
    }

    async fn client_disconnect_mid_body_leaves_nothing(srv) {
        let weights = f32_bytes((0..(1 << 20)).map(|i| (i % 7) as f32));
        let file = safetensors_file(&[("w", Dtype::F32, vec![1024, 1024], weights)], &[]);
        let body = multipart_body("B", &[("metadata", metadata("cut").to_string().as_bytes()), ("file", &file)]);
        let addr = srv.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
            srv.token, body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..body.len() / 2]).await.unwrap();
        stream.flush().await.unwrap();
        // Let the server start writing the object, then vanish.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(stream);
        assert_nothing_stored(&srv).await;
    }
}

/// Size limits need a server with a small limit, so they sit outside the shared macro body.
async fn limits_scenario(backend: Backend) {
    let srv = TestServer::builder(backend)
        .limits(UploadLimits {
            max_file_bytes: 4096,
        })
        .start()
        .await;
    let big = safetensors_file(
        &[(
            "w",
            Dtype::F32,
            vec![64, 64],
            f32_bytes((0..4096).map(|i| i as f32)),
        )],
        &[],
    );
    // Announced by Content-Length past the body limit: refused before a byte of body is sent.
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 10000000000\r\n\r\n",
        srv.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains(r#""code":"payload_too_large""#), "{reply}");
    assert_nothing_stored(&srv).await;
    // Within the body limit but past the file limit: refused as the file part crosses it.
    srv.upload(Some(&metadata("big")), Some(big.clone()))
        .await
        .assert_error(413, "payload_too_large", Some("file"));
    assert_nothing_stored(&srv).await;

    // Streamed without a length: refused once the file part crosses the limit.
    let body = multipart_body(
        "B",
        &[
            ("metadata", metadata("big").to_string().as_bytes()),
            ("file", &big),
        ],
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    let sent = srv
        .client
        .post(srv.api("/tickets"))
        .bearer_auth(&srv.token)
        .header("content-type", "multipart/form-data; boundary=B")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    // The server may answer 413 or close the connection mid-send; either way nothing is stored.
    if let Ok(r) = sent {
        let r = crate::common::Response::read(r).await;
        r.assert_error(413, "payload_too_large", Some("file"));
    }
    assert_nothing_stored(&srv).await;

    // A file just under the limit is fine.
    let fits = small_ticket(1, 2);
    assert!(fits.len() < 4096);
    assert_eq!(
        srv.upload(Some(&metadata("fits")), Some(fits)).await.status,
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_sqlite() {
    limits_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_postgres() {
    if crate::common::postgres_configured() {
        limits_scenario(Backend::Postgres).await;
    }
}
