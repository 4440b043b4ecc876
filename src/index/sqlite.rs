//! The embedded SQLite index: the default, with no external service.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub struct SqliteIndex {
    pool: SqlitePool,
}

impl SqliteIndex {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across process crashes, which is what we need.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            // An embedded file has no server that could have gone away: no ping per acquire.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        super::migrations::sqlite().run(&pool).await?;
        // Refresh planner statistics where they are missing or stale (bounded work), as SQLite
        // recommends at start-up; without them it can pick a poor index for a filter.
        sqlx::query("PRAGMA analysis_limit = 1000")
            .execute(&pool)
            .await?;
        sqlx::query("PRAGMA optimize = 0x10002")
            .execute(&pool)
            .await?;
        Ok(Self { pool })
    }
}

// IMMEDIATE takes the write lock up front, so two writers queue instead of failing to upgrade.
impl super::HasDb for SqliteIndex {
    type Db = sqlx::Sqlite;
    type Row = sqlx::sqlite::SqliteRow;
    type Connection = sqlx::SqliteConnection;
}

super::impl_index!(
    SqliteIndex,
    "BEGIN IMMEDIATE",
    crate::index::sql::TextSearch::SqliteFts,
    ""
);
