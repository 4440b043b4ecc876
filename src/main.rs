//! The `ticketbooth` command: parse, set up logging, dispatch. Nothing else lives here.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ticketbooth::blobs::BlobStore;
use ticketbooth::config::{AdminCommand, AuditArgs, Cli, Command, TokenCommand};
use ticketbooth::domain::tokens;
use ticketbooth::index::sql::{self, TextSearch};
use ticketbooth::{audit, cli, index, operator, seed, server};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    // Logs go to stderr: stdout is for command output (a token, JSON). Request lines carry the
    // request id from their span, in both formats.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colour only for a person at a terminal: piped into a file or a log collector, ANSI
    // escapes are noise.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The client commands' errors are one sentence each (the server's code, message and field).
fn client(result: Result<(), cli::CliError>) -> anyhow::Result<()> {
    result.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => server::run(args).await,
        Command::Token { command } => match command {
            TokenCommand::Create {
                name,
                scopes,
                expires_in,
                expires_at,
                label,
                storage,
            } => {
                let name = ticketbooth::domain::metadata::slug("name", &name)
                    .map_err(|e| anyhow::anyhow!("--name: {}", e.message))?;
                let spec =
                    operator::token_spec(scopes, expires_in, expires_at, label, chrono::Utc::now())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                let index = index::open(&storage.locate(None)?.database_url).await?;
                let token = tokens::generate()?;
                index
                    .create_token_with(&name, &tokens::hash(&token), &spec)
                    .await?;
                println!("{token}");
                Ok(())
            }
            TokenCommand::List { name, storage } => {
                let index = index::open(&storage.locate(None)?.database_url).await?;
                let name = name.map(|n| n.to_lowercase());
                operator::print_tokens(&index.tokens(name.as_deref()).await?);
                Ok(())
            }
            TokenCommand::Revoke { id, storage } => {
                let index = index::open(&storage.locate(None)?.database_url).await?;
                operator::revoke(&index, id).await
            }
        },
        Command::Admin { command } => match command {
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
                operator::take_down(&index, &blobs, &id, &reason, &actor).await
            }
            AdminCommand::Takedowns { storage } => {
                let index = index::open(&storage.locate(None)?.database_url).await?;
                operator::print_takedowns(&index).await
            }
        },
        Command::Seed(args) => {
            let locations = args.storage.locate(args.blob_store.as_deref())?;
            let index = index::open(&locations.database_url).await?;
            let blobs = BlobStore::from_url(&locations.blob_store_url)?;
            seed::seed(&index, &blobs, args.count, args.seed).await
        }
        Command::Login { server, token } => client(cli::login(&server, &token).await),
        Command::Upload(args) => client(cli::upload(&args).await),
        Command::Search(args) => client(cli::search(&args).await),
        Command::Show {
            ticket,
            client: c,
            json,
        } => client(cli::show(&ticket, &c, json).await),
        Command::Frontier(args) => client(cli::frontier(&args).await),
        Command::Download(args) => client(cli::download(&args).await),
        Command::Probe { url } => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let status = reqwest::get(&url).await?.status();
            anyhow::ensure!(status.is_success(), "{url} answered {status}");
            Ok(())
        }
        Command::Gc(args) => {
            if args.audit.grace < audit::SAFE_GRACE && !args.dry_run {
                eprintln!(
                    "warning: a grace period under {} may remove uploads that other replicas are still writing",
                    humantime::format_duration(audit::SAFE_GRACE)
                );
            }
            let (index, blobs) = open_audit(&args.audit).await?;
            let sweep =
                audit::sweep(index.as_ref(), &blobs, args.audit.grace, args.dry_run).await?;
            println!(
                "{}",
                audit::GcReport {
                    sweep: &sweep,
                    dry_run: args.dry_run
                }
            );
            Ok(())
        }
        Command::Verify(args) => {
            let (index, blobs) = open_audit(&args).await?;
            let report = audit::verify(index.as_ref(), &blobs, args.grace).await?;
            println!("{report}");
            anyhow::ensure!(
                report.healthy(),
                "{} blobs are missing or do not match the index",
                report.problems.len()
            );
            Ok(())
        }
        Command::Sql(args) => {
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
    }
}

async fn open_audit(args: &AuditArgs) -> anyhow::Result<(index::DynIndex, BlobStore)> {
    let locations = args.storage.locate(args.blob_store.as_deref())?;
    let index = index::open(&locations.database_url).await?;
    Ok((index, BlobStore::from_url(&locations.blob_store_url)?))
}

/// Uploads stream through many short-lived buffers of a few hundred KiB. By default glibc serves
/// each with a fresh mmap (and page faults) and unmaps it on free; raising the thresholds lets it
/// reuse them, which cut the server's CPU per uploaded GiB by about a fifth (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only adjusts allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
