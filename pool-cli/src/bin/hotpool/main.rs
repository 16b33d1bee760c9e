//! `hotpool`: the command line tool of the hotpool connection pool.
//!
//! - `hotpool demo [--proto h2|h3]`: local origins and a local DNS server on 127.0.0.x, a pool
//!   warmed against them, cold vs hot latency, reuse, memory per connection;
//! - `hotpool get URL`, `hotpool warm HOST`, `hotpool bench URL -n N -c C`: the pool
//!   against real hosts, with curl's `--resolve`, `--connect-to`, `--cacert`, `--insecure`,
//!   `--timeout`, `--proto`;
//! - `hotpool config check FILE`, `hotpool config default`;
//! - `hotpool fleet status`: the bans, budgets and workers of the `[fleet]` backend.
//!
//! Global options: `--config FILE`, `--metrics-addr ADDR` (Prometheus), `--json`, `-v`.
//! Errors are one line on stderr and exit status 1 (usage errors: 2).

mod alloc;
mod args;
mod bench;
mod client;
mod config_cmd;
mod demo;
mod fleet_cmd;
mod get;
mod latency;
mod metrics;
mod progress;
mod report;
mod tally;
mod target;
mod warm;

use std::fmt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pool_config::Config;

use args::{Cli, Command, ConfigCommand, FleetCommand, Global};

/// Counts live heap bytes for the demo's memory-per-connection figure (see `alloc`).
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// A command's failure: one line for the user.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<hotpool::Error> for Error {
    fn from(e: hotpool::Error) -> Self {
        Self(e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the cause looked like.
        let mut first = true;
        for part in self.0.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !first {
                f.write_str("; ")?;
            }
            f.write_str(part)?;
            first = false;
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotpool: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Tracing on stderr. Without `-v` nothing is logged (reports and errors are printed by
/// the commands themselves); `RUST_LOG` overrides the level chosen by `-v`.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let ours = [
        "hotpool",
        "pool_core",
        "pool_http",
        "pool_rustls",
        "pool_dial_rustls",
        "pool_dial_quic",
        "pool_dns",
        "pool_health",
        "pool_redis",
    ];
    let level = match verbose {
        0 => None,
        1 => Some("info"),
        2 => Some("debug"),
        _ => Some("trace"),
    };
    let filter = match (std::env::var("RUST_LOG"), level) {
        (Ok(spec), _) if !spec.is_empty() => EnvFilter::new(spec),
        (_, None) => return,
        (_, Some("trace")) => EnvFilter::new("trace"),
        (_, Some(level)) => EnvFilter::new(
            std::iter::once("warn".to_owned())
                .chain(ours.iter().map(|c| format!("{c}={level}")))
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The configuration of `warm` and `bench`: `--config FILE` (with `HOTPOOL_*` overrides)
/// or the defaults (with overrides). Warnings go to stderr.
pub fn load_config(global: &Global) -> Result<Config, Error> {
    let cfg = match &global.config {
        Some(path) => Config::from_file_with_env(path).map_err(|e| Error::new(e.to_string()))?,
        None => {
            let mut cfg = Config::default();
            cfg.apply_env(std::env::vars())
                .map_err(|e| Error::new(e.to_string()))?;
            cfg
        }
    };
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(cfg)
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let Cli { global, command } = cli;
    let command = match command {
        Command::Config(ConfigCommand::Check { file }) => {
            return config_cmd::check(&file, global.json);
        }
        Command::Config(ConfigCommand::Default) => return config_cmd::default(global.json),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hotpool")
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the runtime: {e}")))?;
    // The demo's servers run on their own runtime, whose threads the allocator leaves out.
    let servers = match &command {
        Command::Demo(_) => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hotpool-origin")
                .on_thread_start(alloc::exclude_current_thread)
                .enable_all()
                .build()
                .map_err(|e| Error::new(format!("cannot start the runtime: {e}")))?,
        ),
        _ => None,
    };
    let result = runtime.block_on(async {
        let metrics_addr = start_metrics(&global)?;
        let code = match command {
            Command::Demo(args) => {
                let handle = servers
                    .as_ref()
                    .map(|rt| rt.handle().clone())
                    .ok_or_else(|| Error::new("internal: no server runtime"))?;
                demo::run(&global, &args, handle).await?
            }
            Command::Get(args) => get::run(&global, &args).await?,
            Command::Warm(args) => warm::run(&global, &args).await?,
            Command::Bench(args) => bench::run(&global, &args).await?,
            Command::Fleet(FleetCommand::Status) => fleet_cmd::status(&global).await?,
            Command::Config(_) => ExitCode::SUCCESS,
        };
        if let (Some(addr), Some(hold)) = (metrics_addr, global.metrics_hold) {
            eprintln!("metrics: still serving http://{addr}/metrics for {hold:?}");
            tokio::time::sleep(hold).await;
        }
        Ok(code)
    });
    if let Some(servers) = servers {
        servers.shutdown_timeout(Duration::from_secs(2));
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// Installs the metrics recorders: the tally `bench` reports from, and the Prometheus
/// exporter when `--metrics-addr` is given, or `[metrics] enabled` in the config file.
fn start_metrics(global: &Global) -> Result<Option<SocketAddr>, Error> {
    let addr = match global.metrics_addr {
        Some(addr) => Some(addr),
        None if global.config.is_some() => {
            let cfg = load_config_quiet(global)?;
            cfg.metrics.enabled.then_some(cfg.metrics.listen)
        }
        None => None,
    };
    let served = metrics::install(addr)?;
    if let Some(served) = served {
        eprintln!("metrics: serving http://{served}/metrics");
    }
    Ok(served)
}

/// [`load_config`] without printing warnings (they are printed when the command loads it).
fn load_config_quiet(global: &Global) -> Result<Config, Error> {
    match &global.config {
        Some(path) => Config::from_file_with_env(path).map_err(|e| Error::new(e.to_string())),
        None => Ok(Config::default()),
    }
}
