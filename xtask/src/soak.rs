//! `cargo xtask soak`: the reliability issue fills this in.

/// Runs the command with its arguments.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask soak` is not implemented yet".to_owned())
}
