use super::*;

const TAG: &str = "\"abc\"";

fn request(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

fn names(headers: &HeaderMap) -> Vec<&str> {
    headers.keys().map(|k| k.as_str()).collect()
}

#[test]
fn ranges_follow_the_rfc() {
    use RangeRequest::*;
    assert_eq!(
        resolve_range("bytes=0-9", 100),
        Partial { start: 0, end: 9 }
    );
    assert_eq!(
        resolve_range("bytes=90-", 100),
        Partial { start: 90, end: 99 }
    );
    assert_eq!(
        resolve_range("bytes=90-200", 100),
        Partial { start: 90, end: 99 }
    );
    assert_eq!(
        resolve_range("bytes=-10", 100),
        Partial { start: 90, end: 99 }
    );
    assert_eq!(
        resolve_range("bytes=-1000", 100),
        Partial { start: 0, end: 99 }
    );
    assert_eq!(resolve_range("bytes=100-", 100), Unsatisfiable);
    assert_eq!(resolve_range("bytes=0-1,5-6", 100), Full);
    assert_eq!(resolve_range("items=0-1", 100), Full);
    assert_eq!(resolve_range("bytes=abc", 100), Full);
}

#[test]
fn a_plain_request_sends_the_whole_file_with_its_headers() {
    let DownloadPlan::Send(Transfer {
        status,
        start,
        end,
        headers,
    }) = plan(100, TAG, "lenet", &HeaderMap::new()).unwrap()
    else {
        panic!("expected Send");
    };
    assert_eq!((status, start, end), (StatusCode::OK, 0, 99));
    assert_eq!(
        names(&headers),
        [
            "etag",
            "accept-ranges",
            "cache-control",
            "content-length",
            "content-type",
            "content-disposition"
        ]
    );
    assert_eq!(headers[ETAG], TAG);
    assert_eq!(headers[CONTENT_LENGTH], "100");
    assert_eq!(headers[CACHE_CONTROL], "public, max-age=3600");
    assert_eq!(
        headers[CONTENT_DISPOSITION],
        "attachment; filename=\"lenet.safetensors\""
    );
}

#[test]
fn a_range_is_a_206_with_its_content_range() {
    let DownloadPlan::Send(Transfer {
        status,
        start,
        end,
        headers,
    }) = plan(100, TAG, "t", &request(&[("range", "bytes=10-19")])).unwrap()
    else {
        panic!("expected Send");
    };
    assert_eq!((status, start, end), (StatusCode::PARTIAL_CONTENT, 10, 19));
    assert_eq!(headers[CONTENT_RANGE], "bytes 10-19/100");
    assert_eq!(headers[CONTENT_LENGTH], "10");
}

#[test]
fn a_matching_if_none_match_is_not_modified_and_wins_over_range() {
    for value in ["\"abc\"", "W/\"abc\"", "*", "\"other\", \"abc\""] {
        let got = plan(
            100,
            TAG,
            "t",
            &request(&[("if-none-match", value), ("range", "bytes=500-")]),
        );
        let Ok(DownloadPlan::NotModified(headers)) = got else {
            panic!("{value}: expected NotModified, got {got:?}");
        };
        assert_eq!(names(&headers), ["etag", "accept-ranges", "cache-control"]);
    }
    let other = plan(100, TAG, "t", &request(&[("if-none-match", "\"other\"")])).unwrap();
    assert!(matches!(
        other,
        DownloadPlan::Send(Transfer {
            status: StatusCode::OK,
            ..
        })
    ));
}

#[test]
fn a_range_past_the_end_is_unsatisfiable() {
    let got = plan(100, TAG, "t", &request(&[("range", "bytes=100-")])).unwrap();
    let DownloadPlan::Unsatisfiable(headers) = got else {
        panic!("expected Unsatisfiable, got {got:?}");
    };
    assert_eq!(headers[CONTENT_RANGE], "bytes */100");
    assert_eq!(headers[ETAG], TAG);
}

#[test]
fn a_stale_if_range_sends_the_whole_file() {
    let stale = request(&[("range", "bytes=10-19"), ("if-range", "\"old\"")]);
    let got = plan(100, TAG, "t", &stale).unwrap();
    assert!(matches!(
        got,
        DownloadPlan::Send(Transfer {
            status: StatusCode::OK,
            start: 0,
            end: 99,
            ..
        })
    ));
    let current = request(&[("range", "bytes=10-19"), ("if-range", " \"abc\" ")]);
    let got = plan(100, TAG, "t", &current).unwrap();
    assert!(matches!(
        got,
        DownloadPlan::Send(Transfer {
            status: StatusCode::PARTIAL_CONTENT,
            start: 10,
            end: 19,
            ..
        })
    ));
    // A stale If-Range also disarms a range that could not be satisfied.
    let past = request(&[("range", "bytes=500-"), ("if-range", "\"old\"")]);
    assert!(matches!(
        plan(100, TAG, "t", &past).unwrap(),
        DownloadPlan::Send(Transfer { .. })
    ));
}

#[test]
fn a_redirect_is_never_cached_and_keeps_the_etag() {
    let headers = redirect_headers("https://s3.example/x?sig=1", TAG).unwrap();
    assert_eq!(names(&headers), ["location", "cache-control", "etag"]);
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert!(redirect_headers("bad\nurl", TAG).is_err());
}

#[test]
fn only_a_transfer_to_the_last_byte_completes_a_download() {
    let send = |range: &str| match plan(100, TAG, "t", &request(&[("range", range)])).unwrap() {
        DownloadPlan::Send(transfer) => transfer,
        other => panic!("{range}: expected Send, got {other:?}"),
    };
    assert!(send("bytes=0-").reaches_end(100));
    assert!(send("bytes=90-99").reaches_end(100));
    assert!(!send("bytes=0-0").reaches_end(100));
    assert_eq!(send("bytes=0-0").length(), 1);
    assert_eq!(send("bytes=-10").length(), 10);
}
