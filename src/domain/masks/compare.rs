//! Comparing two tickets' masks, layer by layer, as pure logic: which layers to compare (every
//! floating parameter of rank >= 2, by its name once masked, `P`), where each side's mask and
//! weights are, and the figures from the counts. The streaming over the stored files is the
//! caller's; docs/masks.md gives the definitions and the cost.

use std::collections::HashMap;

use serde::Serialize;

use super::fingerprint::fingerprint_lines;
use super::kernels::Tally;
use super::layout::Source;
use super::pairs::{is_float_dtype, mask_pairs};
use crate::domain::inspector::{Header, dtype_name};

/// Lines of the fingerprint that differ, named in the refusal (more are counted).
const NAMED_DIFFERENCES: usize = 5;

/// Where one side's layer is: its mask (`None`: the weights' nonzero pattern) and its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSide {
    pub mask: Option<Source>,
    pub weights: Source,
}

/// One layer of both tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    pub name: String,
    pub entries: u64,
    pub a: LayerSide,
    pub b: LayerSide,
}

/// Why two tickets cannot be compared: the message says how their architectures differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotComparable(pub String);

type Described<'a> = (&'a str, String, &'a [u64]);

fn layers(header: &Header, data_start: u64) -> Result<HashMap<String, LayerSide>, NotComparable> {
    let pairs = mask_pairs(header.tensors.iter().map(|t| t.name.as_str()));
    let by_name: HashMap<&str, _> = header
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let masks: std::collections::HashSet<&str> = pairs.iter().map(|p| p.mask).collect();
    let params: HashMap<&str, _> = pairs.iter().map(|p| (p.param, p)).collect();
    let mut out = HashMap::new();
    for t in &header.tensors {
        if masks.contains(t.name.as_str())
            || !(is_float_dtype(&dtype_name(t.dtype)) && t.shape.len() >= 2)
        {
            continue;
        }
        let pair = params.get(t.name.as_str());
        let name = pair.map_or(t.name.as_str(), |p| p.base);
        let side = LayerSide {
            mask: pair.map(|p| Source::of(by_name[p.mask], data_start)),
            weights: Source::of(t, data_start),
        };
        if out.insert(name.to_owned(), side).is_some() {
            return Err(NotComparable(format!(
                "layer '{name}' is stored twice in one file (as '{name}' and '{name}_orig'); compare cannot tell which is the parameter"
            )));
        }
    }
    Ok(out)
}

/// The layers of two tickets with the same architecture fingerprint, sorted by name; else why
/// not. `data_start_*` is where each stored file's data begins.
pub fn plan_compare(
    a: &Header,
    data_start_a: u64,
    b: &Header,
    data_start_b: u64,
) -> Result<Vec<LayerPlan>, NotComparable> {
    let describe = |h: &Header| -> Vec<String> {
        let described: Vec<Described> = h
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), dtype_name(t.dtype), t.shape.as_slice()))
            .collect();
        fingerprint_lines(described.iter().map(|(n, d, s)| (*n, d.as_str(), *s)))
    };
    let (la, lb) = (describe(a), describe(b));
    if la != lb {
        let only = |x: &[String], y: &[String]| -> Vec<String> {
            x.iter()
                .filter(|l| !y.contains(l))
                .map(|l| l.trim_end().replace('\t', " ["))
                .map(|l| format!("{l}]"))
                .collect()
        };
        let (oa, ob) = (only(&la, &lb), only(&lb, &la));
        let mut why = Vec::new();
        for (side, lines) in [("a", &oa), ("b", &ob)] {
            if !lines.is_empty() {
                let shown: Vec<&str> = lines
                    .iter()
                    .take(NAMED_DIFFERENCES)
                    .map(String::as_str)
                    .collect();
                let more = lines.len().saturating_sub(NAMED_DIFFERENCES);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                why.push(format!("only {side} has {}{more}", shown.join(", ")));
            }
        }
        return Err(NotComparable(format!(
            "the two tickets prune different architectures (their fingerprints differ): {}",
            why.join("; ")
        )));
    }
    let (sa, mut sb) = (layers(a, data_start_a)?, layers(b, data_start_b)?);
    let mut out: Vec<LayerPlan> = sa
        .into_iter()
        .filter_map(|(name, a)| {
            let b = sb.remove(&name)?;
            Some(LayerPlan {
                entries: a.weights.entries,
                name,
                a,
                b,
            })
        })
        .collect();
    out.sort_by(|x, y| x.name.cmp(&y.name));
    Ok(out)
}

/// The figures of one layer, or of all together.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Entries compared.
    pub entries: u64,
    pub kept_a: u64,
    pub kept_b: u64,
    /// Entries both keep.
    pub intersection: u64,
    /// Entries either keeps.
    pub union: u64,
    /// intersection / union; null when neither keeps anything.
    pub iou: Option<f64>,
    /// The IoU two random masks of these sizes would have, approximately: with
    /// E[I] = kept_a * kept_b / entries (summed over layers for the whole), E[I] / (kept_a +
    /// kept_b - E[I]).
    pub expected_iou: Option<f64>,
    /// The share of the intersection where the two tickets' stored weights have the same sign
    /// (bit); null for an empty intersection.
    pub sign_agreement: Option<f64>,
}

fn ratio(x: f64, y: f64) -> Option<f64> {
    (y > 0.0).then(|| x / y)
}

fn figures(t: &Tally, expected_intersection: f64) -> Figures {
    let union = t.kept_a + t.kept_b - t.intersection;
    let e_union = t.kept_a as f64 + t.kept_b as f64 - expected_intersection;
    Figures {
        entries: t.entries,
        kept_a: t.kept_a,
        kept_b: t.kept_b,
        intersection: t.intersection,
        union,
        iou: ratio(t.intersection as f64, union as f64),
        expected_iou: ratio(expected_intersection, e_union),
        sign_agreement: ratio(t.same_sign as f64, t.intersection as f64),
    }
}

fn expected_intersection(t: &Tally) -> f64 {
    if t.entries == 0 {
        0.0
    } else {
        t.kept_a as f64 * t.kept_b as f64 / t.entries as f64
    }
}

/// One layer's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LayerFigures {
    /// The parameter's name (`P` for a parameter stored as `P_orig`).
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// What a comparison answers, apart from naming the two tickets.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub overall: Figures,
    pub layers: Vec<LayerFigures>,
}

/// The figures from each layer's counts (in the plan's order).
pub fn summarize(layers: &[(String, Tally)]) -> Comparison {
    let mut total = Tally::default();
    let mut expected = 0.0;
    let mut out = Vec::with_capacity(layers.len());
    for (name, t) in layers {
        total.merge(t);
        let e = expected_intersection(t);
        expected += e;
        out.push(LayerFigures {
            name: name.clone(),
            figures: figures(t, e),
        });
    }
    Comparison {
        overall: figures(&total, expected),
        layers: out,
    }
}
