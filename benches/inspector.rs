//! The streaming inspector's throughput beside sha256 of the same bytes (the pipeline runs
//! both over every upload), and the multipart reader's (every upload body goes through it).
//! Run: `cargo bench --bench inspector`.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use ticketbooth::domain::inspector::Inspector;
use ticketbooth::ingest::multipart::{Multipart, PartLimits};

/// A 64 MiB ticket: one F32 weight with every other entry pruned, and a bias.
fn ticket() -> Vec<u8> {
    let rows = 4096usize;
    let cols = 4096usize;
    let header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{rows},{cols}],"data_offsets":[0,{}]}},"b":{{"dtype":"F32","shape":[{rows}],"data_offsets":[{},{}]}}}}"#,
        rows * cols * 4,
        rows * cols * 4,
        rows * cols * 4 + rows * 4
    );
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    for i in 0..rows * cols + rows {
        let x: f32 = if i % 2 == 0 { 0.0 } else { i as f32 };
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn bench(c: &mut Criterion) {
    let bytes = ticket();
    let mut group = c.benchmark_group("inspect-64MiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    // Chunks of 64 KiB are about what a multipart body stream yields.
    group.bench_with_input(
        BenchmarkId::new("inspector", "64KiB-chunks"),
        &bytes,
        |b, bytes| {
            b.iter(|| {
                let mut inspector = Inspector::default();
                for chunk in bytes.chunks(64 << 10) {
                    inspector.feed(chunk).unwrap();
                }
                inspector.finish().unwrap()
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("sha256", "64KiB-chunks"),
        &bytes,
        |b, bytes| {
            b.iter(|| {
                let mut h = Sha256::new();
                for chunk in bytes.chunks(64 << 10) {
                    h.update(chunk);
                }
                h.finalize()
            })
        },
    );
    // The whole body as the multipart reader sees it: one file part around the ticket, in the
    // request's chunks; the reader hands the file on as slices of them.
    let mut body =
        b"--XyZboundary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".to_vec();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(b"\r\n--XyZboundary--\r\n");
    let body = Bytes::from(body);
    let chunks: Vec<Bytes> = (0..body.len())
        .step_by(64 << 10)
        .map(|at| body.slice(at..body.len().min(at + (64 << 10))))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    group.bench_with_input(
        BenchmarkId::new("multipart", "64KiB-chunks"),
        &chunks,
        |b, chunks| {
            b.iter(|| {
                runtime.block_on(async {
                    // The reader owns its body (a 'static stream): clones of the chunks,
                    // each a reference count.
                    let stream = futures_util::stream::iter(
                        chunks.clone().into_iter().map(Ok::<_, std::io::Error>),
                    );
                    let limits = PartLimits {
                        body: u64::MAX,
                        parts: vec![("file", u64::MAX)],
                    };
                    let mut reader = Multipart::new(stream, "XyZboundary", limits);
                    reader.next_part().await.unwrap().unwrap();
                    let mut n = 0;
                    while let Some(piece) = reader.chunk().await.unwrap() {
                        n += piece.len();
                    }
                    assert!(reader.next_part().await.unwrap().is_none());
                    n
                })
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
