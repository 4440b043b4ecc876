//! The open-data dump: the whole public index (tickets with their evidence, results; lineage
//! is each ticket's `parent_id`) as gzipped JSON lines, written to the blob store as one
//! snapshot and served by `GET /api/v1/dump`. Built from keyset pages of a few hundred rows, so
//! no statement runs long and memory holds one page and one compressed chunk at a time. Never
//! tokens, users' private data, or anything the API does not already show.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use serde_json::json;

use crate::blobs::{BlobStore, BlobWriter};
use crate::index::{DumpRecord, DynIndex};

/// Rows read per statement.
const PAGE: u32 = 500;
/// Compressed bytes gathered before they are handed to the blob writer.
const CHUNK: usize = 1 << 20;
/// The format's version, in the `meta` line.
pub const FORMAT_VERSION: u32 = 1;

/// The gzip stream, sent to the blob store (which hashes it) a chunk at a time.
struct Sink {
    gz: GzEncoder<Vec<u8>>,
    writer: BlobWriter,
    size: u64,
}

impl Sink {
    async fn line(&mut self, record: &impl Serialize) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.gz, record)?;
        self.gz.write_all(b"\n")?;
        if self.gz.get_ref().len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let chunk = std::mem::take(self.gz.get_mut());
        self.size += chunk.len() as u64;
        self.writer.write(Bytes::from(chunk)).await?;
        Ok(())
    }
}

/// A line: its `type` first, then the record's own fields.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    r#type: &'static str,
    #[serde(flatten)]
    record: &'a T,
}

/// Writes a new snapshot, records it as the latest, and deletes the snapshots before the one
/// it replaces. A failure leaves the previous snapshot in place and no object behind.
pub async fn refresh(index: &DynIndex, blobs: &BlobStore) -> anyhow::Result<DumpRecord> {
    let started = Utc::now();
    let mut sink = Sink {
        gz: GzEncoder::new(Vec::with_capacity(CHUNK * 2), Compression::default()),
        writer: blobs.begin().await?,
        size: 0,
    };
    let meta = json!({
        "format": "ticketbooth-dump",
        "version": FORMAT_VERSION,
        "started_at": started,
        "order": ["meta", "ticket", "result"],
    });
    sink.line(&Line {
        r#type: "meta",
        record: &meta,
    })
    .await?;
    let (mut tickets, mut after) = (0u64, 0i64);
    loop {
        let page = index.tickets_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for ticket in &page {
            sink.line(&Line {
                r#type: "ticket",
                record: ticket,
            })
            .await?;
        }
        tickets += page.len() as u64;
    }
    let (mut results, mut after) = (0u64, 0i64);
    loop {
        let page = index.results_after(after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, result) in &page {
            sink.line(&Line {
                r#type: "result",
                record: result,
            })
            .await?;
        }
        results += page.len() as u64;
    }
    let Sink {
        gz,
        mut writer,
        size,
    } = sink;
    let tail = gz.finish()?;
    let size = size + tail.len() as u64;
    writer.write(Bytes::from(tail)).await?;
    let written = writer.finish().await?;
    let record = DumpRecord {
        object_key: written.key().to_owned(),
        sha256: written.sha256().to_owned(),
        size_bytes: size,
        tickets,
        results,
        created_at: started,
    };
    // Recorded first, kept after: a crash in between leaves an object `gc` keeps (it is
    // referenced), never a row pointing at nothing.
    let stale = index.record_dump(&record).await?;
    written.keep();
    for key in stale {
        if let Err(e) = blobs.delete(&key).await {
            tracing::warn!(error = %e, key = %key, "could not delete an old dump snapshot; gc will");
        }
    }
    Ok(record)
}

/// Refreshes the dump every `every`, the first time at once, for as long as the server runs.
/// A failure is logged and retried at the next tick.
pub fn spawn_schedule(index: DynIndex, blobs: BlobStore, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match refresh(&index, &blobs).await {
                Ok(d) => tracing::info!(
                    tickets = d.tickets,
                    results = d.results,
                    bytes = d.size_bytes,
                    "dump refreshed"
                ),
                Err(e) => tracing::warn!(error = %e, "dump refresh failed"),
            }
        }
    });
}
