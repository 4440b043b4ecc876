//! Uploading tickets and reading them back.

use serde_json::json;

use crate::common::{conformance, metadata, safetensors_file, sha256_hex, small_ticket};

conformance! {
    async fn upload_measures_and_returns_the_ticket(srv) {
        let file = small_ticket(1, 4);
        let mut meta = metadata("ResNet20-L3");
        meta["tags"] = json!(["lth", "CIFAR"]);
        meta["dense_accuracy"] = json!(0.921);
        meta["hyperparameters"] = json!({"lr": 0.1, "batch_size": 128});
        let r = srv.upload(Some(&meta), Some(file.clone())).await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        let t = r.json();
        let id = t["id"].as_str().unwrap();
        assert_eq!(r.header("location"), format!("/api/v1/tickets/{id}"));
        assert_eq!(t["name"], "resnet20-l3");
        assert_eq!(t["owner"], "alice");
        assert_eq!(t["tags"], json!(["lth", "cifar"]));
        assert_eq!(t["metric"], "top1_accuracy");
        assert_eq!(t["params_total"], 256);
        assert_eq!(t["params_kept"], 64);
        assert_eq!(t["sparsity"], 0.75);
        assert_eq!(t["sha256"], sha256_hex(&file));
        assert_eq!(t["size_bytes"], file.len());
        assert_eq!(t["downloads"], 0);
        assert_eq!(t["yanked"], false);
        assert_eq!(t["hyperparameters"]["batch_size"], 128);
        for unset in ["description", "parent_id", "paper_url", "code_url", "license"] {
            assert!(t[unset].is_null() && t.as_object().unwrap().contains_key(unset), "{unset}");
        }
        let tensors = t["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), 2);
        let weight = tensors.iter().find(|x| x["name"] == "fc.weight").unwrap();
        // Every 4th entry kept: 1 of every 4 along the rows.
        assert_eq!(weight, &json!({"name": "fc.weight", "dtype": "F32", "shape": [16, 16], "params": 256, "kept": 64, "prunable": true,
            "structure": {"last_axis": {"4": 1, "8": 2}, "pattern": "1:4", "order": "last_axis"}}));
        assert_eq!(t["structure"], "1:4");
        let bias = tensors.iter().find(|x| x["name"] == "fc.bias").unwrap();
        assert_eq!(bias["prunable"], false);
        assert_eq!(bias["kept"], 15);
        assert!(t["created_at"].as_str().unwrap().ends_with('Z'));

        let fetched = srv.get(&format!("/tickets/{id}")).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.json(), t);
        assert_eq!(srv.ticket_rows().await, 1);
    }

    async fn parts_in_either_order_and_metadata_from_the_file(srv) {
        // File part first, then metadata.
        let file = small_ticket(2, 2);
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(file))
            .text("metadata", metadata("file-first").to_string());
        let r = srv.client.post(srv.api("/tickets")).bearer_auth(&srv.token).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), 201);

        // No metadata part: __metadata__ supplies every field, numbers as strings, tags comma-separated.
        let w = crate::common::f32_bytes((0..64).map(|i| (i % 2) as f32));
        let file = safetensors_file(
            &[("conv.weight", safetensors::Dtype::F32, vec![4, 4, 2, 2], w)],
            &[("name", "From-Meta"), ("task", "image-classification"), ("dataset", "mnist"),
              ("architecture", "conv-2"), ("pruning_method", "imp"), ("accuracy", "0.5"),
              ("tags", "a,b"), ("hyperparameters", "{\"lr\": 0.01}"), ("format", "pt")],
        );
        let r = srv.upload(None, Some(file.clone())).await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        let t = r.json();
        assert_eq!((t["name"].as_str(), t["accuracy"].as_f64()), (Some("from-meta"), Some(0.5)));
        assert_eq!(t["tags"], json!(["a", "b"]));
        assert_eq!(t["hyperparameters"], json!({"lr": 0.01}));

        // The JSON part wins over __metadata__.
        let r = srv.upload(Some(&json!({"name": "json-wins", "accuracy": 0.75})), Some(file)).await;
        assert_eq!(r.status, 201);
        assert_eq!((r.json()["name"].as_str(), r.json()["dataset"].as_str()), (Some("json-wins"), Some("mnist")));
    }

    async fn identical_content_is_stored_once(srv) {
        let file = small_ticket(3, 3);
        let a = srv.upload(Some(&metadata("a")), Some(file.clone())).await;
        let b = srv.upload(Some(&metadata("b")), Some(file.clone())).await;
        assert_eq!((a.status, b.status), (201, 201));
        assert_eq!(a.json()["sha256"], b.json()["sha256"]);
        srv.expect_blob_files(1).await;
        // Concurrent uploads of one new content also end with one object.
        let other = small_ticket(4, 3);
        let (mc, md) = (metadata("c"), metadata("d"));
        let (c, d) = tokio::join!(
            srv.upload(Some(&mc), Some(other.clone())),
            srv.upload(Some(&md), Some(other.clone())),
        );
        assert_eq!((c.status, d.status), (201, 201));
        srv.expect_blob_files(2).await;
        // Both tickets download the same bytes.
        for id in [&c.json()["id"], &d.json()["id"]] {
            let f = srv.get(&format!("/tickets/{}/file", id.as_str().unwrap())).await;
            assert_eq!(f.body, other);
        }
    }

    async fn names_are_unique_per_owner(srv) {
        let first = srv.upload(Some(&metadata("same")), Some(small_ticket(5, 2))).await;
        assert_eq!(first.status, 201);
        let again = srv.upload(Some(&metadata("SAME")), Some(small_ticket(6, 2))).await;
        again.assert_error(409, "conflict", Some("name"));
        srv.expect_blob_files(1).await;
        // Another owner may use the name.
        let bob = srv.token_for("bob").await;
        let theirs = srv.upload_as(&bob, Some(&metadata("same")), Some(small_ticket(6, 2))).await;
        assert_eq!(theirs.status, 201);
        assert_eq!(theirs.json()["owner"], "bob");
        // Racing uploads of one name: exactly one wins.
        let race = metadata("race");
        let (x, y) = tokio::join!(
            srv.upload(Some(&race), Some(small_ticket(7, 2))),
            srv.upload(Some(&race), Some(small_ticket(8, 2))),
        );
        let mut statuses = [x.status, y.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409]);
        assert_eq!(srv.ticket_rows().await, 3);
        srv.expect_blob_files(3).await;
    }

    async fn lineage_parent_must_exist(srv) {
        let parent = srv.upload(Some(&metadata("level-1")), Some(small_ticket(9, 2))).await;
        let parent_id = parent.json()["id"].as_str().unwrap().to_owned();
        let mut child = metadata("level-2");
        child["parent_id"] = json!(parent_id);
        let r = srv.upload(Some(&child), Some(small_ticket(9, 4))).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["parent_id"], parent_id.as_str());
        let mut orphan = metadata("level-3");
        orphan["parent_id"] = json!("no-such-ticket");
        srv.upload(Some(&orphan), Some(small_ticket(9, 8))).await.assert_error(422, "invalid_metadata", Some("parent_id"));
        assert_eq!(srv.ticket_rows().await, 2);
        srv.expect_blob_files(2).await;
    }

    async fn health_and_unknown_routes_answer_json(srv) {
        assert_eq!(reqwest::get(format!("{}/healthz", srv.url)).await.unwrap().status(), 200);
        let r = reqwest::get(format!("{}/readyz", srv.url)).await.unwrap();
        assert_eq!(r.status(), 200);
        srv.get("/nope").await.assert_error(404, "not_found", None);
        srv.get("/tickets/does-not-exist").await.assert_error(404, "not_found", None);
        let r = crate::common::Response::read(srv.client.delete(srv.api("/tickets")).send().await.unwrap()).await;
        r.assert_error(405, "method_not_allowed", None);
        assert!(r.header("x-request-id").len() >= 32);
    }
}
