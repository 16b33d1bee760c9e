//! Counting this process's open file descriptors, to check that closing a pool or a server
//! returns to a baseline.

/// Open file descriptors of this process: the entries of `/proc/self/fd` (Linux), the one
/// `read_dir` itself holds included (so two calls compare like with like).
///
/// # Panics
/// When `/proc/self/fd` cannot be read (not Linux, or no `/proc`): a count of 0 would make
/// every "back to the baseline" check pass without checking anything.
pub fn open_fds() -> usize {
    match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir.count(),
        Err(e) => panic!("cannot count open descriptors in /proc/self/fd: {e}"),
    }
}
