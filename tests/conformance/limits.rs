//! Every limit, tried past its edge: part and header sizes, slow-drip bodies, the upload cap and
//! the rate limits. Each refusal is the documented status with a JSON error, nothing is stored,
//! and the server stays up.

use std::time::{Duration, Instant};

use serde_json::json;
use ticketbooth::config::serve::Rate;
use ticketbooth::domain::inspector::MAX_TENSORS;
use ticketbooth::http::limits::Protection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{
    Backend, TestServer, conformance, metadata, on_both_backends, raw_file, small_ticket,
};
use crate::rejections::{assert_nothing_stored, multipart_body};

/// Runs `scenario` on SQLite and, when configured, on Postgres.
fn protection() -> Protection {
    Protection::without_rate_limits()
}

/// Opens an upload by hand: the request head and the first `sent` bytes of `body`.
async fn open_upload(srv: &TestServer, body: &[u8], sent: usize) -> TcpStream {
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
        srv.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// The server's reply on a hand-made connection (status line, headers, JSON body).
async fn read_reply(stream: &mut TcpStream, within: Duration) -> String {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.windows(4).any(|w| w == b"\r\n\r\n") && reply.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => panic!(
                "no reply within {within:?}; got {:?}",
                String::from_utf8_lossy(&reply)
            ),
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

fn ticket_body(name: &str) -> Vec<u8> {
    multipart_body(
        "B",
        &[
            ("metadata", metadata(name).to_string().as_bytes()),
            ("file", &small_ticket(7, 3)),
        ],
    )
}

conformance! {
    async fn every_size_limit_is_refused_with_nothing_stored(srv) {
        // A declared header length past 16 MiB: refused from the first 8 bytes.
        let mut huge_header = (17u64 << 20).to_le_bytes().to_vec();
        huge_header.extend_from_slice(b"{\"w\":");
        let r = srv.upload(Some(&metadata("h")), Some(huge_header)).await;
        let m = r.assert_error(422, "invalid_safetensors", Some("file"));
        assert!(m.contains("exceeds the 16 MiB limit"), "{m}");
        assert_nothing_stored(&srv).await;

        // More tensors than the cap.
        let entries: Vec<String> = (0..=MAX_TENSORS)
            .map(|i| format!(r#""t{i}":{{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#))
            .collect();
        let many = raw_file(&format!("{{{}}}", entries.join(",")), &[0, 0, 128, 63]);
        let r = srv.upload(Some(&metadata("many")), Some(many)).await;
        let m = r.assert_error(422, "invalid_safetensors", Some("file"));
        assert!(m.contains(&format!("more than {MAX_TENSORS} tensors")), "{m}");
        assert_nothing_stored(&srv).await;

        // A tensor name past 1 KiB.
        let long = raw_file(
            &format!(r#"{{"{}":{{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}}}"#, "n".repeat(1025)),
            &[0, 0, 128, 63],
        );
        let m = srv.upload(Some(&metadata("long")), Some(long)).await.assert_error(422, "invalid_safetensors", Some("file"));
        assert!(m.contains("the limit is 1024"), "{m}");
        assert_nothing_stored(&srv).await;

        // A metadata part past 1 MiB, and fields past their own sizes.
        let mut big = metadata("big");
        big["description"] = json!("x".repeat(2 << 20));
        srv.upload(Some(&big), Some(small_ticket(1, 2))).await.assert_error(413, "payload_too_large", Some("metadata"));
        assert_nothing_stored(&srv).await;
        let mut fields = metadata("fields");
        fields["description"] = json!("x".repeat((64 << 10) + 1));
        srv.upload(Some(&fields), Some(small_ticket(1, 2))).await.assert_error(422, "invalid_metadata", Some("description"));
        let mut tags = metadata("tags");
        tags["tags"] = json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>());
        srv.upload(Some(&tags), Some(small_ticket(1, 2))).await.assert_error(422, "invalid_metadata", Some("tags"));
        let mut name = metadata(&"n".repeat(129));
        name["task"] = json!("image-classification");
        srv.upload(Some(&name), Some(small_ticket(1, 2))).await.assert_error(422, "invalid_metadata", Some("name"));
        assert_nothing_stored(&srv).await;
    }
}

/// A body that stops arriving is dropped after the idle timeout, with a 408.
async fn slow_drip(backend: Backend) {
    let srv = TestServer::builder(backend)
        .protection(Protection {
            body_idle_timeout: Duration::from_secs(1),
            ..protection()
        })
        .start()
        .await;
    let body = ticket_body("drip");
    let mut stream = open_upload(&srv, &body, body.len() / 2).await;
    let started = Instant::now();
    let reply = read_reply(&mut stream, Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""code":"request_timeout""#), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_nothing_stored(&srv).await;
}
on_both_backends!(
    idle_body_timeout_sqlite,
    idle_body_timeout_postgres,
    slow_drip
);

/// A body that keeps trickling (never idle) is still cut at the total deadline.
async fn steady_trickle(backend: Backend) {
    let srv = TestServer::builder(backend)
        .protection(Protection {
            body_idle_timeout: Duration::from_secs(2),
            upload_deadline: Duration::from_secs(2),
            ..protection()
        })
        .start()
        .await;
    let body = ticket_body("trickle");
    let mut stream = open_upload(&srv, &body, 64).await;
    let started = Instant::now();
    let (mut read, mut write) = stream.split();
    let trickle = async {
        for byte in &body[64..] {
            if write.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let reply = async {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let reply = tokio::select! {
        reply = reply => reply,
        () = trickle => panic!("the whole body was sent: the deadline never fired"),
    };
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("longer than the 2s limit"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_nothing_stored(&srv).await;
}
on_both_backends!(
    upload_deadline_sqlite,
    upload_deadline_postgres,
    steady_trickle
);

/// Past the cap, an upload is refused at once with 503 and Retry-After; a freed slot is reused.
async fn upload_cap(backend: Backend) {
    let srv = TestServer::builder(backend)
        .protection(Protection {
            max_concurrent_uploads: 2,
            ..protection()
        })
        .start()
        .await;
    let body = ticket_body("held");
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(open_upload(&srv, &body, 100).await);
    }
    let slots = &srv.state.guards.upload_slots;
    let waited = Instant::now();
    while slots.available_permits() > 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "uploads never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = srv
        .upload(Some(&metadata("third")), Some(small_ticket(3, 2)))
        .await;
    r.assert_error(503, "unavailable", None);
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(srv.ticket_rows().await, 0);

    // Finish one held upload: it succeeds, and its slot serves the next one.
    let mut first = held.remove(0);
    first.write_all(&body[100..]).await.unwrap();
    let reply = read_reply(&mut first, Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let r = srv
        .upload(Some(&metadata("fourth")), Some(small_ticket(4, 2)))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    drop(held);
    assert_eq!(srv.ticket_rows().await, 2);
}
on_both_backends!(upload_cap_sqlite, upload_cap_postgres, upload_cap);

/// Each user gets a burst of uploads, then 429 with Retry-After; other users are unaffected.
async fn upload_rate(backend: Backend) {
    let srv = TestServer::builder(backend)
        .protection(Protection {
            upload_rate: Rate(Some((2, Duration::from_secs(3600)))),
            ..protection()
        })
        .start()
        .await;
    for i in 0..2 {
        let r = srv
            .upload(Some(&metadata(&format!("ok{i}"))), Some(small_ticket(i, 2)))
            .await;
        assert_eq!(r.status, 201);
    }
    let r = srv
        .upload(Some(&metadata("over")), Some(small_ticket(9, 2)))
        .await;
    let m = r.assert_error(429, "rate_limited", None);
    assert!(m.contains("upload rate limit"), "{m}");
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=1800).contains(&retry), "{retry}");
    assert_eq!(srv.ticket_rows().await, 2);
    // Another token of the same user does not get around it; another user is not affected.
    let same_user = srv.token_for("alice").await;
    srv.upload_as(
        &same_user,
        Some(&metadata("again")),
        Some(small_ticket(10, 2)),
    )
    .await
    .assert_error(429, "rate_limited", None);
    let bob = srv.token_for("bob").await;
    let r = srv
        .upload_as(&bob, Some(&metadata("bobs")), Some(small_ticket(11, 2)))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(srv.ticket_rows().await, 3);
}
on_both_backends!(upload_rate_sqlite, upload_rate_postgres, upload_rate);

async fn get_from(
    srv: &TestServer,
    path: &str,
    forwarded: Option<&str>,
    token: Option<&str>,
) -> crate::common::Response {
    let mut request = srv.client.get(format!("{}{path}", srv.url));
    if let Some(f) = forwarded {
        request = request.header("x-forwarded-for", f);
    }
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    crate::common::Response::read(request.send().await.unwrap()).await
}

/// Anonymous reads are limited per address; tokens, probes and writes are not counted; a
/// forwarded address counts only behind a proxy, and then only the proxy's own entry.
async fn read_rate(backend: Backend) {
    let limited = Protection {
        read_rate: Rate(Some((5, Duration::from_secs(600)))),
        ..protection()
    };
    let srv = TestServer::builder(backend)
        .protection(limited.clone())
        .start()
        .await;
    for _ in 0..5 {
        assert_eq!(
            get_from(&srv, "/api/v1/tickets", None, None).await.status,
            200
        );
    }
    let r = get_from(&srv, "/api/v1/tickets", None, None).await;
    r.assert_error(429, "rate_limited", None);
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Spoofing X-Forwarded-For does not help when not behind a proxy.
    get_from(&srv, "/api/v1/tasks", Some("192.0.2.1"), None)
        .await
        .assert_error(429, "rate_limited", None);
    // An invalid token counts as anonymous; a valid one is not limited.
    get_from(&srv, "/api/v1/tasks", None, Some("tb_nope"))
        .await
        .assert_error(429, "rate_limited", None);
    assert_eq!(
        get_from(&srv, "/api/v1/tasks", None, Some(&srv.token))
            .await
            .status,
        200
    );
    // A read that needs the caller gets the one the limiter authenticated.
    let mine = get_from(&srv, "/api/v1/tokens", None, Some(&srv.token)).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json()["items"][0]["user"], "alice");
    assert_eq!(get_from(&srv, "/healthz", None, None).await.status, 200);
    assert_eq!(get_from(&srv, "/readyz", None, None).await.status, 200);
    let r = srv
        .upload(Some(&metadata("write")), Some(small_ticket(1, 2)))
        .await;
    assert_eq!(r.status, 201, "writes are not read-limited");

    let proxied = TestServer::builder(backend)
        .protection(Protection {
            behind_proxy: true,
            ..limited
        })
        .start()
        .await;
    for _ in 0..5 {
        assert_eq!(
            get_from(&proxied, "/api/v1/tasks", Some("198.51.100.1"), None)
                .await
                .status,
            200
        );
    }
    get_from(&proxied, "/api/v1/tasks", Some("198.51.100.1"), None)
        .await
        .assert_error(429, "rate_limited", None);
    // A client-supplied first entry does not change who the proxy says is asking.
    get_from(
        &proxied,
        "/api/v1/tasks",
        Some("203.0.113.9, 198.51.100.1"),
        None,
    )
    .await
    .assert_error(429, "rate_limited", None);
    // A different client behind the same proxy has its own allowance.
    assert_eq!(
        get_from(&proxied, "/api/v1/tasks", Some("198.51.100.2"), None)
            .await
            .status,
        200
    );
}
on_both_backends!(read_rate_sqlite, read_rate_postgres, read_rate);

/// A client trickling its request headers (slowloris) is cut off at the header deadline, while
/// other clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let srv = TestServer::builder(Backend::Sqlite)
        .protection(Protection {
            header_read_timeout: Duration::from_secs(1),
            ..protection()
        })
        .start()
        .await;
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for i in 0..40 {
        // One more header line every 250 ms: never idle, never finished.
        if stream
            .write_all(format!("X-Drip-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(250), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                let reply = String::from_utf8_lossy(&buf[..n]);
                assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
            }
            Err(_) => {}
        }
    }
    assert!(
        closed,
        "the connection was still open after 10 s of trickled headers"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(srv.get("/tasks").await.status, 200);
}

/// A kept-alive connection that goes quiet after its request is closed at the same deadline, so
/// idle connections cannot pile up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let srv = TestServer::builder(Backend::Sqlite)
        .protection(Protection {
            header_read_timeout: Duration::from_secs(1),
            ..protection()
        })
        .start()
        .await;
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = read_reply(&mut stream, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(!reply.to_ascii_lowercase().contains("connection: close"));
    // Now idle: the server hangs up within the deadline (and some slack), not never.
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the idle connection was still open after 5 s: {closed:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}
