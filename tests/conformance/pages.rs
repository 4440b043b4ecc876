//! The web page's files and URLs, and descriptions rendered for it.

use serde_json::json;

use crate::common::{conformance, metadata, small_ticket};

conformance! {
    async fn pages_are_served_and_descriptions_rendered(srv) {
        for path in ["/", "/search?q=x", "/tickets/abc", "/tasks/image-classification", "/frontier?task=t", "/upload"] {
            let r = srv.client.get(format!("{}{path}", srv.url)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
            assert!(r.text().await.unwrap().contains("/static/app.js"));
        }
        let js = srv.client.get(format!("{}/static/app.js", srv.url)).send().await.unwrap();
        assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
        for path in ["/api/v1/nope", "/api/anything", "/static/missing.js", "/robots.txt"] {
            let r = crate::common::Response::read(srv.client.get(format!("{}{path}", srv.url)).send().await.unwrap()).await;
            r.assert_error(404, "not_found", None);
        }
        let mut meta = metadata("described");
        meta["description"] = json!("Found by **IMP**. <script>alert(1)</script>");
        let t = srv.upload(Some(&meta), Some(small_ticket(77, 2))).await.json();
        let html = t["description_html"].as_str().unwrap();
        assert!(html.contains("<strong>IMP</strong>") && !html.contains("<script"), "{html}");
    }
}
