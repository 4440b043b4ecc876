//! Evidence that a ticket wins, as pure logic: a reported result's validation, the statistics
//! over a ticket's results, and the verdict. The rule lives here and nowhere else; the index
//! stores what [`evidence`] computes, in the transaction that changed the results.
//!
//! The verdict (docs/evidence.md), rules in order, with a tolerance of [`TOLERANCE`]:
//! `unverified` without any control; `below_dense` when the ticket's mean is more than
//! [`DENSE_SLACK`] below a known dense accuracy; `no_better_than_controls` when a control's mean
//! is within [`CONTROL_MARGIN`] of the ticket's mean or above it; `wins` otherwise.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod input;
mod transfer;

pub use input::{FIELDS, TicketSetup, parse_result, parse_results};
pub use transfer::{TRANSFER_TICKETS, TransferCell, transfer_cells};

/// How far below the dense accuracy a ticket may be and still not be `below_dense`.
pub const DENSE_SLACK: f64 = 0.005;
/// How far above every control a ticket must be to win.
pub const CONTROL_MARGIN: f64 = 0.01;
/// Comparisons allow this much, so 0.98 against a 0.97 control is within one point.
pub const TOLERANCE: f64 = 1e-9;
/// Results one ticket may hold (also what its result list returns at most).
pub const MAX_RESULTS_PER_TICKET: usize = 1000;
/// Results one upload may carry in its metadata.
pub const MAX_RESULTS_PER_UPLOAD: usize = 64;

/// What a result is evidence of.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// This ticket trained again (same mask and weights, same dataset).
    Reproduction,
    /// The same mask from a fresh random initialization.
    RandomReinit,
    /// A random mask at the same sparsity.
    RandomPrune,
    /// The unpruned network on the same setup.
    Dense,
    /// This ticket trained on another dataset.
    Transfer,
}

impl ResultKind {
    pub const ALL: [ResultKind; 5] = [
        ResultKind::Reproduction,
        ResultKind::RandomReinit,
        ResultKind::RandomPrune,
        ResultKind::Dense,
        ResultKind::Transfer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Reproduction => "reproduction",
            ResultKind::RandomReinit => "random_reinit",
            ResultKind::RandomPrune => "random_prune",
            ResultKind::Dense => "dense",
            ResultKind::Transfer => "transfer",
        }
    }

    pub fn parse(s: &str) -> Option<ResultKind> {
        ResultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a random-prune control drew its mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    Layerwise,
    Global,
}

impl PruneScope {
    pub fn as_str(self) -> &'static str {
        match self {
            PruneScope::Layerwise => "layerwise",
            PruneScope::Global => "global",
        }
    }

    pub fn parse(s: &str) -> Option<PruneScope> {
        [PruneScope::Layerwise, PruneScope::Global]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A validated result, ready to store: the dataset and metric are resolved against the ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewResult {
    pub kind: ResultKind,
    pub accuracy: f64,
    pub metric: String,
    pub seed: Option<i64>,
    pub dataset: String,
    pub scope: Option<PruneScope>,
    pub steps: Option<i64>,
    pub framework: Option<String>,
    pub hardware: Option<String>,
    pub code_url: Option<String>,
    pub notes: Option<String>,
}

/// A result as the API shows it: the stored result with its id, ticket, reporter and time.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResultRecord {
    pub id: String,
    pub ticket_id: String,
    /// Who reported it.
    pub owner: String,
    #[serde(flatten)]
    pub result: NewResult,
    pub created_at: DateTime<Utc>,
}

/// n, mean, sample std (null for n < 2), min and max of some accuracies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stats {
    pub n: u64,
    pub mean: f64,
    pub std: Option<f64>,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.len() >= 2)
            .then(|| (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Some(Stats {
            n: values.len() as u64,
            mean,
            std,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// What the evidence says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Unverified,
    BelowDense,
    NoBetterThanControls,
    Wins,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Unverified,
        Verdict::BelowDense,
        Verdict::NoBetterThanControls,
        Verdict::Wins,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Unverified => "unverified",
            Verdict::BelowDense => "below_dense",
            Verdict::NoBetterThanControls => "no_better_than_controls",
            Verdict::Wins => "wins",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The evidence on a ticket, as stored with it and shown in its JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub verdict: Verdict,
    /// The ticket's mean minus the best control's mean; null while unverified.
    pub margin: Option<f64>,
    /// The ticket's own accuracy together with its reproductions in its metric.
    pub ticket: Stats,
    pub random_reinit: Option<Stats>,
    pub random_prune: Option<Stats>,
    /// The ticket's `dense_accuracy`, when set, and its `dense` results.
    pub dense: Option<Stats>,
    /// Every reproduction, in any metric.
    pub reproductions: u64,
    /// Reproductions reported by someone other than the ticket's owner.
    pub reproductions_by_others: u64,
}

/// One stored result, as far as the evidence cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation<'a> {
    pub kind: ResultKind,
    pub accuracy: f64,
    pub metric: &'a str,
    /// Reported by the ticket's owner.
    pub by_owner: bool,
}

/// The evidence for a ticket with this accuracy, dense accuracy and metric, given its results.
pub fn evidence(
    accuracy: f64,
    dense_accuracy: Option<f64>,
    metric: &str,
    results: &[Observation],
) -> Evidence {
    let of_kind = |kind: ResultKind| -> Vec<f64> {
        results
            .iter()
            .filter(|r| r.kind == kind && r.metric == metric)
            .map(|r| r.accuracy)
            .collect()
    };
    let mut own = vec![accuracy];
    own.extend(of_kind(ResultKind::Reproduction));
    let mut dense: Vec<f64> = dense_accuracy.into_iter().collect();
    dense.extend(of_kind(ResultKind::Dense));
    let ticket = Stats::of(&own).unwrap_or(Stats {
        n: 1,
        mean: accuracy,
        std: None,
        min: accuracy,
        max: accuracy,
    });
    let random_reinit = Stats::of(&of_kind(ResultKind::RandomReinit));
    let random_prune = Stats::of(&of_kind(ResultKind::RandomPrune));
    let dense = Stats::of(&dense);
    let best_control = [random_reinit, random_prune]
        .into_iter()
        .flatten()
        .map(|s| s.mean)
        .fold(None, |best: Option<f64>, m| {
            Some(best.map_or(m, |b| b.max(m)))
        });
    let verdict = match best_control {
        None => Verdict::Unverified,
        Some(_) if dense.is_some_and(|d| d.mean - ticket.mean > DENSE_SLACK + TOLERANCE) => {
            Verdict::BelowDense
        }
        Some(best) if ticket.mean - best <= CONTROL_MARGIN + TOLERANCE => {
            Verdict::NoBetterThanControls
        }
        Some(_) => Verdict::Wins,
    };
    let reproductions = results
        .iter()
        .filter(|r| r.kind == ResultKind::Reproduction);
    Evidence {
        verdict,
        margin: best_control.map(|best| ticket.mean - best),
        ticket,
        random_reinit,
        random_prune,
        dense,
        reproductions: reproductions.clone().count() as u64,
        reproductions_by_others: reproductions.filter(|r| !r.by_owner).count() as u64,
    }
}

#[cfg(test)]
mod tests;
