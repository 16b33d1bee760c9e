//! Debian's servers as child processes of a test (`proxies.rs`, `origin/nginx.rs`):
//! started with their output discarded, then waited for until they accept.

use std::io;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Starts `command` with no stdin and its output discarded; a failure names `what` and the
/// Debian package to install.
pub(crate) fn spawn_quiet(command: &mut Command, what: &str, package: &str) -> io::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            io::Error::other(format!(
                "starting {what}: {e} (is the Debian package `{package}` installed?)"
            ))
        })
}

/// Why a server did not come up.
pub(crate) enum NotAccepting {
    /// `child` exited first (with this status).
    Exited(ExitStatus),
    /// Not every address accepted within the wait.
    TimedOut,
}

/// Waits up to `wait` until every one of `addrs` accepts a TCP connection; with `child`,
/// stops early when it exits (a server that does not fork to the background).
pub(crate) fn wait_accepting(
    addrs: &[SocketAddr],
    wait: Duration,
    mut child: Option<&mut Child>,
) -> Result<(), NotAccepting> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            return Err(NotAccepting::Exited(status));
        }
        let accepting = addrs
            .iter()
            .all(|at| std::net::TcpStream::connect_timeout(at, Duration::from_millis(200)).is_ok());
        if accepting {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(NotAccepting::TimedOut)
}
