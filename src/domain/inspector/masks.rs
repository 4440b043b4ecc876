//! What the inspector measures of the masks as the bytes pass: each prunable tensor's keep bits
//! are packed 64 entries to a word, once, and every word feeds the kept count, the N:M
//! structure counter and the kept-set signature while it is in a register.

use std::collections::HashMap;

use super::TensorPlan;
use crate::domain::masks::signature::SignatureBuilder;
use crate::domain::masks::structure::{StructureCounter, TensorStructure};

/// Per-file mask work; tensors are visited in data order, one at a time.
pub(super) struct MaskWork {
    /// Where each tensor's entries start in the signature's index space (prunable ones only):
    /// the prunable tensors in the order of their parameters' names.
    base: Vec<Option<u64>>,
    /// The current tensor's counter, while it is being read.
    counter: Option<StructureCounter>,
    pub(super) structures: Vec<Option<TensorStructure>>,
    signature: SignatureBuilder,
    /// The current tensor's partial word: `bits` entries packed, first in the lowest bit.
    word: u64,
    bits: u32,
    /// Entries of the current tensor already emitted in whole words.
    emitted: u64,
}

impl MaskWork {
    pub(super) fn new(tensors: &[TensorPlan]) -> Self {
        let any_mask = tensors
            .iter()
            .any(|t| t.prunable && t.name.ends_with("_mask"));
        let mut order: Vec<(&str, usize)> = tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| t.prunable)
            .map(|(i, t)| {
                let base = if any_mask {
                    t.name.strip_suffix("_mask").unwrap_or(&t.name)
                } else {
                    t.name.as_str()
                };
                (base, i)
            })
            .collect();
        order.sort();
        let mut base = vec![None; tensors.len()];
        let mut next = 0u64;
        let offsets: HashMap<usize, u64> = order
            .iter()
            .map(|&(_, i)| {
                let at = next;
                next += tensors[i].params;
                (i, at)
            })
            .collect();
        for (i, at) in offsets {
            base[i] = Some(at);
        }
        MaskWork {
            base,
            counter: None,
            structures: vec![None; tensors.len()],
            signature: SignatureBuilder::default(),
            word: 0,
            bits: 0,
            emitted: 0,
        }
    }

    pub(super) fn is_prunable(&self, tensor: usize) -> bool {
        self.base[tensor].is_some()
    }

    /// Starts a prunable tensor.
    pub(super) fn begin(&mut self, plan: &TensorPlan) {
        self.counter = Some(StructureCounter::new(&plan.shape));
        self.word = 0;
        self.bits = 0;
        self.emitted = 0;
    }

    /// Whole elements of the current prunable tensor; returns how many are kept.
    pub(super) fn push(&mut self, tensor: usize, bytes: &[u8], size: usize, mask: u64) -> u64 {
        let mut kept = 0;
        let mut rest = bytes;
        // Top up a partial word element by element, then whole words, then the tail.
        while self.bits > 0 && !rest.is_empty() {
            kept += self.push_one(tensor, &rest[..size], mask);
            rest = &rest[size..];
        }
        let block = 64 * size;
        let whole = rest.len() - rest.len() % block;
        for chunk in rest[..whole].chunks_exact(block) {
            let word = word_of(chunk, size, mask);
            kept += u64::from(word.count_ones());
            self.emit(tensor, word, 64);
        }
        for element in rest[whole..].chunks_exact(size) {
            kept += self.push_one(tensor, element, mask);
        }
        kept
    }

    fn push_one(&mut self, tensor: usize, element: &[u8], mask: u64) -> u64 {
        let mut v = [0u8; 8];
        v[..element.len()].copy_from_slice(element);
        let on = u64::from_le_bytes(v) & mask != 0;
        self.word |= u64::from(on) << self.bits;
        self.bits += 1;
        if self.bits == 64 {
            let word = std::mem::take(&mut self.word);
            self.bits = 0;
            self.emit(tensor, word, 64);
        }
        u64::from(on)
    }

    fn emit(&mut self, tensor: usize, word: u64, bits: u32) {
        if let Some(counter) = &mut self.counter {
            counter.feed(word, bits);
        }
        if word != 0 {
            let at = self.base[tensor].unwrap_or(0) + self.emitted;
            let mut w = word;
            while w != 0 {
                self.signature.add(at + u64::from(w.trailing_zeros()));
                w &= w - 1;
            }
        }
        self.emitted += u64::from(bits);
    }

    /// The current prunable tensor is complete.
    pub(super) fn end(&mut self, tensor: usize) {
        if self.bits > 0 {
            let (word, bits) = (std::mem::take(&mut self.word), self.bits);
            self.bits = 0;
            self.emit(tensor, word, bits);
        }
        if let Some(counter) = self.counter.take() {
            self.structures[tensor] = Some(counter.finish());
        }
    }

    pub(super) fn signature(self) -> Vec<u8> {
        self.signature.finish()
    }
}

/// The keep bits of 64 elements of `size` bytes: bit i set iff element i has a bit of `mask`.
/// First a 0/1 byte per element (a fixed-count loop the compiler vectorizes, as it does the
/// plain count), then eight bytes at a time packed into eight bits with one multiply.
fn word_of(block: &[u8], size: usize, mask: u64) -> u64 {
    let mut flags = [0u8; 64];
    match size {
        1 => {
            let m = mask as u8;
            for (f, &b) in flags.iter_mut().zip(block) {
                *f = u8::from(b & m != 0);
            }
        }
        2 => {
            let m = mask as u16;
            for (f, c) in flags.iter_mut().zip(block.chunks_exact(2)) {
                *f = u8::from(u16::from_le_bytes([c[0], c[1]]) & m != 0);
            }
        }
        4 => {
            let m = mask as u32;
            for (f, c) in flags.iter_mut().zip(block.chunks_exact(4)) {
                *f = u8::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & m != 0);
            }
        }
        _ => {
            for (f, c) in flags.iter_mut().zip(block.chunks_exact(8)) {
                let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                *f = u8::from(v & mask != 0);
            }
        }
    }
    let mut word = 0u64;
    for (i, c) in flags.chunks_exact(8).enumerate() {
        let bytes = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Byte j (0 or 1) lands in bit 56 + j of the product: the eight flags as one byte.
        word |= (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * i);
    }
    word
}
