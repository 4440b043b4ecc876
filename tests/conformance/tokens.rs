//! Token scopes, expiry and revocation (operator commands and self-service endpoints), and the
//! operator's takedown, on both backends.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use ticketbooth::domain::tokens::{self, NewToken, Scope};

use crate::common::{Response, TestServer, conformance, metadata, small_ticket};

/// A token for `user` with these scopes and expiry, made straight in the index (so an expiry
/// in the past is possible).
async fn token_with(
    srv: &TestServer,
    user: &str,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> String {
    let token = tokens::generate().unwrap();
    let spec = NewToken {
        label: None,
        scopes: scopes.to_vec(),
        expires_at,
        minted_by: None,
        max_live: None,
    };
    srv.state
        .index
        .create_token_with(user, &tokens::hash(&token), &spec)
        .await
        .unwrap();
    token
}

async fn send(srv: &TestServer, r: reqwest::RequestBuilder, token: &str) -> Response {
    let _ = srv;
    Response::read(r.bearer_auth(token).send().await.unwrap()).await
}

async fn post_json(srv: &TestServer, path: &str, token: &str, body: Value) -> Response {
    send(srv, srv.client.post(srv.api(path)).json(&body), token).await
}

async fn list_tokens(srv: &TestServer, token: &str) -> Response {
    send(srv, srv.client.get(srv.api("/tokens")), token).await
}

async fn revoke(srv: &TestServer, token: &str, id: &Value) -> Response {
    send(
        srv,
        srv.client.delete(srv.api(&format!("/tokens/{id}"))),
        token,
    )
    .await
}

/// The ids of the caller's tokens, oldest first.
async fn token_ids(srv: &TestServer, token: &str) -> Vec<Value> {
    let r = list_tokens(srv, token).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect()
}

async fn upload_ok(srv: &TestServer, token: &str, meta: &Value, seed: u32) -> String {
    let r = srv
        .upload_as(token, Some(meta), Some(small_ticket(seed, 2)))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

/// The `ticketbooth` binary against this server's index and blob store.
async fn ticketbooth(srv: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
        .args(args)
        .arg("--data-dir")
        .arg(&srv.locations.data_dir)
        .env("DATABASE_URL", &srv.locations.database_url)
        .env("TICKETBOOTH_BLOB_STORE", &srv.locations.blob_store_url)
        .env("USER", "op-alice")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn facet_count(facets: &Value, key: &str, value: &str) -> u64 {
    facets[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["value"] == value)
        .map_or(0, |f| f["count"].as_u64().unwrap())
}

fn task_count(tasks: &Value, task: &str) -> u64 {
    tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == task)
        .map_or(0, |t| t["tickets"].as_u64().unwrap())
}

conformance! {
    async fn a_token_without_upload_scope_cannot_publish_or_edit(srv) {
        let yank_only = token_with(&srv, "alice", &[Scope::Yank], None).await;
        let r = srv.upload_as(&yank_only, Some(&metadata("denied")), Some(small_ticket(1, 2))).await;
        let message = r.assert_error(403, "forbidden", None);
        assert!(message.contains("'upload'"), "{message}");
        assert_eq!(srv.ticket_rows().await, 0);
        srv.expect_blob_files(0).await;

        // Editing one's own ticket needs `upload` too; yanking it needs only `yank`.
        let id = upload_ok(&srv, &srv.token, &metadata("mine"), 2).await;
        let edit = send(&srv, srv.client.patch(srv.api(&format!("/tickets/{id}")))
            .json(&json!({"description": "changed"})), &yank_only).await;
        assert!(edit.assert_error(403, "forbidden", None).contains("'upload'"));
        assert_eq!(srv.get(&format!("/tickets/{id}")).await.json()["description"], Value::Null);
        let yank = send(&srv, srv.client.post(srv.api(&format!("/tickets/{id}/yank"))), &yank_only).await;
        assert_eq!(yank.status, 200);
        assert_eq!(yank.json()["yanked"], true);
    }

    async fn a_token_without_yank_scope_cannot_yank(srv) {
        let upload_only = token_with(&srv, "alice", &[Scope::Upload], None).await;
        let id = upload_ok(&srv, &upload_only, &metadata("kept"), 3).await;
        for action in ["yank", "unyank"] {
            let r = send(&srv, srv.client.post(srv.api(&format!("/tickets/{id}/{action}"))), &upload_only).await;
            let message = r.assert_error(403, "forbidden", None);
            assert!(message.contains("'yank'"), "{message}");
        }
        assert_eq!(srv.get(&format!("/tickets/{id}")).await.json()["yanked"], false);
    }

    async fn an_expired_token_is_refused(srv) {
        let expired = token_with(&srv, "alice", &Scope::ALL, Some(Utc::now() - Duration::seconds(1))).await;
        let r = srv.upload_as(&expired, Some(&metadata("late")), Some(small_ticket(4, 2))).await;
        let message = r.assert_error(401, "unauthorized", None);
        assert!(message.contains("expired"), "{message}");
        assert_eq!(srv.ticket_rows().await, 0);
        list_tokens(&srv, &expired).await.assert_error(401, "unauthorized", None);
        // One that expires later works now.
        let later = token_with(&srv, "alice", &Scope::ALL, Some(Utc::now() + Duration::hours(1))).await;
        assert_eq!(list_tokens(&srv, &later).await.status, 200);
    }

    async fn operator_commands_create_list_and_revoke_tokens(srv) {
        let (ok, stdout, stderr) = ticketbooth(&srv, &[
            "token", "create", "--name", "Bob", "--scopes", "upload", "--expires-in", "30d", "--label", "ci runner",
        ]).await;
        assert!(ok, "{stderr}");
        let token = stdout.trim().to_owned();
        assert_eq!(stdout.lines().count(), 1, "stdout is the token alone: {stdout:?}");
        assert!(token.starts_with("tb_"));

        let (ok, table, stderr) = ticketbooth(&srv, &["token", "list", "--name", "bob"]).await;
        assert!(ok, "{stderr}");
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "a header and bob's one token: {table}");
        assert!(lines[0].starts_with("ID") && lines[0].contains("LAST USED") && lines[0].contains("REVOKED"));
        assert!(lines[1].contains("bob") && lines[1].contains("ci runner") && lines[1].contains("upload"));
        assert!(!lines[1].contains("yank"), "only the scopes asked for: {table}");
        assert!(!table.contains(&token) && !table.contains(&hex::encode(tokens::hash(&token))));
        let id = lines[1].split_whitespace().next().unwrap().to_owned();

        // The token works, within its scope.
        let r = srv.upload_as(&token, Some(&metadata("by-bob")), Some(small_ticket(5, 2))).await;
        assert_eq!(r.status, 201);
        let (_, all, _) = ticketbooth(&srv, &["token", "list"]).await;
        assert_eq!(all.lines().count(), 3, "alice's and bob's: {all}");

        let (ok, stdout, stderr) = ticketbooth(&srv, &["token", "revoke", &id]).await;
        assert!(ok, "{stderr}");
        assert!(stdout.contains(&format!("revoked token {id} of bob")), "{stdout}");
        let r = srv.upload_as(&token, Some(&metadata("after")), Some(small_ticket(6, 2))).await;
        assert!(r.assert_error(401, "unauthorized", None).contains("revoked"));
        let (_, table, _) = ticketbooth(&srv, &["token", "list", "--name", "bob"]).await;
        assert!(!table.lines().nth(1).unwrap().trim_end().ends_with('-'), "revoked time shown: {table}");

        // Bad flags fail without creating anything.
        let before = srv.state.index.tokens(None).await.unwrap().len();
        for bad in [
            &["token", "create", "--name", "bob", "--scopes", "admin"][..],
            &["token", "create", "--name", "bob", "--expires-at", "2001-01-01T00:00:00Z"],
            &["token", "create", "--name", "bob", "--expires-in", "1d", "--expires-at", "2999-01-01T00:00:00Z"],
            &["token", "revoke", "999999"],
        ] {
            let (ok, stdout, _) = ticketbooth(&srv, bad).await;
            assert!(!ok && stdout.is_empty(), "{bad:?} should fail");
        }
        assert_eq!(srv.state.index.tokens(None).await.unwrap().len(), before);
    }

    async fn self_service_tokens_are_listed_created_and_revoked(srv) {
        let r = post_json(&srv, "/tokens", &srv.token, json!({"label": "laptop", "scopes": ["yank"], "expires_in_days": 7})).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let created = r.json();
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("tb_"));
        let record = &created["record"];
        assert_eq!(record["label"], "laptop");
        assert_eq!(record["scopes"], json!(["yank"]));
        assert_eq!(record["user"], "alice");
        let expires: DateTime<Utc> = record["expires_at"].as_str().unwrap().parse().unwrap();
        assert!((expires - (Utc::now() + Duration::days(7))).num_seconds().abs() < 60);

        // The new token works, with only its scopes.
        let r = srv.upload_as(&token, Some(&metadata("nope")), Some(small_ticket(7, 2))).await;
        r.assert_error(403, "forbidden", None);

        // Managing tokens takes the tokens scope, which this one lacks.
        let r = list_tokens(&srv, &token).await;
        assert!(r.assert_error(403, "forbidden", None).contains("'tokens'"));
        // The list: records, never the secrets or their hashes; use is recorded.
        let r = list_tokens(&srv, &srv.token).await;
        assert_eq!(r.status, 200);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        for secret in [&srv.token, &token] {
            assert!(!body.contains(secret.as_str()), "a token in the list: {body}");
            assert!(!body.contains(&hex::encode(tokens::hash(secret))), "a hash in the list: {body}");
        }
        assert!(!body.contains("hash"), "{body}");
        let items = r.json()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["id"], record["id"]);
        assert!(items[1]["last_used_at"].is_string(), "use recorded: {body}");

        // Revoking the new token: 200 with the revocation time, then it is refused; again is 200.
        let r = revoke(&srv, &srv.token, &record["id"]).await;
        assert_eq!(r.status, 200);
        let revoked_at = r.json()["revoked_at"].clone();
        assert!(revoked_at.is_string());
        assert!(list_tokens(&srv, &token).await.assert_error(401, "unauthorized", None).contains("revoked"));
        let again = revoke(&srv, &srv.token, &record["id"]).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.json()["revoked_at"], revoked_at, "the first revocation time stays");

        // Revoking the token in use is allowed, and it is refused from then on.
        let own = token_ids(&srv, &srv.token).await[0].clone();
        assert_eq!(revoke(&srv, &srv.token, &own).await.status, 200);
        list_tokens(&srv, &srv.token).await.assert_error(401, "unauthorized", None);
        let r = srv.upload(Some(&metadata("gone")), Some(small_ticket(8, 2))).await;
        r.assert_error(401, "unauthorized", None);
        assert_eq!(srv.ticket_rows().await, 0);
    }

    async fn a_new_token_cannot_escalate(srv) {
        let yank_only = token_with(&srv, "alice", &[Scope::Yank, Scope::Tokens], None).await;
        let r = post_json(&srv, "/tokens", &yank_only, json!({"scopes": ["yank", "upload"]})).await;
        assert!(r.assert_error(403, "forbidden", Some("scopes")).contains("'upload'"));
        // A token that expires cannot make one that lives longer, nor one without expiry.
        let soon = token_with(&srv, "alice", &Scope::ALL, Some(Utc::now() + Duration::hours(1))).await;
        post_json(&srv, "/tokens", &soon, json!({"expires_in_days": 2})).await
            .assert_error(403, "forbidden", Some("expires_at"));
        let r = post_json(&srv, "/tokens", &soon, json!({})).await;
        assert_eq!(r.status, 201);
        assert!(r.json()["record"]["expires_at"].is_string(), "inherits the caller's expiry");
        // Nothing was created by the refused requests: alice has the fixture's token, the two
        // made here, and the one accepted request's.
        assert_eq!(srv.state.index.tokens(Some("alice")).await.unwrap().len(), 4);
    }

    async fn malformed_token_requests_are_refused_by_field(srv) {
        post_json(&srv, "/tokens", &srv.token, json!({"scopes": ["admin"]})).await
            .assert_error(400, "invalid_parameter", None);
        post_json(&srv, "/tokens", &srv.token, json!({"scopes": []})).await
            .assert_error(400, "invalid_parameter", Some("scopes"));
        post_json(&srv, "/tokens", &srv.token, json!({"expires_in_days": 1, "expires_at": "2999-01-01T00:00:00Z"})).await
            .assert_error(400, "invalid_parameter", Some("expires_at"));
        post_json(&srv, "/tokens", &srv.token, json!({"expires_at": "2001-01-01T00:00:00Z"})).await
            .assert_error(400, "invalid_parameter", Some("expires_at"));
        post_json(&srv, "/tokens", &srv.token, json!({"label": "a\u{1b}[2Jb"})).await
            .assert_error(400, "invalid_parameter", Some("label"));
        post_json(&srv, "/tokens", &srv.token, json!({"lable": "typo"})).await
            .assert_error(400, "invalid_parameter", None);
        assert_eq!(srv.state.index.tokens(None).await.unwrap().len(), 1);
        let anonymous = Response::read(srv.client.post(srv.api("/tokens")).json(&json!({})).send().await.unwrap()).await;
        anonymous.assert_error(401, "unauthorized", None);
    }

    async fn another_users_token_id_is_not_found(srv) {
        let bob = srv.token_for("bob").await;
        let bobs = token_ids(&srv, &bob).await[0].clone();
        let r = revoke(&srv, &srv.token, &bobs).await;
        let message = r.assert_error(404, "not_found", None);
        assert!(!message.contains("bob"), "{message}");
        // The same answer as for an id nobody has.
        revoke(&srv, &srv.token, &json!(987654321)).await.assert_error(404, "not_found", None);
        assert_eq!(list_tokens(&srv, &bob).await.status, 200, "bob's token still works");
        let r = send(&srv, srv.client.delete(srv.api("/tokens/abc")), &srv.token).await;
        assert_eq!(r.status, 400);
    }

    async fn a_failed_object_delete_is_reported_after_the_takedown_commits(srv) {
        let id = upload_ok(&srv, &srv.token, &metadata("doomed"), 11).await;
        srv.expect_blob_files(1).await;
        // Make the object undeletable: a non-empty directory where its file was.
        let object = srv.blob_files().pop().unwrap();
        std::fs::remove_file(&object).unwrap();
        std::fs::create_dir(&object).unwrap();
        std::fs::write(object.join("pin"), b"x").unwrap();

        let (ok, stdout, stderr) = ticketbooth(&srv, &["admin", "delete", &id, "--reason", "court order"]).await;
        assert!(!ok, "a failed object delete is a failure: {stdout}");
        assert!(stderr.contains("taken down") && stderr.contains("orphan") && stderr.contains("gc"), "{stderr}");
        // The index change stands: the ticket is gone and audited, the object is an orphan.
        srv.get(&format!("/tickets/{id}")).await.assert_error(404, "not_found", None);
        srv.get(&format!("/tickets/{id}/file")).await.assert_error(404, "not_found", None);
        let audit = srv.state.index.takedowns().await.unwrap();
        assert_eq!(audit.len(), 1);
        let key = audit[0].object_key.clone().unwrap();
        assert!(object.ends_with(&key), "{object:?} vs {key}");
        assert!(object.exists());
    }

    async fn takedown_removes_a_ticket_everywhere_and_keeps_counts(srv) {
        // A (tagged) and B share content; C (other content) is A's child.
        let content = small_ticket(9, 2);
        let mut meta_a = metadata("a-ticket");
        meta_a["tags"] = json!(["takedown-me"]);
        let r = srv.upload(Some(&meta_a), Some(content.clone())).await;
        assert_eq!(r.status, 201);
        let a = r.json()["id"].as_str().unwrap().to_owned();
        let sha = r.json()["sha256"].as_str().unwrap().to_owned();
        let r = srv.upload(Some(&metadata("b-ticket")), Some(content.clone())).await;
        assert_eq!(r.status, 201);
        let b = r.json()["id"].as_str().unwrap().to_owned();
        let mut meta_c = metadata("c-ticket");
        meta_c["parent_id"] = json!(a);
        let c = upload_ok(&srv, &srv.token, &meta_c, 10).await;
        srv.expect_blob_files(2).await;
        let facets = srv.get("/facets").await.json();
        assert_eq!(facet_count(&facets, "task", "image-classification"), 3);
        assert_eq!(facet_count(&facets, "tag", "takedown-me"), 1);

        let (ok, stdout, stderr) = ticketbooth(&srv, &["admin", "delete", &a, "--reason", "DMCA notice 42"]).await;
        assert!(ok, "{stderr}");
        assert!(stdout.contains("content kept"), "{stdout}");
        assert!(stdout.contains(&c), "the detached child is named: {stdout}");

        // 404 everywhere.
        for path in [
            format!("/tickets/{a}"),
            format!("/tickets/{a}/file"),
            format!("/tickets/{a}/lineage"),
            "/owners/alice/tickets/a-ticket".to_owned(),
        ] {
            srv.get(&path).await.assert_error(404, "not_found", None);
        }
        let listed = srv.get("/tickets?include_yanked=true").await.json();
        let ids: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        assert!(!ids.contains(&a.as_str()));
        assert!(srv.get("/tickets?q=a-ticket").await.json()["items"].as_array().unwrap().is_empty());
        assert!(srv.get("/tickets?tag=takedown-me").await.json()["items"].as_array().unwrap().is_empty());
        // The child stays, without its parent; counts follow.
        assert_eq!(srv.get(&format!("/tickets/{c}")).await.json()["parent_id"], Value::Null);
        for path in ["/facets", "/facets?task=image-classification"] {
            let facets = srv.get(path).await.json();
            assert_eq!(facet_count(&facets, "task", "image-classification"), 2, "{path}");
            assert_eq!(facet_count(&facets, "tag", "takedown-me"), 0, "{path}");
        }
        assert_eq!(task_count(&srv.get("/tasks").await.json(), "image-classification"), 2);
        // B shares the content: the object stays and B still downloads.
        srv.expect_blob_files(2).await;
        let file = srv.get(&format!("/tickets/{b}/file")).await;
        assert_eq!(file.status, 200);
        assert_eq!(file.body, content);

        // The audit row.
        let audit = srv.state.index.takedowns().await.unwrap();
        assert_eq!(audit.len(), 1);
        let row = &audit[0];
        assert_eq!((row.ticket_id.as_str(), row.owner.as_str(), row.name.as_str()), (a.as_str(), "alice", "a-ticket"));
        assert_eq!(row.sha256, sha);
        assert_eq!(row.reason, "DMCA notice 42");
        assert_eq!(row.actor, "op-alice", "the actor defaults to $USER");
        assert_eq!(row.detached_children, vec![c.clone()]);
        assert_eq!(row.object_key, None);

        // B was the last holder of the content: its object goes too.
        let (ok, stdout, stderr) = ticketbooth(&srv, &["admin", "delete", &b, "--reason", "abuse", "--actor", "legal-team"]).await;
        assert!(ok, "{stderr}");
        assert!(stdout.contains("deleted object"), "{stdout}");
        srv.expect_blob_files(1).await;
        srv.get(&format!("/tickets/{b}/file")).await.assert_error(404, "not_found", None);
        let audit = srv.state.index.takedowns().await.unwrap();
        assert_eq!(audit[1].actor, "legal-team");
        assert!(audit[1].object_key.is_some());

        // A yanked ticket's counts (kept apart from live ones) follow too.
        assert_eq!(send(&srv, srv.client.post(srv.api(&format!("/tickets/{c}/yank"))), &srv.token).await.status, 200);
        assert_eq!(task_count(&srv.get("/tasks?include_yanked=true").await.json(), "image-classification"), 1);
        let (ok, _, stderr) = ticketbooth(&srv, &["admin", "delete", &c, "--reason", "spam"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(task_count(&srv.get("/tasks?include_yanked=true").await.json(), "image-classification"), 0);
        let facets = srv.get("/facets?include_yanked=true").await.json();
        assert_eq!(facet_count(&facets, "task", "image-classification"), 0);
        srv.expect_blob_files(0).await;
        assert_eq!(srv.ticket_rows().await, 0);

        // The same content can be published again: the index holds no stale blob row.
        let again = srv.upload(Some(&metadata("a-ticket")), Some(content.clone())).await;
        assert_eq!(again.status, 201, "{}", String::from_utf8_lossy(&again.body));
        let id = again.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(srv.get(&format!("/tickets/{id}/file")).await.body, content);

        // A second takedown of a gone ticket fails and records nothing; the list shows all three.
        let (ok, stdout, stderr) = ticketbooth(&srv, &["admin", "delete", &a, "--reason", "again"]).await;
        assert!(!ok && stdout.is_empty() && stderr.contains("no ticket"), "{stderr}");
        let (ok, table, _) = ticketbooth(&srv, &["admin", "takedowns"]).await;
        assert!(ok);
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.contains("DMCA notice 42") && table.contains("legal-team"), "{table}");
        let (ok, _, stderr) = ticketbooth(&srv, &["admin", "delete", &id, "--reason", "  "]).await;
        assert!(!ok && stderr.contains("--reason"), "{stderr}");
        assert_eq!(srv.ticket_rows().await, 1);
    }

    // Issue "Safe to open to the public", item 11: managing tokens takes the `tokens` scope;
    // a minted token (and what it minted) is revoked with its parent; live tokens are capped.
    async fn token_management_is_scoped_and_minted_tokens_die_with_their_parent(srv) {
        let yank_only = token_with(&srv, "alice", &[Scope::Yank], None).await;
        for r in [
            list_tokens(&srv, &yank_only).await,
            post_json(&srv, "/tokens", &yank_only, json!({})).await,
            revoke(&srv, &yank_only, &json!(1)).await,
        ] {
            assert!(r.assert_error(403, "forbidden", None).contains("'tokens'"));
        }
        // A leaked token mints a child, the child a grandchild: revoking the leaked one
        // (through the API or by the operator) cuts off both.
        let leaked = token_with(&srv, "alice", &Scope::ALL, None).await;
        let child = post_json(&srv, "/tokens", &leaked, json!({"label": "child"})).await.json();
        let child_token = child["token"].as_str().unwrap().to_owned();
        assert!(child["record"]["minted_by"].is_i64(), "{child}");
        let grandchild = post_json(&srv, "/tokens", &child_token, json!({"label": "grandchild"})).await.json();
        let grandchild_token = grandchild["token"].as_str().unwrap().to_owned();
        assert_eq!(grandchild["record"]["minted_by"], child["record"]["id"]);
        let sibling = post_json(&srv, "/tokens", &srv.token, json!({"label": "unrelated"})).await.json();
        let leaked_id = child["record"]["minted_by"].clone();
        assert_eq!(revoke(&srv, &srv.token, &leaked_id).await.status, 200);
        for t in [&leaked, &child_token, &grandchild_token] {
            assert!(list_tokens(&srv, t).await.assert_error(401, "unauthorized", None).contains("revoked"));
        }
        // Tokens not minted by it live on.
        assert_eq!(list_tokens(&srv, sibling["token"].as_str().unwrap()).await.status, 200);
        assert_eq!(list_tokens(&srv, &srv.token).await.status, 200);
    }

}

/// Object keys a response may carry under a spec schema, and those it must.
fn schema_keys(spec: &Value, name: &str) -> (Vec<String>, Vec<String>) {
    let schema = &spec["components"]["schemas"][name];
    let props = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let required = schema["required"]
        .as_array()
        .map(|r| r.iter().map(|k| k.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (props, required)
}

fn assert_shape(spec: &Value, name: &str, value: &Value) {
    let (props, required) = schema_keys(spec, name);
    let keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    for k in &keys {
        assert!(
            props.contains(k),
            "{name}: '{k}' is not in the spec ({props:?})"
        );
    }
    for k in &required {
        assert!(
            keys.contains(k),
            "{name}: required '{k}' missing from {value}"
        );
    }
}

/// The published contract describes what the token endpoints really answer (schemathesis
/// checks the same in CI, with generated inputs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoints_answer_what_the_spec_says() {
    let srv = TestServer::start(crate::common::Backend::Sqlite).await;
    let spec: Value = srv
        .client
        .get(format!("{}/api/openapi.json", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &spec["paths"];
    for (path, method) in [
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{id}", "delete"),
    ] {
        assert!(
            paths[path][method]["security"].is_array(),
            "{method} {path} missing or not marked as authenticated"
        );
    }
    let mut ids: Vec<&str> = paths
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "operationIds must be unique");
    let (record_props, _) = schema_keys(&spec, "TokenRecord");
    assert!(!record_props.iter().any(|p| p.contains("hash")));

    let created = post_json(
        &srv,
        "/tokens",
        &srv.token,
        json!({"label": "x", "expires_at": (Utc::now() + Duration::days(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(created.status, 201);
    let created = created.json();
    assert_shape(&spec, "CreatedToken", &created);
    assert_shape(&spec, "TokenRecord", &created["record"]);
    let list = list_tokens(&srv, &srv.token).await.json();
    assert_shape(&spec, "TokenList", &list);
    for item in list["items"].as_array().unwrap() {
        assert_shape(&spec, "TokenRecord", item);
    }
    let revoked = revoke(&srv, &srv.token, &created["record"]["id"])
        .await
        .json();
    assert_shape(&spec, "TokenRecord", &revoked);
}
