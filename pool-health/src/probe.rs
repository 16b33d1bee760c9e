//! How one idle connection is checked: the [`Probe`] trait and the probes shipped here.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use pool_core::{Connection, ProbeVerdict};

/// Checks one idle connection. The health checker runs it with `test_timeout` (running out
/// of time counts as [`ProbeVerdict::Unhealthy`]) and never on a leased connection.
///
/// Implemented by [`TransportProbe`] (the default: the transport's own check),
/// [`FnProbe`] (any closure) and [`HttpProbe`] (an HTTP request, classified).
pub trait Probe<C: Connection>: Send + Sync + 'static {
    /// Probes `conn`, made for `host` and connected to `addr`.
    fn probe<'a>(
        &'a self,
        conn: &'a C,
        host: &'a str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send + 'a;
}

/// The transport's own check, [`Connection::probe`]: an HTTP/2 PING for `pool-tls`'s
/// `H2Conn`, connection state for QUIC. The default probe.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransportProbe;

impl<C: Connection> Probe<C> for TransportProbe {
    fn probe<'a>(
        &'a self,
        conn: &'a C,
        _host: &'a str,
        _addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send + 'a {
        conn.probe()
    }
}

/// The boxed future a closure-based probe returns; it may borrow the connection.
pub type ProbeFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A probe made of a closure returning the verdict as a [`ProbeFuture`] (which may borrow
/// the connection: `|conn: &MyConn, _, _| Box::pin(async move { ... })`).
#[derive(Clone, Debug)]
pub struct FnProbe<F>(F);

impl<F> FnProbe<F> {
    /// A probe calling `probe` with the connection, its host and its address.
    pub fn new<C>(probe: F) -> Self
    where
        C: Connection,
        F: for<'a> Fn(&'a C, &'a str, SocketAddr) -> ProbeFuture<'a, ProbeVerdict>,
    {
        Self(probe)
    }
}

impl<C, F> Probe<C> for FnProbe<F>
where
    C: Connection,
    F: for<'a> Fn(&'a C, &'a str, SocketAddr) -> ProbeFuture<'a, ProbeVerdict>
        + Send
        + Sync
        + 'static,
{
    fn probe<'a>(
        &'a self,
        conn: &'a C,
        host: &'a str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send + 'a {
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
    /// An HTTP probe sending requests with `request` (which returns the response status,
    /// as a [`ProbeFuture`] that may borrow the connection), banned status 403.
    pub fn new<C, E>(request: F) -> Self
    where
        C: Connection,
        F: for<'a> Fn(&'a C) -> ProbeFuture<'a, Result<u16, E>>,
    {
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

impl<C, F, E> Probe<C> for HttpProbe<F>
where
    C: Connection,
    F: for<'a> Fn(&'a C) -> ProbeFuture<'a, Result<u16, E>> + Send + Sync + 'static,
    E: Display + Send + 'static,
{
    fn probe<'a>(
        &'a self,
        conn: &'a C,
        host: &'a str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send + 'a {
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
