use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const B: &str = "XyZ";

fn limits() -> PartLimits {
    PartLimits {
        body: u64::MAX,
        parts: vec![("metadata", 1 << 20), ("file", 1 << 30), ("a", 1 << 20)],
    }
}

/// A well-formed body: each part with the given header lines.
fn body(parts: &[(&str, &[u8])], preamble: &[u8]) -> Vec<u8> {
    let mut out = preamble.to_vec();
    for (headers, data) in parts {
        out.extend_from_slice(format!("--{B}\r\n{headers}\r\n\r\n").as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    out
}

fn named(name: &str) -> String {
    format!("Content-Disposition: form-data; name=\"{name}\"")
}

fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    cuts.sort();
    let mut out = Vec::new();
    let mut at = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        out.push(Bytes::copy_from_slice(&bytes[at..cut]));
        at = cut;
    }
    out
}

fn reader(chunks: Vec<Bytes>, limits: PartLimits) -> Multipart {
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    Multipart::new(stream, B, limits)
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

type Parts = Vec<(Option<String>, Vec<u8>)>;

async fn read_all(mut reader: Multipart) -> Result<Parts, MultipartError> {
    let mut out = Vec::new();
    while let Some(part) = reader.next_part().await? {
        out.push((part.name, reader.bytes().await?.to_vec()));
    }
    Ok(out)
}

fn parse(bytes: &[u8], cuts: &[usize], limits: PartLimits) -> Result<Parts, MultipartError> {
    run(read_all(reader(chunks(bytes, cuts), limits)))
}

/// multer's reading of the same chunks, as the reference.
fn multer_parse(bytes: &[u8], cuts: &[usize]) -> Parts {
    let stream =
        futures_util::stream::iter(chunks(bytes, cuts).into_iter().map(Ok::<_, std::io::Error>));
    run(async {
        let mut m = multer::Multipart::new(stream, B);
        let mut out = Vec::new();
        while let Some(field) = m.next_field().await.unwrap() {
            let name = field.name().map(str::to_owned);
            out.push((name, field.bytes().await.unwrap().to_vec()));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Any body in any chunking reads as the parts it was made of, as multer reads it.
    #[test]
    fn any_chunking_reads_the_parts_multer_reads(
        datas in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'X'), Just(b'y'), Just(b'Z'), any::<u8>()],
                0..600,
            ),
            1..4,
        ),
        preamble in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), any::<u8>()], 0..40),
        cuts in prop::collection::vec(0usize..3000, 0..16),
    ) {
        let delimiter = format!("\r\n--{B}");
        let in_data = |d: &[u8]| memchr::memmem::find(d, delimiter.as_bytes()).is_some()
            || d.starts_with(&delimiter.as_bytes()[2..]);
        prop_assume!(datas.iter().all(|d| !in_data(d)));
        prop_assume!(memchr::memmem::find(&preamble, format!("--{B}").as_bytes()).is_none()
            && !preamble.ends_with(b"-"));
        let names = ["metadata", "file", "a"];
        let headers: Vec<String> = (0..datas.len()).map(|i| named(names[i])).collect();
        let parts: Vec<(&str, &[u8])> = headers.iter().map(String::as_str).zip(datas.iter().map(Vec::as_slice)).collect();
        let bytes = body(&parts, &preamble);
        let expected: Parts = (0..datas.len()).map(|i| (Some(names[i].to_owned()), datas[i].clone())).collect();
        prop_assert_eq!(&parse(&bytes, &cuts, limits()).unwrap(), &expected);
        prop_assert_eq!(&multer_parse(&bytes, &cuts), &expected);
    }

    /// Framing of any length, in any chunking: refused past the bound, read within it.
    #[test]
    fn framing_is_bounded_in_any_chunking(
        framing in (MAX_FRAMING_BYTES - 80)..(MAX_FRAMING_BYTES + 80),
        cuts in prop::collection::vec(0usize..70_000, 0..8),
    ) {
        // The part header stretch: the CRLF after the boundary, the headers and the blank line.
        let header = format!("{}\r\nX: {}", named("a"), "h".repeat(framing - 4 - named("a").len() - 2 - 3 - 2));
        let bytes = body(&[(&header, b"data")], b"");
        let got = parse(&bytes, &cuts, limits());
        if framing <= MAX_FRAMING_BYTES {
            prop_assert_eq!(got.unwrap(), vec![(Some("a".to_owned()), b"data".to_vec())]);
        } else {
            prop_assert!(matches!(got, Err(MultipartError::FramingTooLong(FramingTooLong("part header")))), "{got:?}");
        }
    }
}

#[test]
fn a_file_part_is_handed_on_without_copying() {
    let data: Vec<u8> = (0..(4 << 20)).map(|i| (i % 251) as u8).collect();
    let bytes = body(&[(&named("metadata"), b"{}"), (&named("file"), &data)], b"");
    let input = chunks(
        &bytes,
        &(1..64).map(|i| i * (64 << 10) + 7).collect::<Vec<_>>(),
    );
    let ranges: Vec<std::ops::Range<usize>> = input
        .iter()
        .map(|c| c.as_ptr() as usize..c.as_ptr() as usize + c.len())
        .collect();
    let (read, in_place) = run(async {
        let mut reader = reader(input.clone(), limits());
        reader.next_part().await.unwrap();
        reader.bytes().await.unwrap();
        assert_eq!(
            reader.next_part().await.unwrap().unwrap().name.as_deref(),
            Some("file")
        );
        let (mut read, mut in_place) = (Vec::new(), 0);
        while let Some(piece) = reader.chunk().await.unwrap() {
            let at = piece.as_ptr() as usize;
            if ranges
                .iter()
                .any(|r| r.contains(&at) && at + piece.len() <= r.end)
            {
                in_place += piece.len();
            }
            read.extend_from_slice(&piece);
        }
        assert!(reader.next_part().await.unwrap().is_none());
        (read, in_place)
    });
    assert_eq!(read, data);
    // Only the framing's chunk is copied (through the header buffer, at most 64 KiB).
    assert!(
        in_place >= data.len() - (64 << 10),
        "{in_place} of {}",
        data.len()
    );
}

#[test]
fn a_long_preamble_or_headers_that_never_end_are_refused_with_bounded_memory() {
    let preamble = vec![b'p'; MAX_FRAMING_BYTES + 1];
    let got = parse(&body(&[(&named("a"), b"1")], &preamble), &[], limits());
    assert!(matches!(
        got,
        Err(MultipartError::FramingTooLong(FramingTooLong("preamble")))
    ));
    // Header lines chunk after chunk: refused at the bound, holding at most the bound.
    let mut input = vec![Bytes::from(format!("--{B}\r\nX: "))];
    input.extend((0..1000).map(|_| Bytes::from(vec![b'h'; 4096])));
    let got = run(async {
        let mut r = reader(input, limits());
        let got = r.next_part().await;
        assert!(
            r.head.capacity() <= 2 * (MAX_FRAMING_BYTES + 1),
            "{}",
            r.head.capacity()
        );
        got
    });
    assert!(
        matches!(
            got,
            Err(MultipartError::FramingTooLong(FramingTooLong(
                "part header"
            )))
        ),
        "{got:?}"
    );
}

#[test]
fn limits_on_the_body_and_each_part_name_what_was_too_large() {
    let small = PartLimits {
        body: 10_000,
        parts: vec![("metadata", 10), ("file", 5000)],
    };
    let over = parse(
        &body(&[(&named("metadata"), b"12345678901")], b""),
        &[],
        small.clone(),
    );
    assert!(
        matches!(over, Err(MultipartError::PartTooLarge { ref name, limit: 10 }) if name == "metadata"),
        "{over:?}"
    );
    let exact = parse(
        &body(&[(&named("metadata"), b"1234567890")], b""),
        &[3, 50],
        small.clone(),
    );
    assert_eq!(exact.unwrap()[0].1, b"1234567890");
    let big = vec![0u8; 6000];
    let over = parse(
        &body(&[(&named("file"), &big)], b""),
        &[100, 4000],
        small.clone(),
    );
    assert!(
        matches!(over, Err(MultipartError::PartTooLarge { ref name, limit: 5000 }) if name == "file"),
        "{over:?}"
    );
    let huge = vec![0u8; 20_000];
    let over = parse(
        &body(&[(&named("file"), &huge)], b""),
        &[100, 4000],
        small.clone(),
    );
    assert!(
        matches!(over, Err(MultipartError::BodyTooLarge { limit: 10_000 })),
        "{over:?}"
    );
    let unknown = parse(&body(&[(&named("weights"), b"1")], b""), &[], small.clone());
    let message = unknown.unwrap_err().to_string();
    assert_eq!(
        message,
        "unexpected part 'weights' (expected 'metadata' and 'file')"
    );
}

#[test]
fn cut_bodies_are_incomplete_wherever_they_stop() {
    let bytes = body(
        &[(&named("metadata"), b"{}"), (&named("file"), &[7u8; 300])],
        b"pre",
    );
    for len in [0, 2, 8, 20, 60, 80, 200, bytes.len() - 9, bytes.len() - 3] {
        let got = parse(&bytes[..len], &[len / 2], limits());
        assert!(
            matches!(got, Err(MultipartError::Incomplete)),
            "{len}: {got:?}"
        );
    }
    // Without the trailing CRLF after the closing boundary the body is whole.
    assert_eq!(
        parse(&bytes[..bytes.len() - 2], &[], limits())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn read_errors_pass_through() {
    let stream = futures_util::stream::iter(vec![
        Ok(Bytes::from(format!("--{B}\r\n{}\r\n\r\nab", named("a")))),
        Err(std::io::Error::other("gone")),
    ]);
    let got = run(read_all(Multipart::new(stream, B, limits())));
    assert!(
        matches!(got, Err(MultipartError::Read(ref e)) if e.to_string() == "gone"),
        "{got:?}"
    );
}

#[test]
fn part_headers_are_parsed_and_checked() {
    let cases: Vec<(String, Result<Option<&str>, &str>)> = vec![
        (named("a"), Ok(Some("a"))),
        (
            "content-disposition: FORM-DATA; name=a".into(),
            Ok(Some("a")),
        ),
        (
            "Content-Disposition: form-data; filename=\"x;name=\\\"b\\\".st\"; name=\"a\"".into(),
            Ok(Some("a")),
        ),
        (
            "Content-Disposition: form-data; name*=utf-8''b; name=\"a\"".into(),
            Ok(Some("a")),
        ),
        (
            "Content-Disposition: form-data; name=\"a\\\"q\"".into(),
            Ok(Some("a\"q")),
        ),
        ("Content-Type: text/plain".into(), Ok(None)),
        ("Content-Disposition: form-data".into(), Ok(None)),
        (
            "Content-Disposition: attachment; name=\"a\"".into(),
            Err("not form-data"),
        ),
        (
            "Content-Disposition: form-data; name=\"a".into(),
            Err("does not end"),
        ),
        (
            "Content-Disposition: form-data; name".into(),
            Err("no value"),
        ),
        ("No colon here".into(), Err("headers")),
        (
            (0..17)
                .map(|i| format!("X-{i}: v"))
                .collect::<Vec<_>>()
                .join("\r\n"),
            Err("more than 16 headers"),
        ),
    ];
    for (headers, want) in cases {
        let bytes = body(&[(&headers, b"1")], b"");
        let got = run(async {
            let mut r = reader(
                vec![Bytes::from(bytes)],
                PartLimits {
                    body: 1 << 20,
                    parts: vec![("a", 10), ("a\"q", 10)],
                },
            );
            r.next_part().await.map(|p| p.unwrap().name)
        });
        match (got, want) {
            (Ok(name), Ok(want)) => assert_eq!(name.as_deref(), want, "{headers}"),
            (Err(MultipartError::Malformed(m)), Err(words)) => {
                assert!(m.contains(words), "{headers}: {m}")
            }
            (got, want) => panic!("{headers}: got {got:?}, want {want:?}"),
        }
    }
    // Padding after a boundary is allowed; anything else is not.
    let padded = format!("--{B} \t\r\n{}\r\n\r\n1\r\n--{B}--", named("a"));
    assert_eq!(parse(padded.as_bytes(), &[], limits()).unwrap()[0].1, b"1");
    let junk = format!("--{B}junk\r\n{}\r\n\r\n1\r\n--{B}--", named("a"));
    assert!(matches!(
        parse(junk.as_bytes(), &[], limits()),
        Err(MultipartError::Malformed(_))
    ));
    // A part with no headers at all has no name (and, with no limit, no bytes).
    let bare = format!("--{B}\r\n\r\n\r\n--{B}--");
    assert_eq!(
        parse(bare.as_bytes(), &[], limits()).unwrap(),
        vec![(None, vec![])]
    );
}

#[test]
fn only_multipart_form_data_with_a_valid_boundary_is_read() {
    assert_eq!(
        boundary("multipart/form-data; boundary=XyZ").as_deref(),
        Some("XyZ")
    );
    assert_eq!(
        boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b'()+_,-./:=?\"").as_deref(),
        Some("a b'()+_,-./:=?")
    );
    let curl = "multipart/form-data; boundary=------------------------d74496d66958873e";
    assert_eq!(
        boundary(curl).as_deref(),
        Some("------------------------d74496d66958873e")
    );
    for bad in [
        "application/json",
        "multipart/form-data",
        "multipart/mixed; boundary=x",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"x",
        "multipart/form-data; boundary=a{b",
        "multipart/form-data; boundary=\"ends in space \"",
    ] {
        assert_eq!(boundary(bad), None, "{bad}");
    }
    let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
    assert_eq!(boundary(&long), None);
    assert!(boundary(&long.replace(&"b".repeat(71), &"b".repeat(70))).is_some());
}
