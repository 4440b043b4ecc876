//! Files written by the reference Python implementation (safetensors + numpy): the server's
//! counts must match numpy's, and the download must be byte-identical.

use std::process::Command;

use serde_json::Value;

use crate::common::{TestServer, conformance, metadata, sha256_hex};

/// Runs tests/python/make_tickets.py. Python with safetensors and numpy is part of the test
/// set-up (scripts/test.sh installs them), so its absence is a failure, not a skip.
fn python_tickets() -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/make_tickets.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("python3 is needed for the interoperability tests (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "make_tickets.py failed (pip install safetensors numpy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read(dir.path().join("expected.json")).unwrap();
    (dir, serde_json::from_slice(&expected).unwrap())
}

async fn check(srv: &TestServer) {
    let (dir, expected) = python_tickets();
    for (i, (file, want)) in expected.as_object().unwrap().iter().enumerate() {
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        // masked_weights carries all its metadata in __metadata__; the others get a JSON part.
        let meta = (file != "masked_weights.safetensors").then(|| metadata(&format!("py-{i}")));
        let r = srv.upload(meta.as_ref(), Some(bytes.clone())).await;
        assert_eq!(
            r.status,
            201,
            "{file}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let t = r.json();
        assert_eq!(t["params_total"], want["params_total"], "{file}");
        assert_eq!(t["params_kept"], want["params_kept"], "{file}");
        assert_eq!(
            t["tensors"], want["tensors"],
            "{file}: per-tensor counts in data-offset order"
        );
        assert_eq!(t["sha256"], sha256_hex(&bytes));
        let id = t["id"].as_str().unwrap();
        let down = srv.get(&format!("/tickets/{id}/file")).await;
        assert!(down.body == bytes, "{file}: download differs from upload");
    }
}

conformance! {
    async fn python_reference_files_match_numpy_counts(srv) {
        check(&srv).await;
    }
}
