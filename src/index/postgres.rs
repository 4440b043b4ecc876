//! The Postgres index, for production and for several replicas sharing one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

pub struct PgIndex {
    pool: PgPool,
}

impl PgIndex {
    /// Connects and migrates. sqlx's migrator takes an advisory lock on Postgres, so replicas
    /// starting together do not race. With `statement_timeout`, every pooled connection cancels
    /// a statement that runs longer (so no request holds a connection for long); migrations run
    /// on a connection of their own without it.
    pub async fn connect(url: &str, statement_timeout: Option<Duration>) -> anyhow::Result<Self> {
        // Planning a search costs 2-4 ms here (many partial indexes to weigh), more than running
        // it. Statements are prepared once per connection, and generic plans let Postgres reuse
        // the plan instead of re-planning on every execution (BENCHMARKS.md: +45% requests/s).
        let options =
            PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_generic_plan")]);
        {
            let mut migrating = options.connect().await?;
            super::migrations::postgres().run(&mut migrating).await?;
            migrating.close().await?;
        }
        let options = match statement_timeout {
            Some(limit) => options.options([(
                "statement_timeout",
                format!("{}ms", limit.as_millis().max(1)),
            )]),
            None => options,
        };
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            // A connection idle for a while is pinged before use (the database may have
            // restarted since); a busy one is not: sqlx's default pings before every acquire,
            // a round trip per query that cost a fifth of the search rate (BENCHMARKS.md).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

/// How long a pooled connection may sit idle before it is pinged on its next use.
const PING_WHEN_IDLE: Duration = Duration::from_secs(1);

impl super::HasDb for PgIndex {
    type Db = sqlx::Postgres;
    type Row = sqlx::postgres::PgRow;
    type Connection = sqlx::PgConnection;
}

super::impl_index!(
    PgIndex,
    "BEGIN",
    crate::index::sql::TextSearch::PgTrigram,
    " FOR UPDATE OF t"
);
