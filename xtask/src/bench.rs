//! `cargo xtask bench`: the benchmarks issue fills this in.

/// Runs the command with its arguments.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask bench` is not implemented yet".to_owned())
}
