//! Evidence (docs/evidence.md): results as records, the verdict in each of its states and its
//! transitions, statistics, search and facets by evidence, the frontier on reproduced
//! accuracy, the transfer matrix, a result's takedown, and the open-data dump parsed back.
//! Every scenario on both backends.

use std::io::Read;

use serde_json::{Value, json};
use ticketbooth::domain::tokens::{self, NewToken, Scope};

use crate::common::{Response, TestServer, conformance, metadata, small_ticket};

async fn post_result(srv: &TestServer, token: &str, ticket: &str, body: Value) -> Response {
    let r = srv
        .client
        .post(srv.api(&format!("/tickets/{ticket}/results")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    Response::read(r).await
}

/// Posts a result that must be stored; the evidence in the answer.
async fn add(srv: &TestServer, token: &str, ticket: &str, body: Value) -> (String, Value) {
    let r = post_result(srv, token, ticket, body).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let json = r.json();
    let rid = json["result"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), format!("/api/v1/results/{rid}"));
    (rid, json["evidence"].clone())
}

async fn delete_result(srv: &TestServer, token: &str, rid: &str) -> Response {
    let r = srv
        .client
        .delete(srv.api(&format!("/results/{rid}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    Response::read(r).await
}

async fn upload(srv: &TestServer, meta: Value, seed: u32, keep_every: usize) -> String {
    let r = srv
        .upload(Some(&meta), Some(small_ticket(seed, keep_every)))
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn evidence_of(srv: &TestServer, id: &str) -> Value {
    let r = srv.get(&format!("/tickets/{id}")).await;
    assert_eq!(r.status, 200);
    r.json()["evidence"].clone()
}

async fn verdict_facet(srv: &TestServer) -> Vec<(String, u64)> {
    let f = srv.get("/facets").await.json();
    f["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_owned(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// n, mean, sample std, min, max, computed here independently of the server.
fn stats(xs: &[f64]) -> Value {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = if xs.len() < 2 {
        Value::Null
    } else {
        json!((xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
    };
    json!({
        "n": xs.len(), "mean": mean, "std": std,
        "min": xs.iter().copied().fold(f64::INFINITY, f64::min),
        "max": xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

fn assert_stats(got: &Value, want: &Value) {
    assert_eq!(got["n"], want["n"], "{got} vs {want}");
    for key in ["mean", "min", "max", "std"] {
        match (got[key].as_f64(), want[key].as_f64()) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{key}: {got} vs {want}"),
            (a, b) => assert_eq!(a, b, "{key}: {got} vs {want}"),
        }
    }
}

/// A token for `user` with exactly these scopes.
async fn scoped_token(srv: &TestServer, user: &str, scopes: &[Scope]) -> String {
    let token = tokens::generate().unwrap();
    let spec = NewToken {
        scopes: scopes.to_vec(),
        ..NewToken::unrestricted()
    };
    srv.state
        .index
        .create_token_with(user, &tokens::hash(&token), &spec)
        .await
        .unwrap();
    token
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

conformance! {
    async fn the_verdict_moves_through_every_state_as_results_arrive_and_go(srv) {
        let bob = srv.token_for("bob").await;
        let mut meta = metadata("t");
        meta["accuracy"] = json!(0.95);
        meta["dense_accuracy"] = json!(0.94);
        let id = upload(&srv, meta, 1, 4).await;
        let e = evidence_of(&srv, &id).await;
        assert_eq!(e["verdict"], "unverified");
        assert_eq!(e["margin"], Value::Null);
        assert_stats(&e["ticket"], &stats(&[0.95]));
        assert_stats(&e["dense"], &stats(&[0.94]));
        assert_eq!(verdict_facet(&srv).await, [("unverified".to_owned(), 1)]);

        // A control far below: wins.
        let (_, e) = add(&srv, &srv.token, &id, json!({"kind": "random_reinit", "accuracy": 0.90, "seed": 1})).await;
        assert_eq!(e["verdict"], "wins");
        assert!((e["margin"].as_f64().unwrap() - 0.05).abs() < 1e-12);
        // Every read after the answer agrees.
        assert_eq!(evidence_of(&srv, &id).await, e);
        assert_eq!(verdict_facet(&srv).await, [("wins".to_owned(), 1)]);

        // Someone else reproduces it a little lower: the ticket's mean moves.
        let (_, e) = add(&srv, &bob, &id, json!({"kind": "reproduction", "accuracy": 0.93, "seed": 7})).await;
        assert_eq!(e["verdict"], "wins");
        assert_stats(&e["ticket"], &stats(&[0.95, 0.93]));
        assert_eq!((e["reproductions"].as_u64(), e["reproductions_by_others"].as_u64()), (Some(1), Some(1)));
        // The owner's own reproduction counts, but not as "by others".
        let (_, e) = add(&srv, &srv.token, &id, json!({"kind": "reproduction", "accuracy": 0.94})).await;
        assert_stats(&e["ticket"], &stats(&[0.95, 0.93, 0.94]));
        assert_eq!((e["reproductions"].as_u64(), e["reproductions_by_others"].as_u64()), (Some(2), Some(1)));

        // A random mask within one point of the ticket's mean (0.94): no better than controls.
        let (prune, e) = add(&srv, &bob, &id, json!({"kind": "random_prune", "accuracy": 0.931, "scope": "layerwise"})).await;
        assert_eq!(e["verdict"], "no_better_than_controls");
        assert_stats(&e["random_prune"], &stats(&[0.931]));
        assert_eq!(verdict_facet(&srv).await, [("no_better_than_controls".to_owned(), 1)]);
        // Deleting it puts the verdict back.
        let r = delete_result(&srv, &bob, &prune).await;
        assert_eq!(r.status, 200, "{}", r.json());
        assert_eq!(r.json()["evidence"]["verdict"], "wins");
        assert_eq!(r.json()["ticket_id"], json!(id));
        assert_eq!(evidence_of(&srv, &id).await["verdict"], "wins");

        // A dense run well above: the dense accuracy is the mean of dense_accuracy and the dense
        // results (0.965), and the ticket's mean (0.94) is more than half a point below it.
        let (dense, e) = add(&srv, &bob, &id, json!({"kind": "dense", "accuracy": 0.99})).await;
        assert_eq!(e["verdict"], "below_dense");
        assert_stats(&e["dense"], &stats(&[0.94, 0.99]));
        assert_eq!(delete_result(&srv, &bob, &dense).await.status, 200);

        // Two seeds of a control: their statistics, and the margin against the best control.
        add(&srv, &srv.token, &id, json!({"kind": "random_reinit", "accuracy": 0.88, "seed": 2})).await;
        add(&srv, &srv.token, &id, json!({"kind": "random_prune", "accuracy": 0.85, "seed": 2, "scope": "global"})).await;
        let e = evidence_of(&srv, &id).await;
        assert_stats(&e["random_reinit"], &stats(&[0.90, 0.88]));
        assert_stats(&e["random_prune"], &stats(&[0.85]));
        assert!((e["margin"].as_f64().unwrap() - (0.94 - 0.89)).abs() < 1e-12);
        assert_eq!(e["verdict"], "wins");

        // A transfer and a result in another metric are listed, and change nothing.
        add(&srv, &bob, &id, json!({"kind": "transfer", "accuracy": 0.5, "dataset": "svhn"})).await;
        add(&srv, &bob, &id, json!({"kind": "random_reinit", "accuracy": 0.99, "metric": "top5_accuracy"})).await;
        assert_eq!(evidence_of(&srv, &id).await, e);
        let list = srv.get(&format!("/tickets/{id}/results")).await.json();
        let kinds: Vec<&str> = list["items"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["random_reinit", "reproduction", "reproduction", "random_reinit", "random_prune", "transfer", "random_reinit"]);
        assert_eq!(list["items"][1]["owner"], "bob");
        assert_eq!(list["items"][1]["dataset"], "cifar10");
        assert_eq!(list["items"][5]["dataset"], "svhn");
        assert_eq!(list["items"][2]["seed"], Value::Null);
    }

    async fn results_can_come_with_the_upload(srv) {
        let mut meta = metadata("with-controls");
        meta["accuracy"] = json!(0.95);
        meta["results"] = json!([
            {"kind": "random_reinit", "accuracy": 0.90, "seed": 1},
            {"kind": "random_prune", "accuracy": 0.80, "seed": 1, "scope": "global"},
        ]);
        let r = srv.upload(Some(&meta), Some(small_ticket(2, 4))).await;
        assert_eq!(r.status, 201, "{}", r.json());
        assert_eq!(r.json()["evidence"]["verdict"], "wins");
        let id = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(srv.get(&format!("/tickets/{id}/results")).await.json()["items"].as_array().unwrap().len(), 2);
        assert_eq!(verdict_facet(&srv).await, [("wins".to_owned(), 1)]);
        // In the file's __metadata__, results are a JSON string.
        let file = crate::common::safetensors_file(
            &[("w", safetensors::Dtype::F32, vec![2, 2], crate::common::f32_bytes([1.0, 0.0, 0.0, 2.0]))],
            &[("results", r#"[{"kind": "random_reinit", "accuracy": 0.99}]"#)],
        );
        let r = srv.upload(Some(&metadata("from-file")), Some(file)).await;
        assert_eq!(r.status, 201, "{}", r.json());
        assert_eq!(r.json()["evidence"]["verdict"], "no_better_than_controls");
        // One bad item refuses the whole upload, naming it; nothing is stored.
        let mut bad = metadata("bad-results");
        bad["results"] = json!([{"kind": "random_reinit", "accuracy": 0.9}, {"kind": "reproduction", "accuracy": 93}]);
        let r = srv.upload(Some(&bad), Some(small_ticket(3, 4))).await;
        let message = r.assert_error(422, "invalid_metadata", Some("results[1].accuracy"));
        assert!(message.contains("did you mean 0.93"), "{message}");
        assert_eq!(srv.ticket_rows().await, 2);
    }

    async fn bad_results_are_refused_with_their_field_and_nothing_changes(srv) {
        let id = upload(&srv, metadata("t"), 1, 4).await;
        let token = srv.token.clone();
        let before = evidence_of(&srv, &id).await;
        let r = post_result(&srv, &token, &id, json!({"kind": "reproduction", "accuracy": 0.9, "dataset": "mnist"})).await;
        let message = r.assert_error(422, "invalid_metadata", Some("dataset"));
        assert!(message.contains("transfer"), "{message}");
        post_result(&srv, &token, &id, json!({"kind": "transfer", "accuracy": 0.9})).await.assert_error(422, "invalid_metadata", Some("dataset"));
        post_result(&srv, &token, &id, json!({"kind": "transfer", "accuracy": 0.9, "dataset": "cifar10"})).await.assert_error(422, "invalid_metadata", Some("dataset"));
        let message = post_result(&srv, &token, &id, json!({"kind": "random_reinit", "accuracy": 91.2})).await.assert_error(422, "invalid_metadata", Some("accuracy"));
        assert!(message.contains("did you mean 0.912"), "{message}");
        post_result(&srv, &token, &id, json!({"kind": "winning", "accuracy": 0.9})).await.assert_error(422, "invalid_metadata", Some("kind"));
        post_result(&srv, &token, &id, json!({"kind": "dense", "accuracy": 0.9, "scope": "global"})).await.assert_error(422, "invalid_metadata", Some("scope"));
        post_result(&srv, &token, &id, json!({"kind": "dense", "accuracy": 0.9, "sed": 1})).await.assert_error(422, "invalid_metadata", Some("sed"));
        post_result(&srv, &token, &id, json!({"kind": "dense", "accuracy": 0.9, "metric": "Top 1"})).await.assert_error(422, "invalid_metadata", Some("metric"));
        assert_eq!(evidence_of(&srv, &id).await, before);

        // One result per (user, ticket, kind, dataset, seed); a missing seed is one value.
        add(&srv, &token, &id, json!({"kind": "random_reinit", "accuracy": 0.8})).await;
        post_result(&srv, &token, &id, json!({"kind": "random_reinit", "accuracy": 0.7})).await.assert_error(409, "conflict", None);
        add(&srv, &token, &id, json!({"kind": "random_reinit", "accuracy": 0.7, "seed": 0})).await;
        post_result(&srv, &token, &id, json!({"kind": "random_reinit", "accuracy": 0.7, "seed": 0})).await.assert_error(409, "conflict", None);
        // Another user may report the same run.
        let bob = srv.token_for("bob").await;
        add(&srv, &bob, &id, json!({"kind": "random_reinit", "accuracy": 0.7})).await;

        // Who may: a token with the results scope; only the reporter deletes.
        let upload_only = scoped_token(&srv, "carol", &[Scope::Upload]).await;
        post_result(&srv, &upload_only, &id, json!({"kind": "dense", "accuracy": 0.9})).await.assert_error(403, "forbidden", None);
        let r = Response::read(srv.client.post(srv.api(&format!("/tickets/{id}/results"))).json(&json!({"kind": "dense", "accuracy": 0.9})).send().await.unwrap()).await;
        r.assert_error(401, "unauthorized", None);
        post_result(&srv, &token, "no-such-ticket", json!({"kind": "dense", "accuracy": 0.9})).await.assert_error(404, "not_found", None);
        assert_eq!(srv.get("/tickets/no-such-ticket/results").await.status, 404);
        let rid = srv.get(&format!("/tickets/{id}/results")).await.json()["items"][0]["id"].as_str().unwrap().to_owned();
        delete_result(&srv, &bob, &rid).await.assert_error(403, "forbidden", None);
        delete_result(&srv, &token, "no-such-result").await.assert_error(404, "not_found", None);
        assert_eq!(srv.get(&format!("/tickets/{id}/results")).await.json()["items"].as_array().unwrap().len(), 3);
    }

    async fn search_filters_sorts_and_facets_by_evidence(srv) {
        let bob = srv.token_for("bob").await;
        let mut m = metadata("winner");
        m["accuracy"] = json!(0.95);
        let winner = upload(&srv, m, 1, 4).await;
        let mut m = metadata("loser");
        m["accuracy"] = json!(0.95);
        let loser = upload(&srv, m, 2, 4).await;
        let plain = upload(&srv, metadata("plain"), 3, 4).await;
        add(&srv, &srv.token, &winner, json!({"kind": "random_reinit", "accuracy": 0.5})).await;
        add(&srv, &bob, &winner, json!({"kind": "reproduction", "accuracy": 0.95, "seed": 1})).await;
        add(&srv, &bob, &winner, json!({"kind": "reproduction", "accuracy": 0.95, "seed": 2})).await;
        add(&srv, &srv.token, &loser, json!({"kind": "random_prune", "accuracy": 0.95})).await;
        add(&srv, &srv.token, &loser, json!({"kind": "reproduction", "accuracy": 0.95})).await;

        let ids = |q: &str| {
            let srv = &srv;
            let q = q.to_owned();
            async move {
                let r = srv.get(&format!("/tickets?{q}")).await;
                assert_eq!(r.status, 200, "{q}: {}", r.json());
                r.json()["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(ids("verdict=wins").await, [winner.as_str()]);
        assert_eq!(ids("verdict=no_better_than_controls").await, [loser.as_str()]);
        assert_eq!(ids("verdict=unverified").await, [plain.as_str()]);
        assert_eq!(ids("min_reproductions=2").await, [winner.as_str()]);
        assert_eq!(ids("min_reproductions=1&sort=reproductions").await, [winner.as_str(), loser.as_str()]);
        assert_eq!(ids("reproduced_by_others=true").await, [winner.as_str()]);
        assert_eq!(ids("verdict=wins&reproduced_by_others=true&min_reproductions=3").await, Vec::<String>::new());
        assert_eq!(ids("sort=reproductions&order=asc").await, [plain.as_str(), loser.as_str(), winner.as_str()]);
        // Pages of one, by reproductions, walk every ticket once.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor { Some(c) => format!("/tickets?sort=reproductions&limit=1&cursor={c}"), None => "/tickets?sort=reproductions&limit=1".into() };
            let page = srv.get(&q).await.json();
            seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() { Some(c) => cursor = Some(c.to_owned()), None => break }
            assert!(seen.len() <= 3, "no end");
        }
        assert_eq!(seen, [winner.as_str(), loser.as_str(), plain.as_str()]);
        // Facets: from the counts kept on write, and under other filters.
        let mut facet = verdict_facet(&srv).await;
        facet.sort();
        assert_eq!(facet, [("no_better_than_controls".to_owned(), 1), ("unverified".to_owned(), 1), ("wins".to_owned(), 1)]);
        let f = srv.get("/facets?min_reproductions=1").await.json();
        assert_eq!(f["verdict"].as_array().unwrap().len(), 2);
        let f = srv.get("/facets?verdict=wins").await.json();
        assert_eq!(f["task"][0]["count"], 1);
        // Bad parameters are named.
        srv.get("/tickets?verdict=won").await.assert_error(400, "invalid_parameter", Some("verdict"));
        srv.get("/tickets?min_reproductions=-1").await.assert_error(400, "invalid_parameter", Some("min_reproductions"));
        srv.get("/tickets?reproduced_by_others=maybe").await.assert_error(400, "invalid_parameter", Some("reproduced_by_others"));
        // A yanked ticket leaves the counts with its verdict.
        let r = srv.client.post(srv.api(&format!("/tickets/{winner}/yank"))).bearer_auth(&srv.token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(!verdict_facet(&srv).await.iter().any(|(v, _)| v == "wins"));
    }

    async fn the_frontier_can_rank_by_reproduced_accuracy(srv) {
        let bob = srv.token_for("bob").await;
        let mut m = metadata("claims-high");
        m["accuracy"] = json!(0.95);
        let high = upload(&srv, m, 1, 4).await;
        let mut m = metadata("modest");
        m["accuracy"] = json!(0.90);
        let modest = upload(&srv, m, 2, 4).await;
        // Reproduced well below its claim: mean 0.875.
        add(&srv, &bob, &high, json!({"kind": "reproduction", "accuracy": 0.80})).await;
        let front = |q: &'static str| {
            let srv = &srv;
            async move {
                let r = srv.get(&format!("/frontier?task=image-classification{q}")).await;
                assert_eq!(r.status, 200, "{}", r.json());
                r.json()["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(front("").await, [high.as_str()]);
        assert_eq!(front("&accuracy=reported").await, [high.as_str()]);
        assert_eq!(front("&accuracy=reproduced").await, [modest.as_str()]);
        srv.get("/frontier?task=image-classification&accuracy=best").await.assert_error(400, "invalid_parameter", Some("accuracy"));
    }

    async fn the_transfer_matrix_groups_results_by_source_and_target(srv) {
        let bob = srv.token_for("bob").await;
        let a = upload(&srv, metadata("a"), 1, 4).await;
        let b = upload(&srv, metadata("b"), 2, 4).await;
        let mut m = metadata("c");
        m["dataset"] = json!("mnist");
        let c = upload(&srv, m, 3, 4).await;
        let mut m = metadata("other-arch");
        m["architecture"] = json!("vgg16");
        let other = upload(&srv, m, 4, 4).await;
        add(&srv, &srv.token, &a, json!({"kind": "transfer", "dataset": "svhn", "accuracy": 0.70})).await;
        add(&srv, &bob, &a, json!({"kind": "transfer", "dataset": "svhn", "accuracy": 0.80})).await;
        add(&srv, &srv.token, &b, json!({"kind": "transfer", "dataset": "svhn", "accuracy": 0.90, "seed": 1})).await;
        add(&srv, &srv.token, &b, json!({"kind": "transfer", "dataset": "cifar100", "accuracy": 0.40})).await;
        add(&srv, &srv.token, &c, json!({"kind": "transfer", "dataset": "svhn", "accuracy": 0.60})).await;
        add(&srv, &srv.token, &c, json!({"kind": "transfer", "dataset": "svhn", "accuracy": 0.99, "seed": 1, "metric": "top5_accuracy"})).await;
        add(&srv, &srv.token, &other, json!({"kind": "transfer", "dataset": "svhn", "accuracy": 0.1})).await;
        let m = srv.get("/transfer?task=image-classification&architecture=resnet20").await;
        assert_eq!(m.status, 200, "{}", m.json());
        let cells = m.json()["cells"].clone();
        let got: Vec<(String, String, u64, f64, Vec<String>)> = cells.as_array().unwrap().iter().map(|c| (
            c["source"].as_str().unwrap().into(), c["target"].as_str().unwrap().into(), c["n"].as_u64().unwrap(), c["mean"].as_f64().unwrap(),
            c["tickets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect(),
        )).collect();
        assert_eq!(got.len(), 3, "{cells}");
        assert_eq!((got[0].0.as_str(), got[0].1.as_str(), got[0].2), ("cifar10", "cifar100", 1));
        assert_eq!((got[1].0.as_str(), got[1].1.as_str(), got[1].2), ("cifar10", "svhn", 3));
        assert!((got[1].3 - 0.8).abs() < 1e-12);
        assert_eq!(got[1].4, [a.as_str(), b.as_str()]);
        assert_eq!((got[2].0.as_str(), got[2].1.as_str(), got[2].2, got[2].4.clone()), ("mnist", "svhn", 1, vec![c.clone()]));
        let top5 = srv.get("/transfer?task=image-classification&architecture=resnet20&metric=top5_accuracy").await.json();
        assert_eq!(top5["cells"].as_array().unwrap().len(), 1);
        // Yanked tickets leave the matrix.
        srv.client.post(srv.api(&format!("/tickets/{c}/yank"))).bearer_auth(&srv.token).send().await.unwrap();
        let m = srv.get("/transfer?task=image-classification&architecture=resnet20").await.json();
        assert_eq!(m["cells"].as_array().unwrap().len(), 2);
        srv.get("/transfer?task=image-classification").await.assert_error(400, "invalid_parameter", Some("architecture"));
        srv.get("/transfer?task=image-classification&architecture=resnet20&arch=x").await.assert_error(400, "invalid_parameter", Some("arch"));
    }

    async fn an_operator_takes_down_a_result_with_an_audit_row(srv) {
        let bob = srv.token_for("bob").await;
        let id = upload(&srv, metadata("t"), 1, 4).await;
        let (rid, e) = add(&srv, &bob, &id, json!({"kind": "random_reinit", "accuracy": 0.5})).await;
        assert_eq!(e["verdict"], "wins");
        ticketbooth::ops::takedown::take_down_result(&srv.state.index, &rid, "fabricated numbers", "operator").await.unwrap();
        assert_eq!(evidence_of(&srv, &id).await["verdict"], "unverified");
        assert_eq!(srv.get(&format!("/tickets/{id}/results")).await.json()["items"], json!([]));
        let audit = srv.state.index.takedowns().await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].kind.as_str(), audit[0].result_id.as_deref(), audit[0].owner.as_str()), ("result", Some(rid.as_str()), "bob"));
        assert_eq!((audit[0].ticket_id.as_str(), audit[0].reason.as_str()), (id.as_str(), "fabricated numbers"));
        assert!(ticketbooth::ops::takedown::take_down_result(&srv.state.index, &rid, "again", "operator").await.is_err());
        // Taking the ticket down takes its results with it.
        add(&srv, &bob, &id, json!({"kind": "random_reinit", "accuracy": 0.5})).await;
        srv.state.index.take_down(&id, "gone", "operator", chrono::Utc::now()).await.unwrap();
        assert_eq!(srv.get(&format!("/tickets/{id}/results")).await.status, 404);
        assert_eq!(verdict_facet(&srv).await, Vec::<(String, u64)>::new());
    }

    async fn the_dump_parses_back_equal_to_the_api(srv) {
        srv.get("/dump").await.assert_error(404, "not_found", None);
        let bob = srv.token_for("bob").await;
        let a = upload(&srv, metadata("a"), 1, 4).await;
        let mut m = metadata("b");
        m["parent_id"] = json!(a);
        let b = upload(&srv, m, 2, 4).await;
        add(&srv, &bob, &a, json!({"kind": "reproduction", "accuracy": 0.9, "notes": "line\nbreak"})).await;
        add(&srv, &srv.token, &b, json!({"kind": "random_prune", "accuracy": 0.5, "scope": "global"})).await;
        srv.client.post(srv.api(&format!("/tickets/{b}/yank"))).bearer_auth(&srv.token).send().await.unwrap();
        let made = ticketbooth::ops::dump::refresh(&srv.state.index, &srv.state.blobs).await.unwrap();
        assert_eq!((made.tickets, made.results), (2, 2));

        let r = srv.get("/dump").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "application/gzip");
        assert_eq!(r.header("etag"), format!("\"{}\"", crate::common::sha256_hex(&r.body)));
        let lines: Vec<Value> = gunzip(&r.body).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["type"], "meta");
        assert_eq!(lines[0]["version"], 1);
        let mut tickets: Vec<Value> = lines.iter().filter(|l| l["type"] == "ticket").cloned().collect();
        let results: Vec<Value> = lines.iter().filter(|l| l["type"] == "result").cloned().collect();
        // Tickets as search lists them (yanked ones too), results as their lists give them.
        let api = srv.get("/tickets?include_yanked=true&sort=created&order=asc").await.json();
        for t in tickets.iter_mut() {
            t.as_object_mut().unwrap().remove("type");
        }
        assert_eq!(json!(tickets), api["items"]);
        assert_eq!(tickets[1]["parent_id"], json!(a));
        assert_eq!(tickets[1]["yanked"], true);
        let mut api_results = srv.get(&format!("/tickets/{a}/results")).await.json()["items"].as_array().unwrap().clone();
        api_results.extend(srv.get(&format!("/tickets/{b}/results")).await.json()["items"].as_array().unwrap().clone());
        let results: Vec<Value> = results.into_iter().map(|mut r| { r.as_object_mut().unwrap().remove("type"); r }).collect();
        assert_eq!(json!(results), json!(api_results));
        // Nothing private: no token material, no user ids.
        let text = gunzip(&r.body);
        assert!(!text.contains("tb_") && !text.contains("user_id") && !text.contains("token"), "{text}");

        // Served like a file: Range and If-None-Match.
        let part = Response::read(srv.client.get(srv.api("/dump")).header("range", "bytes=0-9").send().await.unwrap()).await;
        assert_eq!(part.status, 206);
        assert_eq!(part.body, r.body[..10]);
        let same = Response::read(srv.client.get(srv.api("/dump")).header("if-none-match", r.header("etag")).send().await.unwrap()).await;
        assert_eq!(same.status, 304);

        // A refresh replaces it; the snapshot before stays, older ones go (and gc keeps both).
        add(&srv, &bob, &a, json!({"kind": "dense", "accuracy": 0.99})).await;
        ticketbooth::ops::dump::refresh(&srv.state.index, &srv.state.blobs).await.unwrap();
        let newer = srv.get("/dump").await;
        assert_ne!(newer.header("etag"), r.header("etag"));
        assert_eq!(gunzip(&newer.body).lines().filter(|l| l.contains("\"type\":\"result\"")).count(), 3);
        let objects_before = srv.blob_files().len();
        ticketbooth::ops::dump::refresh(&srv.state.index, &srv.state.blobs).await.unwrap();
        assert_eq!(srv.blob_files().len(), objects_before, "the oldest snapshot is deleted");
        let sweep = ticketbooth::ops::integrity::sweep(srv.state.index.as_ref(), &srv.state.blobs, std::time::Duration::ZERO, true).await.unwrap();
        assert_eq!(sweep.removable_bytes(), 0, "gc would remove a live snapshot");
    }
}

/// Results have their own per-user rate, apart from uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_have_their_own_rate_limit() {
    let srv = TestServer::builder(crate::common::Backend::Sqlite)
        .protection(ticketbooth::http::limits::Protection {
            result_rate: ticketbooth::config::serve::Rate(Some((
                2,
                std::time::Duration::from_secs(3600),
            ))),
            ..ticketbooth::http::limits::Protection::without_rate_limits()
        })
        .start()
        .await;
    let id = upload(&srv, metadata("t"), 1, 4).await;
    for seed in 0..2 {
        add(
            &srv,
            &srv.token,
            &id,
            json!({"kind": "random_reinit", "accuracy": 0.5, "seed": seed}),
        )
        .await;
    }
    let r = post_result(
        &srv,
        &srv.token,
        &id,
        json!({"kind": "random_reinit", "accuracy": 0.5, "seed": 9}),
    )
    .await;
    r.assert_error(429, "rate_limited", None);
    assert!(!r.header("retry-after").is_empty());
    // Another user has their own allowance, and uploads are not limited by it.
    let bob = srv.token_for("bob").await;
    add(
        &srv,
        &bob,
        &id,
        json!({"kind": "random_reinit", "accuracy": 0.5}),
    )
    .await;
    upload(&srv, metadata("t2"), 2, 4).await;
}
