//! The upload's `multipart/form-data` reader (RFC 7578 over RFC 2046 §5.1.1).
//!
//! A part's body is handed on as slices of the request body's own chunks: no byte of a file is
//! copied on its way to the inspector and the blob writer. (issue 18: multer copied every byte
//! into its buffer, and a second scanner in front of it bounded the framing; the copy and the
//! two boundary searches were 11.5% of an upload's server CPU.) Everything around the bodies is
//! bounded: the preamble, and each part's boundary line with its headers, at most
//! [`MAX_FRAMING_BYTES`] (the parser must hold them whole); at most [`MAX_PART_HEADERS`] headers
//! per part; the whole body; each part by its name; and only the named parts are accepted.

use std::pin::Pin;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use memchr::memmem::Finder;

/// Bytes allowed before each part's body: the preamble, or a boundary line plus headers.
pub const MAX_FRAMING_BYTES: usize = 64 << 10;
/// Headers allowed on one part (a form part needs one or two).
pub const MAX_PART_HEADERS: usize = 16;
/// RFC 2046: a boundary is 1 to 70 characters.
const MAX_BOUNDARY_LEN: usize = 70;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// The framing passed [`MAX_FRAMING_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the multipart {0} is longer than {MAX_FRAMING_BYTES} bytes (at most 64 KiB may precede a part's body)"
)]
pub struct FramingTooLong(pub &'static str);

/// Why a multipart body was not read to its end.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("the request body is larger than the {limit} byte limit")]
    BodyTooLarge { limit: u64 },
    #[error("part '{name}' is larger than its {limit} byte limit")]
    PartTooLarge { name: String, limit: u64 },
    #[error("unexpected part '{name}' (expected {expected})")]
    UnknownPart { name: String, expected: String },
    #[error(transparent)]
    FramingTooLong(#[from] FramingTooLong),
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    /// The body ended before the closing boundary.
    #[error("the request body ended before the upload was complete")]
    Incomplete,
    /// Reading the body failed: the client went away, or a timeout fired (the HTTP layer tells
    /// which from the cause).
    #[error("reading the request body: {0}")]
    Read(BoxError),
}

fn malformed(what: impl Into<String>) -> MultipartError {
    MultipartError::Malformed(what.into())
}

/// The sizes a body may have: all of it, and each accepted part by name (any other name is
/// refused when its headers are read).
#[derive(Debug, Clone)]
pub struct PartLimits {
    pub body: u64,
    pub parts: Vec<(&'static str, u64)>,
}

impl PartLimits {
    fn expected(&self) -> String {
        let names: Vec<String> = self.parts.iter().map(|(n, _)| format!("'{n}'")).collect();
        names.join(" and ")
    }
}

/// A part whose headers have been read; its body follows through [`Multipart::chunk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `name` of its `Content-Disposition`; `None` if it has none.
    pub name: Option<String>,
}

/// The boundary of a `multipart/form-data` content type; `None` for any other type, or a
/// boundary RFC 2046 does not allow.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let value = params.find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim())
    })?;
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    // bchars: digits, letters and '()+_,-./:=? plus inner spaces.
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    let fine = (1..=MAX_BOUNDARY_LEN).contains(&value.len())
        && value.chars().all(allowed)
        && !value.ends_with(' ');
    fine.then(|| value.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary.
    Preamble,
    /// Just after a boundary: the closing `--`, or a part's headers.
    AfterBoundary,
    /// Inside a part's body.
    Body,
    /// After the closing boundary; the epilogue is never read.
    Done,
}

/// Reads parts from a body stream. Not restartable after an error.
pub struct Multipart {
    body: Body,
    limits: PartLimits,
    /// `--boundary`: the first boundary, which may open the body without a CRLF before it.
    first: Finder<'static>,
    /// `CRLF--boundary`: ends a part's body.
    delimiter: Finder<'static>,
    /// The blank line that ends a part's headers.
    header_end: Finder<'static>,
    state: State,
    /// The unread rest of the latest chunk taken from the body.
    pending: Bytes,
    /// Body bytes held back from the previous chunk because they could begin the delimiter.
    held: Bytes,
    /// Framing being read (preamble, or a boundary line and headers): at most
    /// `MAX_FRAMING_BYTES + 1` bytes.
    head: BytesMut,
    received: u64,
    eof: bool,
    /// The current part's name (empty if it has none), its limit and its bytes so far.
    part_name: String,
    part_limit: u64,
    part_len: u64,
}

impl Multipart {
    pub fn new<S, E>(body: S, boundary: &str, limits: PartLimits) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Multipart {
            body: Box::pin(body.map(|r| r.map_err(Into::into))),
            limits,
            first: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            delimiter: Finder::new(format!("\r\n--{boundary}").as_bytes()).into_owned(),
            header_end: Finder::new(b"\r\n\r\n").into_owned(),
            state: State::Preamble,
            pending: Bytes::new(),
            held: Bytes::new(),
            head: BytesMut::new(),
            received: 0,
            eof: false,
            part_name: String::new(),
            part_limit: 0,
            part_len: 0,
        }
    }

    /// The next part's headers (skipping what is left of the current part's body); `None`
    /// after the closing boundary.
    pub async fn next_part(&mut self) -> Result<Option<Part>, MultipartError> {
        while self.chunk().await?.is_some() {}
        if self.state == State::Preamble {
            let end = self.read_framing(true, "preamble").await?;
            self.consume_head(end);
            self.state = State::AfterBoundary;
        }
        if self.state == State::Done {
            return Ok(None);
        }
        while self.head.len() < 2 {
            self.take_into_head().await?;
        }
        if self.head.starts_with(b"--") {
            self.head.clear();
            self.state = State::Done;
            return Ok(None);
        }
        let end = self.read_framing(false, "part header").await?;
        let name = part_name(&self.head[..end])?;
        self.consume_head(end);
        self.part_name = name.clone().unwrap_or_default();
        self.part_limit = match &name {
            Some(n) => match self.limits.parts.iter().find(|(allowed, _)| allowed == n) {
                Some(&(_, limit)) => limit,
                None => {
                    return Err(MultipartError::UnknownPart {
                        name: n.clone(),
                        expected: self.limits.expected(),
                    });
                }
            },
            // No name, no limit to go by: the caller refuses such a part before its body.
            None => 0,
        };
        self.part_len = 0;
        self.state = State::Body;
        Ok(Some(Part { name }))
    }

    /// The next piece of the current part's body, a slice of the request's own bytes; `None`
    /// at the part's end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartError> {
        while self.state == State::Body {
            let piece = self.next_piece().await?;
            if piece.is_empty() {
                continue;
            }
            self.part_len += piece.len() as u64;
            if self.part_len > self.part_limit {
                return Err(MultipartError::PartTooLarge {
                    name: self.part_name.clone(),
                    limit: self.part_limit,
                });
            }
            return Ok(Some(piece));
        }
        Ok(None)
    }

    /// The rest of the current part's body in one buffer (bounded by the part's limit).
    pub async fn bytes(&mut self) -> Result<Bytes, MultipartError> {
        let mut out = BytesMut::new();
        while let Some(piece) = self.chunk().await? {
            out.extend_from_slice(&piece);
        }
        Ok(out.freeze())
    }

    /// Body bytes up to the delimiter or up to what could begin it; ends the part when the
    /// delimiter is found. May be empty.
    async fn next_piece(&mut self) -> Result<Bytes, MultipartError> {
        let dlen = self.delimiter.needle().len();
        if self.pending.is_empty() && !self.fill().await? {
            return Err(MultipartError::Incomplete);
        }
        if !self.held.is_empty() {
            if self.pending.len() < dlen - 1 {
                // Too short to settle the held bytes: join the two (both shorter than the
                // delimiter) and scan them as one.
                let mut joined = BytesMut::with_capacity(self.held.len() + self.pending.len());
                joined.extend_from_slice(&self.held);
                joined.extend_from_slice(&self.pending);
                self.held = Bytes::new();
                self.pending = joined.freeze();
            } else {
                // A delimiter starting in the held bytes ends within the next dlen - 1.
                let mut junction = self.held.to_vec();
                junction.extend_from_slice(&self.pending[..dlen - 1]);
                let held = std::mem::take(&mut self.held);
                if let Some(i) = self.delimiter.find(&junction) {
                    self.pending.advance(i + dlen - held.len());
                    self.state = State::AfterBoundary;
                    return Ok(held.slice(..i));
                }
                return Ok(held);
            }
        }
        match self.delimiter.find(&self.pending) {
            Some(i) => {
                let piece = self.pending.split_to(i);
                self.pending.advance(dlen);
                self.state = State::AfterBoundary;
                Ok(piece)
            }
            None => {
                let keep = held_back(&self.pending, self.delimiter.needle());
                let piece = self.pending.split_to(self.pending.len() - keep);
                self.held = std::mem::take(&mut self.pending);
                Ok(piece)
            }
        }
    }

    /// Reads framing into `head` until the first boundary (`first`) or the blank line ending a
    /// part's headers; returns the index just past it. Past [`MAX_FRAMING_BYTES`] it fails.
    async fn read_framing(
        &mut self,
        first: bool,
        what: &'static str,
    ) -> Result<usize, MultipartError> {
        let mut from = 0;
        loop {
            let finder = if first { &self.first } else { &self.header_end };
            let len = finder.needle().len();
            if let Some(i) = finder.find(&self.head[from..]) {
                let end = from + i + len;
                if end > MAX_FRAMING_BYTES {
                    return Err(FramingTooLong(what).into());
                }
                return Ok(end);
            }
            if self.head.len() > MAX_FRAMING_BYTES {
                return Err(FramingTooLong(what).into());
            }
            from = self.head.len().saturating_sub(len - 1);
            self.take_into_head().await?;
        }
    }

    /// Moves the next bytes of the body into `head`, never past `MAX_FRAMING_BYTES + 1`.
    async fn take_into_head(&mut self) -> Result<(), MultipartError> {
        if self.pending.is_empty() && !self.fill().await? {
            return Err(MultipartError::Incomplete);
        }
        let n = self
            .pending
            .len()
            .min(MAX_FRAMING_BYTES + 1 - self.head.len());
        self.head.extend_from_slice(&self.pending.split_to(n));
        Ok(())
    }

    /// Drops the first `end` bytes of `head`; the rest goes back in front of `pending`.
    fn consume_head(&mut self, end: usize) {
        self.head.advance(end);
        if self.head.is_empty() {
            return;
        }
        let rest = self.head.split().freeze();
        self.pending = if self.pending.is_empty() {
            rest
        } else {
            [&rest[..], &self.pending[..]].concat().into()
        };
    }

    /// Takes the next non-empty chunk of the body into `pending`; false at its end.
    async fn fill(&mut self) -> Result<bool, MultipartError> {
        while !self.eof {
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    self.received += chunk.len() as u64;
                    if self.received > self.limits.body {
                        return Err(MultipartError::BodyTooLarge {
                            limit: self.limits.body,
                        });
                    }
                    if !chunk.is_empty() {
                        self.pending = chunk;
                        return Ok(true);
                    }
                }
                Some(Err(e)) => return Err(MultipartError::Read(e)),
                None => self.eof = true,
            }
        }
        Ok(false)
    }
}

/// How many of the last bytes of `bytes` could begin `needle` (fewer than its length).
fn held_back(bytes: &[u8], needle: &[u8]) -> usize {
    let most = bytes.len().min(needle.len() - 1);
    (1..=most)
        .rev()
        .find(|&k| bytes[bytes.len() - k..] == needle[..k])
        .unwrap_or(0)
}

/// The name of a part from what follows its boundary: transport padding, CRLF, the header
/// lines and the blank line.
fn part_name(head: &[u8]) -> Result<Option<String>, MultipartError> {
    let line_end = memchr::memmem::find(head, b"\r\n").unwrap_or(head.len());
    if head[..line_end].iter().any(|&b| b != b' ' && b != b'\t') {
        return Err(malformed(
            "a boundary is followed by more than white space on its line",
        ));
    }
    let block = head.get(line_end + 2..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let parsed = match httparse::parse_headers(block, &mut headers) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) => return Err(malformed("a part's headers do not end")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(malformed(format!(
                "a part has more than {MAX_PART_HEADERS} headers"
            )));
        }
        Err(e) => return Err(malformed(format!("a part's headers: {e}"))),
    };
    match parsed
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-disposition"))
    {
        Some(h) => disposition_name(h.value),
        None => Ok(None),
    }
}

/// The `name` parameter of a `form-data` Content-Disposition (a token or a quoted string).
fn disposition_name(value: &[u8]) -> Result<Option<String>, MultipartError> {
    let value = std::str::from_utf8(value)
        .map_err(|_| malformed("a part's Content-Disposition is not UTF-8"))?;
    let (kind, mut rest) = value.split_once(';').unwrap_or((value, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(malformed("a part's Content-Disposition is not form-data"));
    }
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return Ok(None);
        }
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("a Content-Disposition parameter has no value"))?;
        let after = after.trim_start();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = after.find([';', ' ', '\t']).unwrap_or(after.len());
                (after[..end].to_owned(), &after[end..])
            }
        };
        if key.trim().eq_ignore_ascii_case("name") {
            return Ok(Some(value));
        }
        rest = after;
    }
}

/// A quoted string's value (after its opening quote) and what follows its closing quote.
fn unquote(quoted: &str) -> Result<(String, &str), MultipartError> {
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &quoted[i + 1..])),
            '\\' => out.extend(chars.next().map(|(_, c)| c)),
            c => out.push(c),
        }
    }
    Err(malformed(
        "a Content-Disposition quoted string does not end",
    ))
}

#[cfg(test)]
mod tests;
