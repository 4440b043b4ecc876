//! One page of a search: the page's seqs from the filter + sort index, keyset conditions, and
//! the banded walk for sparsity-bounded accuracy sorts.

use super::{Arg, Sql, TextSearch, where_clause};
use crate::domain::search::{Order, Page, SortKey, SortValue, TicketFilter};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::{After, parse_search};
    use crate::index::sql::pairs;

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
