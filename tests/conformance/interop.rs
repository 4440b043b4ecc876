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
        // Counts exactly; N:M structure as docs/masks.md defines it, against numpy's.
        let strip = |tensors: &serde_json::Value| -> Vec<serde_json::Value> {
            tensors
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let mut t = t.clone();
                    t.as_object_mut().unwrap().remove("structure");
                    t
                })
                .collect()
        };
        assert_eq!(
            strip(&t["tensors"]),
            strip(&want["tensors"]),
            "{file}: per-tensor counts in data-offset order"
        );
        for (got, want) in t["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["tensors"].as_array().unwrap())
        {
            let (g, w) = (&got["structure"], &want["structure"]);
            assert_eq!(
                g.is_null(),
                w.is_null(),
                "{file} {}: structure only on prunable tensors",
                want["name"]
            );
            if w.is_null() {
                continue;
            }
            assert_eq!(g["last_axis"], w["last_axis"], "{file} {}", want["name"]);
            assert_eq!(
                (&g["pattern"], &g["order"]),
                (&w["pattern"], &w["order"]),
                "{file} {}",
                want["name"]
            );
            // Counting along input channels stops once no pattern can hold there: then both
            // counts are past the loosest pattern, and otherwise equal.
            assert_eq!(
                g["input_channel"].is_null(),
                w["input_channel"].is_null(),
                "{file} {}",
                want["name"]
            );
            for (m, loosest) in [("4", 2), ("8", 4)] {
                let (gv, wv) = (&g["input_channel"][m], &w["input_channel"][m]);
                match wv.as_u64() {
                    Some(x) if x > loosest => assert!(
                        gv.as_u64().is_some_and(|y| y > loosest),
                        "{file} {} {m}: {g} vs {w}",
                        want["name"]
                    ),
                    _ => assert_eq!(gv, wv, "{file} {} {m}", want["name"]),
                }
            }
        }
        assert_eq!(
            t["architecture_fingerprint"], want["fingerprint"],
            "{file}: fingerprint"
        );
        assert_eq!(
            t["structure"], want["structure"],
            "{file}: ticket structure"
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
