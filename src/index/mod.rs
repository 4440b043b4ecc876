//! The index: tickets, users, tokens and the sha256 -> object map. The [`Index`] port is the
//! sum of nine small roles, each in its own file with the SQL both backends share:
//!
//! - [`TicketStore`] (`tickets.rs`): one ticket at a time, publish, read, edit, yank;
//! - [`Catalog`] (`catalog.rs`): search pages, facets, tasks, points, frontier, lineage;
//! - [`TokenStore`] (`tokens.rs`): users and their API tokens;
//! - [`Integrity`] (`integrity.rs`): the blob map for the integrity checks, and takedowns;
//! - [`Upkeep`] (`upkeep.rs`): health, pool figures, start-up maintenance;
//! - [`ResultStore`] (`results.rs`): results reported against tickets, the evidence kept in
//!   step with them, a user's results for profiles, the transfer matrix, and the open-data
//!   dump's reads;
//! - [`MaskStore`] (`masks.rs`): similar tickets through the LSH bands, and `reindex`;
//! - [`AccountStore`] (`accounts.rs`): people and organizations, the identities they sign in
//!   with, organization members, profiles;
//! - [`SessionStore`] (`sessions.rs`): sign-ins under way, pending sign-ups, browser sessions.
//!
//! `rows.rs` holds what the index returns and how a row decodes, `shared.rs` the helpers the
//! roles share inside a transaction, `sql/` the search SQL, `error.rs` how it fails. Postgres
//! (`postgres.rs`) and the embedded SQLite (`sqlite.rs`) differ only in how they connect and in
//! three knobs given to `impl_index!`; both pass the same conformance and contract suites.

pub mod accounts;
pub mod catalog;
mod error;
pub mod integrity;
pub mod masks;
mod migrations;
pub mod postgres;
pub mod results;
mod rows;
pub mod sessions;
mod shared;
pub mod sql;
pub mod sqlite;
pub mod tickets;
pub mod tokens;
pub mod upkeep;

use std::sync::Arc;
use std::time::Duration;

pub use crate::domain::metadata::TicketEdit;
pub use accounts::AccountStore;
pub use catalog::Catalog;
pub use error::{IndexError, IndexResult};
pub use integrity::Integrity;
pub use masks::MaskStore;
pub use results::{DumpRecord, ResultStore};
pub use rows::{
    BlobRef, FacetCount, Facets, LIST_COLUMNS, NewTicket, Point, Published, StoredBlob, Takedown,
    TaskSummary, Ticket, User,
};
pub use sessions::SessionStore;
pub use tickets::TicketStore;
pub use tokens::TokenStore;
pub use upkeep::Upkeep;

/// The index port: every role together, so one `Arc<dyn Index>` serves them all.
pub trait Index:
    TicketStore
    + Catalog
    + TokenStore
    + Integrity
    + Upkeep
    + ResultStore
    + MaskStore
    + AccountStore
    + SessionStore
{
}

impl<
    T: TicketStore
        + Catalog
        + TokenStore
        + Integrity
        + Upkeep
        + ResultStore
        + MaskStore
        + AccountStore
        + SessionStore
        + ?Sized,
> Index for T
{
}

pub type DynIndex = Arc<dyn Index>;

/// Opens the index named by a URL: `postgres://` or `sqlite://`, and applies migrations. For
/// operator commands (`seed`, `gc`, `verify`...): no statement is cut off.
pub async fn open(url: &str) -> anyhow::Result<DynIndex> {
    open_serving(url, None).await
}

/// The index for serving requests: on Postgres, a statement running past `statement_timeout`
/// is cancelled (and answered 503). SQLite runs in-process and has no such setting.
pub async fn open_serving(
    url: &str,
    statement_timeout: Option<Duration>,
) -> anyhow::Result<DynIndex> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgIndex::connect(url, statement_timeout).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteIndex::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL (expected postgres:// or sqlite://)")
    }
}

/// Names a backend's row and connection types, so the role macros can use them.
pub trait HasDb {
    type Db: sqlx::Database;
    type Row: sqlx::Row;
    type Connection;
}

/// Implements every role for a backend, with the queries both share (SQLite accepts `$N`
/// placeholders too). Its arguments: the backend's type, the statement that opens a write
/// transaction, how it matches `q`, and how it locks a row it is about to change.
/// The role macros' bodies use the names imported here (`Ticket`, `IndexError`, `sql`...)
/// and the backend's `pool` field.
macro_rules! impl_index {
    ($ty:ty, $begin:expr, $text:expr, $lock:expr) => {
        use $crate::domain::search::{Candidate, Page, TicketFilter};
        use $crate::index::sql::{self, Sql};
        use $crate::index::{
            BlobRef, FacetCount, Facets, IndexError, IndexResult, NewTicket, Point, Published,
            TaskSummary, Ticket, TicketEdit, User,
        };

        $crate::index::shared::impl_shared!($ty, $lock);
        $crate::index::tickets::impl_tickets!($ty, $begin);
        $crate::index::catalog::impl_catalog!($ty, $text);
        $crate::index::tokens::impl_tokens!($ty, $begin);
        $crate::index::integrity::impl_integrity!($ty, $begin);
        $crate::index::upkeep::impl_upkeep!($ty);
        $crate::index::results::impl_results!($ty, $begin);
        $crate::index::masks::impl_masks!($ty, $begin);
        $crate::index::accounts::impl_accounts!($ty, $begin);
        $crate::index::sessions::impl_sessions!($ty, $begin);
    };
}
pub(crate) use impl_index;
