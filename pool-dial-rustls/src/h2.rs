//! HTTP/2 over the pooled TLS stream: [`H2Dialer`] and [`H2Conn`], which carries
//! `pool-http`'s request API ([`HttpConnection`]).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::Authority;
use http::{Request, Response};
use pool_core::{Connection, DialError, DialErrorKind, Dialer, ProbeVerdict, Target};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};
use pool_rustls::ConfigError;
use tokio::sync::watch;

use pool_dial::{
    GoAway, H2Session, H2Windows, ReceiveWindow, Sniff, TlsConnection, TlsInfo, authority,
    complete_uri, dial_timeout,
};

use crate::H2Body;
use crate::options::H2Options;
use crate::tls::TlsCore;

/// Dials HTTP/2 connections: a TLS connection as [`TlsDialer`](crate::TlsDialer) makes
/// it, with `h2` required by ALPN, then the h2 handshake, the connection driver spawned,
/// and one PING round trip (so the peer's SETTINGS, sent before its PING ack, are known
/// when the pool reads the capacity). Then the optional validation request.
pub struct H2Dialer {
    core: TlsCore,
    max_streams_cap: usize,
    max_response_body: usize,
    windows: H2Windows,
}

impl H2Dialer {
    /// A dialer with these options. Fails like [`TlsDialer::new`](crate::TlsDialer::new),
    /// and when a profile does not offer `h2`.
    pub fn new(options: H2Options) -> Result<Self, ConfigError> {
        Ok(Self {
            core: TlsCore::new(options.tls, Some("h2"))?,
            max_streams_cap: options.max_streams_cap.max(1),
            max_response_body: options.max_response_body,
            windows: options.windows.clamped(),
        })
    }

    async fn connect(&self, target: &Target, deadline: Instant) -> Result<H2Conn, DialError> {
        let (tls, info) = self.core.connect(target, deadline).await?;
        self.establish(tls, info).await
    }

    /// The HTTP/2 handshake on an established TLS stream (ALPN `h2` checked), the driver
    /// spawned, one PING round trip. Used by the auto-ALPN dialer too.
    pub(crate) async fn establish(
        &self,
        tls: crate::DialedTls,
        info: TlsInfo,
    ) -> Result<H2Conn, DialError> {
        let max_header_list =
            u32::try_from(self.core.opts.max_response_header_size).unwrap_or(u32::MAX);
        let closed = watch::Sender::new(false);
        let goaway = GoAway::new(closed.clone());
        let (send, mut connection) = h2::client::Builder::new()
            .max_header_list_size(max_header_list)
            .initial_window_size(self.windows.stream)
            .initial_connection_window_size(self.windows.connection)
            .handshake::<_, Bytes>(Sniff::new(tls, goaway.clone()))
            .await
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        let ping = connection.ping_pong();
        let authority = Authority::try_from(authority(&info.host, info.addr.port()))
            .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
        let conn = H2Conn {
            session: H2Session::start_with_windows(
                send,
                ping,
                connection,
                closed,
                goaway,
                self.windows,
            ),
            info,
            authority,
            test_timeout: self.core.opts.test_timeout,
            max_streams_cap: self.max_streams_cap,
            max_response_body: self.max_response_body,
            requests: AtomicU64::new(0),
        };
        conn.ping()
            .await
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        Ok(conn)
    }
}

impl std::fmt::Debug for H2Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Dialer").finish_non_exhaustive()
    }
}

impl Dialer for H2Dialer {
    type Conn = H2Conn;

    async fn dial(&self, target: &Target) -> Result<H2Conn, DialError> {
        let opts = &self.core.opts;
        let deadline = Instant::now() + opts.conn_timeout;
        let conn = tokio::time::timeout_at(deadline, self.connect(target, deadline))
            .await
            .map_err(|_| dial_timeout("connect + TLS + HTTP/2 handshake", opts.conn_timeout))??;
        self.validate(&conn).await?;
        Ok(conn)
    }
}

impl H2Dialer {
    /// The dial's validation request, if configured; not counted in `requests_sent`.
    pub(crate) async fn validate(&self, conn: &H2Conn) -> Result<(), DialError> {
        let opts = &self.core.opts;
        if let Some(validation) = &opts.validation {
            pool_http::validate(conn, validation, opts.test_timeout).await?;
            // The validation request does not make the connection "reused" for callers.
            conn.requests.store(0, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A pooled HTTP/2 connection: the h2 `SendRequest` handle plus the task driving the
/// connection. Shared by up to [`Connection::capacity`] leases at once.
///
/// - capacity: the peer's `SETTINGS_MAX_CONCURRENT_STREAMS` as it is now (capped by
///   [`H2Options::max_streams_cap`]); the pool re-reads it at every release;
/// - closed: as soon as the peer sends GOAWAY (the pool drains it: streams in flight
///   finish, no new one starts), or when the driver ends — the peer closed or reset the
///   socket;
/// - probe: an HTTP/2 PING answered within `test_timeout`;
/// - receive windows: [`H2Options::windows`], grown by the adaptive mode
///   ([`receive_window`](Self::receive_window) reads them).
pub struct H2Conn {
    /// The request and PING handles, the closed flag, the peer's GOAWAY frames (which also
    /// mark the connection closed), the driver.
    session: H2Session<SendRequest<Bytes>, h2::PingPong>,
    info: TlsInfo,
    authority: Authority,
    test_timeout: Duration,
    max_streams_cap: usize,
    max_response_body: usize,
    /// Requests started on it (see [`HttpConnection::requests_sent`]).
    requests: AtomicU64,
}

impl H2Conn {
    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Sends an HTTP/2 PING and waits for its answer; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, h2::Error> {
        self.session.ping().await
    }

    /// The receive windows in force: those of [`H2Options::windows`] at the handshake,
    /// grown by the adaptive mode (when on) as the measured bandwidth-delay product
    /// asks (`docs/h2-windows.md`).
    pub fn receive_window(&self) -> ReceiveWindow {
        self.session.receive_window().unwrap_or(ReceiveWindow {
            stream: H2Windows::MIN,
            connection: H2Windows::MIN,
        })
    }
}

impl std::fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Conn")
            .field("info", &self.info)
            .field("closed", &self.session.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection for H2Conn {
    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }

    fn capacity(&self) -> usize {
        self.session.capacity(self.max_streams_cap)
    }

    fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.session.closed()
    }

    fn close_reason(&self) -> pool_core::CloseReason {
        self.session.close_reason()
    }

    async fn probe(&self) -> ProbeVerdict {
        self.session.probe(self.test_timeout).await
    }
}

impl TlsConnection for H2Conn {
    fn info(&self) -> &TlsInfo {
        &self.info
    }
}

impl HttpConnection for H2Conn {
    type ResponseBody = H2Body;

    /// Sends `request` on a new stream, its body pumped into the stream as h2's flow
    /// control allows (by a task that ends with the body, or when the response is
    /// dropped), and resolves with the response headers; the body streams ([`H2Body`]).
    ///
    /// A relative URI (`/path`) gets scheme `https` and the connection's host as
    /// authority; a request without `accept-language` gets the connection's, if any.
    async fn send<B>(&self, request: Request<B>) -> Result<Response<H2Body>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();
        parts.uri = complete_uri(parts.uri, &self.authority)?;
        if let Some(lang) = &self.info.accept_language
            && !parts.headers.contains_key(http::header::ACCEPT_LANGUAGE)
        {
            parts
                .headers
                .insert(http::header::ACCEPT_LANGUAGE, lang.clone());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let request = Request::from_parts(parts, ());
        self.session
            .send(request, body, self.max_response_body)
            .await
    }

    /// Requests started on this connection, the dial's validation request not counted.
    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
