//! What the CLI's test binaries share: the `hotpool` binary run as a user would, with a
//! clean environment and a deadline.

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

/// Runs `hotpool args...` to completion with a clean environment (no `HOTPOOL_*`, no
/// `RUST_LOG` from the caller's) plus `env`, killed (and the test failed) after `limit`.
pub async fn run_hotpool(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpool"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HOTPOOL_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    let child = cmd
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hotpool");
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for hotpool"),
        Err(_) => panic!("hotpool {args:?} did not finish within {limit:?}"),
    }
}
