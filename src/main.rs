//! The `ticketbooth` command: parse, set up logging and the runtime, dispatch. The commands
//! live in `server` (serve), `ops` (the operator commands) and `cli` (the client commands).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ticketbooth::config::{Cli, Command};
use ticketbooth::http::server;
use ticketbooth::{cli, ops};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Command::Token { command } => ops::token(command).await,
        Command::Admin { command } => ops::admin(command).await,
        Command::Seed(args) => ops::seed(args).await,
        Command::Dump(args) => ops::dump(args).await,
        Command::Reindex(args) => ops::reindex(args).await,
        Command::Sql(args) => ops::sql(args),
        Command::Gc(args) => ops::gc(args).await,
        Command::Verify(args) => ops::verify(args).await,
        Command::Probe { url } => ops::probe(&url).await,
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
        Command::Compare(args) => client(cli::compare(&args).await),
        Command::Compatible(args) => client(cli::compatible(&args).await),
        Command::Result { command } => client(cli::result(&command).await),
    }
}

/// mimalloc (built without transparent huge pages, so idle RSS stays small) serves the many
/// small allocations of a search request (rows, strings, JSON) with less CPU than glibc: server
/// CPU per search request -15 to -22% (BENCHMARKS.md). By default it returns freed pages to the
/// OS only after 1 s, which left RSS during a 1 GiB upload 17 MiB higher than glibc's; 10 ms keeps
/// it within a few MiB (purging at once cost the upload ~0.15 CPU-s/GiB of page faults).
fn tune_allocator() {
    // `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (the bindings name only v2's options).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a plain option value; called before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
}
