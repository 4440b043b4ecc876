//! N:M structure: whether at most N of every M consecutive entries are kept, the pattern
//! NVIDIA's sparse tensor cores (and `torch.sparse.to_sparse_semi_structured`) accelerate.
//!
//! A prunable tensor (its mask, or without masks its zero pattern) is viewed row-major as
//! `[shape[0], rest]`; its entries are grouped M at a time along each row, for M = 4 and M = 8.
//! A row whose length M does not divide fails M. A rank-4 convolution weight `[out, in, kh, kw]`
//! is also grouped along the input-channel axis (the `[out*kh*kw, in]` order NVIDIA's ASP uses).
//! [`StructureCounter`] is fed the keep bits 64 at a time, in row-major order, and keeps the
//! largest count seen in any group; memory is one counter per kernel position.

use serde::{Deserialize, Serialize};

/// The patterns reported, strictest first: 1:4 implies 2:4, which implies 4:8.
pub const PATTERNS: [Pattern; 3] = [
    Pattern { n: 1, m: 4 },
    Pattern { n: 2, m: 4 },
    Pattern { n: 4, m: 8 },
];

/// At most `n` kept in every `m` consecutive entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    pub n: u8,
    pub m: u8,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match (self.n, self.m) {
            (1, 4) => "1:4",
            (2, 4) => "2:4",
            _ => "4:8",
        }
    }

    pub fn parse(s: &str) -> Option<Pattern> {
        PATTERNS.into_iter().find(|p| p.name() == s)
    }

    /// The patterns at least as strict as this one (what `structure=2:4` matches).
    pub fn at_least_as_strict(self) -> Vec<&'static str> {
        PATTERNS
            .iter()
            .take_while(|p| **p != self)
            .chain(std::iter::once(&self))
            .map(|p| p.name())
            .collect()
    }
}

/// What a ticket whose tensors satisfy none of the patterns is.
pub const UNSTRUCTURED: &str = "unstructured";

/// The largest count of kept entries seen in any group of 4 and of 8, in one grouping order;
/// `None` when the rows cannot be cut into groups of that size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupMax {
    #[serde(rename = "4")]
    pub m4: Option<u8>,
    #[serde(rename = "8")]
    pub m8: Option<u8>,
}

impl GroupMax {
    fn satisfies(self, p: Pattern) -> bool {
        let max = if p.m == 4 { self.m4 } else { self.m8 };
        max.is_some_and(|max| max <= p.n)
    }
}

/// One prunable tensor's structure, as reported in its row of the per-tensor table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TensorStructure {
    /// Groups along each row's last axis.
    pub last_axis: GroupMax,
    /// Rank-4 weights only: groups along the input channels. Counting stops once no pattern can
    /// hold in this order (a count above 2 of 4 and above 4 of 8), so a larger count may exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_channel: Option<GroupMax>,
    /// The strictest pattern this tensor satisfies, in either order; null for none.
    pub pattern: Option<String>,
    /// Which order that pattern holds in: `last_axis` or `input_channel`.
    pub order: Option<String>,
}

impl TensorStructure {
    fn satisfies(&self, p: Pattern) -> Option<&'static str> {
        if self.last_axis.satisfies(p) {
            Some("last_axis")
        } else if self.input_channel.is_some_and(|g| g.satisfies(p)) {
            Some("input_channel")
        } else {
            None
        }
    }
}

/// The ticket's structure: the strictest pattern every prunable tensor satisfies (each in
/// either order), else `unstructured`.
pub fn ticket_structure<'a>(tensors: impl IntoIterator<Item = &'a TensorStructure>) -> String {
    let tensors: Vec<&TensorStructure> = tensors.into_iter().collect();
    PATTERNS
        .into_iter()
        .find(|p| !tensors.is_empty() && tensors.iter().all(|t| t.satisfies(*p).is_some()))
        .map_or(UNSTRUCTURED, Pattern::name)
        .to_owned()
}

/// Counts one tensor's groups from its keep bits, fed 64 entries a word.
#[derive(Debug, Clone)]
pub struct StructureCounter {
    /// Rows divide into groups of 4 (and then maybe 8).
    by4: bool,
    by8: bool,
    max4: u8,
    max8: u8,
    /// Entries fed so far.
    seen: u64,
    input_channel: Option<InputChannel>,
}

/// Grouping along input channels of `[out, in, kh, kw]`: a counter per kernel position for the
/// current group of 4 (and of 8) input channels of the current output channel.
#[derive(Debug, Clone)]
struct InputChannel {
    cin: u64,
    spatial: u64,
    by8: bool,
    acc4: Vec<u8>,
    acc8: Vec<u8>,
    /// Kernel positions touched in the current groups (reset when a group ends).
    touched4: Vec<u32>,
    touched8: Vec<u32>,
    /// The group (out channel, in-channel group) the accumulators hold.
    group4: u64,
    group8: u64,
    max4: u8,
    max8: u8,
    /// No pattern can hold in this order any more.
    done: bool,
}

impl StructureCounter {
    pub fn new(shape: &[u64]) -> Self {
        let row: u64 = shape.iter().skip(1).product();
        let input_channel = match *shape {
            [_, cin, kh, kw] if cin.is_multiple_of(4) && kh * kw > 1 => Some(InputChannel {
                cin,
                spatial: kh * kw,
                by8: cin.is_multiple_of(8),
                acc4: vec![0; (kh * kw) as usize],
                acc8: vec![0; (kh * kw) as usize],
                touched4: Vec::new(),
                touched8: Vec::new(),
                group4: 0,
                group8: 0,
                max4: 0,
                max8: 0,
                done: false,
            }),
            // 1x1 kernels: input channels are the last axis already.
            _ => None,
        };
        StructureCounter {
            by4: row.is_multiple_of(4) && row > 0,
            by8: row.is_multiple_of(8) && row > 0,
            max4: 0,
            max8: 0,
            seen: 0,
            input_channel,
        }
    }

    /// The next `bits` entries' keep bits, first entry in the lowest bit; every call but the
    /// last must carry 64 entries (so words stay aligned to groups of 4 and 8).
    pub fn feed(&mut self, word: u64, bits: u32) {
        let base = self.seen;
        self.seen += u64::from(bits);
        if word == 0 {
            return;
        }
        if self.by4 && (self.max4 < 4 || (self.by8 && self.max8 < 8)) {
            // Per-nibble and per-byte population counts (SWAR): the counts of every group of 4
            // and of 8 in the word. Bits past the tensor's end are zero and add nothing.
            let pairs = word - ((word >> 1) & 0x5555_5555_5555_5555);
            let nibbles = (pairs & 0x3333_3333_3333_3333) + ((pairs >> 2) & 0x3333_3333_3333_3333);
            // Raise the maxima only while some group reaches the next count: one test a word
            // once the maximum has settled. A nibble holds 0..=4, a byte 0..=8, so adding
            // `8 - t` to a nibble (or `128 - t` to a byte) sets its top bit iff it is >= t.
            while self.max4 < 4
                && (nibbles + u64::from(8 - (self.max4 + 1)) * 0x1111_1111_1111_1111)
                    & 0x8888_8888_8888_8888
                    != 0
            {
                self.max4 += 1;
            }
            if self.by8 {
                let bytes = (nibbles + (nibbles >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
                while self.max8 < 8
                    && (bytes + u64::from(128 - (self.max8 + 1)) * 0x0101_0101_0101_0101)
                        & 0x8080_8080_8080_8080
                        != 0
                {
                    self.max8 += 1;
                }
            }
        }
        if let Some(ic) = &mut self.input_channel
            && !ic.done
        {
            let mut w = word;
            while w != 0 {
                let bit = u64::from(w.trailing_zeros());
                w &= w - 1;
                ic.add(base + bit);
            }
        }
    }

    pub fn finish(mut self) -> TensorStructure {
        let input_channel = self.input_channel.take().map(|mut ic| {
            ic.close4();
            ic.close8();
            GroupMax {
                m4: Some(ic.max4),
                m8: ic.by8.then_some(ic.max8),
            }
        });
        let last_axis = GroupMax {
            m4: self.by4.then_some(self.max4),
            m8: self.by8.then_some(self.max8),
        };
        let mut out = TensorStructure {
            last_axis,
            input_channel,
            pattern: None,
            order: None,
        };
        if let Some((p, order)) = PATTERNS
            .into_iter()
            .find_map(|p| out.satisfies(p).map(|o| (p, o)))
        {
            out.pattern = Some(p.name().to_owned());
            out.order = Some(order.to_owned());
        }
        out
    }
}

impl InputChannel {
    /// A kept entry at flat index `e` of `[out, in, kh, kw]`.
    fn add(&mut self, e: u64) {
        let block = self.cin * self.spatial;
        let (out, j) = (e / block, e % block);
        let (i, s) = (j / self.spatial, (j % self.spatial) as usize);
        let g4 = out * (self.cin / 4) + i / 4;
        if g4 != self.group4 {
            self.close4();
            self.group4 = g4;
        }
        if self.acc4[s] == 0 {
            self.touched4.push(s as u32);
        }
        self.acc4[s] += 1;
        if self.by8 {
            let g8 = out * (self.cin / 8) + i / 8;
            if g8 != self.group8 {
                self.close8();
                self.group8 = g8;
            }
            if self.acc8[s] == 0 {
                self.touched8.push(s as u32);
            }
            self.acc8[s] += 1;
        }
        // Past 2 of 4 and 4 of 8 (or without groups of 8), no pattern can hold in this order.
        self.done = self.max4 > 2 && (!self.by8 || self.max8 > 4);
    }

    fn close4(&mut self) {
        for s in self.touched4.drain(..) {
            self.max4 = self.max4.max(self.acc4[s as usize]);
            self.acc4[s as usize] = 0;
        }
    }

    fn close8(&mut self) {
        for s in self.touched8.drain(..) {
            self.max8 = self.max8.max(self.acc8[s as usize]);
            self.acc8[s as usize] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structure of a tensor of `shape` whose entry i is kept iff `keep(i)`.
    fn measure(shape: &[u64], keep: impl Fn(u64) -> bool) -> TensorStructure {
        let n: u64 = shape.iter().product();
        let mut c = StructureCounter::new(shape);
        let mut i = 0;
        while i < n {
            let bits = (n - i).min(64) as u32;
            let word = (0..bits).fold(0u64, |w, b| w | (u64::from(keep(i + u64::from(b))) << b));
            c.feed(word, bits);
            i += u64::from(bits);
        }
        c.finish()
    }

    #[test]
    fn constructed_patterns_are_recognized() {
        let one_of_4 = measure(&[4, 16], |i| i % 4 == 1);
        assert_eq!(
            (one_of_4.last_axis.m4, one_of_4.last_axis.m8),
            (Some(1), Some(2))
        );
        assert_eq!(one_of_4.pattern.as_deref(), Some("1:4"));
        let two_of_4 = measure(&[8, 32], |i| i % 4 == 0 || i % 4 == 3);
        assert_eq!(two_of_4.pattern.as_deref(), Some("2:4"));
        assert_eq!(two_of_4.order.as_deref(), Some("last_axis"));
        // 3 of the first 4 and 1 of the next 4: fails 2:4, holds 4:8.
        let four_of_8 = measure(&[2, 64], |i| matches!(i % 8, 0 | 1 | 2 | 5));
        assert_eq!(
            (four_of_8.last_axis.m4, four_of_8.last_axis.m8),
            (Some(3), Some(4))
        );
        assert_eq!(four_of_8.pattern.as_deref(), Some("4:8"));
        let dense = measure(&[3, 40], |_| true);
        assert_eq!(dense.pattern, None);
        let empty = measure(&[3, 40], |_| false);
        assert_eq!(empty.pattern.as_deref(), Some("1:4"));
    }

    #[test]
    fn the_word_counts_match_a_naive_count_of_every_group() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200 {
            let rows = 1 + next() % 9;
            let cols = 8 * (1 + next() % 20);
            let density = next() % 100;
            let keep: Vec<bool> = (0..rows * cols).map(|_| next() % 100 < density).collect();
            let naive = |m: u64| {
                keep.chunks(m as usize)
                    .map(|g| g.iter().filter(|k| **k).count() as u8)
                    .max()
            };
            let s = measure(&[rows, cols], |i| keep[i as usize]);
            assert_eq!(s.last_axis.m4, naive(4), "{rows}x{cols} at {density}%");
            assert_eq!(s.last_axis.m8, naive(8), "{rows}x{cols} at {density}%");
        }
    }

    #[test]
    fn rows_that_m_does_not_divide_fail_m() {
        // Rows of 12: groups of 4 but not of 8.
        let s = measure(&[5, 12], |i| i % 4 == 0);
        assert_eq!((s.last_axis.m4, s.last_axis.m8), (Some(1), None));
        assert_eq!(s.pattern.as_deref(), Some("1:4"));
        let s = measure(&[5, 6], |i| i % 6 == 0);
        assert_eq!(s.last_axis, GroupMax { m4: None, m8: None });
        assert_eq!(s.pattern, None);
        // Rank 1 (a bias mask): rows of length 1.
        assert_eq!(measure(&[16], |_| false).pattern, None);
        // Groups never straddle rows: rows of 4 with two kept at each row's end and start would
        // be 4 of 4 across the boundary in flat order, but are 2 of 4 per row.
        let s = measure(&[16, 4], |i| i % 4 >= 2);
        assert_eq!(s.last_axis.m4, Some(2));
    }

    #[test]
    fn convolutions_are_also_grouped_along_input_channels() {
        // [out 8, in 8, 3, 3]: keep input channels 0,1 of every 4 at every kernel position.
        let (cin, sp) = (8u64, 9u64);
        let keep = |i: u64| ((i % (cin * sp)) / sp) % 4 < 2;
        let s = measure(&[8, cin, 3, 3], keep);
        assert_eq!(s.last_axis.m4, Some(4), "flat order keeps runs of 9");
        assert_eq!(
            s.input_channel,
            Some(GroupMax {
                m4: Some(2),
                m8: Some(4)
            })
        );
        assert_eq!(s.pattern.as_deref(), Some("2:4"));
        assert_eq!(s.order.as_deref(), Some("input_channel"));
        // A random-looking mask fails both orders.
        let s = measure(&[8, cin, 3, 3], |i| (i * 2_654_435_761) % 7 < 4);
        assert_eq!(s.pattern, None);
        // 1x1 kernels have no second order.
        assert_eq!(measure(&[8, 8, 1, 1], |i| i % 4 == 0).input_channel, None);
    }

    #[test]
    fn the_ticket_takes_the_strictest_pattern_every_tensor_satisfies() {
        let a = measure(&[4, 16], |i| i % 4 == 1); // 1:4
        let b = measure(&[4, 16], |i| i % 4 < 2); // 2:4
        let c = measure(&[4, 16], |_| true);
        assert_eq!(ticket_structure([&a]), "1:4");
        assert_eq!(ticket_structure([&a, &b]), "2:4");
        assert_eq!(ticket_structure([&a, &b, &c]), UNSTRUCTURED);
        assert_eq!(ticket_structure([]), UNSTRUCTURED);
        assert_eq!(
            Pattern::parse("2:4").unwrap().at_least_as_strict(),
            ["1:4", "2:4"]
        );
        assert_eq!(
            Pattern::parse("4:8").unwrap().at_least_as_strict(),
            ["1:4", "2:4", "4:8"]
        );
        assert_eq!(Pattern::parse("3:4"), None);
    }
}
