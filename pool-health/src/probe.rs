//! How one idle connection is checked: the [`Probe`] trait and the probes shipped here.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use pool_core::{Connection, ProbeVerdict};
use pool_http::{HttpConnection, RequestError, Validation};

/// The status that blacklists an address by default (`pool-http`'s, the config's
/// `banned_status`).
pub use pool_http::DEFAULT_BANNED_STATUS;

/// Checks one idle connection. The health checker runs it with `test_timeout` (running out
/// of time counts as [`ProbeVerdict::Unhealthy`]) and never on a leased connection.
///
/// Implemented by [`TransportProbe`] (the default: the transport's own check),
/// [`FnProbe`] (any closure), [`RequestProbe`] (an HTTP request on any
/// [`HttpConnection`], classified) and [`HttpProbe`] (a request a closure sends,
/// classified).
pub trait Probe<C: Connection>: Send + Sync + 'static {
    /// Probes `conn`, made for `host` and connected to `addr`.
    fn probe<'a>(
        &'a self,
        conn: &'a C,
        host: &'a str,
        addr: SocketAddr,
    ) -> impl Future<Output = ProbeVerdict> + Send + 'a;
}

/// The transport's own check, [`Connection::probe`]: an HTTP/2 PING for `pool-dial-rustls`'s
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

/// An HTTP probe: the closure sends the request (e.g. `GET /healthz` on the pooled HTTP/2
/// connection) and returns the response status; the answer is classified like the pool's
/// validation request (see [`classify_http`]). For connections that implement
/// [`HttpConnection`], [`RequestProbe`] needs no closure.
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

/// How an HTTP probe's outcome is judged, by `pool-http`'s one classification
/// ([`pool_http::classify`]): a network error or a non-success (non-2xx) status →
/// [`ProbeVerdict::Unhealthy`]; the banned status → [`ProbeVerdict::Banned`]; 2xx →
/// [`ProbeVerdict::Healthy`].
pub fn classify_http<E: Display>(result: &Result<u16, E>, banned_status: u16) -> ProbeVerdict {
    match result {
        Ok(status) => pool_http::classify(*status, &[banned_status]).into(),
        Err(_) => ProbeVerdict::Unhealthy,
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
            judged(classify_http(&result, banned), &result, &host, addr)
        }
    }
}

/// Logs a failed HTTP probe; returns its verdict.
fn judged<E: Display>(
    verdict: ProbeVerdict,
    result: &Result<u16, E>,
    host: &str,
    addr: SocketAddr,
) -> ProbeVerdict {
    match result {
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

/// An HTTP probe for any connection that speaks HTTP ([`HttpConnection`]): sends the
/// [`Validation`]-shaped request (method, path, body) and classifies the status with its
/// banned statuses, exactly as the dialers' validation does.
#[derive(Clone, Debug)]
pub struct RequestProbe {
    request: Validation,
}

impl RequestProbe {
    /// A probe sending `request`'s method, path and body, banning its banned statuses.
    pub fn new(request: Validation) -> Self {
        Self { request }
    }

    /// `GET path`, banning [`DEFAULT_BANNED_STATUS`].
    pub fn get(path: &str) -> Self {
        Self::new(Validation::get(path, DEFAULT_BANNED_STATUS))
    }
}

impl<C: HttpConnection> Probe<C> for RequestProbe {
    async fn probe<'a>(&'a self, conn: &'a C, host: &'a str, addr: SocketAddr) -> ProbeVerdict {
        let result: Result<u16, RequestError> = self.request.exchange(conn).await;
        let verdict = match &result {
            Ok(status) => self.request.classify(*status).into(),
            Err(_) => ProbeVerdict::Unhealthy,
        };
        judged(verdict, &result, host, addr)
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

    /// Answers every request with the status in `.0`, or fails when it is 0.
    struct Fixed(std::sync::atomic::AtomicU16);

    impl Connection for Fixed {
        fn protocol(&self) -> pool_http::Protocol {
            pool_http::Protocol::Http2
        }

        fn capacity(&self) -> usize {
            1
        }

        fn is_closed(&self) -> bool {
            false
        }
    }

    impl HttpConnection for Fixed {
        type ResponseBody = pool_http::BufferedBody;

        async fn send<B>(
            &self,
            request: http_types::Request<B>,
        ) -> Result<http_types::Response, pool_http::RequestError>
        where
            B: pool_http::http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
            B::Error: Into<pool_http::BoxError>,
        {
            assert_eq!(request.uri(), "/healthz");
            match self.0.load(std::sync::atomic::Ordering::Relaxed) {
                0 => Err(pool_http::RequestError::ConnectionLost("reset".into())),
                status => {
                    let mut response = http_types::Response::new(Default::default());
                    *response.status_mut() = status.try_into().unwrap();
                    Ok(response)
                }
            }
        }

        fn requests_sent(&self) -> u64 {
            0
        }
    }

    mod http_types {
        pub type Request<B> = ::http::Request<B>;
        pub type Response = ::http::Response<pool_http::BufferedBody>;
    }

    #[tokio::test]
    async fn request_probe_classifies_like_validation() {
        let conn = Fixed(std::sync::atomic::AtomicU16::new(0));
        let addr: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let probe = RequestProbe::get("/healthz");
        for (status, want) in [
            (200, ProbeVerdict::Healthy),
            (403, ProbeVerdict::Banned),
            (503, ProbeVerdict::Unhealthy),
            (0, ProbeVerdict::Unhealthy),
        ] {
            conn.0.store(status, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(probe.probe(&conn, "a.test", addr).await, want, "{status}");
        }
        let custom = RequestProbe::new(Validation::get("/healthz", 451));
        conn.0.store(451, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            custom.probe(&conn, "a.test", addr).await,
            ProbeVerdict::Banned
        );
    }
}
