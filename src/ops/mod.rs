//! The operator commands: they open the index (and the blob store) directly, on the server's
//! host, instead of going through the API. One entry point per command, here; the logic in
//! `tokens` (token create/list/revoke), `takedown` (admin delete, the takedown records),
//! `integrity` (verify, gc and the start-up sweep), `dump` (the open-data snapshot) and `seed`
//! (synthetic tickets).

pub mod dump;
pub mod integrity;
pub mod reindex;
pub mod seed;
pub mod takedown;
pub mod tokens;

use chrono::{DateTime, Utc};

use crate::blobs::BlobStore;
use crate::config::ops::{
    AdminCommand, GcArgs, IntegrityArgs, SeedArgs, SqlArgs, StoresArgs, TokenCommand,
};
use crate::domain::tokens as token_rules;
use crate::index::sql::{self, TextSearch};
use crate::index::{self, DynIndex};

/// `ticketbooth token ...`.
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            scopes,
            expires_in,
            expires_at,
            label,
            storage,
        } => {
            let name = crate::domain::metadata::slug("name", &name)
                .map_err(|e| anyhow::anyhow!("--name: {}", e.message))?;
            let spec = tokens::token_spec(scopes, expires_in, expires_at, label, Utc::now())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let index = index::open(&storage.locate(None)?.database_url).await?;
            let token = token_rules::generate()?;
            index
                .create_token_with(&name, &token_rules::hash(&token), &spec)
                .await?;
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { name, storage } => {
            let index = index::open(&storage.locate(None)?.database_url).await?;
            let name = name.map(|n| n.to_lowercase());
            tokens::print_tokens(&index.tokens(name.as_deref()).await?);
            Ok(())
        }
        TokenCommand::Revoke { id, storage } => {
            let index = index::open(&storage.locate(None)?.database_url).await?;
            tokens::revoke(&index, id).await
        }
    }
}

/// `ticketbooth admin ...`.
pub async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Delete {
            id,
            reason,
            actor,
            storage,
            blob_store,
        } => {
            let actor = actor.ok_or_else(|| {
                anyhow::anyhow!("say who is taking the ticket down: --actor NAME (or $USER)")
            })?;
            let locations = storage.locate(blob_store.as_deref())?;
            let index = index::open(&locations.database_url).await?;
            let blobs = BlobStore::from_url(&locations.blob_store_url)?;
            takedown::take_down(&index, &blobs, &id, &reason, &actor).await
        }
        AdminCommand::DeleteResult {
            id,
            reason,
            actor,
            storage,
        } => {
            let actor = actor.ok_or_else(|| {
                anyhow::anyhow!("say who is removing the result: --actor NAME (or $USER)")
            })?;
            let index = index::open(&storage.locate(None)?.database_url).await?;
            takedown::take_down_result(&index, &id, &reason, &actor).await
        }
        AdminCommand::Takedowns { storage } => {
            let index = index::open(&storage.locate(None)?.database_url).await?;
            takedown::print_takedowns(&index).await
        }
    }
}

/// `ticketbooth dump`: a fresh open-data snapshot, now.
pub async fn dump(args: StoresArgs) -> anyhow::Result<()> {
    let locations = args.storage.locate(args.blob_store.as_deref())?;
    let index = index::open(&locations.database_url).await?;
    let blobs = BlobStore::from_url(&locations.blob_store_url)?;
    let d = dump::refresh(&index, &blobs).await?;
    println!(
        "dump: {} tickets, {} results, {} bytes gzipped, sha256 {}",
        d.tickets, d.results, d.size_bytes, d.sha256
    );
    Ok(())
}

/// `ticketbooth reindex`: measure the masks of tickets stored before masks were measured.
pub async fn reindex(args: StoresArgs) -> anyhow::Result<()> {
    let locations = args.storage.locate(args.blob_store.as_deref())?;
    let index = index::open(&locations.database_url).await?;
    let blobs = BlobStore::from_url(&locations.blob_store_url)?;
    let n = reindex::reindex(&index, &blobs).await?;
    println!("reindex: measured the masks of {n} tickets");
    Ok(())
}

/// `ticketbooth seed`.
pub async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let locations = args.storage.locate(args.blob_store.as_deref())?;
    let index = index::open(&locations.database_url).await?;
    let blobs = BlobStore::from_url(&locations.blob_store_url)?;
    seed::seed(
        &index,
        &blobs,
        args.count,
        args.seed,
        args.results_per_ticket as usize,
    )
    .await
}

/// `ticketbooth gc`: warns when the grace period is shorter than is safe with replicas.
pub async fn gc(args: GcArgs) -> anyhow::Result<()> {
    if args.integrity.grace < integrity::SAFE_GRACE && !args.dry_run {
        eprintln!(
            "warning: a grace period under {} may remove uploads that other replicas are still writing",
            humantime::format_duration(integrity::SAFE_GRACE)
        );
    }
    let (index, blobs) = open_stores(&args.integrity).await?;
    let sweep =
        integrity::sweep(index.as_ref(), &blobs, args.integrity.grace, args.dry_run).await?;
    println!(
        "{}",
        integrity::GcReport {
            sweep: &sweep,
            dry_run: args.dry_run
        }
    );
    Ok(())
}

/// `ticketbooth verify`: fails (exit 1) if any blob is missing or does not match.
pub async fn verify(args: IntegrityArgs) -> anyhow::Result<()> {
    let (index, blobs) = open_stores(&args).await?;
    let report = integrity::verify(index.as_ref(), &blobs, args.grace).await?;
    println!("{report}");
    anyhow::ensure!(
        report.healthy(),
        "{} blobs are missing or do not match the index",
        report.problems.len()
    );
    Ok(())
}

/// `ticketbooth sql`: the statements the server runs for an API query, values inlined.
pub fn sql(args: SqlArgs) -> anyhow::Result<()> {
    let text = match args.backend.as_str() {
        "postgres" => TextSearch::PgTrigram,
        "sqlite" => TextSearch::SqliteFts,
        other => anyhow::bail!("unknown backend '{other}' (postgres or sqlite)"),
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(args.query.as_bytes())
        .into_owned()
        .collect();
    let statements = sql::statements_for(&args.endpoint, &pairs, index::LIST_COLUMNS, text)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    for statement in statements {
        println!("{statement};");
    }
    Ok(())
}

/// `ticketbooth probe URL`: the health check for images without curl.
pub async fn probe(url: &str) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let status = reqwest::get(url).await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

async fn open_stores(args: &IntegrityArgs) -> anyhow::Result<(DynIndex, BlobStore)> {
    let locations = args.storage.locate(args.blob_store.as_deref())?;
    let index = index::open(&locations.database_url).await?;
    Ok((index, BlobStore::from_url(&locations.blob_store_url)?))
}

/// A time in the operator tables: minutes, or `-` for none.
fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}
