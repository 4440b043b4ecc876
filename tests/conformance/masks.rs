//! The mask as a first-class object: the header without the data, partial and packed files
//! (exact bytes, Range, ETag, HEAD, never counted), and the comparison of two tickets' masks.

use safetensors::{Dtype, SafeTensors};

use crate::common::{
    Response, TestServer, conformance, f32_bytes, metadata, safetensors_file, small_ticket,
};

async fn fetch(srv: &TestServer, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = srv.client.get(srv.api(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Response::read(req.send().await.unwrap()).await
}

/// A masked ticket (torch.nn.utils.prune layout) big enough that its tensors span several
/// read windows: a 1024x600 F32 weight, its F32 mask (about a `1/keep` of entries kept, by a
/// hash of `seed`), and a bias.
fn masked(seed: u64, keep: u64, cols: usize) -> (Vec<u8>, Vec<f32>, Vec<f32>) {
    let n = 1024 * cols;
    let hash = |i: u64| (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let w: Vec<f32> = (0..n as u64)
        .map(|i| (hash(i) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let m: Vec<f32> = (0..n as u64)
        .map(|i| f32::from(hash(i + 7) % keep == 0))
        .collect();
    let file = safetensors_file(
        &[
            (
                "fc.weight_orig",
                Dtype::F32,
                vec![1024, cols],
                f32_bytes(w.clone()),
            ),
            (
                "fc.weight_mask",
                Dtype::F32,
                vec![1024, cols],
                f32_bytes(m.clone()),
            ),
            (
                "fc.bias",
                Dtype::F32,
                vec![1024],
                f32_bytes((0..1024).map(|i| i as f32)),
            ),
        ],
        &[("note", "kept")],
    );
    (file, w, m)
}

async fn upload(srv: &TestServer, name: &str, file: Vec<u8>) -> String {
    let r = srv.upload(Some(&metadata(name)), Some(file)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn downloads(srv: &TestServer, id: &str) -> u64 {
    srv.get(&format!("/tickets/{id}")).await.json()["downloads"]
        .as_u64()
        .unwrap()
}

conformance! {
    async fn header_and_partial_files_ship_just_what_was_asked(srv) {
        let (file, _, _) = masked(1, 5, 600);
        let id = upload(&srv, "parts", file.clone()).await;
        let source = SafeTensors::deserialize(&file).unwrap();

        let h = fetch(&srv, &format!("/tickets/{id}/header"), &[]).await;
        assert_eq!(h.status, 200);
        let h = h.json();
        let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        let stored: serde_json::Value = serde_json::from_slice(&file[8..8 + n]).unwrap();
        assert_eq!(h["header"], stored);
        assert_eq!(h["data_start"], 8 + n as u64);
        assert_eq!(h["tensors"].as_array().unwrap().len(), 3);

        for (query, names) in [
            ("part=masks", vec!["fc.weight_mask"]),
            ("part=weights", vec!["fc.bias", "fc.weight_orig"]),
            ("tensors=fc.bias,fc.weight_mask", vec!["fc.bias", "fc.weight_mask"]),
        ] {
            let path = format!("/tickets/{id}/file?{query}");
            let r = fetch(&srv, &path, &[]).await;
            assert_eq!(r.status, 200, "{query}");
            assert_eq!(r.header("content-length"), r.body.len().to_string());
            let got = SafeTensors::deserialize(&r.body).unwrap();
            let mut listed: Vec<&str> = got.names().into_iter().collect();
            listed.sort();
            assert_eq!(listed, names, "{query}");
            for name in names {
                assert_eq!(got.tensor(name).unwrap(), source.tensor(name).unwrap(), "{query} {name}");
            }
            let (_, meta) = SafeTensors::read_metadata(&r.body).unwrap();
            let meta = meta.metadata().clone().unwrap();
            assert_eq!(meta["note"], "kept");
            assert_eq!(meta["ticketbooth.source_sha256"], crate::common::sha256_hex(&file));
            let etag = r.header("etag").to_owned();
            assert_ne!(etag, format!("\"{}\"", crate::common::sha256_hex(&file)));

            // HEAD: the same length and ETag, no body.
            let head = Response::read(srv.client.head(srv.api(&path)).send().await.unwrap()).await;
            assert_eq!((head.status, head.body.len()), (200, 0));
            assert_eq!(head.header("content-length"), r.body.len().to_string());
            assert_eq!(head.header("etag"), etag);
            // Ranges and conditionals, as for the whole file.
            let len = r.body.len();
            let part = fetch(&srv, &path, &[("range", "bytes=3-4100"), ("if-range", &etag)]).await;
            assert_eq!(part.status, 206);
            assert_eq!(part.body, &r.body[3..=4100]);
            assert_eq!(part.header("content-range"), format!("bytes 3-4100/{len}"));
            let tail = fetch(&srv, &path, &[("range", "bytes=-1000")]).await;
            assert_eq!(tail.body, &r.body[len - 1000..]);
            let same = fetch(&srv, &path, &[("if-none-match", &etag)]).await;
            assert_eq!((same.status, same.body.len()), (304, 0));
            fetch(&srv, &path, &[("range", &format!("bytes={len}-"))])
                .await
                .assert_error(416, "range_not_satisfiable", None);
        }
        assert_eq!(downloads(&srv, &id).await, 0, "generated files are not downloads");

        let both = fetch(&srv, &format!("/tickets/{id}/file?part=masks&tensors=fc.bias"), &[]).await;
        both.assert_error(400, "invalid_parameter", Some("part"));
        let unknown = fetch(&srv, &format!("/tickets/{id}/file?tensors=fc.bias,nope,gone"), &[]).await;
        let message = unknown.assert_error(400, "invalid_parameter", Some("tensors"));
        assert!(message.contains("'nope'") && message.contains("'gone'"), "{message}");
        let zeros = upload(&srv, "zeros", small_ticket(3, 4)).await;
        let message = fetch(&srv, &format!("/tickets/{zeros}/file?part=masks"), &[])
            .await
            .assert_error(400, "invalid_parameter", Some("part"));
        assert!(message.contains("no masks"), "{message}");
        fetch(&srv, "/tickets/missing/header", &[]).await.assert_error(404, "not_found", None);
    }

    async fn packed_files_carry_bits_and_kept_values_in_any_range(srv) {
        let (file, w, m) = masked(2, 10, 600);
        let id = upload(&srv, "packed", file.clone()).await;
        let path = format!("/tickets/{id}/packed");
        let r = fetch(&srv, &path, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), r.body.len().to_string());
        assert!(file.len() as f64 / r.body.len() as f64 > 14.0, "{} -> {}", file.len(), r.body.len());
        let got = SafeTensors::deserialize(&r.body).unwrap();
        let bits = got.tensor("fc.weight.bitmask").unwrap();
        for (i, k) in m.iter().enumerate() {
            assert_eq!(bits.data()[i / 8] >> (i % 8) & 1 == 1, *k != 0.0, "entry {i}");
        }
        let kept: Vec<f32> = w.iter().zip(&m).filter(|(_, k)| **k != 0.0).map(|(v, _)| *v).collect();
        assert_eq!(got.tensor("fc.weight.values").unwrap().data(), &f32_bytes(kept)[..]);
        let source = SafeTensors::deserialize(&file).unwrap();
        assert_eq!(got.tensor("fc.bias").unwrap(), source.tensor("fc.bias").unwrap());

        // Ranges starting inside the values (found by counting the mask) and crossing windows.
        let etag = r.header("etag").to_owned();
        let len = r.body.len();
        for (a, b) in [(0, 10), (100, 90_000), (80_000, 150_000), (len - 5, len - 1), (77_777, len - 1)] {
            let part = fetch(&srv, &path, &[("range", &format!("bytes={a}-{b}")), ("if-range", &etag)]).await;
            assert_eq!(part.status, 206, "{a}-{b}");
            assert!(part.body == r.body[a..=b], "bytes {a}-{b} differ");
        }
        let head = Response::read(srv.client.head(srv.api(&path)).send().await.unwrap()).await;
        assert_eq!((head.status, head.header("etag")), (200, etag.as_str()));
        assert_eq!(head.header("content-length"), len.to_string());
        assert_eq!(downloads(&srv, &id).await, 0);

        // Without masks: the nonzero pattern of each prunable tensor.
        let zeros = small_ticket(5, 3);
        let zid = upload(&srv, "zeros-packed", zeros.clone()).await;
        let z = fetch(&srv, &format!("/tickets/{zid}/packed"), &[]).await;
        let got = SafeTensors::deserialize(&z.body).unwrap();
        let src = SafeTensors::deserialize(&zeros).unwrap();
        let weight = src.tensor("fc.weight").unwrap();
        let nonzero: Vec<u8> = weight.data().chunks(4).filter(|c| c.iter().any(|b| *b != 0)).flatten().copied().collect();
        assert_eq!(got.tensor("fc.weight.values").unwrap().data(), &nonzero[..]);
        assert_eq!(got.tensor("fc.weight.bitmask").unwrap().data().len(), 32);
    }

    async fn compare_counts_layers_and_refuses_other_architectures(srv) {
        let (fa, wa, ma) = masked(3, 4, 300);
        let (fb, wb, mb) = masked(4, 3, 300);
        let a = upload(&srv, "cmp-a", fa).await;
        let b = upload(&srv, "cmp-b", fb).await;
        let r = fetch(&srv, &format!("/compare?a={a}&b=alice/cmp-b"), &[]).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let c = r.json();
        assert_eq!(c["a"]["id"], a.as_str());
        assert_eq!(c["b"]["id"], b.as_str());
        assert_eq!(c["a"]["fingerprint"], c["b"]["fingerprint"]);
        let (mut ka, mut kb, mut both, mut same) = (0u64, 0u64, 0u64, 0u64);
        for i in 0..wa.len() {
            let (x, y) = (ma[i] != 0.0, mb[i] != 0.0);
            ka += u64::from(x);
            kb += u64::from(y);
            if x && y {
                both += 1;
                same += u64::from(wa[i].is_sign_negative() == wb[i].is_sign_negative());
            }
        }
        let layer = &c["layers"][0];
        assert_eq!(layer["name"], "fc.weight");
        assert_eq!(c["layers"].as_array().unwrap().len(), 1);
        for f in [layer, &c["overall"]] {
            assert_eq!(f["kept_a"], ka);
            assert_eq!(f["kept_b"], kb);
            assert_eq!(f["intersection"], both);
            assert_eq!(f["union"], ka + kb - both);
            assert_eq!(f["iou"].as_f64().unwrap(), both as f64 / (ka + kb - both) as f64);
            let e = ka as f64 * kb as f64 / wa.len() as f64;
            assert!((f["expected_iou"].as_f64().unwrap() - e / (ka as f64 + kb as f64 - e)).abs() < 1e-12);
            assert_eq!(f["sign_agreement"].as_f64().unwrap(), same as f64 / both as f64);
        }
        // Cached: the same answer again.
        let again = fetch(&srv, &format!("/compare?a={a}&b={b}"), &[]).await;
        assert_eq!(again.json()["overall"], c["overall"]);

        let other = upload(&srv, "cmp-other", small_ticket(1, 2)).await;
        let message = fetch(&srv, &format!("/compare?a={a}&b={other}"), &[])
            .await
            .assert_error(422, "not_comparable", None);
        assert!(message.contains("fc.weight [1024,300]") && message.contains("fc.weight [16,16]"), "{message}");
        fetch(&srv, &format!("/compare?a={a}&b=missing"), &[]).await.assert_error(404, "not_found", None);
    }
}
