//! The holes found by trying the registry from outside, as a stranger and as an attacker would
//! (issue "Safe to open to the public"): each test sends what broke the server before.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use ticketbooth::index::NewTicket;

use crate::common::{Backend, TestServer, conformance, metadata, on_both_backends, small_ticket};

/// A ticket row with chosen measurements, straight into the index.
fn row(srv_owner: i64, task: &str, n: usize, accuracy: f64, kept: u64, total: u64) -> NewTicket {
    let mut t = crate::common::ticket_row(srv_owner, &format!("{task}-{n}"));
    t.meta.task = task.to_owned();
    t.meta.accuracy = accuracy;
    (t.params_kept, t.params_total) = (kept, total);
    t
}

/// Follows `next_cursor` from the first page; every id in order, or a failure if the walk
/// does not end within `n + 2` pages.
async fn walk(srv: &TestServer, query: &str, n: usize) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..n + 2 {
        let path = match &cursor {
            Some(c) => format!("/tickets?{query}&cursor={c}"),
            None => format!("/tickets?{query}"),
        };
        let r = srv.get(&path).await;
        if r.status != 200 {
            return Err(format!("{path}: {}", String::from_utf8_lossy(&r.body)));
        }
        let page = r.json();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(ids),
        }
    }
    Err(format!(
        "{query}: no end after {} pages ({} items)",
        n + 2,
        ids.len()
    ))
}

/// Fractions anywhere in [0, 1], most with 16-17 significant digits.
fn fraction() -> impl Strategy<Value = f64> {
    (0u64..=u64::MAX).prop_map(|b| b as f64 / u64::MAX as f64)
}

conformance! {
    // Item 1: tie groups of arbitrary floats, every sort and order, limits 1 to 7: every ticket
    // exactly once, and the walk ends.
    async fn pages_of_tied_arbitrary_floats_neither_repeat_nor_loop(srv) {
        let owner = srv.state.index.create_token("ties", b"ties-token-hash-ties-token-hash!!").await.unwrap();
        let strategy = (
            prop::collection::vec(fraction(), 1..4),
            prop::collection::vec((1u64..1000, 1000u64..100_000), 1..4),
            prop::collection::vec((0usize..4, 0usize..4), 8..24),
        );
        let mut runner = TestRunner::new(Config { cases: 6, failure_persistence: None, ..Config::default() });
        let handle = tokio::runtime::Handle::current();
        let case = std::sync::atomic::AtomicUsize::new(0);
        let result = tokio::task::block_in_place(|| {
            runner.run(&strategy, |(accuracies, sizes, picks)| {
                let task = format!("ties-{}", case.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                let rows: Vec<NewTicket> = picks
                    .iter()
                    .enumerate()
                    .map(|(n, (a, s))| {
                        let (kept, total) = sizes[s % sizes.len()];
                        row(owner.id, &task, n, accuracies[a % accuracies.len()], kept, total)
                    })
                    .collect();
                let expected: HashSet<String> = rows.iter().map(|r| r.id.clone()).collect();
                handle.block_on(async {
                    srv.state.index.insert_many(&rows).await.unwrap();
                    for sort in ["created", "accuracy", "sparsity", "downloads"] {
                        for order in ["desc", "asc"] {
                            for limit in 1..=7 {
                                let query = format!("task={task}&sort={sort}&order={order}&limit={limit}");
                                let ids = walk(&srv, &query, rows.len()).await.map_err(TestCaseError::fail)?;
                                let distinct: HashSet<String> = ids.iter().cloned().collect();
                                prop_assert_eq!(ids.len(), distinct.len(), "{} repeats a ticket", query);
                                prop_assert_eq!(&distinct, &expected, "{} skips a ticket", query);
                            }
                        }
                    }
                    Ok(())
                })
            })
        });
        result.unwrap();
    }

    // Item 3: a list parameter is bounded, and several tags are one join, not a subquery each.
    async fn tag_lists_are_bounded_and_matched_in_one_pass(srv) {
        let mut m = metadata("tagged");
        m["tags"] = serde_json::json!(["a", "b", "c"]);
        assert_eq!(srv.upload(Some(&m), Some(small_ticket(1, 2))).await.status, 201);
        let mut m = metadata("half-tagged");
        m["tags"] = serde_json::json!(["a", "c"]);
        assert_eq!(srv.upload(Some(&m), Some(small_ticket(2, 2))).await.status, 201);
        let names = |v: Value| -> Vec<String> {
            let mut n: Vec<String> = v["items"].as_array().unwrap().iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()).collect();
            n.sort();
            n
        };
        assert_eq!(names(srv.get("/tickets?tag=a&tag=c").await.json()), ["half-tagged", "tagged"]);
        assert_eq!(names(srv.get("/tickets?tag=a&tag=b&tag=c").await.json()), ["tagged"]);
        assert_eq!(names(srv.get("/tickets?tag=c&tag=a&tag=c&tag=b").await.json()), ["tagged"]);
        assert!(names(srv.get("/tickets?tag=a&tag=zzz").await.json()).is_empty());
        // 32 distinct tags: answered (nothing has them all); 33 or 200: a 400 naming `tag`.
        let tags = |n: usize| (0..n).map(|i| format!("tag=t{i}")).collect::<Vec<_>>().join("&");
        let started = Instant::now();
        let r = srv.get(&format!("/tickets?{}", tags(32))).await;
        assert_eq!(r.status, 200);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        for endpoint in ["tickets", "facets", "points"] {
            for n in [33, 200, 600] {
                let r = srv.get(&format!("/{endpoint}?{}", tags(n))).await;
                let message = r.assert_error(400, "invalid_parameter", Some("tag"));
                assert!(message.contains("at most 32"), "{message}");
            }
        }
        assert_eq!(srv.get("/facets?tag=a&tag=b").await.json()["task"][0]["count"], 1);
    }

    // Item 8: a shape of millions of dimensions is refused while it is read, naming the
    // tensor; nine dimensions are already too many.
    async fn tensor_rank_is_capped(srv) {
        let w = r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}"#;
        let nine = format!(r#"{{"deep":{{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}},{w}}}"#);
        let r = srv
            .upload(Some(&metadata("deep")), Some(crate::common::raw_file(&nine, &[0, 0, 128, 63, 0, 0, 128, 63])))
            .await;
        let message = r.assert_error(422, "invalid_safetensors", Some("file"));
        assert!(message.contains("more than 8 dimensions") && message.contains("'deep'"), "{message}");
        let dims = vec!["1"; 5_000_000].join(",");
        let huge = format!(r#"{{"deep":{{"dtype":"F32","shape":[{dims}],"data_offsets":[0,4]}},{w}}}"#);
        let started = Instant::now();
        let r = srv
            .upload(Some(&metadata("deeper")), Some(crate::common::raw_file(&huge, &[0, 0, 128, 63, 0, 0, 128, 63])))
            .await;
        eprintln!("rank: a 5,000,000-dimension shape ({} MiB header) refused in {:?}", huge.len() >> 20, started.elapsed());
        let message = r.assert_error(422, "invalid_safetensors", Some("file"));
        assert!(message.contains("more than 8 dimensions"), "{message}");
        // Eight are fine.
        let eight = r#"{"ok":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}"#;
        let r = srv.upload(Some(&metadata("eight")), Some(crate::common::raw_file(eight, &[0, 0, 128, 63]))).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(srv.ticket_rows().await, 1);
    }

    // Item 4: descriptions are rendered once, on write; reads return the stored HTML; nesting is
    // capped (60,000 `>` took 20 s per GET); images are shown as their alt text (item 9).
    async fn descriptions_render_on_write_only(srv) {
        let mut m = metadata("deep");
        m["description"] = Value::String(">".repeat(60_000));
        let started = Instant::now();
        let r = srv.upload(Some(&m), Some(small_ticket(1, 2))).await;
        let message = r.assert_error(422, "invalid_metadata", Some("description"));
        assert!(message.contains("more than 32 levels deep"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(srv.ticket_rows().await, 0);

        m["description"] = Value::String("Found with **IMP**. ![loss](/api/v1/tickets/x/file)".into());
        let r = srv.upload(Some(&m), Some(small_ticket(2, 2))).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let html = r.json()["description_html"].as_str().unwrap().to_owned();
        assert!(html.contains("<strong>IMP</strong>") && html.contains("loss"), "{html}");
        assert!(!html.contains("<img") && !html.contains("/file"), "{html}");
        let id = r.json()["id"].as_str().unwrap().to_owned();

        // PATCH renders the new description, and refuses one too deep.
        let patch = |body: Value| {
            srv.client.patch(srv.api(&format!("/tickets/{id}"))).bearer_auth(&srv.token).json(&body).send()
        };
        let r = crate::common::Response::read(patch(serde_json::json!({"description": "> ".repeat(40)})).await.unwrap()).await;
        r.assert_error(422, "invalid_metadata", Some("description"));
        let r = crate::common::Response::read(patch(serde_json::json!({"description": "*edited*"})).await.unwrap()).await;
        assert_eq!(r.json()["description_html"], "<p><em>edited</em></p>\n");
        // Editing another field keeps the stored HTML.
        let r = crate::common::Response::read(patch(serde_json::json!({"license": "MIT"})).await.unwrap()).await;
        assert_eq!(r.json()["description_html"], "<p><em>edited</em></p>\n");
        let r = crate::common::Response::read(patch(serde_json::json!({"description": null})).await.unwrap()).await;
        assert_eq!(r.json()["description_html"], Value::Null);

        // A read returns what was stored, rendering nothing: a row whose stored HTML differs
        // from its markdown shows the stored HTML.
        let owner = srv.state.index.create_token("bob", b"bob-token-hash-bob-token-hash-bob").await.unwrap();
        let mut stored = row(owner.id, "stored", 0, 0.5, 1, 2);
        stored.meta.description = Some("**markdown**".into());
        stored.description_html = Some("<p>stored once</p>".into());
        // And a row from before the HTML was kept, which start-up renders.
        let mut legacy = row(owner.id, "legacy", 1, 0.5, 1, 2);
        legacy.meta.description = Some("**old**".into());
        srv.state.index.insert_many(&[stored.clone(), legacy.clone()]).await.unwrap();
        let got = srv.get(&format!("/tickets/{}", stored.id)).await.json();
        assert_eq!(got["description_html"], "<p>stored once</p>");
        assert_eq!(got["description"], "**markdown**");
        let replica = srv.replica().await;
        let got = replica.get(&format!("/tickets/{}", legacy.id)).await.json();
        assert_eq!(got["description_html"], "<p><strong>old</strong></p>\n");
    }

    // Item 9: `Range: bytes=0-0` twenty times added twenty downloads; now a download counts
    // when its last byte goes out, once per client (user, else address) and ticket per hour.
    async fn downloads_count_once_per_client_when_complete(srv) {
        let file = small_ticket(5, 2);
        let r = srv.upload(Some(&metadata("counted")), Some(file.clone())).await;
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let url = srv.api(&format!("/tickets/{id}/file"));
        let count = || async { srv.get(&format!("/tickets/{id}")).await.json()["downloads"].as_u64().unwrap() };
        for _ in 0..20 {
            let r = srv.client.get(&url).header("range", "bytes=0-0").send().await.unwrap();
            assert_eq!(r.status(), 206);
            r.bytes().await.unwrap();
        }
        assert_eq!(count().await, 0, "probes of the first byte are not downloads");
        for _ in 0..3 {
            assert_eq!(srv.client.get(&url).send().await.unwrap().bytes().await.unwrap(), file);
        }
        assert_eq!(count().await, 1, "one address, one download an hour");
        let bob = srv.token_for("bob").await;
        for _ in 0..3 {
            srv.client.get(&url).bearer_auth(&bob).send().await.unwrap().bytes().await.unwrap();
        }
        assert_eq!(count().await, 2, "another client (a user) counts once too");
        // The tail of the file alone completes nothing new for a client already counted.
        srv.client.get(&url).bearer_auth(&bob).header("range", "bytes=-10").send().await.unwrap();
        assert_eq!(count().await, 2);
    }

    // Item 12: anyone may build on anyone's ticket, and the lineage says whose each is.
    async fn lineage_marks_children_by_other_owners(srv) {
        let parent = srv.upload(Some(&metadata("l1")), Some(small_ticket(1, 2))).await.json()["id"].as_str().unwrap().to_owned();
        let mut own = metadata("l2");
        own["parent_id"] = Value::String(parent.clone());
        assert_eq!(srv.upload(Some(&own), Some(small_ticket(2, 3))).await.status, 201);
        let bob = srv.token_for("bob").await;
        let mut theirs = metadata("built-on-alice");
        theirs["parent_id"] = Value::String(parent.clone());
        let r = srv.upload_as(&bob, Some(&theirs), Some(small_ticket(3, 4))).await;
        assert_eq!(r.status, 201, "building on another's ticket is allowed");
        let bobs = r.json()["id"].as_str().unwrap().to_owned();
        let lineage = srv.get(&format!("/tickets/{parent}/lineage")).await.json();
        let children: Vec<(String, String, bool)> = lineage["children"].as_array().unwrap().iter()
            .map(|c| (c["name"].as_str().unwrap().into(), c["owner"].as_str().unwrap().into(), c["same_owner"].as_bool().unwrap()))
            .collect();
        assert_eq!(children, [("l2".into(), "alice".into(), true), ("built-on-alice".into(), "bob".into(), false)]);
        // Seen from bob's ticket, alice's is an ancestor by another owner.
        let up = srv.get(&format!("/tickets/{bobs}/lineage")).await.json();
        assert_eq!(up["ancestors"][0]["owner"], "alice");
        assert_eq!(up["ancestors"][0]["same_owner"], false);
        srv.get("/tickets/nope/lineage").await.assert_error(404, "not_found", None);
    }

    // Found while building the Python client: a fraction with 16-17 significant digits came
    // back changed in its last digit (serde_json's fast float parser is not exact).
    async fn metadata_floats_round_trip_exactly(srv) {
        let mut m = metadata("exact-floats");
        m["accuracy"] = serde_json::json!(0.9299999999999999);
        m["dense_accuracy"] = serde_json::json!(0.30000000000000004);
        let r = srv.upload(Some(&m), Some(small_ticket(4, 2))).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains("\"accuracy\":0.9299999999999999"), "{body}");
        assert!(body.contains("\"dense_accuracy\":0.30000000000000004"), "{body}");
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let again = srv.get(&format!("/tickets/{id}")).await;
        assert_eq!(again.json()["accuracy"].as_f64().unwrap().to_bits(), 0.9299999999999999f64.to_bits());
    }
}

/// Item 3: on Postgres a statement past the serving pool's statement_timeout is cancelled and
/// answered 503 with Retry-After; the pool recovers, and operator connections are not cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_past_the_timeout_are_cancelled_with_503() {
    use sqlx::Connection;
    if !crate::common::postgres_configured() {
        return;
    }
    let srv = TestServer::builder(Backend::Postgres)
        .protection(ticketbooth::http::limits::Protection {
            statement_timeout: Duration::from_millis(500),
            ..ticketbooth::http::limits::Protection::without_rate_limits()
        })
        .start()
        .await;
    assert_eq!(
        srv.upload(Some(&metadata("x")), Some(small_ticket(1, 2)))
            .await
            .status,
        201
    );
    // An operator connection (no timeout) holds the tickets table, so any search waits: the
    // stand-in for a pathological statement, without depending on how fast this machine is.
    let mut operator = sqlx::PgConnection::connect(&srv.locations.database_url)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
        .execute(&mut operator)
        .await
        .unwrap();
    let started = Instant::now();
    let r = srv.get("/tickets?q=anything").await;
    let waited = started.elapsed();
    let message = r.assert_error(503, "unavailable", None);
    assert!(message.contains("took too long"), "{message}");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // The operator's own statement is not cut off: it still holds the lock after the timeout.
    tokio::time::sleep(Duration::from_millis(600)).await;
    sqlx::raw_sql("SELECT COUNT(*) FROM tickets")
        .execute(&mut operator)
        .await
        .unwrap();
    sqlx::raw_sql("COMMIT")
        .execute(&mut operator)
        .await
        .unwrap();
    // The cancelled statement's connection went back to the pool in working order.
    let r = srv.get("/tickets?q=anything").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        srv.client
            .get(format!("{}/readyz", srv.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A loopback proxy to Postgres that, once armed, forwards the next `COMMIT` and then cuts the
/// client off before Postgres's answer comes back: the commit happens, the server never hears.
struct CommitCutter {
    addr: std::net::SocketAddr,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CommitCutter {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = armed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let flag = flag.clone();
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let (cut_tx, mut cut_rx) = tokio::sync::watch::channel(false);
                    let upstream_half = async move {
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let commit = buf[..n].windows(6).any(|w| w == b"COMMIT");
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            if commit && flag.swap(false, Ordering::SeqCst) {
                                let _ = cut_tx.send(true);
                                // Keep Postgres's side open a while: it must see the COMMIT
                                // through, not a vanished client.
                                tokio::time::sleep(Duration::from_secs(2)).await;
                                break;
                            }
                        }
                    };
                    let downstream_half = async move {
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            tokio::select! {
                                read = server_read.read(&mut buf) => match read {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        let cut = *cut_rx.borrow();
                                        if cut || client_write.write_all(&buf[..n]).await.is_err() {
                                            break;
                                        }
                                    }
                                },
                                _ = cut_rx.changed() => break,
                            }
                        }
                        // Dropping the client half closes the server's connection mid-COMMIT.
                    };
                    tokio::join!(upstream_half, downstream_half);
                });
            }
        });
        CommitCutter { addr, armed }
    }
}

/// Item 2: the connection drops during COMMIT. The row committed, so its object must still be
/// there: the upload leaves it for gc instead of deleting it, and the ticket downloads whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_commit_outcome_is_unknown_keeps_its_object() {
    if !crate::common::postgres_configured() {
        return;
    }
    let direct = crate::common::fresh_postgres_database().await;
    let mut url = url::Url::parse(&direct).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let upstream: std::net::SocketAddr = tokio::net::lookup_host(upstream)
        .await
        .unwrap()
        .next()
        .unwrap();
    let cutter = CommitCutter::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(cutter.addr.port())).unwrap();
    let srv = TestServer::builder(Backend::Postgres)
        .database_url(url.to_string())
        .start()
        .await;
    let file = small_ticket(77, 3);
    cutter
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let r = srv
        .upload(Some(&metadata("cut-at-commit")), Some(file.clone()))
        .await;
    assert!(
        !cutter.armed.load(std::sync::atomic::Ordering::SeqCst),
        "no COMMIT was cut"
    );
    r.assert_error(503, "unavailable", None);
    // The row committed (Postgres saw the COMMIT through), and its object is in place. The
    // server heard nothing back, so it may answer before Postgres has finished the commit:
    // give the commit a moment to become visible.
    let started = Instant::now();
    let mut ticket = srv.get("/owners/alice/tickets/cut-at-commit").await;
    while ticket.status == 404 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ticket = srv.get("/owners/alice/tickets/cut-at-commit").await;
    }
    assert_eq!(
        ticket.status,
        200,
        "{}",
        String::from_utf8_lossy(&ticket.body)
    );
    let id = ticket.json()["id"].as_str().unwrap().to_owned();
    let download = srv.get(&format!("/tickets/{id}/file")).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, file);
}

/// Resident memory of this process (the test server runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Sends `head` then up to `filler` bytes of `fill` while sampling RSS; returns the reply
/// and the highest RSS growth seen.
async fn framing_attack(srv: &TestServer, head: &[u8], fill: u8, filler: usize) -> (String, u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let total = head.len() + filler + 100;
    let request = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {total}\r\n\r\n",
        srv.token
    );
    let baseline = rss();
    let mut peak = 0u64;
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(head).await.unwrap();
    let chunk = vec![fill; 1 << 20];
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent < filler {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        peak = peak.max(rss().saturating_sub(baseline));
        match tokio::time::timeout(Duration::from_millis(20), read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => assert!(Instant::now() < deadline, "no reply"),
        }
    }
    writer.abort();
    peak = peak.max(rss().saturating_sub(baseline));
    (String::from_utf8_lossy(&reply).into_owned(), peak)
}

/// Item 5: a 300 MiB preamble, and 200 MiB of part-header lines, are refused with a 400 once
/// they pass 64 KiB, and the server's memory stays flat (it held them whole before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_framing_is_bounded_and_memory_stays_flat() {
    let srv = TestServer::builder(Backend::Sqlite)
        .limits(ticketbooth::ingest::pipeline::UploadLimits {
            max_file_bytes: 1 << 30,
        })
        .start()
        .await;
    // Warm up allocator pools with one ordinary upload, so the baseline is steady.
    assert_eq!(
        srv.upload(Some(&metadata("warm")), Some(small_ticket(1, 2)))
            .await
            .status,
        201
    );
    let (reply, growth) = framing_attack(&srv, b"", b'p', 300 << 20).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(
        reply.contains("multipart preamble is longer than 65536 bytes"),
        "{reply}"
    );
    eprintln!(
        "framing: 300 MiB preamble -> RSS growth {} KiB",
        growth >> 10
    );
    assert!(
        growth < 16 << 20,
        "RSS grew {} MiB under a long preamble",
        growth >> 20
    );
    let (reply, growth) = framing_attack(
        &srv,
        b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Junk: ",
        b'h',
        200 << 20,
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("multipart part header is longer"), "{reply}");
    eprintln!(
        "framing: 200 MiB of part headers -> RSS growth {} KiB",
        growth >> 10
    );
    assert!(
        growth < 16 << 20,
        "RSS grew {} MiB under long part headers",
        growth >> 20
    );
    // Nothing stored beyond the warm-up ticket, and the server still serves.
    assert_eq!(srv.ticket_rows().await, 1);
    assert_eq!(
        srv.upload(Some(&metadata("after")), Some(small_ticket(2, 2)))
            .await
            .status,
        201
    );
}

/// Starts an upload as `token` and sends only the first 100 bytes of its body: the upload is
/// in progress (past authentication) until the stream is dropped.
async fn hold_upload(srv: &TestServer, token: &str, name: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let body = crate::rejections::multipart_body(
        "B",
        &[
            ("metadata", metadata(name).to_string().as_bytes()),
            ("file", &small_ticket(9, 3)),
        ],
    );
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..100]).await.unwrap();
    stream
}

async fn wait_for_free_slots(srv: &TestServer, free: usize) {
    let started = Instant::now();
    while srv.state.guards.upload_slots.available_permits() != free {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slots: {}",
            srv.state.guards.upload_slots.available_permits()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Item 7: slots are taken after authentication, and one user holding their own cap of
/// concurrent uploads leaves the rest of the server's slots to others.
async fn per_user_upload_slots(backend: Backend) {
    let srv = TestServer::builder(backend)
        .protection(ticketbooth::http::limits::Protection {
            max_concurrent_uploads: 4,
            max_uploads_per_user: 2,
            ..ticketbooth::http::limits::Protection::without_rate_limits()
        })
        .start()
        .await;
    // Strangers with made-up tokens take no slot, however many connections they hold open.
    let mut strangers = Vec::new();
    for i in 0..6 {
        strangers.push(hold_upload(&srv, &format!("tb_not_a_token_{i}"), "s").await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    wait_for_free_slots(&srv, 4).await;
    // Alice holds her two; a third is refused with 429, and she takes no more of the server's.
    let alice = srv.token.clone();
    let _held = [
        hold_upload(&srv, &alice, "a1").await,
        hold_upload(&srv, &alice, "a2").await,
    ];
    wait_for_free_slots(&srv, 2).await;
    let r = srv
        .upload(Some(&metadata("a3")), Some(small_ticket(3, 2)))
        .await;
    let message = r.assert_error(429, "rate_limited", None);
    assert!(message.contains("2 uploads in progress"), "{message}");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Bob still uploads.
    let bob = srv.token_for("bob").await;
    let r = srv
        .upload_as(&bob, Some(&metadata("b1")), Some(small_ticket(4, 2)))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    drop(strangers);
}
on_both_backends!(
    per_user_upload_slots_sqlite,
    per_user_upload_slots_postgres,
    per_user_upload_slots
);

/// Item 6: made-up methods share one metrics label (20,000 of them grew /metrics to 385 MB),
/// and the anonymous rate limit counts every method, not only reads.
async fn made_up_methods(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let metrics_len = |srv: &TestServer| {
        let url = format!("{}/metrics", srv.url);
        let client = srv.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len()
        }
    };
    let before = metrics_len(&srv).await;
    for i in 0..2000 {
        let method = reqwest::Method::from_bytes(format!("XM{i}").as_bytes()).unwrap();
        let r = srv
            .client
            .request(method, srv.api("/tickets"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
    }
    let after = metrics_len(&srv).await;
    eprintln!("metrics: /metrics {before} bytes before, {after} after 2,000 made-up methods");
    assert!(
        after < before + 8 * 1024,
        "/metrics grew from {before} to {after} bytes"
    );
    let text = srv
        .client
        .get(format!("{}/metrics", srv.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(!text.contains("XM1"), "a made-up method became a label");

    let limited = TestServer::builder(backend)
        .protection(ticketbooth::http::limits::Protection {
            read_rate: ticketbooth::config::serve::Rate(Some((5, Duration::from_secs(3600)))),
            ..ticketbooth::http::limits::Protection::without_rate_limits()
        })
        .start()
        .await;
    let mut statuses = Vec::new();
    for method in ["XM1", "POST", "DELETE", "PUT", "PATCH", "XM2", "POST"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = limited
            .client
            .request(method, limited.api("/tickets"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[5..], [429, 429], "{statuses:?}");
    // A valid token is not anonymous: not counted, not limited.
    let r = limited
        .upload(Some(&metadata("with-token")), Some(small_ticket(1, 2)))
        .await;
    assert_eq!(r.status, 201);
}
on_both_backends!(
    made_up_methods_sqlite,
    made_up_methods_postgres,
    made_up_methods
);

/// Item 11: live tokens per user are capped, also under a burst of concurrent requests (300 of
/// 300 were minted before); a revoked token frees its place.
async fn live_tokens_are_capped(backend: Backend) {
    let srv = TestServer::builder(backend)
        .protection(ticketbooth::http::limits::Protection {
            max_tokens_per_user: 10,
            ..ticketbooth::http::limits::Protection::without_rate_limits()
        })
        .start()
        .await;
    let mint = || {
        let request = srv
            .client
            .post(srv.api("/tokens"))
            .bearer_auth(&srv.token)
            .json(&serde_json::json!({}));
        async move { crate::common::Response::read(request.send().await.unwrap()).await }
    };
    let burst = futures_util::future::join_all((0..30).map(|_| mint())).await;
    let created: Vec<_> = burst.iter().filter(|r| r.status == 201).collect();
    // The fixture's token is one of the ten.
    assert_eq!(
        created.len(),
        9,
        "{:?}",
        burst.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in burst.iter().filter(|r| r.status != 201) {
        let message = r.assert_error(409, "conflict", None);
        assert!(message.contains("10 live tokens"), "{message}");
    }
    let id = created[0].json()["record"]["id"].clone();
    let r = srv
        .client
        .delete(srv.api(&format!("/tokens/{id}")))
        .bearer_auth(&srv.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mint().await.status, 201);
    assert_eq!(mint().await.status, 409);
}
on_both_backends!(
    live_tokens_are_capped_sqlite,
    live_tokens_are_capped_postgres,
    live_tokens_are_capped
);

/// Sends a raw request head and returns the reply's status line and body.
async fn raw_head(srv: &TestServer, head: String) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // hyper may answer and close before reading all of a huge head: a failed write is fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.lines().next().unwrap_or("").to_owned();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Item 13: errors about the request head itself are JSON too: the application's limits sit
/// below hyper's, so the application answers first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_head_errors_are_json() {
    use ticketbooth::http::head_limits::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_URI_BYTES};
    let srv = TestServer::start(Backend::Sqlite).await;
    let json_error = |(status, body): (String, String), code: &str, expect: &str| {
        assert!(status.starts_with(expect), "{status}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
        assert_eq!(v["error"]["code"], code, "{v}");
    };
    let get = |target: String, headers: String| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
    };
    let long = format!("/api/v1/tickets?q={}", "a".repeat(MAX_URI_BYTES));
    json_error(
        raw_head(&srv, get(long, String::new())).await,
        "uri_too_long",
        "HTTP/1.1 414",
    );
    let many: String = (0..MAX_HEADERS + 5)
        .map(|i| format!("X-H{i}: 1\r\n"))
        .collect();
    json_error(
        raw_head(&srv, get("/healthz".into(), many)).await,
        "headers_too_large",
        "HTTP/1.1 431",
    );
    let big = format!("X-Big: {}\r\n", "b".repeat(MAX_HEADER_BYTES));
    json_error(
        raw_head(&srv, get("/healthz".into(), big)).await,
        "headers_too_large",
        "HTTP/1.1 431",
    );
    // Within the limits, all is well.
    let (status, _) = raw_head(
        &srv,
        get(
            format!("/healthz?{}", "a".repeat(4000)),
            "X-A: 1\r\n".into(),
        ),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // What remains hyper's: a head past its 256 KiB buffer gets its own 431, with no body.
    let huge = format!("X-Huge: {}\r\n", "h".repeat(300 << 10));
    let (status, body) = raw_head(&srv, get("/healthz".into(), huge)).await;
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    assert!(body.is_empty(), "{body}");
}
