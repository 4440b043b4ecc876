//! A bound on multipart framing. The multipart parser holds everything before a part's body
//! in memory until it finds the end of it: a preamble before the first boundary, or a part's
//! header lines, could grow until the whole-upload limit (gigabytes). This adapter watches the
//! byte stream on its way to the parser and fails it once the bytes outside any part body (the
//! preamble, or one part's boundary line and headers) pass [`MAX_FRAMING_BYTES`].
//!
//! It only tracks where part bodies begin and end (`--boundary`, the blank line after the
//! headers, `CRLF--boundary`); the parser still does the parsing.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use memchr::memmem::Finder;

/// Bytes allowed before each part's body: the preamble, or a boundary line plus headers.
pub const MAX_FRAMING_BYTES: usize = 64 << 10;

/// The framing passed [`MAX_FRAMING_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the multipart {0} is longer than {MAX_FRAMING_BYTES} bytes (at most 64 KiB may precede a part's body)"
)]
pub struct FramingTooLong(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Before the first boundary.
    Preamble,
    /// From a boundary to the blank line that ends the part's headers.
    Headers,
    /// Inside a part's body: not counted.
    Body,
}

/// Scans for the framing; pure, fed chunks in any split.
pub struct FramingScanner {
    at: Where,
    /// Bytes seen in the current framing stretch.
    framing: usize,
    first: Finder<'static>,
    head_end: Finder<'static>,
    next: Finder<'static>,
    /// The end of the previous chunk, for a pattern split across two chunks.
    carry: Vec<u8>,
}

impl FramingScanner {
    pub fn new(boundary: &str) -> Self {
        FramingScanner {
            at: Where::Preamble,
            framing: 0,
            first: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            head_end: Finder::new(b"\r\n\r\n").into_owned(),
            next: Finder::new(format!("\r\n--{boundary}").as_bytes()).into_owned(),
            carry: Vec::new(),
        }
    }

    fn finder(&self) -> &Finder<'static> {
        match self.at {
            Where::Preamble => &self.first,
            Where::Headers => &self.head_end,
            Where::Body => &self.next,
        }
    }

    /// Where the current state's pattern ends in `chunk`, searching from `from` (and across
    /// the carried end of the previous chunk when `from` is 0).
    fn find_end(&self, chunk: &[u8], from: usize) -> Option<usize> {
        let finder = self.finder();
        let len = finder.needle().len();
        if from == 0 && !self.carry.is_empty() {
            let mut junction = self.carry.clone();
            junction.extend_from_slice(&chunk[..chunk.len().min(len - 1)]);
            if let Some(i) = finder.find(&junction) {
                return Some(i + len - self.carry.len());
            }
        }
        finder.find(&chunk[from..]).map(|i| from + i + len)
    }

    fn count(&mut self, n: usize) -> Result<(), FramingTooLong> {
        if self.at == Where::Body {
            return Ok(());
        }
        self.framing += n;
        if self.framing > MAX_FRAMING_BYTES {
            return Err(FramingTooLong(match self.at {
                Where::Preamble => "preamble",
                _ => "part header",
            }));
        }
        Ok(())
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), FramingTooLong> {
        let mut pos = 0;
        while let Some(end) = self.find_end(chunk, pos) {
            self.count(end - pos)?;
            self.carry.clear();
            self.framing = 0;
            self.at = match self.at {
                Where::Preamble | Where::Body => Where::Headers,
                Where::Headers => Where::Body,
            };
            pos = end;
        }
        self.count(chunk.len() - pos)?;
        let keep = self.finder().needle().len() - 1;
        self.carry.extend_from_slice(&chunk[pos..]);
        let excess = self.carry.len().saturating_sub(keep);
        self.carry.drain(..excess);
        Ok(())
    }
}

/// The request body with the framing bound applied.
pub struct FramingGuard<S> {
    inner: S,
    scanner: FramingScanner,
    failed: bool,
}

impl<S> FramingGuard<S> {
    pub fn new(inner: S, boundary: &str) -> Self {
        FramingGuard {
            inner,
            scanner: FramingScanner::new(boundary),
            failed: false,
        }
    }
}

impl<S, E> Stream for FramingGuard<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.scanner.feed(&chunk) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(e) => {
                    self.failed = true;
                    Poll::Ready(Some(Err(Box::new(e))))
                }
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(parts: &[(&str, &[u8])], preamble: &[u8]) -> Vec<u8> {
        let mut out = preamble.to_vec();
        for (headers, data) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            out.extend_from_slice(headers.as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), FramingTooLong> {
        let mut scanner = FramingScanner::new("XyZ");
        let mut at = 0;
        for &cut in cuts {
            let cut = cut.min(bytes.len()).max(at);
            scanner.feed(&bytes[at..cut])?;
            at = cut;
        }
        scanner.feed(&bytes[at..])
    }

    #[test]
    fn long_bodies_pass_long_framing_fails() {
        let big = vec![b'a'; 1 << 20];
        let ok = body(
            &[
                ("Content-Disposition: form-data; name=\"metadata\"", b"{}"),
                ("Content-Disposition: form-data; name=\"file\"", &big),
            ],
            b"",
        );
        assert_eq!(feed_split(&ok, &[]), Ok(()));
        let preamble = vec![b'p'; MAX_FRAMING_BYTES + 1];
        let bad = body(&[("X: y", b"1")], &preamble);
        assert_eq!(feed_split(&bad, &[]), Err(FramingTooLong("preamble")));
        let header = format!("X-Junk: {}", "h".repeat(MAX_FRAMING_BYTES));
        let bad = body(&[("X: y", b"1"), (&header, b"2")], b"");
        assert_eq!(feed_split(&bad, &[]), Err(FramingTooLong("part header")));
        // Headers that never end are counted too, chunk after chunk.
        let mut scanner = FramingScanner::new("XyZ");
        scanner.feed(b"--XyZ\r\nX: ").unwrap();
        let line = vec![b'h'; 4096];
        let fed = (0..32).try_for_each(|_| scanner.feed(&line));
        assert_eq!(fed, Err(FramingTooLong("part header")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any chunking gives the verdict of one chunk: patterns split across chunks are found.
        #[test]
        fn any_chunking_gives_the_same_verdict(
            data in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'X'), any::<u8>()], 0..3000),
            framing in 0usize..(MAX_FRAMING_BYTES + 200),
            cuts in prop::collection::vec(0usize..80_000, 0..12),
        ) {
            let headers = format!("X: {}", "h".repeat(framing.saturating_sub(40)));
            let bytes = body(&[("A: b", &data), (&headers, &data)], b"pre");
            let mut cuts = cuts;
            cuts.sort();
            prop_assert_eq!(feed_split(&bytes, &cuts), feed_split(&bytes, &[]));
        }
    }
}
