//! Command line and environment. Every flag also reads `TICKETBOOTH_<FLAG>` (the database URL
//! reads the conventional `DATABASE_URL`). Relative paths become absolute at start.
//!
//! Here: the command tree and the parsers several commands share. `serve`'s flags are in
//! `serve`, where the index and blobs live in `storage`, the operator commands' flags in
//! `ops`, and the client commands' flags beside the client, in `crate::cli::args`.

pub mod accounts;
pub mod ops;
pub mod serve;
pub mod storage;

use clap::{Parser, Subcommand};

use crate::cli::args::{
    ClientArgs, CompareArgs, CompatibleArgs, DownloadArgs, FrontierArgs, ResultCommand, SearchArgs,
    UploadArgs,
};
use ops::{AdminCommand, GcArgs, IntegrityArgs, SeedArgs, SqlArgs, StoresArgs, TokenCommand};
use serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "ticketbooth",
    version,
    about = "The open registry of lottery tickets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as `text` or `json` (on stderr; `RUST_LOG` filters them).
    #[arg(long, global = true, env = "TICKETBOOTH_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Operator actions on the index: take a ticket down for legal or abuse reasons.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Refresh the open-data dump (`GET /api/v1/dump`) now.
    Dump(StoresArgs),
    /// Measure the masks (fingerprint, N:M structure, signature) of tickets stored before the
    /// server measured them.
    Reindex(StoresArgs),
    /// Insert N synthetic tickets (owner `synthetic`) for benchmarks and demos.
    Seed(SeedArgs),
    /// Print the SQL the server runs for an API query, with values inlined (for EXPLAIN).
    Sql(SqlArgs),
    /// Remember a server and token for the client commands (XDG config dir, mode 0600).
    Login {
        /// The registry's base URL.
        #[arg(long)]
        server: String,
        /// An API token (`ticketbooth token create` on the server).
        #[arg(long)]
        token: String,
    },
    /// Upload a ticket file: checked locally first, with a progress bar.
    Upload(UploadArgs),
    /// Search tickets and print a table (or JSON lines).
    Search(SearchArgs),
    /// Print a ticket's metadata and per-tensor sparsity table.
    Show {
        /// Ticket id or owner/name.
        ticket: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the ticket JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print a task's sparsity/accuracy frontier.
    Frontier(FrontierArgs),
    /// Download a ticket, resuming an interrupted download and verifying its sha256; or only
    /// its masks, weights or some tensors, or its packed form.
    Download(DownloadArgs),
    /// List the tickets that fit a model: same architecture fingerprint as FILE's header.
    Compatible(CompatibleArgs),
    /// Compare two tickets' masks layer by layer: overlap (IoU) against chance, and how often
    /// their kept weights agree in sign.
    Compare(CompareArgs),
    /// Report results against tickets (reproductions, controls, dense, transfers).
    Result {
        #[command(subcommand)]
        command: ResultCommand,
    },
    /// Exit 0 if URL answers 2xx (a health check for images without curl).
    Probe {
        /// The URL to fetch, e.g. http://127.0.0.1:8080/readyz.
        url: String,
    },
    /// Remove objects no ticket references (left by crashes) once older than the grace period.
    Gc(GcArgs),
    /// Re-hash every blob against the index; report missing, corrupt and orphaned objects.
    /// Exits 1 if any blob is missing or does not match.
    Verify(IntegrityArgs),
}

/// A duration flag: `30s`, `90m`, `2h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::serve::{Protection, Rate};
    use super::storage::StorageArgs;
    use super::*;

    #[test]
    fn defaults_are_embedded_and_absolute() {
        let cli = Cli::try_parse_from(["ticketbooth", "serve", "--data-dir", "rel/dir"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.max_upload_bytes, 8 << 30);
        // The library default differs from the flags' only in having no rate limits.
        let p = &args.protection;
        assert_eq!(p.upload_rate, Rate(Some((60, Duration::from_secs(3600)))));
        assert_eq!(p.read_rate, Rate(Some((50, Duration::from_secs(1)))));
        assert_eq!(p.result_rate, Rate(Some((120, Duration::from_secs(3600)))));
        let lib = Protection {
            upload_rate: p.upload_rate,
            result_rate: p.result_rate,
            read_rate: p.read_rate,
            ..Protection::without_rate_limits()
        };
        assert_eq!(format!("{lib:?}"), format!("{p:?}"));
        let tmp = tempfile::tempdir().unwrap();
        let storage = StorageArgs {
            data_dir: tmp.path().join("d"),
            database_url: None,
        };
        let loc = storage.locate(Some("relative-blobs")).unwrap();
        assert!(loc.database_url.starts_with("sqlite:///"));
        assert!(loc.blob_store_url.starts_with("file:///"));
        let loc = storage.locate(None).unwrap();
        assert!(loc.blob_store_url.ends_with("/d/blobs"));
    }

    /// Every flag and argument of every subcommand says what it is for.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ticketbooth", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:#?}");
        // Fraction flags say so.
        let cmd = Cli::command();
        for (sub, flag) in [
            ("search", "min_sparsity"),
            ("search", "max_sparsity"),
            ("search", "min_accuracy"),
            ("search", "max_accuracy"),
            ("upload", "accuracy"),
            ("upload", "dense_accuracy"),
        ] {
            let arg = cmd
                .find_subcommand(sub)
                .and_then(|c| c.get_arguments().find(|a| a.get_id() == flag))
                .unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(
                help.contains("fraction in [0, 1]"),
                "{sub} --{flag}: {help}"
            );
        }
    }

    #[test]
    fn fraction_flags_are_checked_before_any_request() {
        let e = Cli::try_parse_from(["ticketbooth", "search", "--min-accuracy", "97"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("did you mean 0.97?"), "{e}");
        assert!(Cli::try_parse_from(["ticketbooth", "search", "--max-sparsity", "-0.1"]).is_err());
        let cli =
            Cli::try_parse_from(["ticketbooth", "search", "--min-sparsity", "0.9", "--q", "x"])
                .unwrap();
        let Command::Search(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.min_sparsity, args.query.as_deref()),
            (Some(0.9), Some("x"))
        );
    }
}
