//! `ticketbooth verify` and `ticketbooth gc`, the real binary against a store with planted
//! faults: a corrupted blob, a deleted one, and orphans on both sides of the grace period.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::common::{TestServer, conformance, metadata, small_ticket};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ticketbooth(srv: &TestServer, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
        .args(args)
        .arg("--data-dir")
        .arg(&srv.locations.data_dir)
        .env("DATABASE_URL", &srv.locations.database_url)
        .env_remove("TICKETBOOTH_BLOB_STORE")
        .env_remove("TICKETBOOTH_GC_GRACE")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn blob_root(srv: &TestServer) -> PathBuf {
    PathBuf::from(
        srv.locations
            .blob_store_url
            .strip_prefix("file://")
            .unwrap(),
    )
}

/// Writes a file under the blob root dated `age` ago.
fn plant(root: &Path, key: &str, age: Duration) -> PathBuf {
    let path = root.join(key);
    std::fs::write(&path, b"left behind by a crash").unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    path
}

/// The report lines that start with `prefix`.
fn lines<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

conformance! {
    async fn verify_reports_faults_and_gc_removes_only_old_orphans(srv) {
        let mut tickets = Vec::new();
        for (i, name) in ["intact", "corrupt", "deleted"].iter().enumerate() {
            let r = srv.upload(Some(&metadata(name)), Some(small_ticket(40 + i as u32, 2))).await;
            assert_eq!(r.status, 201, "{:?}", r.json());
            let id = r.json()["id"].as_str().unwrap().to_owned();
            let key = srv.state.index.blob_of(&id).await.unwrap().unwrap().object_key;
            tickets.push((id, key));
        }
        let root = blob_root(&srv);

        // A healthy store: exit 0, nothing to report, nothing for gc.
        let healthy = ticketbooth(&srv, &["verify"]);
        assert_eq!(healthy.code, 0, "{}{}", healthy.stdout, healthy.stderr);
        assert_eq!(
            healthy.stdout.trim(),
            format!(
                "verified 3 blobs ({} bytes): 0 missing, 0 mismatched; 0 orphaned objects (0 bytes) that gc would remove",
                3 * small_ticket(0, 2).len()
            )
        );

        // Faults: one blob's bytes flipped (same size), one deleted, and four planted files.
        let corrupt = root.join(&tickets[1].1);
        let mut bytes = std::fs::read(&corrupt).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&corrupt, &bytes).unwrap();
        std::fs::remove_file(root.join(&tickets[2].1)).unwrap();
        let hours = |h: u64| Duration::from_secs(h * 3600);
        let old_orphan = plant(&root, "objects/0190aaaa-0000-7000-8000-000000000001", hours(2));
        let old_staging = plant(&root, "objects/0190aaaa-0000-7000-8000-000000000002#1", hours(2));
        let young_orphan = plant(&root, "objects/0190aaaa-0000-7000-8000-000000000003", Duration::from_secs(30));
        let young_staging = plant(&root, "objects/0190aaaa-0000-7000-8000-000000000004#3", Duration::from_secs(60));

        let bad = ticketbooth(&srv, &["verify"]);
        assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
        assert!(bad.stderr.contains("2 blobs are missing or do not match"), "{}", bad.stderr);
        let missing = lines(&bad.stdout, "missing");
        assert_eq!(missing.len(), 1, "{}", bad.stdout);
        assert!(missing[0].contains(&tickets[2].1) && missing[0].contains(&format!("{} (alice/deleted)", tickets[2].0)), "{}", missing[0]);
        let mismatch = lines(&bad.stdout, "mismatch");
        assert_eq!(mismatch.len(), 1, "{}", bad.stdout);
        assert!(mismatch[0].contains(&tickets[1].1) && mismatch[0].contains(&format!("{} (alice/corrupt)", tickets[1].0)), "{}", mismatch[0]);
        assert!(!bad.stdout.contains(&tickets[0].0) && !bad.stdout.contains(&tickets[0].1), "the intact ticket is not reported");
        // Orphans: exactly the old ones, which is what gc removes below.
        let orphans = lines(&bad.stdout, "orphan");
        assert_eq!(orphans.len(), 2, "{}", bad.stdout);
        assert!(orphans.iter().any(|l| l.contains("000000000001 (")), "{orphans:?}");
        assert!(orphans.iter().any(|l| l.contains("000000000002#1 [staging]")), "{orphans:?}");
        assert!(bad.stdout.trim_end().ends_with("1 missing, 1 mismatched; 2 orphaned objects (44 bytes) that gc would remove"), "{}", bad.stdout);

        // A dry run lists the same and removes nothing.
        let dry = ticketbooth(&srv, &["gc", "--dry-run"]);
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        assert_eq!(lines(&dry.stdout, "would remove").len(), 2, "{}", dry.stdout);
        assert!(old_orphan.exists() && old_staging.exists());

        let gc = ticketbooth(&srv, &["gc"]);
        assert_eq!(gc.code, 0, "{}", gc.stderr);
        assert!(gc.stdout.contains("gc: removed 2 objects (44 bytes); kept 2 referenced, 2 in grace"), "{}", gc.stdout);
        assert!(!old_orphan.exists() && !old_staging.exists());
        assert!(young_orphan.exists() && young_staging.exists(), "inside the grace period");
        assert!(root.join(&tickets[0].1).exists() && corrupt.exists(), "referenced objects stay, even corrupt");

        // Still faulty (gc repairs nothing), and nothing left to collect.
        let after = ticketbooth(&srv, &["verify"]);
        assert_eq!(after.code, 1);
        assert!(lines(&after.stdout, "orphan").is_empty(), "{}", after.stdout);

        // A short grace period (as tests and single-replica setups may use) takes the young ones.
        let short = ticketbooth(&srv, &["gc", "--grace", "10s"]);
        assert_eq!(short.code, 0, "{}", short.stderr);
        assert!(short.stdout.contains("gc: removed 2 objects"), "{}", short.stdout);
        assert!(short.stderr.contains("warning: a grace period under 10m may remove uploads"), "{}", short.stderr);
        assert!(!gc.stderr.contains("warning"), "not with the default: {}", gc.stderr);
        assert!(!young_orphan.exists() && !young_staging.exists());
        let r = srv.get(&format!("/tickets/{}/file", tickets[0].0)).await;
        assert_eq!(r.body, small_ticket(40, 2), "the intact ticket still downloads");
    }
}

/// The same commands on an S3 bucket: objects are found through the list API, and only those
/// under the store's `objects/` prefix are ever considered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_gc_work_on_s3() {
    let Some(endpoint) = crate::s3::endpoint() else {
        return;
    };
    let bucket = crate::s3::bucket(&endpoint).await;
    let store = format!("s3://{bucket}/registry");
    let backend = if crate::common::postgres_configured() {
        crate::common::Backend::Postgres
    } else {
        crate::common::Backend::Sqlite
    };
    let srv = TestServer::builder(backend)
        .limits(ticketbooth::ingest::pipeline::UploadLimits {
            max_file_bytes: 1 << 20,
        })
        .blob_store(&store)
        .start()
        .await;
    let mut tickets = Vec::new();
    for (i, name) in ["kept", "lost"].iter().enumerate() {
        let r = srv
            .upload(Some(&metadata(name)), Some(small_ticket(50 + i as u32, 2)))
            .await;
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let key = srv
            .state
            .index
            .blob_of(&id)
            .await
            .unwrap()
            .unwrap()
            .object_key;
        tickets.push((id, key));
    }
    let http = reqwest::Client::new();
    let object = |key: &str| format!("{endpoint}/{bucket}/{key}");
    let status = |r: reqwest::Response| r.status().is_success();
    assert!(status(
        http.delete(object(&format!("registry/{}", tickets[1].1)))
            .send()
            .await
            .unwrap()
    ));
    for key in ["registry/objects/orphan", "elsewhere/objects/not-ours"] {
        assert!(status(
            http.put(object(key)).body("stray").send().await.unwrap()
        ));
    }
    let run = |grace: &str, command: &str| {
        ticketbooth(&srv, &[command, "--blob-store", &store, "--grace", grace])
    };

    // S3 sets the time itself, so the orphan is new: in grace for an hour, gone with 0s.
    let v = run("1h", "verify");
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    let missing = lines(&v.stdout, "missing");
    assert_eq!(missing.len(), 1, "{}", v.stdout);
    assert!(missing[0].contains(&format!("{} (alice/lost)", tickets[1].0)));
    assert!(lines(&v.stdout, "orphan").is_empty(), "{}", v.stdout);
    let v = run("0s", "verify");
    let orphans = lines(&v.stdout, "orphan");
    assert_eq!(orphans.len(), 1, "{}", v.stdout);
    assert!(
        orphans[0].contains("objects/orphan (5 bytes"),
        "{}",
        orphans[0]
    );

    let gc = run("0s", "gc");
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(
        gc.stdout
            .contains("gc: removed 1 objects (5 bytes); kept 1 referenced"),
        "{}",
        gc.stdout
    );
    let listing = http
        .get(format!("{endpoint}/{bucket}?list-type=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listing.contains("registry/objects/orphan"), "{listing}");
    assert!(
        listing.contains(&format!("registry/{}", tickets[0].1)),
        "{listing}"
    );
    assert!(
        listing.contains("elsewhere/objects/not-ours"),
        "outside the store's prefix: {listing}"
    );
    let r = srv.get(&format!("/tickets/{}/file", tickets[0].0)).await;
    assert_eq!(r.body, small_ticket(50, 2));
}
