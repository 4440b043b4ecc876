//! The transfer matrix: results of tickets trained on datasets other than their own, grouped by
//! (the dataset a ticket was found on, the dataset it was trained on).

use serde::Serialize;

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
