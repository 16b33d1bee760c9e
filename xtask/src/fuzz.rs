//! `cargo xtask fuzz`: the reliability issue fills this in.

/// Runs the command with its arguments.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask fuzz` is not implemented yet".to_owned())
}
