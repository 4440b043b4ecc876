//! Downloading: exact bytes, ranges, conditional requests, the download counter.

use crate::common::{Response, TestServer, conformance, metadata, sha256_hex, small_ticket};

async fn fetch(srv: &TestServer, id: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = srv.client.get(srv.api(&format!("/tickets/{id}/file")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Response::read(req.send().await.unwrap()).await
}

async fn downloads(srv: &TestServer, id: &str) -> u64 {
    srv.get(&format!("/tickets/{id}")).await.json()["downloads"]
        .as_u64()
        .unwrap()
}

conformance! {
    async fn download_returns_the_exact_bytes_with_headers(srv) {
        let file = small_ticket(11, 3);
        let id = srv.upload(Some(&metadata("exact")), Some(file.clone())).await.json()["id"].as_str().unwrap().to_owned();
        let r = fetch(&srv, &id, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, file);
        let etag = format!("\"{}\"", sha256_hex(&file));
        assert_eq!(r.header("etag"), etag);
        assert_eq!(r.header("content-type"), "application/octet-stream");
        assert_eq!(r.header("content-length"), file.len().to_string());
        assert_eq!(r.header("content-disposition"), "attachment; filename=\"exact.safetensors\"");
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        assert_eq!(r.header("accept-ranges"), "bytes");
        assert_eq!(downloads(&srv, &id).await, 1);

        // HEAD: same headers, no body, not counted.
        let h = Response::read(srv.client.head(srv.api(&format!("/tickets/{id}/file"))).send().await.unwrap()).await;
        assert_eq!((h.status, h.body.len()), (200, 0));
        assert_eq!(h.header("content-length"), file.len().to_string());
        assert_eq!(h.header("etag"), etag);
        assert_eq!(downloads(&srv, &id).await, 1);

        // If-None-Match with our ETag: 304, not counted.
        let r = fetch(&srv, &id, &[("if-none-match", &etag)]).await;
        assert_eq!((r.status, r.body.len()), (304, 0));
        assert_eq!(downloads(&srv, &id).await, 1);

        fetch(&srv, "missing", &[]).await.assert_error(404, "not_found", None);
    }

    async fn ranges_resume_and_are_counted_only_when_the_last_byte_goes_out(srv) {
        let file = small_ticket(12, 5);
        let n = file.len();
        let id = srv.upload(Some(&metadata("ranged")), Some(file.clone())).await.json()["id"].as_str().unwrap().to_owned();
        let etag = format!("\"{}\"", sha256_hex(&file));

        let head = fetch(&srv, &id, &[("range", "bytes=0-99")]).await;
        assert_eq!(head.status, 206);
        assert_eq!(head.body, &file[..100]);
        assert_eq!(head.header("content-range"), format!("bytes 0-99/{n}"));
        assert_eq!(downloads(&srv, &id).await, 0, "the start of a file is not a download");

        let rest = fetch(&srv, &id, &[("range", "bytes=100-"), ("if-range", &etag)]).await;
        assert_eq!(rest.status, 206);
        assert_eq!(rest.body, &file[100..]);
        assert_eq!(downloads(&srv, &id).await, 1, "the range that completes a resumed download is");

        let tail = fetch(&srv, &id, &[("range", "bytes=-10")]).await;
        assert_eq!(tail.body, &file[n - 10..]);

        // A stale If-Range gets the whole file.
        let stale = fetch(&srv, &id, &[("range", "bytes=100-"), ("if-range", "\"0000\"")]).await;
        assert_eq!((stale.status, stale.body.len()), (200, n));

        let bad = fetch(&srv, &id, &[("range", &format!("bytes={n}-"))]).await;
        bad.assert_error(416, "range_not_satisfiable", None);
        assert_eq!(bad.header("content-range"), format!("bytes */{n}"));
    }
}
