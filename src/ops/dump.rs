//! The open-data dump: the whole public index (tickets with their evidence, results; lineage
//! is each ticket's `parent_id`) as gzipped JSON lines, written to the blob store as one
//! snapshot and served by `GET /api/v1/dump`. Built from keyset pages of a few hundred rows, so
//! no statement runs long and memory holds one page and one compressed chunk at a time. Never
//! tokens, users' private data, or anything the API does not already show.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
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
    /// Out only while a page is being encoded.
    gz: Option<GzEncoder<Vec<u8>>>,
    writer: BlobWriter,
    size: u64,
}

impl Sink {
    /// Encodes a page of records as lines of `kind`. JSON and gzip are CPU work (13% of all
    /// CPU for the first minute at 100k tickets when they ran on the async workers), so they
    /// run on a blocking thread, a page at a time.
    async fn page<T>(&mut self, kind: &'static str, records: Vec<T>) -> anyhow::Result<()>
    where
        T: Serialize + Send + 'static,
    {
        let mut gz = self
            .gz
            .take()
            .context("dump encoder lost to an earlier failure")?;
        let gz = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            for record in &records {
                serde_json::to_writer(
                    &mut gz,
                    &Line {
                        r#type: kind,
                        record,
                    },
                )?;
                gz.write_all(b"\n")?;
            }
            Ok(gz)
        })
        .await??;
        let full = gz.get_ref().len() >= CHUNK;
        self.gz = Some(gz);
        if full {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let gz = self
            .gz
            .as_mut()
            .context("dump encoder lost to an earlier failure")?;
        let chunk = std::mem::take(gz.get_mut());
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
        gz: Some(GzEncoder::new(
            Vec::with_capacity(CHUNK * 2),
            Compression::default(),
        )),
        writer: blobs.begin().await?,
        size: 0,
    };
    let meta = json!({
        "format": "ticketbooth-dump",
        "version": FORMAT_VERSION,
        "started_at": started,
        "order": ["meta", "ticket", "result"],
    });
    sink.page("meta", vec![meta]).await?;
    let (mut tickets, mut after) = (0u64, 0i64);
    loop {
        let page = index.tickets_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        tickets += page.len() as u64;
        sink.page("ticket", page).await?;
    }
    let (mut results, mut after) = (0u64, 0i64);
    loop {
        let page = index.results_after(after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        results += page.len() as u64;
        let page: Vec<_> = page.into_iter().map(|(_, result)| result).collect();
        sink.page("result", page).await?;
    }
    let Sink {
        gz,
        mut writer,
        size,
    } = sink;
    let gz = gz.context("dump encoder lost to an earlier failure")?;
    let tail = tokio::task::spawn_blocking(move || gz.finish()).await??;
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
