//! The concurrency model check: `pool-core/tests/shuttle.rs` runs the real `Pool` on
//! shuttle's primitives, which takes `--cfg hotpool_shuttle`. It builds into its own target
//! directory (`target/shuttle`) so the changed `RUSTFLAGS` do not invalidate the main build.
//! Clippy runs on that build too: the shuttle half of `pool-core/src/shell/rt.rs` is
//! compiled nowhere else.

use crate::{CargoRun, workspace_root};

/// The test command this step runs (also in the test file's header).
const COMMAND: &str = "RUSTFLAGS=\"--cfg hotpool_shuttle\" CARGO_TARGET_DIR=target/shuttle cargo test -p pool-core --test shuttle";

/// Lints and runs the shuttle model check, failing on a non-zero exit.
pub(crate) fn run() -> Result<(), String> {
    shuttle_cargo(&[
        "clippy",
        "-p",
        "pool-core",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    shuttle_cargo(&["test", "-p", "pool-core", "--test", "shuttle"])
}

/// `cargo ARGS` with `--cfg hotpool_shuttle` added to the caller's `RUSTFLAGS`, in
/// `target/shuttle`.
fn shuttle_cargo(args: &[&str]) -> Result<(), String> {
    let root = workspace_root()?;
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str("--cfg hotpool_shuttle");
    let shown = format!(
        "RUSTFLAGS=\"{flags}\" CARGO_TARGET_DIR=target/shuttle cargo {}",
        args.join(" ")
    );
    let target = root.join("target").join("shuttle");
    CargoRun::new(args)
        .env("RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", target.to_string_lossy())
        .shown(shown)
        .run()
        .map_err(|e| format!("{e}; the test alone: {COMMAND}"))
}
