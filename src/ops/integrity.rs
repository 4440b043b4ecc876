//! The integrity check: find objects no ticket references (crash leftovers) and remove them
//! once they are old enough (`gc`, and a sweep at server start-up), and re-hash every blob
//! against the index (`verify`).
//!
//! Why a sweep never removes an object an upload still needs:
//! - Every upload writes to a fresh key, and the index row naming that key commits only after
//!   the object is complete (see `crate::blobs`). Until the commit, the key is in this
//!   process's in-flight set ([`BlobStore::in_flight`]).
//! - Per page, the sweep lists objects first, then snapshots the in-flight set, then asks the
//!   index which listed keys are referenced. A listed object was begun before the snapshot, so
//!   if it is not in the snapshot its upload here has ended: committed (the row committed
//!   before the key left the set, so the index query sees it) or abandoned (garbage).
//! - Uploads on other replicas are invisible to that set; the grace period covers them: an
//!   object is only removed once its last-modified time is older than the grace period, which
//!   must exceed the longest upload (on S3 a multipart object's time is when it was begun).

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::blobs::{BlobStore, StoredObject};
use crate::index::{Index, StoredBlob};

/// A grace period shorter than this risks removing another replica's upload in progress.
pub const SAFE_GRACE: Duration = Duration::from_secs(10 * 60);
/// Objects classified per index query.
const PAGE: usize = 500;
/// Blobs re-hashed at once by `verify`.
const HASH_CONCURRENCY: usize = 4;

/// What the sweep makes of one listed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A blob row names it: a ticket's bytes.
    Referenced,
    /// This process is writing it, or has not yet committed its row.
    InFlight,
    /// Unreferenced but younger than the grace period: perhaps another replica's upload.
    InGrace,
    /// A complete object no row references, past the grace period: remove it.
    Orphan,
    /// A multipart staging file past the grace period and not in flight: remove it.
    StaleStaging,
}

impl Verdict {
    pub fn removable(self) -> bool {
        matches!(self, Verdict::Orphan | Verdict::StaleStaging)
    }
}

/// Classifies one object. `referenced` and `in_flight` hold object keys; a staging file
/// counts as in flight when its upload's key is. An object dated in the future (clock skew
/// between replicas) is in grace.
pub fn classify(
    object: &StoredObject,
    referenced: &HashSet<String>,
    in_flight: &HashSet<String>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Verdict {
    if !object.staging && referenced.contains(&object.key) {
        return Verdict::Referenced;
    }
    if in_flight.contains(object.upload_key()) {
        return Verdict::InFlight;
    }
    let old_enough = (now - object.last_modified)
        .to_std()
        .is_ok_and(|age| age >= grace);
    match (old_enough, object.staging) {
        (false, _) => Verdict::InGrace,
        (true, false) => Verdict::Orphan,
        (true, true) => Verdict::StaleStaging,
    }
}

/// The outcome of a sweep (or of its dry run).
#[derive(Debug, Default)]
pub struct Sweep {
    pub referenced: u64,
    pub in_flight: u64,
    pub in_grace: u64,
    /// Removable objects (removed unless it was a dry run).
    pub removable: Vec<StoredObject>,
}

impl Sweep {
    pub fn removable_bytes(&self) -> u64 {
        self.removable.iter().map(|o| o.size).sum()
    }
}

/// Lists every upload object and classifies it; removes the removable ones unless `dry_run`.
pub async fn sweep(
    index: &dyn Index,
    blobs: &BlobStore,
    grace: Duration,
    dry_run: bool,
) -> anyhow::Result<Sweep> {
    let mut out = Sweep::default();
    let mut pages = blobs.list_objects().try_chunks(PAGE);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| e.1)?;
        // Order matters (module doc): listed, then the in-flight snapshot, then the index.
        let in_flight = blobs.in_flight();
        let keys: Vec<String> = page
            .iter()
            .filter(|o| !o.staging)
            .map(|o| o.key.clone())
            .collect();
        let referenced = index.referenced_objects(&keys).await?;
        let now = Utc::now();
        for object in page {
            match classify(&object, &referenced, &in_flight, now, grace) {
                Verdict::Referenced => out.referenced += 1,
                Verdict::InFlight => out.in_flight += 1,
                Verdict::InGrace => out.in_grace += 1,
                Verdict::Orphan | Verdict::StaleStaging => {
                    if !dry_run {
                        blobs.remove(&object).await?;
                    }
                    out.removable.push(object);
                }
            }
        }
    }
    Ok(out)
}

/// The start-up sweep: in the background, so it never delays readiness; failures are logged.
pub fn spawn_startup_sweep(index: crate::index::DynIndex, blobs: BlobStore, grace: Duration) {
    tokio::spawn(async move {
        match sweep(index.as_ref(), &blobs, grace, false).await {
            Ok(s) => tracing::info!(
                removed = s.removable.len(),
                removed_bytes = s.removable_bytes(),
                referenced = s.referenced,
                in_grace = s.in_grace,
                "start-up sweep of unreferenced objects done"
            ),
            Err(e) => tracing::warn!(error = %e, "start-up sweep of unreferenced objects failed"),
        }
    });
}

/// What `verify` found wrong with one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Missing,
    Mismatch { sha256: String, size_bytes: u64 },
}

#[derive(Debug)]
pub struct Problem {
    pub blob: StoredBlob,
    pub fault: Fault,
    /// The tickets affected, as `id (owner/name)`.
    pub tickets: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Verification {
    pub blobs: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
    /// Exactly what `gc` with the same grace period would remove now.
    pub orphans: Sweep,
}

impl Verification {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Re-hashes every blob the index names (streaming: sha256 and size), then lists orphans.
pub async fn verify(
    index: &dyn Index,
    blobs: &BlobStore,
    grace: Duration,
) -> anyhow::Result<Verification> {
    let mut out = Verification::default();
    let mut after: Option<String> = None;
    loop {
        let page = index.blobs_page(after.as_deref(), PAGE as u32).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.sha256.clone());
        let checked: Vec<(StoredBlob, Option<Fault>)> =
            futures_util::stream::iter(page.into_iter().map(|blob| async move {
                let fault = check(blobs, &blob).await?;
                anyhow::Ok((blob, fault))
            }))
            .buffered(HASH_CONCURRENCY)
            .try_collect()
            .await?;
        for (blob, fault) in checked {
            out.blobs += 1;
            out.bytes += blob.size_bytes;
            if let Some(fault) = fault {
                let tickets = index.blob_tickets(&blob.sha256).await?;
                out.problems.push(Problem {
                    blob,
                    fault,
                    tickets,
                });
            }
        }
    }
    out.orphans = sweep(index, blobs, grace, true).await?;
    Ok(out)
}

/// Streams one object through sha256; `None` when it matches its row.
async fn check(blobs: &BlobStore, blob: &StoredBlob) -> anyhow::Result<Option<Fault>> {
    let mut stream = match blobs.get(&blob.object_key, None).await {
        Ok(s) => s,
        Err(object_store::Error::NotFound { .. }) => return Ok(Some(Fault::Missing)),
        Err(e) => return Err(e.into()),
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let sha256 = hex::encode(hasher.finalize());
    Ok(
        (sha256 != blob.sha256 || size != blob.size_bytes).then_some(Fault::Mismatch {
            sha256,
            size_bytes: size,
        }),
    )
}

fn object_line(f: &mut fmt::Formatter<'_>, verb: &str, o: &StoredObject) -> fmt::Result {
    writeln!(
        f,
        "{verb} {}{} ({} bytes, modified {})",
        o.key,
        if o.staging { " [staging]" } else { "" },
        o.size,
        o.last_modified
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            let b = &p.blob;
            match &p.fault {
                Fault::Missing => write!(
                    f,
                    "missing  {} (sha256 {}, {} bytes)",
                    b.object_key, b.sha256, b.size_bytes
                )?,
                Fault::Mismatch { sha256, size_bytes } => write!(
                    f,
                    "mismatch {} (expected sha256 {}, {} bytes; found sha256 {}, {} bytes)",
                    b.object_key, b.sha256, b.size_bytes, sha256, size_bytes
                )?,
            }
            writeln!(f, "; tickets: {}", p.tickets.join(", "))?;
        }
        for o in &self.orphans.removable {
            object_line(f, "orphan  ", o)?;
        }
        let missing = self
            .problems
            .iter()
            .filter(|p| p.fault == Fault::Missing)
            .count();
        write!(
            f,
            "verified {} blobs ({} bytes): {} missing, {} mismatched; {} orphaned objects ({} bytes) that gc would remove",
            self.blobs,
            self.bytes,
            missing,
            self.problems.len() - missing,
            self.orphans.removable.len(),
            self.orphans.removable_bytes()
        )
    }
}

/// `gc`'s report; `dry_run` says whether anything was removed.
pub struct GcReport<'a> {
    pub sweep: &'a Sweep,
    pub dry_run: bool,
}

impl fmt::Display for GcReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for o in &self.sweep.removable {
            object_line(f, verb, o)?;
        }
        write!(
            f,
            "gc: {verb} {} objects ({} bytes); kept {} referenced, {} in grace, {} in flight",
            self.sweep.removable.len(),
            self.sweep.removable_bytes(),
            self.sweep.referenced,
            self.sweep.in_grace,
            self.sweep.in_flight
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn object(key: &str, age_secs: i64, staging: bool) -> StoredObject {
        StoredObject {
            key: key.to_owned(),
            size: 10,
            last_modified: now() - chrono::Duration::seconds(age_secs),
            staging,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
            .unwrap()
            .into()
    }

    fn set(keys: &[&str]) -> HashSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    /// The sweep itself, on a real local store and SQLite index: an upload in progress here is
    /// spared even with a zero grace period; once it has ended without a row, it is an orphan.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sweep_spares_uploads_in_flight() {
        let tmp = tempfile::tempdir().unwrap();
        let index = crate::index::open(&format!("sqlite://{}/i.db", tmp.path().display()))
            .await
            .unwrap();
        let blobs = BlobStore::from_url(&format!("file://{}/blobs", tmp.path().display())).unwrap();
        let mut writer = blobs.begin().await.unwrap();
        writer.write(vec![1u8; 100].into()).await.unwrap();
        let s = sweep(index.as_ref(), &blobs, Duration::ZERO, false)
            .await
            .unwrap();
        assert_eq!((s.in_flight, s.removable.len()), (1, 0), "mid-body: {s:?}");

        let written = writer.finish().await.unwrap();
        let s = sweep(index.as_ref(), &blobs, Duration::ZERO, false)
            .await
            .unwrap();
        assert_eq!(
            (s.in_flight, s.removable.len()),
            (1, 0),
            "complete, row not yet committed"
        );

        // As if its row had been lost: no longer in flight, referenced by nothing.
        let key = written.key().to_owned();
        written.keep();
        let s = sweep(index.as_ref(), &blobs, HOUR, true).await.unwrap();
        assert_eq!((s.in_grace, s.removable.len()), (1, 0), "young: {s:?}");
        let s = sweep(index.as_ref(), &blobs, Duration::ZERO, true)
            .await
            .unwrap();
        assert_eq!(s.removable.len(), 1, "a dry run lists it");
        assert_eq!(
            blobs.list().await.unwrap(),
            vec![key.clone()],
            "and keeps it"
        );
        let s = sweep(index.as_ref(), &blobs, Duration::ZERO, false)
            .await
            .unwrap();
        assert_eq!(s.removable[0].key, key);
        assert!(blobs.list().await.unwrap().is_empty());
    }

    #[test]
    fn classification() {
        let referenced = set(&["objects/a"]);
        let in_flight = set(&["objects/f"]);
        let c = |o: &StoredObject| classify(o, &referenced, &in_flight, now(), HOUR);
        // Referenced objects stay whatever their age.
        assert_eq!(c(&object("objects/a", 86_400, false)), Verdict::Referenced);
        // In flight here: kept even when old (a slow upload keeps its first part's time on S3).
        assert_eq!(c(&object("objects/f", 86_400, false)), Verdict::InFlight);
        assert_eq!(c(&object("objects/f#1", 86_400, true)), Verdict::InFlight);
        // Unreferenced: in grace until the grace period has passed, then removable.
        assert_eq!(c(&object("objects/o", 3599, false)), Verdict::InGrace);
        assert_eq!(c(&object("objects/o", 3600, false)), Verdict::Orphan);
        assert_eq!(c(&object("objects/o#1", 3599, true)), Verdict::InGrace);
        assert_eq!(
            c(&object("objects/o#12", 7200, true)),
            Verdict::StaleStaging
        );
        // A staging file is never "referenced", even when its final object is.
        assert_eq!(c(&object("objects/a#1", 7200, true)), Verdict::StaleStaging);
        // Dated in the future (replica clocks disagree): in grace.
        assert_eq!(c(&object("objects/o", -600, false)), Verdict::InGrace);
        // A zero grace period removes anything unreferenced and not in flight.
        let zero = |o: &StoredObject| classify(o, &referenced, &in_flight, now(), Duration::ZERO);
        assert_eq!(zero(&object("objects/o", 0, false)), Verdict::Orphan);
        assert_eq!(zero(&object("objects/f#1", 0, true)), Verdict::InFlight);
        assert!(Verdict::Orphan.removable() && Verdict::StaleStaging.removable());
        assert!(!Verdict::InGrace.removable() && !Verdict::InFlight.removable());
    }
}
