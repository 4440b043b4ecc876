//! Finding tickets, as pure logic: query parameters to a validated filter and page, opaque
//! cursors bound to their query, the page a search answers, and the Pareto frontier. The SQL
//! these become is the index's (`index::sql`).

use serde::{Deserialize, Serialize};

use super::evidence::Verdict;
use super::masks::structure::{Pattern, UNSTRUCTURED};
use super::metadata;

mod cursor;

use cursor::decode_cursor;
pub use cursor::{After, SortValue, SortValues, encode_cursor, paginate};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// Rows the points endpoint returns at most.
pub const POINTS_CAP: usize = 100_000;
/// Values per facet.
pub const FACET_TOP: usize = 50;

/// A bad query parameter, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidParameter {
    pub field: String,
    pub message: String,
}

fn bad<T>(field: &str, message: impl Into<String>) -> Result<T, InvalidParameter> {
    Err(InvalidParameter {
        field: field.to_owned(),
        message: message.into(),
    })
}

/// Which tickets: every field narrows the set; all are combinable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TicketFilter {
    pub task: Option<String>,
    pub dataset: Option<String>,
    pub architecture: Option<String>,
    pub pruning_method: Option<String>,
    pub owner: Option<String>,
    /// All must match. Sorted and deduplicated.
    pub tags: Vec<String>,
    pub parent_id: Option<String>,
    pub min_sparsity: Option<f64>,
    pub max_sparsity: Option<f64>,
    pub min_accuracy: Option<f64>,
    pub max_accuracy: Option<f64>,
    /// Lowercased free text.
    pub q: Option<String>,
    /// Only for the frontier: compare tickets of one metric.
    pub metric: Option<String>,
    pub include_yanked: bool,
    /// What the evidence says (docs/evidence.md).
    pub verdict: Option<Verdict>,
    pub min_reproductions: Option<u64>,
    /// At least one reproduction by someone other than the owner.
    pub reproduced_by_others: bool,
    /// Only for the frontier: rank by the mean of the ticket's accuracy and its
    /// reproductions (`accuracy=reproduced`) instead of the uploaded accuracy.
    pub reproduced_accuracy: bool,
    /// The architecture fingerprint (docs/masks.md): tickets that fit one model.
    pub fingerprint: Option<String>,
    /// An N:M pattern (`2:4` also matches the stricter `1:4`), or `unstructured`.
    pub structure: Option<String>,
}

impl TicketFilter {
    /// The structures a `structure=` filter matches.
    pub fn structures(&self) -> Vec<&'static str> {
        match self.structure.as_deref() {
            None => Vec::new(),
            Some(s) => match Pattern::parse(s) {
                Some(p) => p.at_least_as_strict(),
                None => vec![UNSTRUCTURED],
            },
        }
    }
}

impl TicketFilter {
    /// True when only task / dataset / architecture / method / verdict / structure narrow the
    /// set, so counts kept on write can answer facet questions.
    pub fn only_dimensions(&self) -> bool {
        self.owner.is_none()
            && self.tags.is_empty()
            && self.parent_id.is_none()
            && self.min_sparsity.is_none()
            && self.max_sparsity.is_none()
            && self.min_accuracy.is_none()
            && self.max_accuracy.is_none()
            && self.q.is_none()
            && self.metric.is_none()
            && self.min_reproductions.is_none()
            && !self.reproduced_by_others
            && self.fingerprint.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    Created,
    Accuracy,
    Sparsity,
    Downloads,
    Reproductions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub sort: SortKey,
    pub order: Order,
    pub limit: usize,
    pub after: Option<After>,
}

/// Query parameters as name/value pairs (names may repeat, like `tag`).
pub type Pairs = [(String, String)];

const FILTER_PARAMS: &[&str] = &[
    "task",
    "dataset",
    "architecture",
    "pruning_method",
    "owner",
    "tag",
    "parent_id",
    "min_sparsity",
    "max_sparsity",
    "min_accuracy",
    "max_accuracy",
    "q",
    "include_yanked",
    "verdict",
    "min_reproductions",
    "reproduced_by_others",
    "fingerprint",
    "structure",
];

/// Most reproductions a `min_reproductions` may ask for (a ticket holds at most 1,000 results).
pub const MAX_MIN_REPRODUCTIONS: u64 = 1_000_000;

/// Rejects parameters an endpoint does not know, so a typo is an error, not a silent no-op,
/// and suggests the nearest known one as unknown metadata keys do (`taks` -> `task`).
pub fn check_known(pairs: &Pairs, known: &[&[&str]]) -> Result<(), InvalidParameter> {
    for (name, _) in pairs {
        if !known.iter().any(|set| set.contains(&name.as_str())) {
            let all: Vec<&str> = known.iter().flat_map(|set| set.iter().copied()).collect();
            return bad(
                name,
                format!("unknown parameter{}", metadata::did_you_mean(name, &all)),
            );
        }
    }
    Ok(())
}

fn single<'a>(pairs: &'a Pairs, name: &str) -> Result<Option<&'a str>, InvalidParameter> {
    let mut values = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return bad(name, "may be given once");
    }
    Ok(first)
}

fn slug_param(pairs: &Pairs, name: &str) -> Result<Option<String>, InvalidParameter> {
    single(pairs, name)?
        .map(|v| {
            metadata::slug(name, v).map_err(|e| InvalidParameter {
                field: name.to_owned(),
                message: e.message,
            })
        })
        .transpose()
}

/// A bound on sparsity or accuracy (every numeric filter is one): a fraction in [0, 1]. A
/// percentage is refused with the metadata's own hint (`97` -> "did you mean 0.97?"), never
/// taken silently to match nothing.
fn number_param(pairs: &Pairs, name: &str) -> Result<Option<f64>, InvalidParameter> {
    single(pairs, name)?
        .map(|v| match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => metadata::check_fraction(x).or_else(|m| bad(name, m)),
            _ => bad(
                name,
                format!("must be a number, a fraction in [0, 1]; got {v:?}"),
            ),
        })
        .transpose()
}

fn bool_param(pairs: &Pairs, name: &str) -> Result<bool, InvalidParameter> {
    match single(pairs, name)? {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(v) => bad(name, format!("must be true or false; got {v:?}")),
    }
}

/// The filter parameters every list endpoint shares.
pub fn parse_filter(pairs: &Pairs) -> Result<TicketFilter, InvalidParameter> {
    let mut tags = pairs
        .iter()
        .filter(|(k, _)| k == "tag")
        .map(|(_, v)| {
            metadata::slug("tag", v).map_err(|e| InvalidParameter {
                field: "tag".into(),
                message: e.message,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    tags.sort();
    tags.dedup();
    // Each tag is a condition; a ticket carries at most MAX_TAGS, so more can match nothing.
    if tags.len() > metadata::MAX_TAGS {
        return bad(
            "tag",
            format!(
                "at most {} tags may be given (a ticket carries at most that many); got {}",
                metadata::MAX_TAGS,
                tags.len()
            ),
        );
    }
    let q = single(pairs, "q")?
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty());
    if q.as_ref().is_some_and(|q| q.len() > 256) {
        return bad("q", "is longer than 256 bytes");
    }
    Ok(TicketFilter {
        task: slug_param(pairs, "task")?,
        dataset: slug_param(pairs, "dataset")?,
        architecture: slug_param(pairs, "architecture")?,
        pruning_method: slug_param(pairs, "pruning_method")?,
        owner: slug_param(pairs, "owner")?,
        tags,
        parent_id: single(pairs, "parent_id")?.map(str::to_owned),
        min_sparsity: number_param(pairs, "min_sparsity")?,
        max_sparsity: number_param(pairs, "max_sparsity")?,
        min_accuracy: number_param(pairs, "min_accuracy")?,
        max_accuracy: number_param(pairs, "max_accuracy")?,
        q,
        metric: None,
        include_yanked: bool_param(pairs, "include_yanked")?,
        verdict: single(pairs, "verdict")?
            .map(|v| {
                Verdict::parse(v).ok_or_else(|| InvalidParameter {
                    field: "verdict".into(),
                    message: format!(
                        "unknown verdict {v:?} ({})",
                        Verdict::ALL.map(Verdict::as_str).join(", ")
                    ),
                })
            })
            .transpose()?,
        min_reproductions: single(pairs, "min_reproductions")?
            .map(|v| match v.trim().parse::<u64>() {
                Ok(n) if n <= MAX_MIN_REPRODUCTIONS => Ok(n),
                _ => bad(
                    "min_reproductions",
                    format!("must be a whole number from 0 to {MAX_MIN_REPRODUCTIONS}; got {v:?}"),
                ),
            })
            .transpose()?,
        reproduced_by_others: bool_param(pairs, "reproduced_by_others")?,
        reproduced_accuracy: false,
        fingerprint: single(pairs, "fingerprint")?
            .map(|v| {
                let v = v.trim().to_lowercase();
                if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(v)
                } else {
                    bad(
                        "fingerprint",
                        "must be 64 hex digits (a sha256, docs/masks.md)",
                    )
                }
            })
            .transpose()?,
        structure: single(pairs, "structure")?
            .map(|v| match Pattern::parse(v) {
                Some(p) => Ok(p.name().to_owned()),
                None if v == UNSTRUCTURED => Ok(UNSTRUCTURED.to_owned()),
                None => bad(
                    "structure",
                    format!("must be 1:4, 2:4, 4:8 or unstructured; got {v:?}"),
                ),
            })
            .transpose()?,
    })
}

/// `GET /api/v1/tickets`: filters, sort, order, limit and cursor.
pub fn parse_search(pairs: &Pairs) -> Result<(TicketFilter, Page), InvalidParameter> {
    check_known(
        pairs,
        &[FILTER_PARAMS, &["sort", "order", "limit", "cursor"]],
    )?;
    let filter = parse_filter(pairs)?;
    let sort = match single(pairs, "sort")? {
        None | Some("created") => SortKey::Created,
        Some("accuracy") => SortKey::Accuracy,
        Some("sparsity") => SortKey::Sparsity,
        Some("downloads") => SortKey::Downloads,
        Some("reproductions") => SortKey::Reproductions,
        Some(v) => {
            return bad(
                "sort",
                format!(
                    "unknown sort {v:?} (created, accuracy, sparsity, downloads or reproductions)"
                ),
            );
        }
    };
    let order = match single(pairs, "order")? {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(v) => return bad("order", format!("must be asc or desc; got {v:?}")),
    };
    let limit = match single(pairs, "limit")? {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return bad("limit", format!("must be 1 to {MAX_LIMIT}; got {v:?}"));
            }
        },
    };
    let mut page = Page {
        sort,
        order,
        limit,
        after: None,
    };
    if let Some(cursor) = single(pairs, "cursor")? {
        page.after = Some(decode_cursor(cursor, &filter, &page)?);
    }
    Ok((filter, page))
}

/// `GET /api/v1/facets` and `GET /api/v1/points`: the filters only.
pub fn parse_filter_only(pairs: &Pairs) -> Result<TicketFilter, InvalidParameter> {
    check_known(pairs, &[FILTER_PARAMS])?;
    parse_filter(pairs)
}

/// `GET /api/v1/frontier`: task (required), dataset, architecture, metric, and which accuracy
/// ranks (`reported`, the default, or `reproduced`).
pub fn parse_frontier(pairs: &Pairs) -> Result<TicketFilter, InvalidParameter> {
    check_known(
        pairs,
        &[&[
            "task",
            "dataset",
            "architecture",
            "metric",
            "include_yanked",
            "accuracy",
        ]],
    )?;
    let reproduced_accuracy = match single(pairs, "accuracy")? {
        None | Some("reported") => false,
        Some("reproduced") => true,
        Some(v) => {
            return bad(
                "accuracy",
                format!("must be reported or reproduced; got {v:?}"),
            );
        }
    };
    let mut filter = TicketFilter {
        task: slug_param(pairs, "task")?,
        dataset: slug_param(pairs, "dataset")?,
        architecture: slug_param(pairs, "architecture")?,
        metric: Some(
            slug_param(pairs, "metric")?.unwrap_or_else(|| metadata::DEFAULT_METRIC.into()),
        ),
        include_yanked: bool_param(pairs, "include_yanked")?,
        reproduced_accuracy,
        ..TicketFilter::default()
    };
    if filter.task.is_none() {
        return bad("task", "is required");
    }
    filter.tags.clear();
    Ok(filter)
}

/// `GET /api/v1/transfer`: task and architecture (both required), metric: the three slugs.
pub fn parse_transfer(pairs: &Pairs) -> Result<(String, String, String), InvalidParameter> {
    check_known(pairs, &[&["task", "architecture", "metric"]])?;
    let required = |name: &str| {
        slug_param(pairs, name)?.ok_or_else(|| InvalidParameter {
            field: name.into(),
            message: "is required".into(),
        })
    };
    Ok((
        required("task")?,
        required("architecture")?,
        slug_param(pairs, "metric")?.unwrap_or_else(|| metadata::DEFAULT_METRIC.into()),
    ))
}

/// An endpoint that takes only `limit` (1 to [`MAX_LIMIT`], default `default`).
pub fn parse_limit(pairs: &Pairs, default: usize) -> Result<usize, InvalidParameter> {
    check_known(pairs, &[&["limit"]])?;
    match single(pairs, "limit")? {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => bad("limit", format!("must be 1 to {MAX_LIMIT}; got {v:?}")),
        },
    }
}

/// `GET /api/v1/tasks`: only `include_yanked`.
pub fn parse_tasks(pairs: &Pairs) -> Result<bool, InvalidParameter> {
    check_known(pairs, &[&["include_yanked"]])?;
    bool_param(pairs, "include_yanked")
}

/// A candidate for the frontier.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub sparsity: f64,
    pub accuracy: f64,
}

/// The Pareto set: tickets no other ticket matches or beats in both sparsity and accuracy
/// while beating in one. Ascending sparsity. Exact duplicates dominate neither each other.
pub fn pareto_frontier(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        b.sparsity
            .total_cmp(&a.sparsity)
            .then(b.accuracy.total_cmp(&a.accuracy))
    });
    let mut frontier = Vec::new();
    let mut best_sparser = f64::NEG_INFINITY;
    let mut i = 0;
    while i < candidates.len() {
        let sparsity = candidates[i].sparsity;
        let group_best = candidates[i].accuracy;
        let mut j = i;
        while j < candidates.len() && candidates[j].sparsity == sparsity {
            // Only the group's most accurate survive, and only if no sparser ticket is as good.
            if candidates[j].accuracy == group_best && group_best > best_sparser {
                frontier.push(candidates[j].clone());
            }
            j += 1;
        }
        best_sparser = best_sparser.max(group_best);
        i = j;
    }
    frontier.sort_by(|a, b| a.sparsity.total_cmp(&b.sparsity).then(a.id.cmp(&b.id)));
    frontier
}

#[cfg(test)]
mod tests;
