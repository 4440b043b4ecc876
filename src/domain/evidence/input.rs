//! A reported result as it arrives: a POST body or an item of the upload's `results`, validated
//! against the ticket it is reported for.

use serde_json::Value;

use super::{MAX_RESULTS_PER_UPLOAD, NewResult, PruneScope, ResultKind};
use crate::domain::metadata::{self, InvalidMetadata};

const MAX_NOTES: usize = 2000;
const MAX_LABEL: usize = 64;
/// Seeds and steps stay integers a JSON client reads exactly (2^53).
const MAX_INT: i64 = 1 << 53;

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
