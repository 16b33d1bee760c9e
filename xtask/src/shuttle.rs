//! The concurrency model check: `pool-core/tests/shuttle.rs` runs the real `Pool` on
//! shuttle's primitives, which takes `--cfg hotpool_shuttle`. It builds into its own target
//! directory (`target/shuttle`) so the changed `RUSTFLAGS` do not invalidate the main build.

use std::process::Command;

use crate::workspace_root;

/// The command line this step runs (also in the test file's header).
pub(crate) const COMMAND: &str = "RUSTFLAGS=\"--cfg hotpool_shuttle\" CARGO_TARGET_DIR=target/shuttle cargo test -p pool-core --test shuttle";

/// Runs the shuttle model check, failing on a non-zero exit.
pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Any RUSTFLAGS of the caller still apply; the cfg is added to them.
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str("--cfg hotpool_shuttle");
    eprintln!("xtask: {COMMAND}");
    let status = Command::new(cargo)
        .args(["test", "-p", "pool-core", "--test", "shuttle"])
        .env("RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", root.join("target").join("shuttle"))
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{COMMAND}` failed ({status})"))
    }
}
