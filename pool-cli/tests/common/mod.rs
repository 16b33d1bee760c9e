//! What the CLI's test binaries share: the `hotpool` binary run as a user would, with a
//! clean environment and a deadline, and the readers of what it printed.
// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// Upper bound of one `hotpool` run (debug build, 2 cores, other tests running).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The built `hotpool` with a clean environment (no `HOTPOOL_*`, no `RUST_LOG` from the
/// caller's shell), stdin closed, killed when dropped: for a run the test drives itself
/// (a long-running process, its stderr read as it goes); [`run_hotpool`] runs one to
/// completion.
pub fn hotpool_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpool"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HOTPOOL_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// Runs `hotpool args...` to completion with a clean environment (see
/// [`hotpool_command`]) plus `env`, killed (and the test failed) after `limit`.
pub async fn run_hotpool(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let child = hotpool_command()
        .envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hotpool");
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for hotpool"),
        Err(_) => panic!("hotpool {args:?} did not finish within {limit:?}"),
    }
}

/// What the run printed on stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the run printed on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run's stdout as one JSON object (the test fails, showing stdout and stderr, when it
/// is not).
pub fn json(out: &Output) -> Value {
    let text = stdout(out);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {text}\nstderr: {}",
            stderr(out)
        )
    })
}

/// A fresh, empty directory for one test's files, `<prefix>-<pid>-<name>` under the
/// target's temporary directory.
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}
