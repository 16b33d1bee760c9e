//! How one idle connection is checked: the [`Probe`] trait and the probes shipped here.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;

use pool_core::{Connection, ProbeVerdict};

/// Checks one idle connection. The health checker runs it with `test_timeout` (running out
/// of time counts as [`ProbeVerdict::Unhealthy`]) and never on a leased connection.
///
/// Implemented by [`TransportProbe`] (the default: the transport's own check),
/// [`FnProbe`] (any closure) and [`HttpProbe`] (an HTTP request, classified).
pub trait Probe<C: Connection>: Send + Sync + 'static {
    /// Probes `conn`, made for `host` and connected to `addr`.
    fn probe(
        &self,
        conn: &C,
        host: &str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send;
}

/// The transport's own check, [`Connection::probe`]: an HTTP/2 PING for `pool-tls`'s
/// `H2Conn`, connection state for QUIC. The default probe.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransportProbe;

impl<C: Connection> Probe<C> for TransportProbe {
    fn probe(
        &self,
        conn: &C,
        _host: &str,
        _addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send {
        conn.probe()
    }
}

/// A probe made of a closure returning the verdict.
///
/// The closure gets the connection by reference and returns an owned future: take what the
/// request needs from the connection (e.g. clone its request handle) before the `async`
/// block.
#[derive(Clone, Debug)]
pub struct FnProbe<F>(pub F);

impl<C, F, Fut> Probe<C> for FnProbe<F>
where
    C: Connection,
    F: Fn(&C, &str, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ProbeVerdict> + Send + 'static,
{
    fn probe(
        &self,
        conn: &C,
        host: &str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send {
        (self.0)(conn, host, addr)
    }
}

/// The status that blacklists an address by default (the config's `banned_status`).
pub const DEFAULT_BANNED_STATUS: u16 = 403;

/// An HTTP probe: the closure sends the request (e.g. `GET /healthz` on the pooled HTTP/2
/// connection) and returns the response status; the answer is classified like the pool's
/// validation request (see [`classify_http`]).
///
/// `pool-health` does not depend on an HTTP stack: the transport crate (or the
/// application) provides the request, this type provides the scheduling and the
/// classification.
#[derive(Clone, Debug)]
pub struct HttpProbe<F> {
    request: F,
    /// The status that means "this address is banned": the connection is closed and its IP
    /// blacklisted. Default 403.
    pub banned_status: u16,
}

impl<F> HttpProbe<F> {
    /// An HTTP probe sending requests with `request`, banned status 403.
    pub fn new(request: F) -> Self {
        Self {
            request,
            banned_status: DEFAULT_BANNED_STATUS,
        }
    }

    /// Sets the status that blacklists the address.
    pub fn banned_status(mut self, status: u16) -> Self {
        self.banned_status = status;
        self
    }
}

/// How an HTTP probe's outcome is judged: a network error or a non-success (non-2xx)
/// status → [`ProbeVerdict::Unhealthy`]; the banned status → [`ProbeVerdict::Banned`];
/// 2xx → [`ProbeVerdict::Healthy`].
pub fn classify_http<E: Display>(result: &Result<u16, E>, banned_status: u16) -> ProbeVerdict {
    match result {
        Ok(status) if *status == banned_status => ProbeVerdict::Banned,
        Ok(status) if (200..300).contains(status) => ProbeVerdict::Healthy,
        Ok(_) | Err(_) => ProbeVerdict::Unhealthy,
    }
}

impl<C, F, Fut, E> Probe<C> for HttpProbe<F>
where
    C: Connection,
    F: Fn(&C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u16, E>> + Send + 'static,
    E: Display + Send,
{
    fn probe(
        &self,
        conn: &C,
        host: &str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send {
        let request = (self.request)(conn);
        let banned = self.banned_status;
        let host = host.to_owned();
        async move {
            let result = request.await;
            let verdict = classify_http(&result, banned);
            match &result {
                Ok(status) if verdict != ProbeVerdict::Healthy => {
                    tracing::debug!(host, %addr, status, ?verdict, "HTTP probe failed");
                }
                Err(error) => {
                    tracing::debug!(host, %addr, %error, "HTTP probe failed");
                }
                Ok(_) => {}
            }
            verdict
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_classification() {
        let ok: Result<u16, String> = Ok(204);
        assert_eq!(classify_http(&ok, 403), ProbeVerdict::Healthy);
        assert_eq!(
            classify_http(&Ok::<_, String>(403), 403),
            ProbeVerdict::Banned
        );
        assert_eq!(
            classify_http(&Ok::<_, String>(451), 451),
            ProbeVerdict::Banned
        );
        assert_eq!(
            classify_http(&Ok::<_, String>(403), 451),
            ProbeVerdict::Unhealthy
        );
        assert_eq!(
            classify_http(&Ok::<_, String>(503), 403),
            ProbeVerdict::Unhealthy
        );
        assert_eq!(
            classify_http(&Ok::<_, String>(301), 403),
            ProbeVerdict::Unhealthy
        );
        let err: Result<u16, &str> = Err("connection reset");
        assert_eq!(classify_http(&err, 403), ProbeVerdict::Unhealthy);
    }
}
