//! The web page's files and URLs, and descriptions rendered for it.

use serde_json::json;

use crate::common::{conformance, metadata, small_ticket};

conformance! {
    async fn pages_are_served_and_descriptions_rendered(srv) {
        for path in ["/", "/search?q=x", "/tickets/abc", "/tasks/image-classification", "/frontier?task=t", "/upload", "/transfer?task=t&architecture=a", "/compare?a=x&b=y", "/compare", "/account", "/signup", "/owners/alice"] {
            let r = srv.client.get(format!("{}{path}", srv.url)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
            assert!(r.text().await.unwrap().contains("/static/app.js"));
        }
        // app.js imports a module per page and ui.js; they import lib.js (the page's pure
        // logic): every one must be served.
        for file in ["app.js", "ui.js", "lib.js", "pages/home.js", "pages/search.js", "pages/ticket.js", "pages/frontier.js", "pages/upload.js", "pages/transfer.js", "pages/compare.js", "pages/signup.js", "pages/account.js", "pages/owner.js"] {
            let js = srv.client.get(format!("{}/static/{file}", srv.url)).send().await.unwrap();
            assert_eq!(js.status(), 200, "{file}");
            assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"), "{file}");
        }
        for path in ["/api/v1/nope", "/api/anything", "/static/missing.js", "/static/pages/missing.js", "/static/pages/..%2Fapp.js", "/robots.txt"] {
            let r = crate::common::Response::read(srv.client.get(format!("{}{path}", srv.url)).send().await.unwrap()).await;
            r.assert_error(404, "not_found", None);
        }
        let mut meta = metadata("described");
        meta["description"] = json!("Found by **IMP**. <script>alert(1)</script>");
        let t = srv.upload(Some(&meta), Some(small_ticket(77, 2))).await.json();
        let html = t["description_html"].as_str().unwrap();
        assert!(html.contains("<strong>IMP</strong>") && !html.contains("<script"), "{html}");
        // Only the single-ticket view renders markdown; list items leave it out.
        let list = srv.get("/tickets").await.json();
        assert!(list["items"][0].get("description_html").is_none());
        assert!(list["items"][0]["description"].as_str().unwrap().contains("**IMP**"));
        let plain = srv.upload(Some(&metadata("plain")), Some(small_ticket(78, 2))).await.json();
        assert!(plain["description_html"].is_null() && plain.as_object().unwrap().contains_key("description_html"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_contract_is_published_and_browsable() {
    let srv = crate::common::TestServer::start(crate::common::Backend::Sqlite).await;
    let spec: serde_json::Value = srv
        .client
        .get(format!("{}/api/openapi.json", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/api/v1/tickets",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/file",
        "/api/v1/tickets/{id}/lineage",
        "/api/v1/tickets/{id}/yank",
        "/api/v1/tickets/{id}/unyank",
        "/api/v1/owners/{owner}/tickets/{name}",
        "/api/v1/tasks",
        "/api/v1/facets",
        "/api/v1/points",
        "/api/v1/frontier",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(route), "{route} missing from the spec");
    }
    assert!(
        paths["/api/v1/tickets"]["post"]["requestBody"]["content"]["multipart/form-data"]
            .is_object()
    );
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    // The reference UI is served from the binary itself.
    let docs = srv
        .client
        .get(format!("{}/api/docs/", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    let css = srv
        .client
        .get(format!("{}/api/docs/swagger-ui.css", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_and_read_only_cors() {
    let srv = crate::common::TestServer::start(crate::common::Backend::Sqlite).await;
    let page = srv
        .client
        .get(format!("{}/", srv.url))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    for path in ["/", "/api/v1/tasks", "/api/v1/nope"] {
        let r = srv
            .client
            .get(format!("{}{path}", srv.url))
            .header("origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            h["access-control-allow-origin"], "*",
            "{path}: anonymous reads are open to any origin"
        );
    }
    // A cross-origin write is not allowed by the preflight.
    let preflight = srv
        .client
        .request(reqwest::Method::OPTIONS, srv.api("/tickets"))
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    let methods = preflight
        .headers()
        .get("access-control-allow-methods")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(!methods.contains("POST"), "{methods}");
    let headers = preflight
        .headers()
        .get("access-control-allow-headers")
        .map(|v| v.to_str().unwrap().to_lowercase())
        .unwrap_or_default();
    assert!(!headers.contains("authorization"), "{headers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_finds_nothing_on_any_route() {
    let srv = crate::common::TestServer::start(crate::common::Backend::Sqlite).await;
    let bob = srv.token_for("bob").await;
    let nasty = [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fCargo.toml",
        "..%5C..%5Cwindows",
        "%00",
        "objects%2F..%2F..%2Fticketbooth.db",
    ];
    for n in nasty {
        for (method, path) in [
            ("GET", format!("/api/v1/tickets/{n}")),
            ("GET", format!("/api/v1/tickets/{n}/file")),
            ("HEAD", format!("/api/v1/tickets/{n}/file")),
            ("GET", format!("/api/v1/tickets/{n}/lineage")),
            ("POST", format!("/api/v1/tickets/{n}/yank")),
            ("POST", format!("/api/v1/tickets/{n}/unyank")),
            ("PATCH", format!("/api/v1/tickets/{n}")),
            ("GET", format!("/api/v1/owners/{n}/tickets/{n}")),
            ("GET", format!("/static/{n}")),
            ("GET", format!("/static/pages/{n}")),
            ("DELETE", format!("/api/v1/tokens/{n}")),
        ] {
            let r = srv
                .client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{path}", srv.url),
                )
                .bearer_auth(&bob)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(
                matches!(status, 400 | 404),
                "{method} {path}: {status} {body}"
            );
            assert!(
                !body.contains("root:") && !body.contains("[package]") && !body.contains("SQLite"),
                "{method} {path} leaked a file"
            );
        }
    }
}
