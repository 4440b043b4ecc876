//! Finding tickets: filters, sorts, keyset pages, facets, tasks, points, the frontier,
//! lineage, edits and yanking, all on both backends.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use crate::common::{Response, TestServer, conformance, small_ticket};

static SEED: AtomicU32 = AtomicU32::new(1000);

/// Uploads a ticket whose sparsity is 1 - 1/keep_every (256 weights, every k-th kept).
async fn put(srv: &TestServer, token: &str, meta: Value, keep_every: usize) -> String {
    let seed = SEED.fetch_add(1, Ordering::Relaxed);
    let r = srv
        .upload_as(token, Some(&meta), Some(small_ticket(seed, keep_every)))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

fn meta(name: &str, task: &str, dataset: &str, arch: &str, method: &str, accuracy: f64) -> Value {
    json!({"name": name, "task": task, "dataset": dataset, "architecture": arch,
           "pruning_method": method, "accuracy": accuracy})
}

fn with(mut m: Value, key: &str, v: Value) -> Value {
    m[key] = v;
    m
}

async fn get(srv: &TestServer, path: &str) -> Value {
    let r = srv.get(path).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// Names of the items of a list response, in order.
async fn names(srv: &TestServer, path: &str) -> Vec<String> {
    get(srv, path).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn facet(v: &Value, key: &str) -> Vec<(String, u64)> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["value"].as_str().unwrap().to_owned(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A small catalogue: two owners, two tasks, several datasets, architectures and methods.
async fn catalogue(srv: &TestServer) -> String {
    let bob = srv.token_for("bob").await;
    let a = &srv.token;
    put(
        srv,
        a,
        with(
            meta(
                "r20-a",
                "image-classification",
                "cifar10",
                "resnet20",
                "imp",
                0.91,
            ),
            "tags",
            json!(["lth", "rewind"]),
        ),
        2,
    )
    .await;
    put(
        srv,
        a,
        with(
            meta(
                "r20-b",
                "image-classification",
                "cifar10",
                "resnet20",
                "snip",
                0.88,
            ),
            "description",
            json!("A Winning ticket found at init"),
        ),
        4,
    )
    .await;
    put(
        srv,
        a,
        meta(
            "vgg-a",
            "image-classification",
            "cifar10",
            "vgg16",
            "imp",
            0.93,
        ),
        8,
    )
    .await;
    put(
        srv,
        &bob,
        with(
            meta(
                "lenet-a",
                "image-classification",
                "mnist",
                "lenet-300-100",
                "imp",
                0.98,
            ),
            "tags",
            json!(["lth"]),
        ),
        16,
    )
    .await;
    put(
        srv,
        &bob,
        meta(
            "lenet-b",
            "image-classification",
            "mnist",
            "lenet-300-100",
            "random",
            0.75,
        ),
        4,
    )
    .await;
    put(
        srv,
        &bob,
        with(
            meta(
                "bert-a",
                "text-classification",
                "sst2",
                "bert-base",
                "imp",
                0.91,
            ),
            "tags",
            json!(["nlp", "lth"]),
        ),
        2,
    )
    .await;
    bob
}

conformance! {
    async fn filters_ranges_text_and_sorts(srv) {
        catalogue(&srv).await;
        let all = names(&srv, "/tickets?limit=100").await;
        assert_eq!(all, ["bert-a", "lenet-b", "lenet-a", "vgg-a", "r20-b", "r20-a"], "newest first by default");
        let list = get(&srv, "/tickets").await;
        assert!(list["items"][0].get("tensors").is_none(), "list items omit the per-tensor table");
        assert!(list["next_cursor"].is_null());

        assert_eq!(names(&srv, "/tickets?task=text-classification").await, ["bert-a"]);
        assert_eq!(names(&srv, "/tickets?dataset=cifar10&architecture=resnet20&sort=accuracy").await, ["r20-a", "r20-b"]);
        assert_eq!(names(&srv, "/tickets?pruning_method=IMP&owner=bob&sort=accuracy&order=asc").await, ["bert-a", "lenet-a"]);
        assert_eq!(names(&srv, "/tickets?tag=lth&sort=accuracy").await, ["lenet-a", "bert-a", "r20-a"], "ties: newest first");
        assert_eq!(names(&srv, "/tickets?tag=lth&tag=nlp").await, ["bert-a"]);
        // Range bounds are inclusive: 0.75 and 0.9375 are exact sparsities here.
        assert_eq!(names(&srv, "/tickets?min_sparsity=0.75&max_sparsity=0.875&sort=sparsity&order=asc").await, ["r20-b", "lenet-b", "vgg-a"]);
        assert_eq!(names(&srv, "/tickets?min_sparsity=0.9375").await, ["lenet-a"]);
        assert_eq!(names(&srv, "/tickets?min_accuracy=0.91&max_accuracy=0.93&sort=accuracy").await, ["vgg-a", "bert-a", "r20-a"]);
        // q: case-insensitive substrings of name, description, architecture, dataset and tags.
        assert_eq!(names(&srv, "/tickets?q=INNING").await, ["r20-b"]);
        assert_eq!(names(&srv, "/tickets?q=lenet-3").await, ["lenet-b", "lenet-a"]);
        assert_eq!(names(&srv, "/tickets?q=rewind").await, ["r20-a"]);
        assert_eq!(names(&srv, "/tickets?q=sst").await, ["bert-a"]);
        assert_eq!(names(&srv, "/tickets?q=vg").await, ["vgg-a"], "short q scans");
        assert_eq!(names(&srv, "/tickets?q=50%25").await, Vec::<String>::new(), "% is literal");
        assert_eq!(names(&srv, "/tickets?sort=sparsity&limit=2").await, ["lenet-a", "vgg-a"]);
        assert_eq!(get(&srv, "/tickets?limit=2").await["items"].as_array().unwrap().len(), 2);
    }

    async fn bad_parameters_are_named(srv) {
        for (q, field) in [
            ("min_sparsity=abc", "min_sparsity"),
            ("limit=0", "limit"),
            ("sort=best", "sort"),
            ("cursor=Zm9yZ2Vk", "cursor"),
            ("acuracy=1", "acuracy"),
        ] {
            srv.get(&format!("/tickets?{q}")).await.assert_error(400, "invalid_parameter", Some(field));
        }
        srv.get("/frontier").await.assert_error(400, "invalid_parameter", Some("task"));
        srv.get("/facets?sort=accuracy").await.assert_error(400, "invalid_parameter", Some("sort"));
        srv.get("/tasks?task=x").await.assert_error(400, "invalid_parameter", Some("task"));
    }

    async fn fraction_bounds_refuse_percentages_and_typos_get_a_suggestion(srv) {
        catalogue(&srv).await;
        for endpoint in ["tickets", "facets", "points"] {
            for (q, field, words) in [
                ("min_accuracy=97", "min_accuracy", "looks like a percentage (did you mean 0.97?)"),
                ("max_accuracy=99.5", "max_accuracy", "did you mean 0.995?"),
                ("min_sparsity=90", "min_sparsity", "did you mean 0.9?"),
                ("max_sparsity=95", "max_sparsity", "did you mean 0.95?"),
                ("min_sparsity=-0.5", "min_sparsity", "must be a fraction in [0, 1]; got -0.5"),
                ("max_accuracy=-1", "max_accuracy", "must be a fraction in [0, 1]; got -1"),
                ("min_accuracy=250", "min_accuracy", "must be a fraction in [0, 1]; got 250"),
                ("taks=image-classification", "taks", "unknown parameter (did you mean 'task'?)"),
                ("min_acc=0.9", "min_acc", "did you mean 'min_accuracy'?"),
            ] {
                let message = srv.get(&format!("/{endpoint}?{q}")).await.assert_error(400, "invalid_parameter", Some(field));
                assert!(message.contains(words), "{endpoint}?{q}: {message}");
                assert!(!message.starts_with(field) && !message.starts_with('\''), "the field is not repeated: {message}");
            }
        }
        // The bounds themselves are fine.
        assert_eq!(names(&srv, "/tickets?min_accuracy=0&max_accuracy=1&min_sparsity=0&max_sparsity=1&limit=100").await.len(), 6);
        // Metadata keys get the same suggestions.
        let mut m = crate::common::metadata("typo");
        m["hyperparams"] = json!({"lr": 0.1});
        let message = srv.upload(Some(&m), Some(small_ticket(77, 2))).await.assert_error(422, "invalid_metadata", Some("hyperparams"));
        assert!(message.contains("did you mean 'hyperparameters'?"), "{message}");
    }

    async fn pages_neither_repeat_nor_skip_while_tickets_arrive(srv) {
        let mut originals = HashSet::new();
        for i in 0..12 {
            let acc = [0.5, 0.9, 0.7, 0.9, 0.6, 0.8, 0.9, 0.55, 0.65, 0.75, 0.85, 0.95][i];
            let keep = [1, 2, 4, 8, 16, 2, 4, 8, 16, 2, 4, 8][i];
            put(&srv, &srv.token, meta(&format!("t{i}"), "image-classification", "cifar10", "resnet20", "imp", acc), keep).await;
            originals.insert(format!("t{i}"));
        }
        for sort in ["created", "accuracy", "sparsity", "downloads"] {
            for order in ["desc", "asc"] {
                let mut seen: Vec<String> = Vec::new();
                let mut path = format!("/tickets?task=image-classification&sort={sort}&order={order}&limit=5");
                let base = path.clone();
                let mut round = 0;
                loop {
                    let page = get(&srv, &path).await;
                    seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()));
                    // New tickets arrive between pages (the first three), with values on both
                    // sides of the cursor. In ascending orders they may legitimately show up
                    // on later pages, so arrivals stop for the walk to end.
                    for acc in [0.99, 0.1].into_iter().filter(|_| round < 3) {
                        let name = format!("new-{sort}-{order}-{round}-{}", (acc * 100.0) as u32);
                        put(&srv, &srv.token, meta(&name, "image-classification", "cifar10", "resnet20", "imp", acc), 1 + round % 3).await;
                    }
                    round += 1;
                    match page["next_cursor"].as_str() {
                        Some(c) => path = format!("{base}&cursor={c}"),
                        None => break,
                    }
                    assert!(round < 50, "pagination does not end");
                }
                let unique: HashSet<&String> = seen.iter().collect();
                assert_eq!(unique.len(), seen.len(), "{sort} {order}: a ticket repeated: {seen:?}");
                for name in &originals {
                    assert!(seen.contains(name), "{sort} {order}: {name} was skipped");
                }
            }
        }
        // A cursor is bound to its query.
        let page = get(&srv, "/tickets?task=image-classification&sort=accuracy&limit=2").await;
        let cursor = page["next_cursor"].as_str().unwrap();
        srv.get(&format!("/tickets?task=image-classification&sort=sparsity&limit=2&cursor={cursor}")).await.assert_error(400, "invalid_parameter", Some("cursor"));
        srv.get(&format!("/tickets?task=other&sort=accuracy&limit=2&cursor={cursor}")).await.assert_error(400, "invalid_parameter", Some("cursor"));
        assert_eq!(srv.get(&format!("/tickets?task=image-classification&sort=accuracy&limit=7&cursor={cursor}")).await.status, 200, "the limit may change");
    }

    async fn sparsity_bounds_sorted_by_accuracy_page_like_the_plain_order(srv) {
        // "At least X sparse, most accurate first" within a task is answered band by band
        // (src/index/sql/search.rs); its pages must be exactly the plain accuracy order, filtered.
        for i in 0..16 {
            let acc = [0.5, 0.9, 0.7, 0.9, 0.6, 0.8, 0.9, 0.55, 0.65, 0.75, 0.85, 0.95, 0.9, 0.7, 0.6, 0.99][i];
            let keep = [1, 2, 4, 8, 16, 2, 4, 8, 16, 2, 4, 8, 16, 16, 1, 4][i];
            let dataset = if i % 3 == 0 { "mnist" } else { "cifar10" };
            put(&srv, &srv.token, meta(&format!("b{i}"), "image-classification", dataset, "resnet20", "imp", acc), keep).await;
        }
        let all = get(&srv, "/tickets?task=image-classification&sort=accuracy&limit=100").await;
        let all: Vec<(String, String, f64)> = all["items"].as_array().unwrap().iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t["dataset"].as_str().unwrap().to_owned(), t["sparsity"].as_f64().unwrap()))
            .collect();
        assert_eq!(all.len(), 16);
        for (bounds, low, high) in [
            ("min_sparsity=0.9", 0.9, 1.0),
            ("min_sparsity=0.75", 0.75, 1.0),
            ("min_sparsity=0.5&max_sparsity=0.875", 0.5, 0.875),
            ("max_sparsity=0.5", 0.0, 0.5),
            ("min_sparsity=0.76", 0.76, 1.0),
        ] {
            for dataset in [None, Some("cifar10")] {
                for order in ["desc", "asc"] {
                    let mut expected: Vec<String> = all.iter()
                        .filter(|(_, d, s)| *s >= low && *s <= high && dataset.is_none_or(|want| d == want))
                        .map(|(n, _, _)| n.clone())
                        .collect();
                    if order == "asc" {
                        expected.reverse();
                    }
                    let base = format!(
                        "/tickets?task=image-classification{}&{bounds}&sort=accuracy&order={order}&limit=2",
                        dataset.map(|d| format!("&dataset={d}")).unwrap_or_default()
                    );
                    let (mut seen, mut path) = (Vec::new(), base.clone());
                    loop {
                        let page = get(&srv, &path).await;
                        seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()));
                        match page["next_cursor"].as_str() {
                            Some(c) => path = format!("{base}&cursor={c}"),
                            None => break,
                        }
                        assert!(seen.len() <= 16, "{base}: pagination does not end");
                    }
                    assert!(!expected.is_empty(), "{base}: the case tests something");
                    assert_eq!(seen, expected, "{base}");
                }
            }
        }
    }

    async fn facets_and_tasks_count_what_search_finds(srv) {
        catalogue(&srv).await;
        let all = get(&srv, "/facets").await;
        assert_eq!(facet(&all, "task"), [("image-classification".into(), 5), ("text-classification".into(), 1)]);
        assert_eq!(facet(&all, "dataset"), [("cifar10".into(), 3), ("mnist".into(), 2), ("sst2".into(), 1)]);
        assert_eq!(facet(&all, "pruning_method"), [("imp".into(), 4), ("random".into(), 1), ("snip".into(), 1)]);
        assert_eq!(facet(&all, "tag"), [("lth".into(), 3), ("nlp".into(), 1), ("rewind".into(), 1)]);
        let cifar = get(&srv, "/facets?task=image-classification&dataset=cifar10").await;
        assert_eq!(facet(&cifar, "architecture"), [("resnet20".into(), 2), ("vgg16".into(), 1)]);
        // Counts kept on write and counts from a scan agree (min_sparsity=0 forces the scan).
        for q in ["", "task=image-classification", "task=image-classification&dataset=cifar10", "pruning_method=imp"] {
            let kept = get(&srv, &format!("/facets?{q}")).await;
            let scanned = get(&srv, &format!("/facets?{q}&min_sparsity=0")).await;
            assert_eq!(kept, scanned, "{q}");
        }
        let lth = get(&srv, "/facets?tag=lth").await;
        assert_eq!(facet(&lth, "task"), [("image-classification".into(), 2), ("text-classification".into(), 1)]);
        assert_eq!(facet(&lth, "dataset"), [("cifar10".into(), 1), ("mnist".into(), 1), ("sst2".into(), 1)]);

        let tasks = get(&srv, "/tasks").await;
        assert_eq!(tasks["items"], json!([
            {"task": "image-classification", "tickets": 5, "best_accuracy": 0.98, "max_sparsity": 0.9375},
            {"task": "text-classification", "tickets": 1, "best_accuracy": 0.91, "max_sparsity": 0.5},
        ]));
    }

    async fn yanked_tickets_leave_lists_but_stay_reachable(srv) {
        let bob = catalogue(&srv).await;
        let lenet = get(&srv, "/owners/bob/tickets/lenet-a").await;
        let id = lenet["id"].as_str().unwrap().to_owned();
        // Only the owner may yank; others get 403, anonymous callers 401.
        srv.client.post(srv.api(&format!("/tickets/{id}/yank"))).bearer_auth(&srv.token).send().await.map(|r| assert_eq!(r.status(), 403)).unwrap();
        assert_eq!(srv.client.post(srv.api(&format!("/tickets/{id}/yank"))).send().await.unwrap().status(), 401);
        for _ in 0..2 {
            let r = Response::read(srv.client.post(srv.api(&format!("/tickets/{id}/yank"))).bearer_auth(&bob).send().await.unwrap()).await;
            assert_eq!(r.status, 200, "yank is idempotent");
            assert_eq!(r.json()["yanked"], true);
        }
        assert!(!names(&srv, "/tickets?limit=100").await.contains(&"lenet-a".to_string()));
        assert!(names(&srv, "/tickets?limit=100&include_yanked=true").await.contains(&"lenet-a".to_string()));
        let tasks = get(&srv, "/tasks").await;
        assert_eq!(tasks["items"][0]["tickets"], 4);
        assert_eq!(tasks["items"][0]["best_accuracy"], 0.93);
        assert_eq!(get(&srv, "/tasks?include_yanked=true").await["items"][0]["tickets"], 5);
        assert_eq!(facet(&get(&srv, "/facets").await, "dataset"), [("cifar10".into(), 3), ("mnist".into(), 1), ("sst2".into(), 1)]);
        assert_eq!(facet(&get(&srv, "/facets?include_yanked=true").await, "dataset")[1], ("mnist".into(), 2));
        assert_eq!(get(&srv, "/facets").await, get(&srv, "/facets?min_accuracy=0").await);
        let frontier = names(&srv, "/frontier?task=image-classification").await;
        assert!(!frontier.contains(&"lenet-a".to_string()));
        assert!(names(&srv, "/frontier?task=image-classification&include_yanked=true").await.contains(&"lenet-a".to_string()));
        // Its page and file stay reachable.
        assert_eq!(get(&srv, &format!("/tickets/{id}")).await["yanked"], true);
        assert_eq!(srv.get(&format!("/tickets/{id}/file")).await.status, 200);
        let r = Response::read(srv.client.post(srv.api(&format!("/tickets/{id}/unyank"))).bearer_auth(&bob).send().await.unwrap()).await;
        assert_eq!(r.json()["yanked"], false);
        assert_eq!(get(&srv, "/tasks").await["items"][0]["tickets"], 5);
        srv.get("/owners/bob/tickets/nope").await.assert_error(404, "not_found", None);
    }

    async fn frontier_lineage_and_points(srv) {
        let t = &srv.token;
        let task = "image-classification";
        let dense = put(&srv, t, meta("dense", task, "cifar10", "resnet20", "imp", 0.90), 1).await;
        let l1 = put(&srv, t, with(meta("l1", task, "cifar10", "resnet20", "imp", 0.92), "parent_id", json!(dense)), 2).await;
        let l2 = put(&srv, t, with(meta("l2", task, "cifar10", "resnet20", "imp", 0.91), "parent_id", json!(l1)), 4).await;
        let l3 = put(&srv, t, with(meta("l3", task, "cifar10", "resnet20", "imp", 0.85), "parent_id", json!(l2)), 8).await;
        put(&srv, t, meta("dominated", task, "cifar10", "resnet20", "random", 0.80), 2).await;
        put(&srv, t, with(meta("other-metric", task, "cifar10", "resnet20", "imp", 0.99), "metric", json!("top5_accuracy")), 16).await;
        put(&srv, t, meta("other-arch", task, "cifar10", "vgg16", "imp", 0.70), 16).await;

        assert_eq!(names(&srv, "/frontier?task=image-classification&dataset=cifar10&architecture=resnet20").await, ["l1", "l2", "l3"]);
        assert_eq!(names(&srv, "/frontier?task=image-classification").await, ["l1", "l2", "l3", "other-arch"]);
        assert_eq!(names(&srv, "/frontier?task=image-classification&metric=top5_accuracy").await, ["other-metric"]);
        let f = get(&srv, "/frontier?task=image-classification&architecture=resnet20").await;
        assert_eq!(f["items"][1]["parent_id"], l1.as_str());

        let lineage = get(&srv, &format!("/tickets/{l2}/lineage")).await;
        let ids = |v: &Value| v.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(&lineage["ancestors"]), [l1.clone(), dense.clone()]);
        assert_eq!(ids(&lineage["children"]), [l3]);
        assert_eq!(get(&srv, &format!("/tickets/{dense}/lineage")).await["ancestors"], json!([]));
        srv.get("/tickets/nope/lineage").await.assert_error(404, "not_found", None);
        assert_eq!(names(&srv, &format!("/tickets?parent_id={l1}")).await, ["l2"]);

        let points = get(&srv, "/points?task=image-classification&architecture=resnet20&pruning_method=imp").await;
        assert_eq!(points["truncated"], false);
        let rows = points["items"].as_array().unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0], json!([dense, "dense", 0.0, 0.9, null]));
        assert_eq!(rows[1][4], dense.as_str());
        let sparsities: Vec<f64> = rows.iter().map(|r| r[2].as_f64().unwrap()).collect();
        assert!(sparsities.windows(2).all(|w| w[0] <= w[1]), "ascending sparsity");
    }

    async fn owners_edit_descriptions_not_measurements(srv) {
        let bob = srv.token_for("bob").await;
        let id = put(&srv, &srv.token, with(meta("editable", "image-classification", "cifar10", "resnet20", "imp", 0.9), "tags", json!(["old"])), 2).await;
        let patch = |token: String, body: Value| {
            let req = srv.client.patch(srv.api(&format!("/tickets/{id}"))).bearer_auth(token).json(&body);
            async move { Response::read(req.send().await.unwrap()).await }
        };
        patch(bob.clone(), json!({"description": "mine now"})).await.assert_error(403, "forbidden", None);
        patch(srv.token.clone(), json!({"accuracy": 0.99})).await.assert_error(422, "invalid_metadata", Some("accuracy"));
        patch(srv.token.clone(), json!({"paper_url": "not a url"})).await.assert_error(422, "invalid_metadata", Some("paper_url"));
        let r = patch(srv.token.clone(), json!({"description": "Found with **IMP**", "tags": ["New", "lth"], "license": "MIT"})).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let t = r.json();
        assert_eq!((t["description"].as_str(), t["license"].as_str()), (Some("Found with **IMP**"), Some("MIT")));
        assert_eq!(t["tags"], json!(["new", "lth"]));
        assert_eq!(t["accuracy"], 0.9);
        assert_eq!(names(&srv, "/tickets?q=with%20**imp").await, ["editable"]);
        assert_eq!(names(&srv, "/tickets?tag=old").await, Vec::<String>::new());
        let facets = get(&srv, "/facets").await;
        assert_eq!(facet(&facets, "tag"), [("lth".into(), 1), ("new".into(), 1)]);
        assert_eq!(facets, get(&srv, "/facets?min_sparsity=0").await);
        let cleared = patch(srv.token.clone(), json!({"license": null})).await.json();
        assert!(cleared["license"].is_null());
        assert_eq!(cleared["description"], "Found with **IMP**");
    }
}
