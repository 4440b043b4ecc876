//! One tensor's bytes read from a blob as a single ranged stream, handed out in exact
//! amounts: whatever chunking the store uses, a caller takes whole windows of entries.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::blobs::{BlobResult, BlobStore};
use crate::error::{ApiError, ApiResult};

pub struct TensorReader {
    stream: BoxStream<'static, BlobResult<Bytes>>,
    buf: BytesMut,
    left: u64,
}

impl TensorReader {
    /// Reads `range` of the object; an empty range opens nothing.
    pub async fn open(blobs: &BlobStore, key: &str, range: Range<u64>) -> ApiResult<Self> {
        let left = range.end - range.start;
        let stream = if left == 0 {
            futures_util::stream::empty().boxed()
        } else {
            blobs
                .get(key, Some(range))
                .await
                .map_err(ApiError::unavailable)?
        };
        Ok(TensorReader {
            stream,
            buf: BytesMut::new(),
            left,
        })
    }

    /// Exactly the next `n` bytes (fewer only if the range ends first).
    pub async fn take(&mut self, n: usize) -> ApiResult<Bytes> {
        let n = n.min((self.buf.len() as u64 + self.left) as usize);
        while self.buf.len() < n {
            let Some(chunk) = self.stream.next().await else {
                return Err(ApiError::internal("a stored file ended early"));
            };
            let chunk = chunk.map_err(ApiError::unavailable)?;
            self.left = self.left.saturating_sub(chunk.len() as u64);
            if self.buf.is_empty() && chunk.len() == n {
                return Ok(chunk);
            }
            self.buf.extend_from_slice(&chunk);
        }
        Ok(self.buf.split_to(n).freeze())
    }
}
