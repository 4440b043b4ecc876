//! `ticketbooth reindex`: measures the masks of tickets stored before the server measured them
//! (architecture fingerprint, N:M structure, kept-set signature; docs/masks.md) by streaming
//! each one's file through the same inspector an upload goes through. Safe to run again: it
//! only visits tickets still marked `unknown`, and each ticket is one transaction.

use futures_util::StreamExt;

use crate::blobs::BlobStore;
use crate::domain::inspector::Inspector;
use crate::domain::ticket::MaskFacts;
use crate::index::DynIndex;

const PAGE: u32 = 100;

/// Returns how many tickets were measured.
pub async fn reindex(index: &DynIndex, blobs: &BlobStore) -> anyhow::Result<u64> {
    let (mut done, mut after) = (0u64, 0i64);
    loop {
        let page = index.unmeasured(after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(done);
        };
        after = last.seq;
        for ticket in page {
            let mut inspector = Inspector::default();
            let mut stream = blobs.get(&ticket.object_key, None).await?;
            while let Some(chunk) = stream.next().await {
                inspector.feed(&chunk?)?;
            }
            let inspection = inspector.finish()?;
            let masks = MaskFacts {
                fingerprint: inspection.fingerprint,
                structure: inspection.structure,
                signature: inspection.signature,
            };
            index
                .set_masks(&ticket.id, &masks, &inspection.tensors)
                .await?;
            done += 1;
        }
    }
}
