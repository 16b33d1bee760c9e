//! Shared helpers of the workspace-level end-to-end tests (see `tests/`).

pub mod fault_proxy;

/// Open file descriptors of this process (Linux: entries of `/proc/self/fd`), to check
/// that closing a pool returns to the baseline.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}
