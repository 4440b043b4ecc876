//! Accounts (docs/accounts.md): sign-in with OpenID Connect against a real provider on loopback
//! (first sign-in and username, signing in again, linking ORCID, sessions on another replica),
//! the attacks on the flow, sessions (CSRF, expiry, sign-out, tokens made from them), and
//! organizations (publishing under one, who may change its tickets, the last admin, evidence
//! "by others", profiles). Every scenario runs on both backends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::oidc::{
    Browser, issuer, location, signed_in, tamper, test_providers, through_provider,
    through_provider_from,
};
use crate::common::{Backend, Response, TestServer, metadata, on_both_backends, small_ticket};

async fn server(backend: Backend) -> Option<TestServer> {
    let providers = test_providers()?;
    Some(
        TestServer::builder(backend)
            .sign_in(providers)
            .start()
            .await,
    )
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn first_sign_in_then_again_link_orcid_and_replicas(backend: Backend) {
    let Some(srv) = server(backend).await else {
        return;
    };
    let providers = srv.get("/auth/providers").await.json();
    assert_eq!(
        providers["providers"].as_array().unwrap().len(),
        2,
        "{providers}"
    );

    // A first sign-in lands on /signup; the name is checked, then taken.
    let b = Browser::default();
    let (callback, authorize) =
        through_provider(&b, &srv, "/auth/local/login?return_to=/upload", "alice").await;
    assert_eq!(
        crate::common::oidc::param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(crate::common::oidc::param(&authorize, "state").is_some());
    let r = b.get(&callback).await;
    assert!(location(&r, &srv.url).ends_with("/signup"), "{r:?}");
    assert!(
        b.cookie("tb_signin").is_none(),
        "the sign-in cookie is cleared"
    );
    let pending = b.get(&srv.api("/signup")).await.json();
    assert_eq!(pending["provider"], "local");
    assert_eq!(pending["email"], "alice@example.test");
    let csrf = pending["csrf_token"].as_str().unwrap().to_owned();
    let bad = b
        .request(
            Method::POST,
            &srv.api("/signup"),
            Some(&json!({"name": "-nope"})),
            Some(&csrf),
        )
        .await;
    bad.assert_error(400, "invalid_parameter", Some("name"));
    let no_csrf = b
        .request(
            Method::POST,
            &srv.api("/signup"),
            Some(&json!({"name": "alice2"})),
            None,
        )
        .await;
    no_csrf.assert_error(403, "forbidden", None);
    let taken = b
        .request(
            Method::POST,
            &srv.api("/signup"),
            Some(&json!({"name": "alice"})),
            Some(&csrf),
        )
        .await;
    // "alice" already exists: the suite's fixture gave her an operator-made token.
    taken.assert_error(409, "conflict", Some("name"));
    let made = b
        .request(
            Method::POST,
            &srv.api("/signup"),
            Some(&json!({"name": "Alice-Lab"})),
            Some(&csrf),
        )
        .await;
    assert_eq!(made.status, 201, "{}", text(&made));
    assert_eq!(made.json()["name"], "alice-lab");
    assert_eq!(made.json()["return_to"], "/upload");
    let cookie = made.header("set-cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let account = b.get(&srv.api("/account")).await.json();
    assert_eq!(account["name"], "alice-lab");
    assert_eq!(account["via"], "session");
    assert_eq!(account["identities"][0]["subject"], "alice-sub");
    // The pending sign-up is used up.
    assert_eq!(b.get(&srv.api("/signup")).await.status, 401);

    // Signing in again with the same provider and subject: the same account, no /signup.
    let (again, csrf_again) = signed_in(&srv, "local", "alice", "alice-lab").await;
    // The session works on another replica: sessions live in the index.
    let replica = srv.replica().await;
    let there = again.get(&replica.api("/account")).await;
    assert_eq!(there.status, 200, "{}", text(&there));
    assert_eq!(there.json()["name"], "alice-lab");

    // Link ORCID: the profile then shows the verified iD.
    let link = again
        .request(
            Method::POST,
            &srv.api("/account/identities"),
            Some(&json!({"provider": "orcid"})),
            Some(&csrf_again),
        )
        .await;
    assert_eq!(link.status, 200, "{}", text(&link));
    let redirect = link.json()["redirect"].as_str().unwrap().to_owned();
    let (callback, _) = through_provider_from(&again, &redirect, "alice", &srv.url).await;
    let r = again.get(&callback).await;
    assert!(location(&r, &srv.url).ends_with("/account"), "{}", text(&r));
    let account = again.get(&srv.api("/account")).await.json();
    assert_eq!(
        account["identities"].as_array().unwrap().len(),
        2,
        "{account}"
    );
    assert_eq!(account["orcid"], "0000-0002-1825-0097");
    let profile = srv.get("/owners/alice-lab").await.json();
    assert_eq!(profile["orcid"], "0000-0002-1825-0097");
    assert_eq!(profile["kind"], "user");

    // Signing in with ORCID now reaches the same account.
    let (_, _) = signed_in(&srv, "orcid", "alice", "alice-lab").await;
    // Another person's ORCID cannot be linked to this account when it has one already.
    let (bob, _) = signed_in(&srv, "orcid", "bob", "bob").await;
    let bob_account = bob.get(&srv.api("/account")).await.json();
    assert_eq!(bob_account["orcid"], "0000-0001-5109-3700");
    let csrf_bob = bob_account["csrf_token"].as_str().unwrap().to_owned();
    let link = bob
        .request(
            Method::POST,
            &srv.api("/account/identities"),
            Some(&json!({"provider": "local"})),
            Some(&csrf_bob),
        )
        .await;
    let redirect = link.json()["redirect"].as_str().unwrap().to_owned();
    // At the provider bob signs in as alice: her identity is someone else's already.
    let (callback, _) = through_provider_from(&bob, &redirect, "alice", &srv.url).await;
    let r = bob.get(&callback).await;
    assert!(
        location(&r, &srv.url).ends_with("/account?link_error=identity_taken"),
        "{}",
        text(&r)
    );
    let after = bob.get(&srv.api("/account")).await.json();
    assert_eq!(
        after["identities"].as_array().unwrap().len(),
        1,
        "nothing linked: {after}"
    );
    assert_eq!(after["max_session_token_days"], 90);

    // Unlinking: not the last identity.
    let ids: Vec<i64> = bob_account["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    bob.request(
        Method::DELETE,
        &srv.api(&format!("/account/identities/{}", ids[0])),
        None,
        Some(&csrf_bob),
    )
    .await
    .assert_error(409, "conflict", None);
}
on_both_backends!(
    sign_in_sqlite,
    sign_in_postgres,
    first_sign_in_then_again_link_orcid_and_replicas
);

/// The sign-in flow refuses every forgery, and leaves nothing behind when it does.
async fn attacks_on_the_sign_in_flow_are_refused(backend: Backend) {
    let Some(srv) = server(backend).await else {
        return;
    };
    let local = issuer(&test_providers().unwrap(), "local");
    let nothing_made = || async {
        assert_eq!(
            srv.count("SELECT COUNT(*) FROM sessions").await,
            0,
            "no session"
        );
        assert_eq!(
            srv.count("SELECT COUNT(*) FROM pending_accounts").await,
            0,
            "no pending sign-up"
        );
        assert_eq!(
            srv.count("SELECT COUNT(*) FROM identities").await,
            0,
            "no identity"
        );
    };

    // A forged state: never issued.
    let b = Browser::default();
    let r = b
        .get(&format!(
            "{}/auth/local/callback?code=abc&state=forged",
            srv.url
        ))
        .await;
    let m = r.assert_error(400, "bad_request", None);
    assert!(m.contains("state"), "{m}");
    // No state or code at all; a provider error.
    b.get(&format!("{}/auth/local/callback", srv.url))
        .await
        .assert_error(400, "bad_request", None);
    b.get(&format!(
        "{}/auth/local/callback?error=access_denied",
        srv.url
    ))
    .await
    .assert_error(400, "bad_request", None);
    // An unknown provider.
    b.get(&format!("{}/auth/nope/login", srv.url))
        .await
        .assert_error(404, "not_found", None);
    // An open redirect in return_to is replaced by "/".
    let (callback, _) = through_provider(
        &b,
        &srv,
        "/auth/local/login?return_to=//evil.example/x",
        "carol",
    )
    .await;
    // The callback, taken to another browser (no sign-in cookie): refused, and burnt.
    let other = Browser::default();
    let m = other
        .get(&callback)
        .await
        .assert_error(400, "bad_request", None);
    assert!(m.contains("browser"), "{m}");
    let m = b
        .get(&callback)
        .await
        .assert_error(400, "bad_request", None);
    assert!(m.contains("state"), "a state works once: {m}");
    nothing_made().await;

    // The ID token changed on its way: wrong nonce, another audience, another issuer, expired,
    // signed by another key, unsigned. Each refused, nothing made.
    for (mode, says) in [
        ("nonce", "nonce"),
        ("audience", "audience"),
        ("issuer", "issuer"),
        ("expired", "xpired"),
        ("key", "ignature"),
        ("none", ""),
    ] {
        let b = Browser::default();
        let r = b.get(&format!("{}/auth/local/login", srv.url)).await;
        let authorize = location(&r, &srv.url);
        tamper(&local, &authorize, mode).await;
        let (callback, _) = through_provider_from(&b, &authorize, "carol", &srv.url).await;
        let r = b.get(&callback).await;
        let m = r.assert_error(400, "bad_request", None);
        assert!(m.contains("ID token") && m.contains(says), "{mode}: {m}");
        assert!(b.cookie("tb_session").is_none(), "{mode}");
        nothing_made().await;
    }

    // Replaying a callback that worked: the state is gone, no second session.
    let b = Browser::default();
    let (callback, _) = through_provider(&b, &srv, "/auth/local/login", "carol").await;
    let r = b.get(&callback).await;
    assert!(location(&r, &srv.url).ends_with("/signup"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM pending_accounts").await, 1);
    let m = b
        .get(&callback)
        .await
        .assert_error(400, "bad_request", None);
    assert!(m.contains("state"), "{m}");
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM pending_accounts").await,
        1,
        "no second sign-up"
    );
    assert_eq!(srv.count("SELECT COUNT(*) FROM sessions").await, 0);
}
on_both_backends!(
    attacks_sqlite,
    attacks_postgres,
    attacks_on_the_sign_in_flow_are_refused
);

/// Sessions: the CSRF token, tokens made from a session, sign-out here and everywhere, expiry,
/// and another user's session.
async fn sessions_need_csrf_expire_and_sign_out(backend: Backend) {
    let Some(srv) = server(backend).await else {
        return;
    };
    let (alice, csrf) = signed_in(&srv, "local", "alice", "alicia").await;
    let tokens_now = || srv.count("SELECT COUNT(*) FROM api_tokens");
    let before = tokens_now().await;

    // A write with the cookie but without the CSRF token, or with a wrong one: refused.
    for sent in [None, Some("0".repeat(64))] {
        let r = alice
            .request(
                Method::POST,
                &srv.api("/tokens"),
                Some(&json!({"label": "x"})),
                sent.as_deref(),
            )
            .await;
        let m = r.assert_error(403, "forbidden", None);
        assert!(m.contains("X-CSRF-Token"), "{m}");
    }
    assert_eq!(tokens_now().await, before, "nothing made");

    // With it: a token of the account, bounded by the session-token lifetime (90 days).
    let made = alice
        .request(
            Method::POST,
            &srv.api("/tokens"),
            Some(&json!({"label": "laptop"})),
            Some(&csrf),
        )
        .await;
    assert_eq!(made.status, 201, "{}", text(&made));
    let token = made.json()["token"].as_str().unwrap().to_owned();
    let record = made.json()["record"].clone();
    assert_eq!(record["user"], "alicia");
    assert!(record["minted_by"].is_null());
    let expires =
        chrono::DateTime::parse_from_rfc3339(record["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((89..=90).contains(&days), "{days}");
    let long = alice
        .request(
            Method::POST,
            &srv.api("/tokens"),
            Some(&json!({"expires_in_days": 400})),
            Some(&csrf),
        )
        .await;
    long.assert_error(400, "invalid_parameter", Some("expires_at"));

    // Uploading with the session (multipart, CSRF header) publishes as the user.
    let form = reqwest::multipart::Form::new()
        .text("metadata", metadata("sess-ticket").to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(small_ticket(1, 2)).file_name("t.safetensors"),
        );
    let r = reqwest::Client::new()
        .post(srv.api("/tickets"))
        .header(
            "Cookie",
            format!("tb_session={}", alice.cookie("tb_session").unwrap()),
        )
        .header("X-CSRF-Token", &csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let r = Response::read(r).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["owner"], "alicia");

    // Another user's session cannot edit or yank it.
    let (bob, bob_csrf) = signed_in(&srv, "local", "bob", "bobby").await;
    let patch = json!({"description": "mine now"});
    bob.request(
        Method::PATCH,
        &srv.api(&format!("/tickets/{id}")),
        Some(&patch),
        Some(&bob_csrf),
    )
    .await
    .assert_error(403, "forbidden", None);
    bob.request(
        Method::POST,
        &srv.api(&format!("/tickets/{id}/yank")),
        None,
        Some(&bob_csrf),
    )
    .await
    .assert_error(403, "forbidden", None);
    let shown = srv.get(&format!("/tickets/{id}")).await.json();
    assert!(
        shown["description"].is_null() && shown["yanked"] == false,
        "{shown}"
    );
    // Alice's session may, with the token.
    let r = alice
        .request(
            Method::PATCH,
            &srv.api(&format!("/tickets/{id}")),
            Some(&json!({"description": "ok"})),
            Some(&csrf),
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));

    // Sign out: the session is gone, the token made from it is not.
    let second = signed_in(&srv, "local", "alice", "alicia").await.0;
    alice
        .request(Method::DELETE, &srv.api("/session"), None, Some(&csrf))
        .await;
    assert!(alice.cookie("tb_session").is_none(), "cookie cleared");
    assert_eq!(alice.get(&srv.api("/account")).await.status, 401);
    let with_token = Response::read(
        srv.client
            .get(srv.api("/tokens"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(with_token.status, 200, "the token survives sign-out");
    // An old cookie value, replayed after sign-out: refused.
    let stale = Browser::default();
    stale.set_cookie("tb_session", "0".repeat(64).as_str());
    stale
        .get(&srv.api("/account"))
        .await
        .assert_error(401, "unauthorized", None);

    // Sign out everywhere (with the token): the other browser's session ends too.
    assert_eq!(second.get(&srv.api("/account")).await.status, 200);
    let r = Response::read(
        srv.client
            .delete(srv.api("/account/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(second.get(&srv.api("/account")).await.status, 401);
    assert_eq!(
        bob.get(&srv.api("/account")).await.status,
        200,
        "other users keep theirs"
    );

    // An expired session is refused (and removed).
    srv.exec(&["UPDATE sessions SET expires_at = '2000-01-01T00:00:00Z'"])
        .await;
    let m = bob
        .get(&srv.api("/account"))
        .await
        .assert_error(401, "unauthorized", None);
    assert!(m.contains("expired"), "{m}");
    assert_eq!(srv.count("SELECT COUNT(*) FROM sessions").await, 0);
}
on_both_backends!(
    sessions_sqlite,
    sessions_postgres,
    sessions_need_csrf_expire_and_sign_out
);

async fn send(
    srv: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut r = srv.client.request(method, srv.api(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    Response::read(r.send().await.unwrap()).await
}

/// Organizations, with API tokens (no provider needed): publishing under one, who may change
/// its tickets, members and the last admin, evidence by others, profiles.
async fn organizations(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let alice = srv.token.clone();
    let bob = srv.token_for("bob").await;
    let carol = srv.token_for("carol").await;
    let dave = srv.token_for("dave").await;

    let made = send(
        &srv,
        Method::POST,
        "/orgs",
        &alice,
        Some(json!({"name": "Lab", "display_name": "The Lab"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", text(&made));
    assert_eq!(made.json()["kind"], "org");
    assert_eq!(made.json()["members"][0]["name"], "alice");
    assert_eq!(made.json()["members"][0]["role"], "admin");
    // One namespace with users; names are checked.
    send(
        &srv,
        Method::POST,
        "/orgs",
        &alice,
        Some(json!({"name": "bob"})),
    )
    .await
    .assert_error(409, "conflict", Some("name"));
    send(
        &srv,
        Method::POST,
        "/orgs",
        &alice,
        Some(json!({"name": "admin"})),
    )
    .await
    .assert_error(400, "invalid_parameter", Some("name"));

    // Only an admin adds members.
    send(
        &srv,
        Method::PUT,
        "/orgs/lab/members/carol",
        &bob,
        Some(json!({"role": "member"})),
    )
    .await
    .assert_error(403, "forbidden", None);
    for who in ["bob", "dave"] {
        let r = send(
            &srv,
            Method::PUT,
            &format!("/orgs/lab/members/{who}"),
            &alice,
            Some(json!({"role": "member"})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
    }
    send(
        &srv,
        Method::PUT,
        "/orgs/lab/members/nobody",
        &alice,
        Some(json!({"role": "member"})),
    )
    .await
    .assert_error(404, "not_found", None);
    send(
        &srv,
        Method::PUT,
        "/orgs/lab/members/bob",
        &alice,
        Some(json!({"role": "owner"})),
    )
    .await
    .assert_error(400, "invalid_parameter", None);

    // Members publish under the organization; others may not.
    let mut m = metadata("lab-ticket");
    m["owner"] = json!("lab");
    let r = srv
        .upload_as(&bob, Some(&m), Some(small_ticket(1, 2)))
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let bobs = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["owner"], "lab");
    assert_eq!(r.json()["uploader"], "bob");
    let mut dm = metadata("dave-ticket");
    dm["owner"] = json!("lab");
    let daves = srv
        .upload_as(&dave, Some(&dm), Some(small_ticket(2, 2)))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut cm = metadata("carol-ticket");
    cm["owner"] = json!("lab");
    let r = srv
        .upload_as(&carol, Some(&cm), Some(small_ticket(3, 2)))
        .await;
    let msg = r.assert_error(403, "forbidden", Some("owner"));
    assert!(msg.contains("not a member"), "{msg}");
    cm["owner"] = json!("bob");
    srv.upload_as(&carol, Some(&cm), Some(small_ticket(3, 2)))
        .await
        .assert_error(403, "forbidden", Some("owner"));
    cm["owner"] = json!("no-such-lab");
    srv.upload_as(&carol, Some(&cm), Some(small_ticket(3, 2)))
        .await
        .assert_error(422, "invalid_metadata", Some("owner"));
    // Names are per owner: the same name under lab conflicts, under bob it does not.
    srv.upload_as(&dave, Some(&m), Some(small_ticket(4, 2)))
        .await
        .assert_error(409, "conflict", Some("name"));
    assert_eq!(
        srv.upload_as(
            &bob,
            Some(&metadata("lab-ticket")),
            Some(small_ticket(5, 2))
        )
        .await
        .status,
        201
    );

    // Who may change an organization's ticket: its uploader and the admins, not other members.
    let edit = |id: &str, token: &str| {
        let path = format!("/tickets/{id}");
        let token = token.to_owned();
        let srv = &srv;
        async move {
            send(
                srv,
                Method::PATCH,
                &path,
                &token,
                Some(json!({"description": "edited"})),
            )
            .await
            .status
        }
    };
    assert_eq!(edit(&bobs, &bob).await, 200, "the uploader");
    assert_eq!(edit(&bobs, &alice).await, 200, "an admin");
    assert_eq!(edit(&bobs, &dave).await, 403, "another member");
    assert_eq!(edit(&bobs, &carol).await, 403, "an outsider");
    assert_eq!(
        send(
            &srv,
            Method::POST,
            &format!("/tickets/{daves}/yank"),
            &alice,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            &srv,
            Method::POST,
            &format!("/tickets/{daves}/unyank"),
            &bob,
            None
        )
        .await
        .status,
        403
    );

    // Reproductions by members are the organization's own; an outsider's count as by others.
    let add = |token: &str, seed: i64| {
        let path = format!("/tickets/{bobs}/results");
        let token = token.to_owned();
        let srv = &srv;
        async move {
            let r = send(
                srv,
                Method::POST,
                &path,
                &token,
                Some(json!({"kind": "reproduction", "accuracy": 0.91, "seed": seed})),
            )
            .await;
            assert_eq!(r.status, 201, "{}", text(&r));
            r.json()["evidence"]["reproductions_by_others"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(add(&dave, 1).await, 0, "a member");
    assert_eq!(add(&alice, 2).await, 0, "an admin");
    assert_eq!(add(&carol, 3).await, 1, "an outsider");
    // Carol joins: her reproduction is now the organization's own, at once; she leaves: by
    // others again.
    let by_others = || async {
        srv.get(&format!("/tickets/{bobs}")).await.json()["evidence"]["reproductions_by_others"]
            .as_u64()
    };
    assert_eq!(
        send(
            &srv,
            Method::PUT,
            "/orgs/lab/members/carol",
            &alice,
            Some(json!({"role": "member"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(by_others().await, Some(0), "carol joined");
    assert_eq!(
        send(
            &srv,
            Method::DELETE,
            "/orgs/lab/members/carol",
            &carol,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(by_others().await, Some(1), "carol left");

    // Members: a member cannot remove another; the last admin cannot leave or step down.
    send(&srv, Method::DELETE, "/orgs/lab/members/alice", &bob, None)
        .await
        .assert_error(403, "forbidden", None);
    send(
        &srv,
        Method::DELETE,
        "/orgs/lab/members/alice",
        &alice,
        None,
    )
    .await
    .assert_error(409, "conflict", None);
    send(
        &srv,
        Method::PUT,
        "/orgs/lab/members/alice",
        &alice,
        Some(json!({"role": "member"})),
    )
    .await
    .assert_error(409, "conflict", None);
    send(
        &srv,
        Method::DELETE,
        "/orgs/lab/members/carol",
        &alice,
        None,
    )
    .await
    .assert_error(404, "not_found", None);
    // With a second admin, the first may leave; a member may leave on their own.
    assert_eq!(
        send(
            &srv,
            Method::PUT,
            "/orgs/lab/members/bob",
            &alice,
            Some(json!({"role": "admin"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            &srv,
            Method::DELETE,
            "/orgs/lab/members/alice",
            &alice,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        send(&srv, Method::DELETE, "/orgs/lab/members/dave", &dave, None)
            .await
            .status,
        204
    );
    // Leaving keeps the tickets with the organization, and its former member loses their say.
    let daves_now = srv.get(&format!("/tickets/{daves}")).await.json();
    assert_eq!(daves_now["owner"], "lab");
    assert_eq!(edit(&daves, &dave).await, 403, "a former member");
    assert_eq!(edit(&daves, &bob).await, 200, "the admin now");

    // Profiles.
    let lab = srv.get("/owners/lab").await.json();
    assert_eq!(lab["kind"], "org");
    assert_eq!(lab["display_name"], "The Lab");
    assert_eq!(lab["tickets"], 1, "{lab}"); // dave's is yanked
    let members: Vec<&str> = lab["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["bob"]);
    let carol_profile = srv.get("/owners/carol").await.json();
    assert_eq!(carol_profile["results"], 1);
    let results = srv.get("/owners/alice/results?limit=1").await.json();
    assert_eq!(results["items"].as_array().unwrap().len(), 1);
    assert!(
        results["next_cursor"].is_null(),
        "alice reported one: {results}"
    );
    let page1 = srv.get("/owners/nobody/results").await;
    page1.assert_error(404, "not_found", None);
    srv.get("/owners/alice/results?limit=0").await.assert_error(
        400,
        "invalid_parameter",
        Some("limit"),
    );
    let listed = srv.get("/tickets?owner=lab").await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // A token without the orgs scope cannot manage organizations.
    let narrow = {
        let t = ticketbooth::domain::tokens::generate().unwrap();
        let spec = ticketbooth::domain::tokens::NewToken {
            scopes: vec![ticketbooth::domain::tokens::Scope::Upload],
            ..ticketbooth::domain::tokens::NewToken::unrestricted()
        };
        srv.state
            .index
            .create_token_with("bob", &ticketbooth::domain::tokens::hash(&t), &spec)
            .await
            .unwrap();
        t
    };
    send(
        &srv,
        Method::PUT,
        "/orgs/lab/members/carol",
        &narrow,
        Some(json!({"role": "member"})),
    )
    .await
    .assert_error(403, "forbidden", None);
}
on_both_backends!(orgs_sqlite, orgs_postgres, organizations);

mod session_store {
    use chrono::{Duration, Utc};
    use ticketbooth::index::sessions::SignIn;

    use crate::common::conformance;

    fn sign_in() -> SignIn {
        SignIn {
            browser_hash: vec![1; 32],
            provider: "local".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            link_user_id: None,
            return_to: Some("/".into()),
            expires_at: Utc::now() + Duration::minutes(10),
        }
    }

    conformance! {
        // The port itself: sign-ins under way are bounded, taken once, and purged when expired.
        async fn sign_ins_are_bounded_taken_once_and_purged(srv) {
            let index = &srv.state.index;
            let now = Utc::now();
            assert!(index.start_sign_in(b"state-1", &sign_in(), now, 2).await.unwrap());
            assert!(index.start_sign_in(b"state-2", &sign_in(), now, 2).await.unwrap());
            assert!(!index.start_sign_in(b"state-3", &sign_in(), now, 2).await.unwrap(), "over the bound");
            assert!(index.take_sign_in(b"state-3").await.unwrap().is_none(), "nothing was stored");
            let taken = index.take_sign_in(b"state-1").await.unwrap().unwrap();
            assert_eq!((taken.nonce.as_str(), taken.pkce_verifier.as_str()), ("n", "v"));
            assert!(index.take_sign_in(b"state-1").await.unwrap().is_none(), "a state works once");
            // Expired ones are purged by the next start, which then fits.
            srv.exec(&["UPDATE sign_ins SET expires_at = '2000-01-01T00:00:00Z'"]).await;
            assert!(index.start_sign_in(b"state-4", &sign_in(), now, 1).await.unwrap());
            assert_eq!(srv.count("SELECT COUNT(*) FROM sign_ins").await, 1);
        }
    }
}
