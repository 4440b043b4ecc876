//! Migrations embedded in the binary, one tree per backend. Listed by hand (the `migrate!`
//! macro would pull in sqlx's compile-time machinery); a test checks the lists match the trees.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// A migration file's stem (`0001_init`) and its SQL.
type Source = (&'static str, &'static str);

macro_rules! migration {
    ($backend:literal, $stem:literal) => {
        (
            $stem,
            include_str!(concat!("../../migrations/", $backend, "/", $stem, ".sql")),
        )
    };
}

const POSTGRES: &[Source] = &[
    migration!("postgres", "0001_init"),
    migration!("postgres", "0002_search"),
    migration!("postgres", "0003_search_indexes"),
    migration!("postgres", "0004_tokens_and_takedowns"),
    migration!("postgres", "0005_public_traffic"),
    migration!("postgres", "0006_evidence"),
    migration!("postgres", "0007_masks"),
    migration!("postgres", "0008_accounts"),
    migration!("postgres", "0009_sparsity_bands"),
];
const SQLITE: &[Source] = &[
    migration!("sqlite", "0001_init"),
    migration!("sqlite", "0002_search"),
    migration!("sqlite", "0003_search_indexes"),
    migration!("sqlite", "0004_tokens_and_takedowns"),
    migration!("sqlite", "0005_public_traffic"),
    migration!("sqlite", "0006_evidence"),
    migration!("sqlite", "0007_masks"),
    migration!("sqlite", "0008_accounts"),
    migration!("sqlite", "0009_sparsity_bands"),
];

fn migrator(sources: &[Source]) -> Migrator {
    Migrator::with_migrations(
        sources
            .iter()
            .map(|(stem, sql)| {
                let (version, description) = stem.split_once('_').unwrap_or((stem, ""));
                Migration::new(
                    version.parse().unwrap_or_default(),
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub fn sqlite() -> Migrator {
    migrator(SQLITE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &str) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    }

    fn listed(sources: &[Source]) -> Vec<String> {
        sources
            .iter()
            .map(|(stem, _)| format!("{stem}.sql"))
            .collect()
    }

    #[test]
    fn every_migration_file_is_embedded() {
        assert_eq!(files("postgres"), listed(POSTGRES));
        assert_eq!(files("sqlite"), listed(SQLITE));
        for m in [postgres(), sqlite()] {
            let versions: Vec<i64> = m.iter().map(|m| m.version).collect();
            assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
        }
    }

    /// Tokens made before 0004 keep every scope, and stay live (no expiry, not revoked).
    #[tokio::test]
    async fn tokens_from_before_scopes_keep_every_scope() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        migrator(&SQLITE[..3]).run(&pool).await.unwrap();
        sqlx::query("INSERT INTO users (name) VALUES ('old')")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO api_tokens (user_id, token_hash) VALUES (1, x'00')")
            .execute(&pool)
            .await
            .unwrap();
        // After 0004: a yank-only token and a revoked one, which do not gain `tokens` in 0005.
        migrator(&SQLITE[..4]).run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, scopes) VALUES (1, x'01', '[\"yank\"]')",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, revoked_at) \
             VALUES (1, x'02', '2026-01-01T00:00:00+00:00')",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlite().run(&pool).await.unwrap();
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT scopes, expires_at FROM api_tokens ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        let scopes = |i: usize| -> Vec<crate::domain::tokens::Scope> {
            serde_json::from_str(&rows[i].0).unwrap()
        };
        use crate::domain::tokens::Scope;
        // The token from before scopes can still do everything, managing tokens included.
        assert_eq!(scopes(0), Scope::ALL);
        assert_eq!(rows[0].1, None);
        assert_eq!(scopes(1), [Scope::Yank]);
        assert_eq!(scopes(2), [Scope::Upload, Scope::Yank]);
    }
}
