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
use serde_json::Value;

use super::metadata::{self, InvalidMetadata};

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
const MAX_NOTES: usize = 2000;
const MAX_LABEL: usize = 64;
/// Seeds and steps stay integers a JSON client reads exactly (2^53).
const MAX_INT: i64 = 1 << 53;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A result as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResultRecord {
    pub id: String,
    pub ticket_id: String,
    /// Who reported it.
    pub owner: String,
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
    pub created_at: DateTime<Utc>,
}

/// What a result is checked against: the ticket's dataset and metric.
#[derive(Debug, Clone, Copy)]
pub struct TicketSetup<'a> {
    pub dataset: &'a str,
    pub metric: &'a str,
}

/// Every key a result accepts.
pub const FIELDS: &[&str] = &[
    "kind",
    "accuracy",
    "metric",
    "seed",
    "dataset",
    "scope",
    "steps",
    "framework",
    "hardware",
    "code_url",
    "notes",
];

/// Validates one result (a POST body, or an item of the upload's `results`). `prefix` names
/// where it came from in errors (`""` for a POST body, `"results[2]."` for an upload's item).
pub fn parse_result(
    value: &Value,
    setup: TicketSetup,
    prefix: &str,
) -> Result<NewResult, InvalidMetadata> {
    let field = |name: &str| format!("{prefix}{name}");
    let fail = |name: &str, message: String| InvalidMetadata {
        field: field(name),
        message,
    };
    let Value::Object(map) = value else {
        return Err(InvalidMetadata {
            field: match prefix.trim_end_matches('.') {
                "" => "result".to_owned(),
                item => item.to_owned(),
            },
            message: "a result must be a JSON object".into(),
        });
    };
    if let Some(key) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(fail(
            key,
            format!(
                "unknown result field{}",
                metadata::did_you_mean(key, FIELDS)
            ),
        ));
    }
    let get = |name: &str| map.get(name).filter(|v| !v.is_null());
    let string = |name: &str, max: usize| -> Result<Option<String>, InvalidMetadata> {
        match get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() > max => {
                Err(fail(name, format!("is longer than {max} bytes")))
            }
            Some(Value::String(s)) if s.contains('\0') => {
                Err(fail(name, "contains a NUL character".into()))
            }
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
            Some(_) => Err(fail(name, "must be a string".into())),
        }
    };
    let integer = |name: &str| -> Result<Option<i64>, InvalidMetadata> {
        match get(name) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (0..MAX_INT).contains(&n) => Ok(Some(n)),
                _ => Err(fail(
                    name,
                    format!("must be a whole number from 0 to 2^53; got {v}"),
                )),
            },
        }
    };

    let kind = match get("kind") {
        None => return Err(fail("kind", "is required".into())),
        Some(Value::String(s)) => ResultKind::parse(s).ok_or_else(|| {
            fail(
                "kind",
                format!(
                    "unknown kind {s:?}{} (one of: {})",
                    metadata::did_you_mean(s, &ResultKind::ALL.map(|k| k.as_str()) as &[&str]),
                    ResultKind::ALL.map(|k| k.as_str()).join(", ")
                ),
            )
        })?,
        Some(_) => return Err(fail("kind", "must be a string".into())),
    };
    let accuracy = match get("accuracy") {
        None => return Err(fail("accuracy", "is required".into())),
        Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
            Some(x) => metadata::check_fraction(x).map_err(|m| fail("accuracy", m))?,
            None => {
                return Err(fail(
                    "accuracy",
                    "must be a finite number, a fraction in [0, 1]".into(),
                ));
            }
        },
    };
    let slug_field = |name: &str| -> Result<Option<String>, InvalidMetadata> {
        string(name, metadata::MAX_SLUG_LEN * 2)?
            .map(|s| {
                metadata::slug(&field(name), &s).map_err(|e| InvalidMetadata {
                    field: field(name),
                    message: e.message,
                })
            })
            .transpose()
    };
    let metric = slug_field("metric")?.unwrap_or_else(|| setup.metric.to_owned());
    let dataset = match (kind, slug_field("dataset")?) {
        (ResultKind::Transfer, None) => {
            return Err(fail(
                "dataset",
                "is required for a transfer: the dataset this ticket was trained on".into(),
            ));
        }
        (ResultKind::Transfer, Some(d)) if d == setup.dataset => {
            return Err(fail(
                "dataset",
                format!(
                    "a transfer is to another dataset; {d} is the ticket's own (report it as a reproduction)"
                ),
            ));
        }
        (ResultKind::Transfer, Some(d)) => d,
        (_, Some(d)) if d != setup.dataset => {
            return Err(fail(
                "dataset",
                format!(
                    "a {} is on the ticket's dataset ({}); a run on {d} is a transfer",
                    kind.as_str(),
                    setup.dataset
                ),
            ));
        }
        _ => setup.dataset.to_owned(),
    };
    let scope = match (kind, string("scope", 32)?) {
        (_, None) => None,
        (ResultKind::RandomPrune, Some(s)) => Some(
            PruneScope::parse(&s)
                .ok_or_else(|| fail("scope", format!("must be layerwise or global; got {s:?}")))?,
        ),
        (_, Some(_)) => {
            return Err(fail(
                "scope",
                "is only for random_prune (how its random mask was drawn)".into(),
            ));
        }
    };
    let code_url = match string("code_url", 2048)? {
        None => None,
        Some(s) => match url::Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Some(u.to_string())
            }
            _ => return Err(fail("code_url", "must be an http or https URL".into())),
        },
    };
    Ok(NewResult {
        kind,
        accuracy,
        metric,
        seed: integer("seed")?,
        dataset,
        scope,
        steps: integer("steps")?,
        framework: string("framework", MAX_LABEL)?,
        hardware: string("hardware", MAX_LABEL)?,
        code_url,
        notes: string("notes", MAX_NOTES)?,
    })
}

/// The upload's `results` list (a JSON array, or in `__metadata__` a JSON string of one).
pub fn parse_results(value: &Value, setup: TicketSetup) -> Result<Vec<NewResult>, InvalidMetadata> {
    let parsed;
    let value = match value {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|e| InvalidMetadata {
                field: "results".into(),
                message: format!("in __metadata__ is not valid JSON: {e}"),
            })?;
            &parsed
        }
        v => v,
    };
    let Value::Array(items) = value else {
        return Err(InvalidMetadata {
            field: "results".into(),
            message: "must be a JSON array of results".into(),
        });
    };
    if items.len() > MAX_RESULTS_PER_UPLOAD {
        return Err(InvalidMetadata {
            field: "results".into(),
            message: format!(
                "at most {MAX_RESULTS_PER_UPLOAD} results may come with an upload; got {}",
                items.len()
            ),
        });
    }
    let results = items
        .iter()
        .enumerate()
        .map(|(i, v)| parse_result(v, setup, &format!("results[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    // The same (kind, dataset, seed) twice would break the one-result-per-run rule.
    for (i, a) in results.iter().enumerate() {
        if results[..i]
            .iter()
            .any(|b| (b.kind, &b.dataset, b.seed) == (a.kind, &a.dataset, a.seed))
        {
            return Err(InvalidMetadata {
                field: format!("results[{i}]"),
                message: "repeats an earlier result's kind, dataset and seed".into(),
            });
        }
    }
    Ok(results)
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

/// One cell of the transfer matrix: tickets found on `source`, trained on `target`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TransferCell {
    pub source: String,
    pub target: String,
    pub n: u64,
    pub mean: f64,
    /// The tickets behind the cell (at most [`TRANSFER_TICKETS`]).
    pub tickets: Vec<String>,
}

/// Ticket ids a transfer cell lists at most.
pub const TRANSFER_TICKETS: usize = 100;

/// Groups transfer rows `(source, target, accuracy, ticket id)` into cells, ordered by source
/// then target; each cell's tickets in first-seen order, without repeats.
pub fn transfer_cells(
    rows: impl IntoIterator<Item = (String, String, f64, String)>,
) -> Vec<TransferCell> {
    let mut cells: std::collections::BTreeMap<(String, String), (f64, u64, Vec<String>)> =
        Default::default();
    for (source, target, accuracy, ticket) in rows {
        let cell = cells.entry((source, target)).or_default();
        cell.0 += accuracy;
        cell.1 += 1;
        if cell.2.len() < TRANSFER_TICKETS && !cell.2.contains(&ticket) {
            cell.2.push(ticket);
        }
    }
    cells
        .into_iter()
        .map(|((source, target), (sum, n, tickets))| TransferCell {
            source,
            target,
            n,
            mean: sum / n as f64,
            tickets,
        })
        .collect()
}

#[cfg(test)]
mod tests;
