//! Socket and task helpers shared by the local servers and the fault proxy.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many times a whole address set is re-bound when the chosen port is taken on one
/// of the other addresses.
const BIND_ATTEMPTS: usize = 16;

/// Binds `bind(addr)` for every address on one shared port: the first on port 0, the
/// others on the port it got. When the port is taken on another address, everything is
/// dropped and the whole set retried with a new port.
pub(crate) fn bind_shared_port<T>(
    addrs: &[IpAddr],
    mut bind: impl FnMut(SocketAddr) -> io::Result<T>,
    local_port: impl Fn(&T) -> io::Result<u16>,
) -> io::Result<(u16, Vec<T>)> {
    let Some(first) = addrs.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no listen address given",
        ));
    };
    let mut last_err = None;
    for _ in 0..BIND_ATTEMPTS {
        let first_sock = bind(SocketAddr::new(*first, 0))
            .map_err(|e| io::Error::new(e.kind(), format!("bind {first}:0: {e}")))?;
        let port = local_port(&first_sock)?;
        let mut socks = vec![first_sock];
        let mut failed = None;
        for ip in &addrs[1..] {
            match bind(SocketAddr::new(*ip, port)) {
                Ok(s) => socks.push(s),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    failed = Some(e);
                    break;
                }
                Err(e) => {
                    return Err(io::Error::new(e.kind(), format!("bind {ip}:{port}: {e}")));
                }
            }
        }
        match failed {
            None => return Ok((port, socks)),
            Some(e) => last_err = Some(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "no port free on all of {addrs:?} after {BIND_ATTEMPTS} attempts: {}",
            last_err.map(|e| e.to_string()).unwrap_or_default()
        ),
    ))
}

/// Runs a closure on drop, also when the owning task is aborted.
pub(crate) struct OnDrop<F: FnOnce()>(pub(crate) Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Locks `m`, ignoring poisoning: a panic in another holder cannot leave the servers' plain
/// collections and counters inconsistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
