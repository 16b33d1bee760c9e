//! `cargo xtask soak --secs N`: the bounded soak — mixed load with injected faults against
//! local origins (the `soak` example of the `hotpool-tests` crate, built in release mode).
//! It prints requests, errors by kind, connections opened and closed, fds and RSS at start
//! and end, and fails when something leaked or RSS grew after warm-up beyond its bound.

/// Runs the command with its arguments (`--secs N`, default 60).
pub fn run(args: &[String]) -> Result<(), String> {
    let secs = match args {
        [] => 60,
        [flag, n] if flag == "--secs" => n
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--secs wants a positive number of seconds, got `{n}`"))?,
        _ => return Err("usage: cargo xtask soak [--secs N]".to_owned()),
    };
    let secs = secs.to_string();
    crate::cargo(&[
        "run",
        "--release",
        "-p",
        "hotpool-tests",
        "--example",
        "soak",
        "--",
        "--secs",
        &secs,
    ])
}
