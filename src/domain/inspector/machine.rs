//! The streaming state machine: the length prefix, then the header, then every tensor's bytes
//! as they pass, counted (nonzero entries) and never held.

use super::dtypes::{dtype_name, elem_size, nonzero_mask};
use super::header::{CONVERT_HINT, check_prefix, parse_header};
use super::masks::MaskWork;
use super::{Header, Inspection, InvalidSafetensors, MAX_HEADER_BYTES, TensorReport, invalid};
use crate::domain::masks::{fingerprint, structure::ticket_structure};

enum Stage {
    Prefix { buf: [u8; 8], have: usize },
    Header { len: u64, buf: Vec<u8> },
    Data(Box<DataState>),
}

struct DataState {
    header: Header,
    kept: Vec<u64>,
    current: usize,
    /// Bytes already consumed of the current tensor.
    offset: u64,
    /// A partial element split across chunks.
    carry: [u8; 8],
    carry_len: usize,
    /// The masks' structure and signature, measured in the same pass.
    masks: MaskWork,
}

/// Feed the file with [`Inspector::feed`], then call [`Inspector::finish`].
pub struct Inspector {
    stage: Stage,
    max_header_bytes: u64,
    consumed: u64,
}

impl Default for Inspector {
    fn default() -> Self {
        Self::new(MAX_HEADER_BYTES)
    }
}

impl Inspector {
    pub fn new(max_header_bytes: u64) -> Self {
        Self {
            stage: Stage::Prefix {
                buf: [0; 8],
                have: 0,
            },
            max_header_bytes,
            consumed: 0,
        }
    }

    /// The validated header, once it has been read.
    pub fn header(&self) -> Option<&Header> {
        match &self.stage {
            Stage::Data(d) => Some(&d.header),
            _ => None,
        }
    }

    /// Bytes fed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidSafetensors> {
        self.consumed += chunk.len() as u64;
        while !chunk.is_empty() {
            match &mut self.stage {
                Stage::Prefix { buf, have } => {
                    let n = (8 - *have).min(chunk.len());
                    buf[*have..*have + n].copy_from_slice(&chunk[..n]);
                    *have += n;
                    chunk = &chunk[n..];
                    if *have == 8 {
                        let len = check_prefix(buf, self.max_header_bytes)?;
                        self.stage = Stage::Header {
                            len,
                            buf: Vec::with_capacity(len.min(64 << 10) as usize),
                        };
                    }
                }
                Stage::Header { len, buf } => {
                    let n = (*len as usize - buf.len()).min(chunk.len());
                    buf.extend_from_slice(&chunk[..n]);
                    chunk = &chunk[n..];
                    if buf.len() as u64 == *len {
                        let header = parse_header(buf)?;
                        let kept = vec![0; header.tensors.len()];
                        let masks = MaskWork::new(&header.tensors);
                        let mut data = DataState {
                            header,
                            kept,
                            current: 0,
                            offset: 0,
                            carry: [0; 8],
                            carry_len: 0,
                            masks,
                        };
                        data.skip_empty();
                        self.stage = Stage::Data(Box::new(data));
                    }
                }
                Stage::Data(data) => {
                    data.feed(chunk)?;
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Inspection, InvalidSafetensors> {
        match self.stage {
            Stage::Prefix { have, .. } => invalid(format!(
                "file is {have} bytes long; a safetensors file starts with an 8-byte header length ({CONVERT_HINT})"
            )),
            Stage::Header { len, buf } => invalid(format!(
                "file ended inside the header: {} of {len} header bytes present",
                buf.len()
            )),
            Stage::Data(mut data) => {
                let header_len = self.consumed - data.data_consumed();
                if data.current < data.header.tensors.len() {
                    return invalid(format!(
                        "tensor data is shorter than the header says: {} of {} bytes present (tensor '{}' is incomplete)",
                        data.data_consumed(),
                        data.header.data_len,
                        data.header.tensors[data.current].name
                    ));
                }
                let dtypes: Vec<String> = data
                    .header
                    .tensors
                    .iter()
                    .map(|t| dtype_name(t.dtype))
                    .collect();
                let fingerprint = fingerprint(
                    data.header
                        .tensors
                        .iter()
                        .zip(&dtypes)
                        .map(|(t, d)| (t.name.as_str(), d.as_str(), t.shape.as_slice())),
                );
                let structure = ticket_structure(data.masks.structures.iter().flatten());
                let mut params_kept = 0;
                let structures = std::mem::take(&mut data.masks.structures);
                let tensors = data
                    .header
                    .tensors
                    .into_iter()
                    .zip(data.kept)
                    .zip(structures)
                    .map(|((t, kept), structure)| {
                        if t.prunable {
                            params_kept += kept;
                        }
                        TensorReport {
                            name: t.name,
                            dtype: dtype_name(t.dtype).to_string(),
                            shape: t.shape,
                            params: t.params,
                            kept,
                            prunable: t.prunable,
                            structure,
                        }
                    })
                    .collect();
                Ok(Inspection {
                    tensors,
                    metadata: data.header.metadata,
                    params_total: data.header.params_total,
                    params_kept,
                    file_len: header_len + data.header.data_len,
                    fingerprint,
                    structure,
                    signature: data.masks.signature(),
                })
            }
        }
    }
}

impl DataState {
    fn data_consumed(&self) -> u64 {
        match self.header.tensors.get(self.current) {
            Some(t) => t.begin + self.offset,
            None => self.header.data_len,
        }
    }

    /// Zero-length tensors need no bytes: step past them.
    fn skip_empty(&mut self) {
        while let Some(t) = self.header.tensors.get(self.current) {
            if t.end - t.begin > self.offset {
                break;
            }
            self.current += 1;
            self.offset = 0;
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidSafetensors> {
        while !chunk.is_empty() {
            let Some(t) = self.header.tensors.get(self.current) else {
                return invalid(format!(
                    "file is longer than its header says: tensor data should end after {} bytes",
                    self.header.data_len
                ));
            };
            let size = elem_size(t.dtype);
            let mask = nonzero_mask(t.dtype);
            let index = self.current;
            // Prunable tensors go through the mask work (kept count, structure, signature in
            // one pass over their keep bits); the others are only counted.
            let prunable = self.masks.is_prunable(index);
            if prunable && self.offset == 0 {
                self.masks.begin(t);
            }
            let len = t.end - t.begin;
            let n = ((len - self.offset) as usize).min(chunk.len());
            let (mut part, rest) = chunk.split_at(n);
            chunk = rest;
            self.offset += n as u64;
            let masks = &mut self.masks;
            let mut count = |bytes: &[u8]| {
                if prunable {
                    masks.push(index, bytes, size, mask)
                } else {
                    count_nonzero(bytes, size, mask)
                }
            };
            let mut kept = 0;
            if self.carry_len > 0 {
                let take = (size - self.carry_len).min(part.len());
                self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&part[..take]);
                self.carry_len += take;
                part = &part[take..];
                if self.carry_len == size {
                    kept += count(&self.carry[..size]);
                    self.carry_len = 0;
                }
            }
            let whole = part.len() - part.len() % size;
            kept += count(&part[..whole]);
            let tail = &part[whole..];
            self.carry[..tail.len()].copy_from_slice(tail);
            self.carry_len += tail.len();
            self.kept[index] += kept;
            if prunable && self.offset == len {
                self.masks.end(index);
            }
            self.skip_empty();
        }
        Ok(())
    }
}

/// Counts elements of `size` bytes with any bit of `mask` set. Written as plain loops over
/// fixed-width integers so the compiler vectorizes them.
pub(super) fn count_nonzero(bytes: &[u8], size: usize, mask: u64) -> u64 {
    match size {
        1 => {
            let m = mask as u8;
            bytes.iter().filter(|&&b| b & m != 0).count() as u64
        }
        2 => {
            let m = mask as u16;
            bytes
                .chunks_exact(2)
                .filter(|c| u16::from_le_bytes([c[0], c[1]]) & m != 0)
                .count() as u64
        }
        4 => {
            let m = mask as u32;
            bytes
                .chunks_exact(4)
                .filter(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & m != 0)
                .count() as u64
        }
        _ => bytes
            .chunks_exact(8)
            .filter(|c| {
                u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) & mask != 0
            })
            .count() as u64,
    }
}
