//! `cargo xtask deny`: `cargo deny check licenses bans sources` with the policy in
//! `deny.toml` (licenses, banned crates and duplicate versions, registries and git
//! sources). Advisories are left out: their database cannot be downloaded on these
//! machines (`cargo xtask floors` checks the security floors instead).
//!
//! Needs cargo-deny (`cargo install cargo-deny --locked`).

use std::process::Command;

/// Runs the command with its arguments (passed on to `cargo deny check`, e.g. `bans`).
pub fn run(args: &[String]) -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        return Err(
            "cargo-deny is not installed: `cargo install cargo-deny --locked` (a long build)"
                .into(),
        );
    }
    let mut command: Vec<&str> = vec!["deny", "--all-features", "check"];
    if args.is_empty() {
        command.extend(["licenses", "bans", "sources"]);
    } else {
        command.extend(args.iter().map(String::as_str));
    }
    crate::cargo(&command)
}
