//! Facet counts: from the counts kept on write when only dimensions filter, else grouped
//! over the matching tickets; all facets in one statement.

use super::{Arg, Sql, TextSearch, structure_in, where_clause};
use crate::domain::search::{FACET_TOP, TicketFilter};

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
        if let Some(cond) = structure_in(filter, "structure", sql) {
            conds.push(cond);
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
