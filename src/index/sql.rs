//! The SQL both index backends share, built from the domain's validated filter and page: one
//! `WHERE` for every list endpoint, keyset pages, facet and task counts, plot points and the
//! frontier's candidates. Values are always bound (`$N`), never spliced.

use crate::domain::search::{
    FACET_TOP, InvalidParameter, Order, POINTS_CAP, Page, Pairs, SortKey, SortValue, TicketFilter,
    parse_filter_only, parse_frontier, parse_search, parse_tasks,
};

/// The column a sort key orders by (none: insertion order, `seq`).
fn sort_column(key: SortKey) -> Option<&'static str> {
    match key {
        SortKey::Created => None,
        SortKey::Accuracy => Some("t.accuracy"),
        SortKey::Sparsity => Some("t.sparsity"),
        SortKey::Downloads => Some("t.downloads"),
        SortKey::Reproductions => Some("t.reproductions"),
    }
}

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
    let structures = filter.structures();
    if !structures.is_empty() {
        let list = structures
            .iter()
            .map(|s| sql.bind(Arg::Text((*s).to_owned())))
            .collect::<Vec<_>>()
            .join(", ");
        conds.push(format!("t.structure IN ({list})"));
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

/// Sparsity bands of width 1/20 for the banded search below: band `floor(sparsity * 20)`,
/// 0 to 20, the same expression as the band indexes (migration 0009 on both backends).
const SPARSITY_BANDS: f64 = 20.0;

/// One page of a search: `SELECT {columns} FROM tickets t ... WHERE ... ORDER BY ... LIMIT`.
/// Asks for one row more than the page, to know whether another page follows.
pub fn search_sql(columns: &str, filter: &TicketFilter, page: &Page, text: TextSearch) -> Sql {
    let mut sql = Sql::default();
    // The limit inlined, not bound: a validated number (1 to MAX_LIMIT + 1), and Postgres plans
    // a prepared `LIMIT $n` generically for 10,000 rows, which turns the keyset lookup into a
    // hash join over the whole table.
    let (order, limit) = (page_order(page), page.limit + 1);
    let seqs = match sparsity_bands(filter, page) {
        Some(bands) => banded_seqs(filter, page, text, bands, &mut sql),
        None => {
            let conds = page_conds(filter, page, text, &mut sql);
            format!("SELECT t.seq FROM tickets t WHERE {conds} ORDER BY {order} LIMIT {limit}")
        }
    };
    // The page's seqs first, from the filter + sort index alone where it covers the filters;
    // then only those rows are read whole.
    sql.text = format!("SELECT {columns} WHERE t.seq IN ({seqs}) ORDER BY {order}");
    sql
}

/// The filter's conditions and, past the first page, the keyset condition.
fn page_conds(filter: &TicketFilter, page: &Page, text: TextSearch, sql: &mut Sql) -> String {
    let conds = where_clause(filter, text, sql);
    let Some(after) = page.after else {
        return conds;
    };
    let cmp = match page.order {
        Order::Desc => "<",
        Order::Asc => ">",
    };
    match (sort_column(page.sort), after.value) {
        (Some(col), Some(value)) => {
            let v = sql.bind(match value {
                SortValue::Int(i) => Arg::Int(i),
                SortValue::Real(x) => Arg::Real(x),
            });
            let seq = sql.bind(Arg::Int(after.seq));
            format!("{conds} AND ({col}, t.seq) {cmp} ({v}, {seq})")
        }
        _ => {
            let seq = sql.bind(Arg::Int(after.seq));
            format!("{conds} AND t.seq {cmp} {seq}")
        }
    }
}

fn page_order(page: &Page) -> String {
    let dir = match page.order {
        Order::Desc => "DESC",
        Order::Asc => "ASC",
    };
    match sort_column(page.sort) {
        Some(col) => format!("{col} {dir}, t.seq {dir}"),
        None => format!("t.seq {dir}"),
    }
}

/// The sparsity bands a search is answered from band by band, or `None` for one index scan.
/// "At least 90% sparse, most accurate first" within a task is anti-correlated: the accuracy
/// index walked 88,000 entries at 1M tickets to find 21 that sparse (p99 310 ms under load).
/// Walked band by band, each band's index (task [, dataset], band, accuracy) gives its best
/// entries first, so a page costs a few probes per band whatever the correlation.
fn sparsity_bands(filter: &TicketFilter, page: &Page) -> Option<(i64, i64)> {
    if page.sort != SortKey::Accuracy || filter.task.is_none() {
        return None;
    }
    if filter.min_sparsity.is_none() && filter.max_sparsity.is_none() {
        return None;
    }
    let band = |x: f64| (x * SPARSITY_BANDS).floor().clamp(0.0, SPARSITY_BANDS) as i64;
    let low = band(filter.min_sparsity.unwrap_or(0.0));
    let high = band(filter.max_sparsity.unwrap_or(1.0));
    (low <= high).then_some((low, high))
}

/// The page's seqs as the best `limit` of each band's best `limit` (each band one index range
/// scan, keyset condition included), merged.
fn banded_seqs(
    filter: &TicketFilter,
    page: &Page,
    text: TextSearch,
    (low, high): (i64, i64),
    sql: &mut Sql,
) -> String {
    let (order, limit) = (page_order(page), page.limit + 1);
    // The index expression of each backend (the text-search mode says which backend this is):
    // SQLite's CAST truncates, which is floor here
    // (sparsity is never negative); Postgres's would round.
    let band = match text {
        TextSearch::PgTrigram => "floor(t.sparsity * 20)",
        TextSearch::SqliteFts => "CAST(t.sparsity * 20 AS INTEGER)",
    };
    let arms = (low..=high)
        .map(|b| {
            let conds = page_conds(filter, page, text, sql);
            format!(
                "SELECT * FROM (SELECT t.seq, t.accuracy FROM tickets t \
                 WHERE {conds} AND {band} = {b} ORDER BY {order} LIMIT {limit}) AS band{b}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let merged = order.replace("t.", "b.");
    format!("SELECT b.seq FROM ({arms}) AS b ORDER BY {merged} LIMIT {limit}")
}

/// A facet: a column whose values are counted under the current filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    Task,
    Dataset,
    Architecture,
    PruningMethod,
    Tag,
    Verdict,
    Structure,
}

impl Facet {
    pub const ALL: [Facet; 7] = [
        Facet::Task,
        Facet::Dataset,
        Facet::Architecture,
        Facet::PruningMethod,
        Facet::Tag,
        Facet::Verdict,
        Facet::Structure,
    ];

    fn column(self) -> &'static str {
        match self {
            Facet::Task => "task",
            Facet::Dataset => "dataset",
            Facet::Architecture => "architecture",
            Facet::PruningMethod => "pruning_method",
            Facet::Tag => "tag",
            Facet::Verdict => "verdict",
            Facet::Structure => "structure",
        }
    }
}

/// Counts for one facet, top [`FACET_TOP`] by count. When only task / dataset / architecture /
/// method filter, the counts kept on write answer (a few rows per ticket shape); otherwise the
/// matching tickets are grouped, narrowed first by the indexes the filters use.
/// Every facet's counts in one statement (one round trip instead of seven): rows of
/// (facet index in [`Facet::ALL`], value, count), each facet's top [`FACET_TOP`] by count.
pub fn facets_sql(filter: &TicketFilter, text: TextSearch) -> Sql {
    let mut sql = Sql::default();
    let arms = Facet::ALL
        .iter()
        .enumerate()
        .map(|(i, facet)| {
            let select = facet_select(*facet, filter, text, &mut sql);
            format!("SELECT CAST({i} AS BIGINT) AS facet, f{i}.* FROM ({select}) AS f{i}")
        })
        .collect::<Vec<_>>();
    // Ordered by position: the arms' columns are named after the first facet's.
    sql.text = format!(
        "SELECT * FROM ({}) AS facets ORDER BY 1, 3 DESC, 2",
        arms.join(" UNION ALL ")
    );
    sql
}

fn facet_select(facet: Facet, filter: &TicketFilter, text: TextSearch, sql: &mut Sql) -> String {
    let col = facet.column();
    if filter.only_dimensions() {
        let table = if facet == Facet::Tag {
            "tag_counts"
        } else {
            "facet_counts"
        };
        let mut conds = Vec::new();
        if !filter.include_yanked {
            conds.push("yanked = FALSE".to_owned());
        }
        let verdict = filter.verdict.map(|v| v.as_str().to_owned());
        for (c, v) in [
            ("task", &filter.task),
            ("dataset", &filter.dataset),
            ("architecture", &filter.architecture),
            ("pruning_method", &filter.pruning_method),
            ("verdict", &verdict),
        ] {
            if let Some(v) = v {
                conds.push(format!("{c} = {}", sql.bind(Arg::Text(v.clone()))));
            }
        }
        let structures = filter.structures();
        if !structures.is_empty() {
            let list = structures
                .iter()
                .map(|s| sql.bind(Arg::Text((*s).to_owned())))
                .collect::<Vec<_>>()
                .join(", ");
            conds.push(format!("structure IN ({list})"));
        }
        if conds.is_empty() {
            conds.push("TRUE".into());
        }
        format!(
            "SELECT {col}, CAST(SUM(n) AS BIGINT) AS c FROM {table} WHERE {} GROUP BY {col} \
             HAVING SUM(n) > 0 ORDER BY c DESC, {col} LIMIT {FACET_TOP}",
            conds.join(" AND ")
        )
    } else {
        let conds = where_clause(filter, text, sql);
        if facet == Facet::Tag {
            format!(
                "SELECT g.tag, COUNT(*) AS c FROM ticket_tags g JOIN tickets t ON t.seq = g.ticket_seq \
                 WHERE {conds} GROUP BY g.tag ORDER BY c DESC, g.tag LIMIT {FACET_TOP}"
            )
        } else {
            format!(
                "SELECT t.{col}, COUNT(*) AS c FROM tickets t WHERE {conds} GROUP BY t.{col} \
                 ORDER BY c DESC, t.{col} LIMIT {FACET_TOP}"
            )
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::{After, parse_filter};

    fn pairs(q: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    }
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

    #[test]
    fn keyset_pages_compare_sort_value_then_seq() {
        let (f, mut p) = parse_search(&pairs("sort=accuracy")).unwrap();
        p.after = Some(After {
            value: Some(SortValue::Real(0.9)),
            seq: 7,
        });
        let sql = search_sql("x FROM tickets t", &f, &p, TextSearch::PgTrigram);
        assert!(
            sql.text.contains("(t.accuracy, t.seq) < ($1, $2)"),
            "{}",
            sql.text
        );
        assert!(
            sql.text
                .contains("ORDER BY t.accuracy DESC, t.seq DESC LIMIT 21)"),
            "{}",
            sql.text
        );
        assert_eq!(sql.args.len(), 2);
    }

    #[test]
    fn sparsity_bounds_sorted_by_accuracy_are_walked_band_by_band() {
        let (f, p) =
            parse_search(&pairs("task=ic&dataset=c&min_sparsity=0.9&sort=accuracy")).unwrap();
        assert_eq!(sparsity_bands(&f, &p), Some((18, 20)));
        let sql = search_sql("x FROM tickets t", &f, &p, TextSearch::PgTrigram);
        for band in 18..=20 {
            assert!(
                sql.text
                    .contains(&format!("floor(t.sparsity * 20) = {band} ")),
                "{}",
                sql.text
            );
        }
        assert!(!sql.text.contains("= 17 "), "{}", sql.text);
        // Each band binds its own filter values: three bands of task, dataset, min_sparsity.
        assert_eq!(sql.args.len(), 9);
        assert!(
            sql.text
                .contains(") AS b ORDER BY b.accuracy DESC, b.seq DESC LIMIT 21)"),
            "{}",
            sql.text
        );
        let sqlite = search_sql("x FROM tickets t", &f, &p, TextSearch::SqliteFts);
        assert!(
            sqlite
                .text
                .contains("CAST(t.sparsity * 20 AS INTEGER) = 18 ")
        );

        // A range inside one band; other sorts, or no task, are one index scan.
        let (f, p) = parse_search(&pairs(
            "task=ic&min_sparsity=0.5&max_sparsity=0.52&sort=accuracy",
        ))
        .unwrap();
        assert_eq!(sparsity_bands(&f, &p), Some((10, 10)));
        for q in [
            "task=ic&min_sparsity=0.9&sort=sparsity",
            "min_sparsity=0.9&sort=accuracy",
            "task=ic&sort=accuracy",
        ] {
            let (f, p) = parse_search(&pairs(q)).unwrap();
            assert_eq!(sparsity_bands(&f, &p), None, "{q}");
        }
        let (f, p) = parse_search(&pairs(
            "task=ic&max_sparsity=1&min_sparsity=1&sort=accuracy",
        ))
        .unwrap();
        assert_eq!(
            sparsity_bands(&f, &p),
            Some((20, 20)),
            "a fully pruned ticket's band"
        );
    }
}
