//! Ticket metadata validation: pure. Fields come from the upload's JSON `metadata` part and
//! from the file's `__metadata__` (strings only); the JSON part wins field by field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::evidence::{NewResult, TicketSetup, parse_results};

pub const MAX_DESCRIPTION_BYTES: usize = 64 << 10;
pub const MAX_HYPERPARAMETERS_BYTES: usize = 64 << 10;
pub const MAX_TAGS: usize = 32;
pub const MAX_SLUG_LEN: usize = 128;
const MAX_SHORT_TEXT: usize = 2048;
pub const DEFAULT_METRIC: &str = "top1_accuracy";

/// Every key the metadata accepts.
pub const FIELDS: &[&str] = &[
    "owner",
    "name",
    "task",
    "dataset",
    "architecture",
    "pruning_method",
    "accuracy",
    "dense_accuracy",
    "metric",
    "description",
    "tags",
    "parent_id",
    "hyperparameters",
    "paper_url",
    "code_url",
    "license",
    "results",
];

/// A metadata problem, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidMetadata {
    pub field: String,
    pub message: String,
}

fn fail<T>(field: &str, message: impl Into<String>) -> Result<T, InvalidMetadata> {
    Err(InvalidMetadata {
        field: field.to_owned(),
        message: message.into(),
    })
}

/// Validated metadata, ready to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketMetadata {
    /// The organization to publish under (the uploader must be a member); `None`: the
    /// uploader's own name.
    #[serde(default)]
    pub owner: Option<String>,
    pub name: String,
    pub task: String,
    pub dataset: String,
    pub architecture: String,
    pub pruning_method: String,
    pub accuracy: f64,
    pub dense_accuracy: Option<f64>,
    pub metric: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub parent_id: Option<String>,
    pub hyperparameters: Option<Map<String, Value>>,
    pub paper_url: Option<String>,
    pub code_url: Option<String>,
    pub license: Option<String>,
    /// Results reported with the upload (controls, reproductions...), by the uploader.
    #[serde(default)]
    pub results: Vec<NewResult>,
}

/// Parses the JSON `metadata` part: an object whose keys are all known.
pub fn parse_json_part(bytes: &[u8]) -> Result<Map<String, Value>, InvalidMetadata> {
    let value: Value = serde_json::from_slice(bytes)
        .or_else(|e| fail("metadata", format!("metadata part is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return fail("metadata", "metadata part must be a JSON object");
    };
    if let Some(key) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return fail(
            key,
            format!("unknown metadata field{}", did_you_mean(key, FIELDS)),
        );
    }
    Ok(map)
}

/// One field's raw value, from either source.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Json(&'a Value),
    File(&'a str),
}

struct Sources<'a> {
    json: Option<&'a Map<String, Value>>,
    file: &'a BTreeMap<String, String>,
}

impl<'a> Sources<'a> {
    /// JSON `null` counts as absent, so the file's value (if any) still applies.
    fn get(&self, field: &str) -> Option<Raw<'a>> {
        match self.json.and_then(|m| m.get(field)) {
            Some(Value::Null) | None => self.file.get(field).map(|s| Raw::File(s)),
            Some(v) => Some(Raw::Json(v)),
        }
    }

    fn required(&self, field: &str) -> Result<Raw<'a>, InvalidMetadata> {
        self.get(field).map_or_else(
            || {
                fail(
                    field,
                    "is required, in the metadata part or in the file's __metadata__",
                )
            },
            Ok,
        )
    }
}

fn string<'a>(field: &str, raw: Raw<'a>) -> Result<&'a str, InvalidMetadata> {
    match raw {
        Raw::File(s) => Ok(s),
        Raw::Json(Value::String(s)) => Ok(s),
        Raw::Json(_) => fail(field, "must be a string"),
    }
}

/// Slugs are lowercased on input: `[a-z0-9][a-z0-9._-]*`.
pub fn slug(field: &str, value: &str) -> Result<String, InvalidMetadata> {
    let s = value.to_lowercase();
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !first_ok || !rest_ok {
        return fail(
            field,
            format!(
                "must be a slug of letters, digits, '.', '_' or '-', starting with a letter or digit; got {value:?}"
            ),
        );
    }
    if s.len() > MAX_SLUG_LEN {
        return fail(field, format!("is longer than {MAX_SLUG_LEN} characters"));
    }
    Ok(s)
}

fn fraction(field: &str, raw: Raw) -> Result<f64, InvalidMetadata> {
    let x = match raw {
        Raw::Json(Value::Number(n)) => n.as_f64(),
        Raw::File(s) => s.trim().parse::<f64>().ok(),
        Raw::Json(_) => None,
    };
    let Some(x) = x.filter(|x| x.is_finite()) else {
        return fail(field, "must be a finite number, a fraction in [0, 1]");
    };
    check_fraction(x).or_else(|message| fail(field, message))
}

/// A fraction in [0, 1], or why not: a value in (1, 100] is taken for a percentage and gets
/// "did you mean 0.975?". The message does not name the field (errors carry it apart). Shared
/// by metadata (`accuracy`), the search bounds (`min_sparsity`, ...) and the CLI's flags.
pub fn check_fraction(x: f64) -> Result<f64, String> {
    if x > 1.0 && x <= 100.0 {
        return Err(format!(
            "must be a fraction in [0, 1]; {x} looks like a percentage (did you mean {}?)",
            // Rounded, so 93.1 suggests 0.931 and not 0.9309999999999999.
            (x / 100.0 * 1e12).round() / 1e12
        ));
    }
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("must be a fraction in [0, 1]; got {x}"));
    }
    Ok(x)
}

fn text(field: &str, raw: Raw, max: usize) -> Result<String, InvalidMetadata> {
    let s = string(field, raw)?;
    if s.len() > max {
        return fail(field, format!("is longer than {max} bytes"));
    }
    if s.chars().any(|c| c == '\0') {
        return fail(field, "contains a NUL character");
    }
    Ok(s.to_owned())
}

fn http_url(field: &str, raw: Raw) -> Result<String, InvalidMetadata> {
    let s = text(field, raw, MAX_SHORT_TEXT)?;
    match url::Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u.to_string()),
        _ => fail(field, "must be an http or https URL"),
    }
}

fn tags(raw: Raw) -> Result<Vec<String>, InvalidMetadata> {
    let items: Vec<&str> = match raw {
        Raw::File(s) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect(),
        Raw::Json(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map_or_else(|| fail("tags", "must be an array of strings"), Ok)
            })
            .collect::<Result<_, _>>()?,
        Raw::Json(_) => return fail("tags", "must be an array of strings"),
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for t in items {
        let t = slug("tags", t)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return fail(
            "tags",
            format!("at most {MAX_TAGS} tags are allowed; got {}", out.len()),
        );
    }
    Ok(out)
}

fn hyperparameters(raw: Raw) -> Result<Map<String, Value>, InvalidMetadata> {
    const FIELD: &str = "hyperparameters";
    let value = match raw {
        Raw::Json(v) => v.clone(),
        Raw::File(s) => serde_json::from_str(s)
            .or_else(|e| fail(FIELD, format!("in __metadata__ is not valid JSON: {e}")))?,
    };
    let Value::Object(map) = value else {
        return fail(FIELD, "must be a JSON object");
    };
    let size = serde_json::to_vec(&map)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_HYPERPARAMETERS_BYTES {
        return fail(
            FIELD,
            format!("is larger than {MAX_HYPERPARAMETERS_BYTES} bytes"),
        );
    }
    Ok(map)
}

/// Merges the two sources and validates every field.
pub fn resolve(
    json: Option<&Map<String, Value>>,
    file: &BTreeMap<String, String>,
) -> Result<TicketMetadata, InvalidMetadata> {
    let src = Sources { json, file };
    let req_slug = |f: &str| src.required(f).and_then(|r| slug(f, string(f, r)?));
    let opt = |f: &str| src.get(f);
    let mut meta = TicketMetadata {
        owner: opt("owner")
            .map(|r| slug("owner", string("owner", r)?))
            .transpose()?,
        name: req_slug("name")?,
        task: req_slug("task")?,
        dataset: req_slug("dataset")?,
        architecture: req_slug("architecture")?,
        pruning_method: req_slug("pruning_method")?,
        accuracy: fraction("accuracy", src.required("accuracy")?)?,
        dense_accuracy: opt("dense_accuracy")
            .map(|r| fraction("dense_accuracy", r))
            .transpose()?,
        metric: match opt("metric") {
            Some(r) => slug("metric", string("metric", r)?)?,
            None => DEFAULT_METRIC.to_owned(),
        },
        description: opt("description")
            .map(|r| text("description", r, MAX_DESCRIPTION_BYTES))
            .transpose()?,
        tags: opt("tags").map(tags).transpose()?.unwrap_or_default(),
        parent_id: opt("parent_id")
            .map(|r| text("parent_id", r, 128).map(|s| s.trim().to_owned()))
            .transpose()?
            .filter(|s| !s.is_empty()),
        hyperparameters: opt("hyperparameters").map(hyperparameters).transpose()?,
        paper_url: opt("paper_url")
            .map(|r| http_url("paper_url", r))
            .transpose()?,
        code_url: opt("code_url")
            .map(|r| http_url("code_url", r))
            .transpose()?,
        license: opt("license")
            .map(|r| text("license", r, MAX_SHORT_TEXT))
            .transpose()?,
        results: Vec::new(),
    };
    if let Some(raw) = opt("results") {
        let value = match raw {
            Raw::Json(v) => v.clone(),
            Raw::File(s) => Value::String(s.to_owned()),
        };
        let setup = TicketSetup {
            dataset: &meta.dataset,
            metric: &meta.metric,
        };
        meta.results = parse_results(&value, setup)?;
    }
    Ok(meta)
}

/// Fields an owner may change after upload (PATCH). `Some(None)` clears a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketEdit {
    pub description: Option<Option<String>>,
    /// The new description rendered (set by the pipeline's renderer, not by the client).
    pub description_html: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub paper_url: Option<Option<String>>,
    pub code_url: Option<Option<String>>,
    pub license: Option<Option<String>>,
}

pub const EDITABLE: &[&str] = &["description", "tags", "paper_url", "code_url", "license"];

/// Validates a PATCH body. What was measured or uploaded never changes: a corrected ticket is
/// a new upload.
pub fn parse_edit(body: &Value) -> Result<TicketEdit, InvalidMetadata> {
    let Value::Object(map) = body else {
        return fail("metadata", "the body must be a JSON object");
    };
    let mut edit = TicketEdit::default();
    for (key, value) in map {
        if !EDITABLE.contains(&key.as_str()) {
            let message = if FIELDS.contains(&key.as_str()) {
                "cannot be changed after upload: a corrected ticket is a new upload".to_owned()
            } else {
                format!(
                    "unknown or read-only field{}; editable: {}",
                    did_you_mean(key, FIELDS),
                    EDITABLE.join(", ")
                )
            };
            return fail(key, message);
        }
        let raw = (!value.is_null()).then_some(Raw::Json(value));
        match key.as_str() {
            "description" => {
                edit.description = Some(
                    raw.map(|r| text(key, r, MAX_DESCRIPTION_BYTES))
                        .transpose()?,
                )
            }
            "tags" => edit.tags = Some(raw.map(tags).transpose()?.unwrap_or_default()),
            "paper_url" => edit.paper_url = Some(raw.map(|r| http_url(key, r)).transpose()?),
            "code_url" => edit.code_url = Some(raw.map(|r| http_url(key, r)).transpose()?),
            _ => edit.license = Some(raw.map(|r| text(key, r, MAX_SHORT_TEXT)).transpose()?),
        }
    }
    Ok(edit)
}

/// " (did you mean 'task'?)" when a known name is near enough to `key` to be a likely intent,
/// else "". One rule for metadata keys and query parameters alike.
pub fn did_you_mean(key: &str, known: &[&str]) -> String {
    closest(key, known)
        .map(|k| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

/// The known name nearest to a typo: within 2 edits (a swap of neighbours is one), a longer
/// name that `key` begins (`min_acc`), or a long shared stem with few edits (`hyperparams` for
/// `hyperparameters`). Ties go to an anagram (`taks` is `task` before `tags`), then by name.
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    // The distance costs len(key) x len(name): a typo is short, and a megabyte-long key (the
    // metadata part may be 1 MiB) must not cost seconds of CPU to be refused.
    if key.len() > 64 {
        return None;
    }
    let key = key.to_lowercase();
    known
        .iter()
        .filter_map(|&k| {
            let d = strsim::osa_distance(&key, k);
            let stem = key
                .chars()
                .zip(k.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let near = d <= 2
                || (key.len() >= 3 && k.starts_with(key.as_str()))
                || (stem >= 5 && d <= k.len() / 3);
            near.then(|| (d, !same_letters(&key, k), k))
        })
        .min()
        .map(|(_, _, k)| k)
}

fn same_letters(a: &str, b: &str) -> bool {
    let mut a: Vec<char> = a.chars().collect();
    let mut b: Vec<char> = b.chars().collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
mod tests;
