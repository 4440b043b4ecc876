//! The SQL both index backends share, built from the domain's validated filter and page: one
//! `WHERE` for every list endpoint, keyset pages, facet and task counts, plot points and the
//! frontier's candidates. Values are always bound (`$N`), never spliced.

mod facets;
mod search;

pub use facets::{Facet, facets_sql};
pub use search::search_sql;

use crate::domain::search::{
    InvalidParameter, POINTS_CAP, Pairs, TicketFilter, parse_filter_only, parse_frontier,
    parse_search, parse_tasks,
};

/// A value bound into SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Real(f64),
    Int(i64),
}

/// How a backend matches `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSearch {
    /// `LIKE '%q%'` on `search_text`, served by a pg_trgm GIN index.
    PgTrigram,
    /// An FTS5 trigram phrase query for 3+ characters; shorter ones scan with LIKE.
    SqliteFts,
}

/// SQL under construction with `$N` placeholders, which both Postgres and SQLite accept.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
}

/// `column IN (...)` over the filter's mask structures, each bound; `None` without any.
fn structure_in(filter: &TicketFilter, column: &str, sql: &mut Sql) -> Option<String> {
    let structures = filter.structures();
    if structures.is_empty() {
        return None;
    }
    let list = structures
        .iter()
        .map(|s| sql.bind(Arg::Text((*s).to_owned())))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!("{column} IN ({list})"))
}

fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The `WHERE` conditions for a filter, over `tickets t`, joined with AND (never empty).
pub fn where_clause(filter: &TicketFilter, text: TextSearch, sql: &mut Sql) -> String {
    let mut conds: Vec<String> = Vec::new();
    if !filter.include_yanked {
        conds.push("t.yanked = FALSE".into());
    }
    for (column, value) in [
        ("t.task", &filter.task),
        ("t.dataset", &filter.dataset),
        ("t.architecture", &filter.architecture),
        ("t.pruning_method", &filter.pruning_method),
        ("t.parent_id", &filter.parent_id),
        ("t.metric", &filter.metric),
    ] {
        if let Some(v) = value {
            conds.push(format!("{column} = {}", sql.bind(Arg::Text(v.clone()))));
        }
    }
    if let Some(owner) = &filter.owner {
        let p = sql.bind(Arg::Text(owner.clone()));
        conds.push(format!(
            "t.owner_id = (SELECT id FROM users WHERE name = {p})"
        ));
    }
    match filter.tags.as_slice() {
        [] => {}
        [tag] => {
            let p = sql.bind(Arg::Text(tag.clone()));
            conds.push(format!(
                "t.seq IN (SELECT ticket_seq FROM ticket_tags WHERE tag = {p})"
            ));
        }
        // Several tags: one pass over their rows, keeping tickets that have all of them (tags
        // are deduplicated, here and in ticket_tags), instead of a subquery per tag.
        tags => {
            let list = tags
                .iter()
                .map(|tag| sql.bind(Arg::Text(tag.clone())))
                .collect::<Vec<_>>()
                .join(", ");
            let n = sql.bind(Arg::Int(tags.len() as i64));
            conds.push(format!(
                "t.seq IN (SELECT ticket_seq FROM ticket_tags WHERE tag IN ({list}) \
                 GROUP BY ticket_seq HAVING COUNT(*) = {n})"
            ));
        }
    }
    for (column, op, value) in [
        ("t.sparsity", ">=", filter.min_sparsity),
        ("t.sparsity", "<=", filter.max_sparsity),
        ("t.accuracy", ">=", filter.min_accuracy),
        ("t.accuracy", "<=", filter.max_accuracy),
    ] {
        if let Some(v) = value {
            conds.push(format!("{column} {op} {}", sql.bind(Arg::Real(v))));
        }
    }
    if let Some(verdict) = filter.verdict {
        let p = sql.bind(Arg::Text(verdict.as_str().to_owned()));
        conds.push(format!("t.verdict = {p}"));
    }
    if let Some(n) = filter.min_reproductions {
        let p = sql.bind(Arg::Int(n as i64));
        conds.push(format!("t.reproductions >= {p}"));
    }
    if filter.reproduced_by_others {
        conds.push("t.reproductions_by_others > 0".into());
    }
    if let Some(fp) = &filter.fingerprint {
        let p = sql.bind(Arg::Text(fp.clone()));
        conds.push(format!("t.architecture_fingerprint = {p}"));
    }
    if let Some(cond) = structure_in(filter, "t.structure", sql) {
        conds.push(cond);
    }
    if let Some(q) = &filter.q {
        conds.push(match text {
            TextSearch::SqliteFts if q.chars().count() >= 3 => {
                let phrase = format!("\"{}\"", q.replace('"', "\"\""));
                let p = sql.bind(Arg::Text(phrase));
                format!("t.seq IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH {p})")
            }
            _ => {
                let p = sql.bind(Arg::Text(like_pattern(q)));
                format!("t.search_text LIKE {p} ESCAPE '\\'")
            }
        });
    }
    if conds.is_empty() {
        conds.push("TRUE".into());
    }
    conds.join(" AND ")
}

/// Every task with its ticket count (kept on write) and its best accuracy and highest sparsity
/// (each one index lookup per task).
pub fn tasks_sql(include_yanked: bool) -> String {
    let (outer, inner) = if include_yanked {
        ("TRUE", "")
    } else {
        ("s.yanked = FALSE", " AND t.yanked = FALSE")
    };
    format!(
        "SELECT s.task, CAST(SUM(s.n) AS BIGINT) AS n, \
         (SELECT MAX(t.accuracy) FROM tickets t WHERE t.task = s.task{inner}) AS best_accuracy, \
         (SELECT MAX(t.sparsity) FROM tickets t WHERE t.task = s.task{inner}) AS max_sparsity \
         FROM facet_counts s WHERE {outer} GROUP BY s.task HAVING SUM(s.n) > 0 ORDER BY s.task"
    )
}

/// Compact rows for plots, by ascending sparsity.
pub fn points_sql(filter: &TicketFilter, cap: usize, text: TextSearch) -> Sql {
    let mut sql = Sql::default();
    let conds = where_clause(filter, text, &mut sql);
    let limit = sql.bind(Arg::Int(cap as i64));
    sql.text = format!(
        "SELECT t.id, t.name, t.sparsity, t.accuracy, t.parent_id FROM tickets t WHERE {conds} \
         ORDER BY t.sparsity, t.seq LIMIT {limit}"
    );
    sql
}

/// Frontier candidates: id, sparsity and accuracy of every match.
pub fn candidates_sql(filter: &TicketFilter, text: TextSearch) -> Sql {
    let mut sql = Sql::default();
    let conds = where_clause(filter, text, &mut sql);
    let accuracy = if filter.reproduced_accuracy {
        "t.reproduced_accuracy"
    } else {
        "t.accuracy"
    };
    sql.text = format!("SELECT t.id, t.sparsity, {accuracy} FROM tickets t WHERE {conds}");
    sql
}

/// The statement with its values inlined as SQL literals, for EXPLAIN and raw-SQL baselines.
pub fn inline_args(sql: &Sql) -> String {
    let mut text = sql.text.clone();
    // Highest first, so $1 does not eat the front of $10.
    for (i, arg) in sql.args.iter().enumerate().rev() {
        let literal = match arg {
            Arg::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Arg::Real(x) => format!("{x:?}"),
            Arg::Int(n) => n.to_string(),
        };
        text = text.replace(&format!("${}", i + 1), &literal);
    }
    text
}

/// The statements behind one API request, with values inlined.
pub fn statements_for(
    endpoint: &str,
    pairs: &Pairs,
    columns: &str,
    text: TextSearch,
) -> Result<Vec<String>, InvalidParameter> {
    Ok(match endpoint {
        "tickets" => {
            let (filter, page) = parse_search(pairs)?;
            vec![inline_args(&search_sql(columns, &filter, &page, text))]
        }
        "facets" => {
            let filter = parse_filter_only(pairs)?;
            vec![inline_args(&facets_sql(&filter, text))]
        }
        "tasks" => vec![tasks_sql(parse_tasks(pairs)?)],
        "points" => {
            let filter = parse_filter_only(pairs)?;
            vec![inline_args(&points_sql(&filter, POINTS_CAP + 1, text))]
        }
        "frontier" => vec![inline_args(&candidates_sql(&parse_frontier(pairs)?, text))],
        other => {
            return Err(InvalidParameter {
                field: "endpoint".into(),
                message: format!("unknown endpoint '{other}'"),
            });
        }
    })
}

/// The lowercased text `q` searches.
pub fn search_text(
    name: &str,
    description: Option<&str>,
    architecture: &str,
    dataset: &str,
    tags: &[String],
) -> String {
    [
        name,
        description.unwrap_or(""),
        architecture,
        dataset,
        &tags.join(" "),
    ]
    .join("\n")
    .to_lowercase()
}

/// A query string as the handlers receive it (tests of the SQL builders).
#[cfg(test)]
fn pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::parse_filter;

    #[test]
    fn where_clause_binds_every_value() {
        let f = parse_filter(&pairs("task=t&owner=o&tag=x&min_accuracy=0.5&q=50%25_off")).unwrap();
        let mut sql = Sql::default();
        let w = where_clause(&f, TextSearch::PgTrigram, &mut sql);
        assert!(w.starts_with("t.yanked = FALSE AND t.task = $1"), "{w}");
        assert!(w.contains("LIKE $5 ESCAPE"), "{w}");
        assert_eq!(sql.args[4], Arg::Text("%50\\%\\_off%".into()));
        let mut sql = Sql::default();
        let w = where_clause(&f, TextSearch::SqliteFts, &mut sql);
        assert!(w.contains("ticket_search MATCH $5"), "{w}");
        assert_eq!(sql.args[4], Arg::Text("\"50%_off\"".into()));
    }
}
