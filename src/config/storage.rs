//! Where the index and the blobs live (`StorageArgs`, shared by every command that opens the
//! index), made absolute (`Locations`). Debug and descriptions never show a database password.

use std::path::{Path, PathBuf};

use clap::Args;

/// Where the index lives; shared by every command that opens it.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Directory for the embedded database and the default blob store.
    #[arg(
        long,
        env = "TICKETBOOTH_DATA_DIR",
        default_value = "./ticketbooth-data"
    )]
    pub data_dir: PathBuf,
    /// Index database: `postgres://...`, or `sqlite://path`. Default: a SQLite file in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

// The database URL may carry a password: never print it.
impl std::fmt::Debug for StorageArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageArgs")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .finish()
    }
}

/// Where everything lives, with every path absolute.
#[derive(Clone)]
pub struct Locations {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub blob_store_url: String,
}

impl std::fmt::Debug for Locations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locations")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("blob_store_url", &self.blob_store_url)
            .finish()
    }
}

impl Locations {
    /// Where things are, in words, for the start-up line: "data dir /x, index: SQLite at
    /// /x/ticketbooth.db, blobs: local files in /x/blobs". Never a password.
    pub fn describe(&self) -> String {
        format!(
            "data dir {}, index: {}, blobs: {}",
            self.data_dir.display(),
            describe_database(&self.database_url),
            describe_blob_store(&self.blob_store_url)
        )
    }
}

fn describe_database(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        return if path.starts_with(":memory:") {
            "SQLite in memory".into()
        } else {
            format!("SQLite at {path}")
        };
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {
            let database = u.path().trim_start_matches('/');
            let host = u.host_str().unwrap_or("localhost");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let user = match u.username() {
                "" => String::new(),
                name => format!(" as {name}"),
            };
            format!("Postgres database '{database}' on {host}{port}{user}")
        }
        _ => redact_url(url),
    }
}

fn describe_blob_store(url: &str) -> String {
    if let Some(path) = url.strip_prefix("file://") {
        return format!("local files in {path}");
    }
    if url.starts_with("memory://") {
        return "in memory (lost when the server stops)".into();
    }
    if url.starts_with("s3://") {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty())
            .map(|e| format!(" via {}", redact_url(&e)))
            .unwrap_or_default();
        return format!("S3 at {url}{endpoint}");
    }
    redact_url(url)
}

impl StorageArgs {
    pub fn locate(&self, blob_store: Option<&str>) -> anyhow::Result<Locations> {
        let data_dir = std::path::absolute(&self.data_dir)?;
        std::fs::create_dir_all(&data_dir)?;
        let database_url = match self.database_url.as_deref() {
            None => sqlite_url(&data_dir.join("ticketbooth.db")),
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(rest) if !rest.starts_with(":memory:") => {
                    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                    let abs = std::path::absolute(path)?;
                    let base = sqlite_url(&abs);
                    if query.is_empty() {
                        base
                    } else {
                        format!("{base}?{query}")
                    }
                }
                _ => url.to_owned(),
            },
        };
        let blob_store_url = match blob_store {
            None => file_url(&data_dir.join("blobs")),
            Some(url) if url.contains("://") => match url.strip_prefix("file://") {
                Some(path) => file_url(&std::path::absolute(path)?),
                None => url.to_owned(),
            },
            Some(path) => file_url(&std::path::absolute(path)?),
        };
        Ok(Locations {
            data_dir,
            database_url,
            blob_store_url,
        })
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_described_in_words_without_passwords() {
        let sqlite = Locations {
            data_dir: "/srv/tb".into(),
            database_url: "sqlite:///srv/tb/ticketbooth.db".into(),
            blob_store_url: "file:///srv/tb/blobs".into(),
        };
        assert_eq!(
            sqlite.describe(),
            "data dir /srv/tb, index: SQLite at /srv/tb/ticketbooth.db, blobs: local files in /srv/tb/blobs"
        );
        let pg = Locations {
            data_dir: "/d".into(),
            database_url: "postgres://tb:s3cret@db.internal:5432/tickets?sslmode=require".into(),
            blob_store_url: "memory://".into(),
        };
        let text = pg.describe();
        assert_eq!(
            text,
            "data dir /d, index: Postgres database 'tickets' on db.internal:5432 as tb, blobs: in memory (lost when the server stops)"
        );
        assert!(!text.contains("s3cret"));
        assert_eq!(
            describe_blob_store("s3://bucket/prefix")
                .split(" via ")
                .next(),
            Some("S3 at s3://bucket/prefix")
        );
    }
}
