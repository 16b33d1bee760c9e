//! Hostile origins: servers that complete a real TLS (or QUIC) handshake with a
//! certificate of the [`TestCa`], then misbehave on purpose with hand-written bytes and
//! frames, to prove that a client stays bounded (typed error, bounded memory and time, no
//! fd left open).
//!
//! - [`HostileTls`]: TCP + TLS on one address, speaking HTTP/1.1 ([`H1Script`], ALPN
//!   `http/1.1`) or raw HTTP/2 frames ([`H2Script`], ALPN `h2`);
//! - [`HostileH3`]: QUIC (quinn, ALPN `h3`) with raw HTTP/3 frames on the streams
//!   ([`H3Script`]).
//!
//! Each counts the connections it accepted and those still open ([`HostileStats`]);
//! every connection task ends when the client goes away (a write fails) or at
//! [`shutdown`](HostileTls::shutdown).

mod h1;
mod h2;
mod h3;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::TestCa;

pub use h1::H1Script;
pub use h2::H2Script;
pub use h3::{H3Script, HostileH3};

/// What a hostile server counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostileStats {
    /// Connections accepted (TCP accepted / QUIC handshake started).
    pub accepted: u64,
    /// Connections whose task is still running.
    pub open: u64,
    /// Requests whose head was read.
    pub requests: u64,
}

/// The counters a server and its connection tasks share.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    requests: AtomicU64,
    notify: Notify,
}

impl Counters {
    fn stats(&self) -> HostileStats {
        HostileStats {
            accepted: self.accepted.load(Ordering::SeqCst),
            open: self.open.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
        }
    }

    /// Counts an accepted connection; the guard counts it closed when dropped (also when
    /// the task is aborted).
    pub(crate) fn opened(self: &Arc<Self>) -> OpenGuard {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        self.open.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
        OpenGuard(Arc::clone(self))
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(HostileStats) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if cond(self.stats()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(self.stats());
            }
        }
    }
}

/// Counts its connection closed when dropped.
pub(crate) struct OpenGuard(Arc<Counters>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

/// What a [`HostileTls`] server does after the TLS handshake.
#[derive(Clone, Debug)]
pub enum TlsScript {
    /// HTTP/1.1 (ALPN `http/1.1`).
    H1(H1Script),
    /// HTTP/2 as raw frames (ALPN `h2`).
    H2(H2Script),
}

/// A TCP + TLS server on one address that follows a [`TlsScript`] on every connection.
#[derive(Debug)]
pub struct HostileTls {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileTls {
    /// Listens on `ip` (a free port) with a certificate for `names` from `ca`.
    pub async fn start(
        ip: IpAddr,
        names: &[&str],
        ca: &TestCa,
        script: TlsScript,
    ) -> io::Result<HostileTls> {
        let alpn: &[u8] = match script {
            TlsScript::H1(_) => b"http/1.1",
            TlsScript::H2(_) => b"h2",
        };
        let config = ca.server_config(names, &[alpn.to_vec()], false)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            script,
            Arc::clone(&counters),
        ));
        Ok(HostileTls {
            addr,
            counters,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it counted so far.
    pub fn stats(&self) -> HostileStats {
        self.counters.stats()
    }

    /// Waits (at most `timeout`) until `cond` holds on the counters; whether it did.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        cond: impl FnMut(HostileStats) -> bool,
    ) -> bool {
        self.counters.wait_until(timeout, cond).await
    }

    /// Stops listening and ends every connection task (their sockets close).
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for HostileTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    script: TlsScript,
    counters: Arc<Counters>,
) {
    // Dropped with this task (abort): every connection task is aborted with it.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let guard = counters.opened();
                let acceptor = acceptor.clone();
                let script = script.clone();
                let counters = Arc::clone(&counters);
                conns.spawn(async move {
                    let _guard = guard;
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let served = match script {
                        TlsScript::H1(s) => h1::serve(tls, s, &counters).await,
                        TlsScript::H2(s) => h2::serve(tls, s, &counters).await,
                    };
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "hostile connection ended");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// `n` as an HPACK/QPACK prefixed integer with a `prefix`-bit prefix, the first byte's
/// other bits being `flags`.
pub(crate) fn prefixed_int(out: &mut Vec<u8>, flags: u8, prefix: u8, mut n: usize) {
    let max = (1usize << prefix) - 1;
    if n < max {
        out.push(flags | n as u8);
        return;
    }
    out.push(flags | max as u8);
    n -= max;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use super::prefixed_int;

    #[test]
    fn prefixed_integers_follow_rfc_7541() {
        // RFC 7541 C.1.1 / C.1.2: 10 and 1337 with a 5-bit prefix.
        let mut out = Vec::new();
        prefixed_int(&mut out, 0, 5, 10);
        assert_eq!(out, [10]);
        out.clear();
        prefixed_int(&mut out, 0, 5, 1337);
        assert_eq!(out, [31, 154, 10]);
    }
}
