//! Repository automation, run as `cargo xtask <command>` (the cargo-xtask convention).
//!
//! - `cargo xtask ci`: what CI runs — format check, clippy with warnings denied, all tests,
//!   and the shuttle model check of the real pool (`cargo xtask shuttle`).
//! - `cargo xtask shuttle`: that model check alone (`--cfg hotpool_shuttle`, own target dir).
//! - `cargo xtask test`: the workspace tests only (`cargo test --workspace`).
//! - `cargo xtask floors`: checks `Cargo.lock` against `security-floors.txt`.
//! - `cargo xtask layers`: no dependency edge points up the floors (`cargo metadata`).
//! - `cargo xtask bench [--quick] [--only realpath|proxy|fleetrate]`: runs the benchmarks and
//!   rewrites `BENCHMARKS.md` (`--only realpath`, `--only proxy`, `--only fleetrate`: that
//!   section alone, spliced in).
//! - `cargo xtask soak --secs N`: bounded mixed load with injected faults (not in CI).
//! - `cargo xtask fuzz [--secs N]`: the config-parser fuzz targets (not in CI).
//! - `cargo xtask deny`: cargo-deny (licenses, bans, sources).

use std::process::{Command, ExitCode};

mod bench;
mod deny;
mod floors;
mod fuzz;
mod layers;
mod shuttle;
mod soak;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("shuttle") => shuttle::run(),
        Some("floors") => workspace_root().and_then(|root| floors::check(&root)),
        Some("layers") => layers::check(),
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("deny") => deny::run(&args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>
  ci     cargo fmt --check, cargo clippy --all-targets -D warnings, cargo test --workspace,
         hotpool without dns / health and with cookies, then the shuttle model check
  test   cargo test --workspace
  shuttle  clippy + the model check of the real pool (--cfg hotpool_shuttle, target/shuttle)
  floors check Cargo.lock against security-floors.txt
  layers check that no dependency edge points up (cargo metadata)
  bench  [--quick] [--only realpath|proxy|fleetrate] run the benchmarks, rewrite BENCHMARKS.md
  soak   [--secs N] [--proto h1|h2|h3|auto|all]  bounded mixed load with injected faults, every protocol
  fuzz   [--secs N] fuzz the config parser (needs cargo-fuzz, nightly)
  deny   cargo-deny: licenses, bans, sources";

fn ci() -> Result<(), String> {
    floors::check(&workspace_root()?)?;
    layers::check()?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    hotpool_features()?;
    test()?;
    shuttle::run()
}

/// The `hotpool` crate's optional parts, which the workspace run builds with its default
/// features only: built without `dns` or `health` (`cargo check`, the library alone), and
/// the tests of the `cookies` feature (with `boring`, as BoringSSL is built for the boring
/// step anyway: the jar's field in a browser profile's order) and of the system resolver
/// (`dns` off).
fn hotpool_features() -> Result<(), String> {
    for features in ["", "dns", "health", "h3,cookies"] {
        cargo(&[
            "check",
            "-p",
            "hotpool",
            "--no-default-features",
            "--features",
            features,
        ])?;
    }
    cargo(&[
        "test",
        "-p",
        "hotpool",
        "--features",
        "cookies,boring",
        "--lib",
        "--test",
        "cookies",
        "--test",
        "cookies_profile",
    ])?;
    cargo(&[
        "test",
        "-p",
        "hotpool",
        "--no-default-features",
        "--features",
        "h3",
        "--test",
        "system_resolver",
    ])
}

fn test() -> Result<(), String> {
    cargo(&["test", "--workspace"])?;
    // The `boring` feature of pool-config / hotpool / pool-cli (`[tls] engine = "boring"`,
    // `--profile`) is off in the workspace run (where their without-boring tests run); its
    // own tests, and clippy on that code, once more with it on.
    let boring = [
        "-p",
        "pool-cli",
        "-p",
        "pool-config",
        "-p",
        "hotpool",
        "--features",
        "pool-cli/boring",
    ];
    cargo(
        &[
            &["clippy"][..],
            &boring,
            &["--all-targets", "--", "-D", "warnings"],
        ]
        .concat(),
    )?;
    cargo(
        &[
            &["test"][..],
            &boring,
            &[
                "--lib",
                "--test",
                "profile",
                "--test",
                "tls_engine",
                "--test",
                "conversions",
            ],
        ]
        .concat(),
    )
}

pub(crate) fn workspace_root() -> Result<std::path::PathBuf, String> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| "xtask has no parent directory".to_owned())
}

/// Runs `cargo` with `args` from the workspace root, failing on a non-zero exit.
pub(crate) fn cargo(args: &[&str]) -> Result<(), String> {
    CargoRun::new(args).run()
}

/// One `cargo` invocation: the one place xtask starts cargo and checks its exit status.
pub(crate) struct CargoRun<'a> {
    program: String,
    args: &'a [&'a str],
    dir: Option<&'a std::path::Path>,
    env: Vec<(&'a str, String)>,
    unset: Vec<&'a str>,
    shown: Option<String>,
}

impl<'a> CargoRun<'a> {
    /// `cargo ARGS` (the cargo running xtask) from the workspace root.
    pub(crate) fn new(args: &'a [&'a str]) -> Self {
        Self {
            program: std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
            args,
            dir: None,
            env: Vec::new(),
            unset: Vec::new(),
            shown: None,
        }
    }

    /// Runs `program` instead (e.g. plain `cargo`, for rustup's `+nightly` selector).
    pub(crate) fn program(mut self, program: &str) -> Self {
        self.program = program.to_owned();
        self
    }

    /// Runs in `dir` instead of the workspace root.
    pub(crate) fn dir(mut self, dir: &'a std::path::Path) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Sets an environment variable.
    pub(crate) fn env(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    /// Removes an environment variable.
    pub(crate) fn unset(mut self, key: &'a str) -> Self {
        self.unset.push(key);
        self
    }

    /// How the command is shown in the log line and the error (default `cargo ARGS`).
    pub(crate) fn shown(mut self, shown: String) -> Self {
        self.shown = Some(shown);
        self
    }

    /// Runs it; a non-zero exit is an error naming the command.
    pub(crate) fn run(self) -> Result<(), String> {
        let shown = self
            .shown
            .unwrap_or_else(|| format!("cargo {}", self.args.join(" ")));
        let root = match self.dir {
            Some(dir) => dir.to_path_buf(),
            None => workspace_root()?,
        };
        eprintln!("xtask: {shown}");
        let mut command = Command::new(&self.program);
        command.args(self.args).current_dir(&root);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for key in &self.unset {
            command.env_remove(key);
        }
        let status = command
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.program))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{shown}` failed ({status})"))
        }
    }
}
