//! `cargo xtask soak [--secs N] [--proto h1|h2|h3|auto|all]`: the bounded soak — mixed
//! load with injected faults against local origins on every protocol (the `soak` example
//! of the `hotpool-tests` crate, built in release mode). `--secs` (default 60) is split
//! evenly between the protocols of `--proto` (default `all`: h1, h2, h3 and auto ALPN, one
//! after the other). Per protocol it prints requests, failures by cause — those a safe
//! retry could have saved apart — connections opened and closed, fds and RSS, and fails
//! when any failure was one a retry could have saved, something leaked, or RSS grew after
//! warm-up beyond its bound.

/// The protocols `--proto` accepts.
const PROTOS: [&str; 5] = ["h1", "h2", "h3", "auto", "all"];

/// Runs the command with its arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    let usage = || "usage: cargo xtask soak [--secs N] [--proto h1|h2|h3|auto|all]".to_owned();
    let mut secs = 60u64;
    let mut proto = "all".to_owned();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(usage)?;
        match flag.as_str() {
            "--secs" => {
                secs = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("--secs wants a positive number of seconds, got `{value}`")
                    })?;
            }
            "--proto" if PROTOS.contains(&value.as_str()) => proto = value.clone(),
            "--proto" => return Err(format!("unknown protocol `{value}`; {}", usage())),
            _ => return Err(usage()),
        }
    }
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
        "--proto",
        &proto,
    ])
}
