//! `cargo xtask fuzz [--secs N] [--target NAME] [--stable]`: runs the config-parser fuzz
//! targets in `fuzz/` (its own workspace) for a bounded time each. Not part of CI.
//!
//! With a nightly toolchain and cargo-fuzz installed, each target runs under libFuzzer
//! (`cargo +nightly fuzz run TARGET corpus/TARGET seeds/config_text -- -max_total_time=N`),
//! keeping its corpus in `fuzz/corpus/` (not committed). Otherwise, or with `--stable`, the
//! same properties run as a bounded random-input loop on the stable toolchain
//! (`fuzz/src/bin/stable_loop.rs`): not coverage-guided, but seeded and repeatable.

use std::path::Path;
use std::process::Command;

use crate::CargoRun;

const TARGETS: [&str; 2] = ["config_text", "config_env"];

/// Runs the command with its arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut secs = 60u64;
    let mut targets: Vec<String> = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    let mut stable = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--secs" => {
                secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--secs needs a number of seconds")?;
            }
            "--target" => {
                let target = it.next().ok_or("--target needs a name")?;
                if !TARGETS.contains(&target.as_str()) {
                    return Err(format!("unknown target `{target}` (have: {TARGETS:?})"));
                }
                targets = vec![target.clone()];
            }
            "--stable" => stable = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let fuzz_dir = crate::workspace_root()?.join("fuzz");
    let libfuzzer = !stable && has_cargo_fuzz(&fuzz_dir);
    if !libfuzzer && !stable {
        eprintln!("xtask: no `cargo +nightly fuzz` here; running the stable random loop instead");
    }
    for target in &targets {
        if libfuzzer {
            let corpus = format!("corpus/{target}");
            std::fs::create_dir_all(fuzz_dir.join(&corpus))
                .map_err(|e| format!("cannot create {corpus}: {e}"))?;
            run_in(
                &fuzz_dir,
                &[
                    "+nightly",
                    "fuzz",
                    "run",
                    target,
                    &corpus,
                    "seeds/config_text",
                    "--",
                    &format!("-max_total_time={secs}"),
                    "-dict=toml.dict",
                    "-print_final_stats=1",
                ],
            )?;
        } else {
            run_in(
                &fuzz_dir,
                &[
                    "run",
                    "--release",
                    "--no-default-features",
                    "--bin",
                    "stable_loop",
                    "--",
                    "--secs",
                    &secs.to_string(),
                    "--target",
                    target,
                ],
            )?;
        }
    }
    Ok(())
}

fn has_cargo_fuzz(dir: &Path) -> bool {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(dir)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Runs `cargo ARGS` in `dir` (plain `cargo`: the `+nightly` selector needs rustup's proxy,
/// not the stable cargo that runs xtask).
fn run_in(dir: &Path, args: &[&str]) -> Result<(), String> {
    CargoRun::new(args)
        .program("cargo")
        .dir(dir)
        .unset("CARGO_TARGET_DIR")
        .shown(format!("(in fuzz/) cargo {}", args.join(" ")))
        .run()
}
