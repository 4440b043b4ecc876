//! `/metrics` in Prometheus format, and structured logs that carry the request id.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::common::{Backend, TestServer, metadata, small_ticket};

fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_and_pool() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let file = small_ticket(31, 2);
    let id = srv
        .upload(Some(&metadata("m")), Some(file.clone()))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        srv.get(&format!("/tickets/{id}/file")).await.body.len(),
        file.len()
    );
    srv.get("/tickets/nope").await;
    let r = srv
        .client
        .get(format!("{}/metrics", srv.url))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    // By route template, never by raw path (one series per ticket would explode).
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="POST",route="/api/v1/tickets",status="201"}"#
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/api/v1/tickets/{id}",status="404"}"#
        ),
        1.0
    );
    assert!(!text.contains(&id), "no raw ids in labels");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(sample(&text, "ticketbooth_upload_bytes_total") >= file.len() as f64);
    assert!(sample(&text, "ticketbooth_download_bytes_total") >= file.len() as f64);
    assert_eq!(sample(&text, "ticketbooth_uploads_in_flight"), 0.0);
    assert!(text.contains(r#"ticketbooth_db_pool_connections{state="idle"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_never_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = env!("CARGO_BIN_EXE_ticketbooth");
    let token = String::from_utf8(
        std::process::Command::new(bin)
            .args(["token", "create", "--name", "alice", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let mut server = tokio::process::Command::new(bin)
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (client, url) = until_healthy(port).await;
    let r = client
        .get(format!("{url}/api/v1/tickets"))
        .header("x-request-id", "trace-me-42")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "trace-me-42",
        "the id comes back on the response"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.start_kill().unwrap();
    let mut logs = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("trace-me-42"))
        .unwrap_or_else(|| panic!("no line with the request id: {logs}"));
    let json: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
    assert_eq!(json["span"]["request_id"], "trace-me-42");
    assert!(
        !logs.contains(&token) && !logs.to_lowercase().contains("bearer"),
        "the token reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_pipe_have_no_colour_and_say_where_the_registry_is() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env_remove("TICKETBOOTH_BLOB_STORE")
        .env_remove("TICKETBOOTH_LOG_FORMAT")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (client, url) = until_healthy(port).await;
    // A request, so request lines (with their span) are in the output too.
    client
        .get(format!("{url}/api/v1/tickets?taks=x"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.start_kill().unwrap();
    let mut logs = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    assert!(
        !logs.contains('\x1b'),
        "ANSI escapes in piped logs: {logs:?}"
    );
    let d = std::path::absolute(dir.path()).unwrap();
    let d = d.display();
    let expected = format!(
        "ticketbooth listening on {url} (data dir {d}, index: SQLite at {d}/ticketbooth.db, blobs: local files in {d}/blobs)"
    );
    assert!(logs.contains(&expected), "{expected}\nnot in:\n{logs}");
    assert!(!logs.contains("Locations {"), "no Debug structs: {logs}");
}

/// A client for a server just spawned on `port`, once its `/healthz` answers (5 s at most).
async fn until_healthy(port: u16) -> (reqwest::Client, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (client, url)
}
