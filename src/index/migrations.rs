//! Migrations embedded in the binary, one tree per backend. Listed by hand (the `migrate!`
//! macro would pull in sqlx's compile-time machinery); a test checks the lists match the trees.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

type Source = (i64, &'static str, &'static str);

const POSTGRES: &[Source] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "search",
        include_str!("../../migrations/postgres/0002_search.sql"),
    ),
];
const SQLITE: &[Source] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "search",
        include_str!("../../migrations/sqlite/0002_search.sql"),
    ),
];

fn migrator(sources: &[Source]) -> Migrator {
    Migrator::with_migrations(
        sources
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
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
            .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
            .collect()
    }

    #[test]
    fn every_migration_file_is_embedded() {
        assert_eq!(files("postgres"), listed(POSTGRES));
        assert_eq!(files("sqlite"), listed(SQLITE));
    }
}
