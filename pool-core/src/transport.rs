//! The two traits a transport implements to be pooled: [`Dialer`] makes connections,
//! [`Connection`] describes one.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::types::ProbeVerdict;

/// Where a dial goes: the host name the connection is made (and verified) for, and the
/// address it connects to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host name: TLS SNI and the name the certificate is verified against.
    pub host: Arc<str>,
    /// The IP address and port dialed.
    pub addr: SocketAddr,
}

/// Makes new connections. One dialer serves one pool; everything that decides a
/// connection's security identity besides host and address (ALPN, TLS settings, client
/// certificate) is the dialer's own and so never mixes within a pool.
///
/// A dialer also runs the "hot connect" validation before returning: a connection it
/// returns is admitted as is. A dialer that validates validates *every* dial, the
/// blacklist re-tests included (it is not told a dial's purpose): the pool lifts a ban
/// from validation ([`DialErrorKind::Banned`]) when a re-test dial succeeds, so that
/// success must mean validation passed.
pub trait Dialer: Send + Sync + 'static {
    /// The connection this dialer makes.
    type Conn: Connection;

    /// Connects to `target.addr` for `target.host`. On failure, the [`DialErrorKind`]
    /// decides what the pool does with the address (see there).
    fn dial(&self, target: &Target) -> impl Future<Output = Result<Self::Conn, DialError>> + Send;
}

/// A pooled connection, as the pool sees it.
pub trait Connection: Send + Sync + 'static {
    /// How many leases may share this connection right now: 1 for an exclusive stream, the
    /// peer's concurrent-stream limit for HTTP/2 or QUIC. Read at admission and at every
    /// release, so a changed peer setting takes effect. Values below 1 count as 1.
    fn capacity(&self) -> usize;

    /// Whether the connection is known to be dead (peer closed, GOAWAY, driver ended).
    fn is_closed(&self) -> bool;

    /// The protocol it speaks (read once, at admission), for [`ConnInfo`](crate::ConnInfo),
    /// [`Stats`](crate::Stats) and the request layer. The default is
    /// [`Protocol::Stream`](crate::Protocol::Stream).
    fn protocol(&self) -> crate::Protocol {
        crate::Protocol::Stream
    }

    /// Completes when the connection closes on its own; the pool then removes it at once
    /// instead of finding out at checkout. The default never completes.
    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }

    /// Why the connection closed on its own, read once [`Connection::closed`] completed:
    /// [`CloseReason::GoAway`](crate::CloseReason::GoAway) (the peer sent GOAWAY),
    /// [`CloseReason::PeerClosed`](crate::CloseReason::PeerClosed) (closed or reset by the
    /// peer), [`CloseReason::Lost`](crate::CloseReason::Lost) (keep-alive or idle timeout
    /// of the transport), or the default, [`CloseReason::Broken`](crate::CloseReason::Broken),
    /// when the transport cannot tell. Counted per cause in `Stats::closed`.
    fn close_reason(&self) -> crate::CloseReason {
        crate::CloseReason::Broken
    }

    /// The transport's own health check (an HTTP/2 PING, a QUIC ping), run on an idle
    /// connection by the health checker (`pool-health`), which bounds it with `test_timeout`.
    /// The default only looks at [`Connection::is_closed`].
    fn probe(&self) -> impl Future<Output = ProbeVerdict> + Send {
        let verdict = if self.is_closed() {
            ProbeVerdict::Unhealthy
        } else {
            ProbeVerdict::Healthy
        };
        std::future::ready(verdict)
    }
}

/// What kind of failure a dial was; it decides what happens to the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DialErrorKind {
    /// TCP/UDP connect failed (refused, unreachable, local resource exhausted).
    Connect,
    /// The dial did not finish within `conn_timeout`.
    Timeout,
    /// The TLS or QUIC handshake failed (including certificate verification).
    Handshake,
    /// The peer negotiated something other than required (e.g. ALPN).
    Protocol,
    /// Validation answered with the "banned" status: the IP is blacklisted at once.
    Banned,
    /// Validation failed otherwise: the connection is closed, the IP is not penalised.
    Rejected,
    /// A local resource ran out (file descriptors, memory, buffers, local ports): not the
    /// peer's fault, so the IP is not penalised, and callers waiting for the host fail at
    /// once instead of redialing into the same wall.
    Local,
    /// The peer negotiated a protocol the dialer cannot speak (e.g. ALPN `http/1.1` to an
    /// HTTP/2-only dialer): the server is healthy, the configuration is wrong. The IP is not
    /// penalised, and waiters fail at once (redialing meets the same answer).
    Unsupported,
    /// The proxy in front of the address failed: unreachable, timed out, wanted credentials,
    /// refused the tunnel or answered malformed. The address is not to blame: it is not
    /// penalised, and waiters fail at once (redialing meets the same proxy).
    Proxy,
}

impl DialErrorKind {
    /// Whether this failure counts toward `max_retries` consecutive failures of an IP.
    pub fn counts_toward_blacklist(self) -> bool {
        !matches!(
            self,
            DialErrorKind::Rejected
                | DialErrorKind::Local
                | DialErrorKind::Unsupported
                | DialErrorKind::Proxy
        )
    }

    /// The kind of a failed connect (or socket setup): [`DialErrorKind::Local`] when a local
    /// resource ran out (file descriptors, memory, buffers, local ports), else
    /// [`DialErrorKind::Connect`].
    pub fn of_connect(error: &std::io::Error) -> Self {
        if is_local_exhaustion(error) {
            DialErrorKind::Local
        } else {
            DialErrorKind::Connect
        }
    }

    /// A short, stable label (used in metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            DialErrorKind::Connect => "connect",
            DialErrorKind::Timeout => "timeout",
            DialErrorKind::Handshake => "handshake",
            DialErrorKind::Protocol => "protocol",
            DialErrorKind::Banned => "banned",
            DialErrorKind::Rejected => "rejected",
            DialErrorKind::Local => "local",
            DialErrorKind::Unsupported => "unsupported",
            DialErrorKind::Proxy => "proxy",
        }
    }
}

/// A failed dial: its kind and the underlying cause. Cheap to clone (the cause is shared).
#[derive(Clone)]
pub struct DialError {
    kind: DialErrorKind,
    cause: Arc<dyn StdError + Send + Sync>,
}

impl DialError {
    /// A dial error of `kind` caused by `cause`.
    pub fn new(kind: DialErrorKind, cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            kind,
            cause: Arc::from(cause.into()),
        }
    }

    /// A failed connect (or socket setup): [`DialErrorKind::Local`] when a local resource
    /// ran out, [`DialErrorKind::Connect`] otherwise.
    pub fn connect(error: std::io::Error) -> Self {
        Self::new(DialErrorKind::of_connect(&error), error)
    }

    /// What kind of failure this was.
    pub fn kind(&self) -> DialErrorKind {
        self.kind
    }

    /// Whether the dial ran out of time.
    pub fn is_timeout(&self) -> bool {
        self.kind == DialErrorKind::Timeout
    }
}

/// Whether an I/O error means this machine ran out of something (not the peer's fault).
fn is_local_exhaustion(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::OutOfMemory | ErrorKind::AddrNotAvailable | ErrorKind::AddrInUse
    ) {
        return true;
    }
    // EMFILE, ENFILE and ENOBUFS have no `ErrorKind` of their own (Linux numbers).
    cfg!(target_os = "linux") && matches!(error.raw_os_error(), Some(23 | 24 | 105))
}

impl fmt::Debug for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialError")
            .field("kind", &self.kind)
            .field("cause", &self.cause.to_string())
            .finish()
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.kind.as_str(), self.cause)
    }
}

impl StdError for DialError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.cause)
    }
}
