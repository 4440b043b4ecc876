//! What ingest measures of the masks (docs/masks.md), on both backends: the architecture
//! fingerprint across the masked and zeros layouts, tickets for a model from a tensor list and
//! from a header, N:M structure with its filter and facet, similar tickets, and `reindex`.

use safetensors::Dtype;
use serde_json::{Value, json};

use crate::common::{Response, TestServer, conformance, f32_bytes, metadata, safetensors_file};

/// A 16x32 linear layer whose entry i is kept iff `keep(i)`, in the torch.nn.utils.prune
/// layout (`masked`: weight_orig + float mask) or the zeros layout, with a bias.
fn linear(keep: impl Fn(usize) -> bool, masked: bool) -> Vec<u8> {
    let w: Vec<f32> = (0..512)
        .map(|i| (i as f32 + 1.0) * if i % 3 == 0 { -0.01 } else { 0.01 })
        .collect();
    let bias = (
        "fc.bias",
        Dtype::F32,
        vec![16],
        f32_bytes((0..16).map(|i| i as f32)),
    );
    if masked {
        let mask = f32_bytes((0..512).map(|i| if keep(i) { 1.0 } else { 0.0 }));
        safetensors_file(
            &[
                ("fc.weight_orig", Dtype::F32, vec![16, 32], f32_bytes(w)),
                ("fc.weight_mask", Dtype::F32, vec![16, 32], mask),
                bias,
            ],
            &[],
        )
    } else {
        let zeroed = f32_bytes(
            w.iter()
                .enumerate()
                .map(|(i, x)| if keep(i) { *x } else { 0.0 }),
        );
        safetensors_file(
            &[("fc.weight", Dtype::F32, vec![16, 32], zeroed), bias],
            &[],
        )
    }
}

async fn upload(srv: &TestServer, name: &str, accuracy: f64, file: Vec<u8>) -> Value {
    let mut meta = metadata(name);
    meta["accuracy"] = json!(accuracy);
    let r = srv.upload(Some(&meta), Some(file)).await;
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()
}

async fn compatible(srv: &TestServer, query: &str, content_type: &str, body: Vec<u8>) -> Response {
    let r = srv
        .client
        .post(srv.api(&format!("/compatible{query}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    Response::read(r).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

fn facet(srv_facets: &Value, name: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = srv_facets[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_owned(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A ticket row whose kept set is `kept` (over a universe of 100,000 entries), straight into
/// the index with every other one of its shape: one fingerprint for all.
fn row(owner: i64, n: usize, kept: impl Iterator<Item = u64>) -> ticketbooth::index::NewTicket {
    use ticketbooth::domain::masks::signature::SignatureBuilder;
    let mut sig = SignatureBuilder::default();
    kept.for_each(|i| sig.add(i));
    let mut t = crate::common::ticket_row(owner, &format!("lsh-{n}"));
    t.params_total = 100_000;
    t.params_kept = 1;
    t.masks.fingerprint = "e".repeat(64);
    t.masks.signature = sig.finish();
    t
}

conformance! {
    async fn a_large_group_is_searched_through_the_lsh_bands(srv) {
        // Past the scan limit (2,000), so the bands pick the candidates.
        let owner = srv.state.index.create_token("lsh", &ticketbooth::domain::tokens::hash("tb_lsh")).await.unwrap();
        let stride = |seed: u64| move |i: &u64| (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(97)) % 10 < 3;
        let base: Vec<u64> = (0..100_000u64).filter(stride(1)).collect();
        let mut rows = vec![
            row(owner.id, 0, base.iter().copied()),
            // 1% of the set replaced: Jaccard about 0.98.
            row(owner.id, 1, base.iter().copied().filter(|i| i % 100 != 0).chain(200_000..200_300)),
            // A twentieth replaced: Jaccard about 0.9 (found through some band with probability
            // 0.9999; docs/masks.md).
            row(owner.id, 2, base.iter().copied().filter(|i| i % 20 != 0).chain(300_000..301_500)),
        ];
        rows.extend((3..2100).map(|n| row(owner.id, n, (0..100_000u64).filter(stride(n as u64 + 7)))));
        srv.state.index.insert_many(&rows).await.unwrap();
        let id = rows[0].id.clone();
        let found = srv.get(&format!("/tickets/{id}/similar?limit=5")).await.json();
        let items = found["items"].as_array().unwrap();
        assert_eq!(items[0]["id"], json!(rows[1].id), "{found}");
        assert_eq!(items[1]["id"], json!(rows[2].id), "{found}");
        assert!(items[0]["jaccard"].as_f64().unwrap() > 0.93);
        let j2 = items[1]["jaccard"].as_f64().unwrap();
        assert!((0.8..0.97).contains(&j2), "{j2}");
        assert!(items.iter().skip(2).all(|t| t["jaccard"].as_f64().unwrap() < 0.3), "{found}");
    }

    async fn both_layouts_of_one_network_share_a_fingerprint_and_find_each_other(srv) {
        let keep = |i: usize| !i.is_multiple_of(5);
        let masked = upload(&srv, "masked", 0.91, linear(keep, true)).await;
        let zeros = upload(&srv, "zeros", 0.95, linear(keep, false)).await;
        let fp = masked["architecture_fingerprint"].as_str().unwrap().to_owned();
        assert_eq!(fp.len(), 64);
        assert_eq!(zeros["architecture_fingerprint"], json!(fp));
        // A changed shape is another architecture.
        let other = safetensors_file(&[("fc.weight", Dtype::F32, vec![16, 33], f32_bytes((0..528).map(|i| i as f32)))], &[]);
        let other = upload(&srv, "other", 0.99, other).await;
        assert_ne!(other["architecture_fingerprint"], json!(fp));

        // From a state_dict's tensor list: biases and all, best accuracy first.
        let list = json!({"tensors": [{"name": "fc.weight", "shape": [16, 32]}, {"name": "fc.bias", "shape": [16]}]});
        let r = compatible(&srv, "", "application/json", list.to_string().into_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.json());
        assert_eq!(r.json()["fingerprint"], json!(fp));
        assert_eq!(ids(&r.json()), [zeros["id"].as_str().unwrap(), masked["id"].as_str().unwrap()]);
        // A pruned model's state_dict (weight_orig + weight_mask) is the same network.
        let pruned = json!({"tensors": [{"name": "fc.weight_orig", "shape": [16, 32]}, {"name": "fc.weight_mask", "shape": [16, 32]}]});
        let r = compatible(&srv, "", "application/json", pruned.to_string().into_bytes()).await;
        assert_eq!(r.json()["fingerprint"], json!(fp));
        // From the start of a file: its length and header, no weights.
        let file = linear(keep, true);
        let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        let r = compatible(&srv, "?limit=1", "application/octet-stream", file[..8 + n].to_vec()).await;
        assert_eq!(r.status, 200, "{}", r.json());
        assert_eq!(r.json()["fingerprint"], json!(fp));
        assert_eq!(ids(&r.json()), [zeros["id"].as_str().unwrap()]);
        let cursor = r.json()["next_cursor"].as_str().unwrap().to_owned();
        let r = compatible(&srv, &format!("?limit=1&cursor={cursor}"), "application/octet-stream", file[..8 + n].to_vec()).await;
        assert_eq!(ids(&r.json()), [masked["id"].as_str().unwrap()]);
        assert_eq!(r.json()["next_cursor"], Value::Null);
        // Search by fingerprint gives the same tickets.
        let page = srv.get(&format!("/tickets?fingerprint={fp}&sort=accuracy")).await.json();
        assert_eq!(ids(&page).len(), 2);

        // Refusals name the problem.
        compatible(&srv, "", "text/plain", b"x".to_vec()).await.assert_error(415, "unsupported_media_type", None);
        compatible(&srv, "", "application/json", br#"{"tensors": [{"name": "w"}]}"#.to_vec()).await.assert_error(400, "invalid_parameter", Some("tensors[0]"));
        compatible(&srv, "", "application/json", b"{".to_vec()).await.assert_error(400, "bad_request", Some("tensors"));
        compatible(&srv, "", "application/octet-stream", file[..8 + n - 1].to_vec()).await.assert_error(422, "invalid_safetensors", Some("file"));
        compatible(&srv, &format!("?fingerprint={fp}"), "application/json", list.to_string().into_bytes()).await.assert_error(400, "invalid_parameter", Some("fingerprint"));
        srv.get("/tickets?fingerprint=xyz").await.assert_error(400, "invalid_parameter", Some("fingerprint"));
    }

    async fn n_m_structure_is_measured_filtered_and_counted(srv) {
        // 1 of every 4, 2 of every 4, 3 of every 8 with 3 in one group of 4 (4:8), and dense.
        upload(&srv, "one-of-four", 0.9, linear(|i| i % 4 == 2, true)).await;
        let two = upload(&srv, "two-of-four", 0.9, linear(|i| i % 4 < 2, false)).await;
        let four_eight = upload(&srv, "four-of-eight", 0.9, linear(|i| matches!(i % 8, 0 | 1 | 2 | 7), true)).await;
        upload(&srv, "dense", 0.9, linear(|_| true, true)).await;
        assert_eq!(two["structure"], "2:4");
        assert_eq!(four_eight["structure"], "4:8");
        let row_named = |t: &Value, name: &str| t["tensors"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap().clone();
        let row = &row_named(&two, "fc.weight");
        assert_eq!(row["structure"]["last_axis"], json!({"4": 2, "8": 4}));
        assert_eq!((row["structure"]["pattern"].as_str(), row["structure"]["order"].as_str()), (Some("2:4"), Some("last_axis")));
        // The bias is not prunable: no structure row.
        assert_eq!(row_named(&two, "fc.bias")["structure"], Value::Null);
        // F16 zeros with -0.0 count as pruned; BF16 rows of 6 cannot be cut into groups of 4.
        let half: Vec<u8> = (0..64u16).flat_map(|i| if i % 4 == 0 { 0x3c00u16 } else if i % 2 == 0 { 0x8000 } else { 0 }.to_le_bytes()).collect();
        let h = upload(&srv, "half", 0.9, safetensors_file(&[("w", Dtype::F16, vec![4, 16], half)], &[])).await;
        assert_eq!(h["structure"], "1:4");
        let bf: Vec<u8> = (0..36u16).flat_map(|i| if i % 6 == 0 { 0x3f80u16 } else { 0 }.to_le_bytes()).collect();
        let b = upload(&srv, "bf16", 0.9, safetensors_file(&[("w", Dtype::BF16, vec![6, 6], bf)], &[])).await;
        assert_eq!(b["structure"], "unstructured");
        assert_eq!(b["tensors"][0]["structure"]["last_axis"], json!({"4": null, "8": null}));

        let count = |q: &'static str| {
            let srv = &srv;
            async move { srv.get(&format!("/tickets?{q}")).await.json()["items"].as_array().unwrap().len() }
        };
        assert_eq!(count("structure=1:4").await, 2);
        assert_eq!(count("structure=2:4").await, 3, "2:4 also matches the stricter 1:4");
        assert_eq!(count("structure=4:8").await, 4);
        assert_eq!(count("structure=unstructured").await, 2);
        srv.get("/tickets?structure=3:4").await.assert_error(400, "invalid_parameter", Some("structure"));
        let f = srv.get("/facets").await.json();
        assert_eq!(facet(&f, "structure"), [("1:4".into(), 2), ("2:4".into(), 1), ("4:8".into(), 1), ("unstructured".into(), 2)]);
        // Facets under a structure filter come from the counts kept on write too.
        let f = srv.get("/facets?structure=2:4").await.json();
        assert_eq!(f["task"][0]["count"], 3);
    }

    async fn similar_tickets_rank_a_near_duplicate_above_a_random_mask(srv) {
        let rand = |seed: usize| move |i: usize| (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 97)) % 7 < 3;
        let a = upload(&srv, "a", 0.9, linear(rand(1), true)).await;
        // The same mask with 10 of 512 entries flipped, in the other layout.
        let near = upload(&srv, "near", 0.9, linear(move |i| rand(1)(i) ^ (i % 51 == 0), false)).await;
        let random = upload(&srv, "random", 0.9, linear(rand(5), true)).await;
        let elsewhere = safetensors_file(&[("x", Dtype::F32, vec![4, 4], f32_bytes((0..16).map(|i| i as f32)))], &[]);
        upload(&srv, "other-arch", 0.9, elsewhere).await;
        let id = a["id"].as_str().unwrap();
        let r = srv.get(&format!("/tickets/{id}/similar")).await;
        assert_eq!(r.status, 200, "{}", r.json());
        let items = r.json()["items"].as_array().unwrap().clone();
        let got: Vec<&str> = items.iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(got, [near["id"].as_str().unwrap(), random["id"].as_str().unwrap()], "same fingerprint only, near first");
        let (j_near, j_random) = (items[0]["jaccard"].as_f64().unwrap(), items[1]["jaccard"].as_f64().unwrap());
        assert!(j_near > 0.85 && j_random < 0.5, "{j_near} {j_random}");
        assert_eq!(srv.get(&format!("/tickets/{id}/similar?limit=1")).await.json()["items"].as_array().unwrap().len(), 1);
        srv.get(&format!("/tickets/{id}/similar?limit=0")).await.assert_error(400, "invalid_parameter", Some("limit"));
        assert_eq!(srv.get("/tickets/nope/similar").await.status, 404);
    }

    async fn reindex_measures_tickets_stored_before_masks_were(srv) {
        let t = upload(&srv, "old", 0.9, linear(|i| i % 4 < 2, true)).await;
        let id = t["id"].as_str().unwrap().to_owned();
        // As a row from before migration 0007 looks: nothing measured, counted as unknown.
        srv.exec(&[
            "UPDATE tickets SET structure = 'unknown', architecture_fingerprint = NULL, mask_signature = NULL",
            "UPDATE facet_counts SET structure = 'unknown'",
            "UPDATE tag_counts SET structure = 'unknown'",
            "DELETE FROM ticket_bands",
        ]).await;
        let before = srv.get(&format!("/tickets/{id}")).await.json();
        assert_eq!((before["structure"].as_str(), &before["architecture_fingerprint"]), (Some("unknown"), &Value::Null));
        assert_eq!(facet(&srv.get("/facets").await.json(), "structure"), [("unknown".into(), 1)]);
        let n = ticketbooth::ops::reindex::reindex(&srv.state.index, &srv.state.blobs).await.unwrap();
        assert_eq!(n, 1);
        let after = srv.get(&format!("/tickets/{id}")).await.json();
        assert_eq!(after["structure"], "2:4");
        assert_eq!(after["architecture_fingerprint"], t["architecture_fingerprint"]);
        assert_eq!(after["tensors"], t["tensors"]);
        assert_eq!(facet(&srv.get("/facets").await.json(), "structure"), [("2:4".into(), 1)]);
        // Nothing left to do the second time.
        assert_eq!(ticketbooth::ops::reindex::reindex(&srv.state.index, &srv.state.blobs).await.unwrap(), 0);
    }
}
