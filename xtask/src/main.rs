//! Repository automation, run as `cargo xtask <command>` (the cargo-xtask convention).
//!
//! - `cargo xtask ci`: what CI runs — format check, clippy with warnings denied, all tests.
//! - `cargo xtask test`: the workspace tests only (`cargo test --workspace`).
//! - `cargo xtask floors`: checks `Cargo.lock` against `security-floors.txt`.

use std::process::{Command, ExitCode};

mod floors;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("floors") => workspace_root().and_then(|root| floors::check(&root)),
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
  ci     cargo fmt --check, cargo clippy --all-targets -D warnings, cargo test --workspace
  test   cargo test --workspace
  floors check Cargo.lock against security-floors.txt";

fn ci() -> Result<(), String> {
    floors::check(&workspace_root()?)?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    test()
}

fn test() -> Result<(), String> {
    cargo(&["test", "--workspace"])
}

fn workspace_root() -> Result<std::path::PathBuf, String> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| "xtask has no parent directory".to_owned())
}

/// Runs `cargo` with `args` from the workspace root, failing on a non-zero exit.
fn cargo(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = workspace_root()?;
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
