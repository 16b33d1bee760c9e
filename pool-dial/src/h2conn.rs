//! A pooled HTTP/2 connection over any byte stream, with the `h2` crate (feature `h2`):
//! [`H2Conn`]. The rustls dialers run it over TLS (`https`), the plain dialer over TCP
//! with prior knowledge (`http`, h2c); one piece of code for both.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, header};
use pool_core::{Connection, DialError, DialErrorKind, ProbeVerdict};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError, Validation};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::goaway::{GoAway, Sniff};
use crate::h2like::H2Body;
use crate::h2session::H2Session;
use crate::{H2Windows, ReceiveWindow, TlsConnection, TlsInfo, authority_for};

/// How an [`H2Conn`] is made and bounded.
#[derive(Clone, Debug)]
pub struct H2ConnSettings {
    /// The scheme of relative requests: `https` over TLS, `http` for h2c.
    pub scheme: Scheme,
    /// The largest response header list accepted (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub max_response_header_size: usize,
    /// The receive windows (adaptive when asked: `docs/h2-windows.md`).
    pub windows: H2Windows,
    /// The bound of a probe (a PING).
    pub test_timeout: Duration,
    /// The most concurrent streams (leases) one connection carries, whatever the peer
    /// allows.
    pub max_streams_cap: usize,
    /// The most bytes one response body streams (`RequestError::BodyTooLarge` past it).
    pub max_response_body: usize,
}

/// A pooled HTTP/2 connection: the h2 `SendRequest` handle plus the task driving the
/// connection. Shared by up to [`Connection::capacity`] leases at once.
///
/// - capacity: the peer's `SETTINGS_MAX_CONCURRENT_STREAMS` as it is now (capped by
///   [`H2ConnSettings::max_streams_cap`]); the pool re-reads it at every release;
/// - closed: as soon as the peer sends GOAWAY (the pool drains it: streams in flight
///   finish, no new one starts), or when the driver ends — the peer closed or reset the
///   socket;
/// - probe: an HTTP/2 PING answered within `test_timeout`;
/// - receive windows: [`H2ConnSettings::windows`], grown by the adaptive mode
///   ([`receive_window`](Self::receive_window) reads them).
pub struct H2Conn {
    /// The request and PING handles, the closed flag, the peer's GOAWAY frames (which also
    /// mark the connection closed), the driver.
    session: H2Session<SendRequest<Bytes>, h2::PingPong>,
    info: TlsInfo,
    scheme: Scheme,
    authority: Authority,
    test_timeout: Duration,
    max_streams_cap: usize,
    max_response_body: usize,
    /// Requests started on it (see [`HttpConnection::requests_sent`]).
    requests: AtomicU64,
}

impl H2Conn {
    /// h2's handshake on `io` (the preface sent at once), the driver spawned, one PING
    /// round trip (so the peer's SETTINGS, sent before its PING ack, are known when the
    /// pool reads the capacity). `failed` turns an h2 error of the handshake or the PING
    /// into the dial's error (the TLS path: `Protocol`; h2c tells an HTTP/1.x answer apart).
    ///
    /// # Errors
    /// The handshake or the PING failed (`failed`'s verdict), or the host is not a valid
    /// authority (`Handshake`).
    pub async fn establish<T>(
        io: T,
        info: TlsInfo,
        settings: &H2ConnSettings,
        failed: impl Fn(h2::Error) -> DialError,
    ) -> Result<H2Conn, DialError>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let max_header_list = u32::try_from(settings.max_response_header_size).unwrap_or(u32::MAX);
        let windows = settings.windows;
        let closed = watch::Sender::new(false);
        let goaway = GoAway::new(closed.clone());
        let (send, mut connection) = h2::client::Builder::new()
            .max_header_list_size(max_header_list)
            .initial_window_size(windows.stream)
            .initial_connection_window_size(windows.connection)
            .handshake::<_, Bytes>(Sniff::new(io, goaway.clone()))
            .await
            .map_err(&failed)?;
        let ping = connection.ping_pong();
        let default_port = if settings.scheme == Scheme::HTTP {
            80
        } else {
            443
        };
        let authority =
            Authority::try_from(authority_for(&info.host, info.addr.port(), default_port))
                .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
        let conn = H2Conn {
            session: H2Session::start_with_windows(send, ping, connection, closed, goaway, windows),
            info,
            scheme: settings.scheme.clone(),
            authority,
            test_timeout: settings.test_timeout,
            max_streams_cap: settings.max_streams_cap.max(1),
            max_response_body: settings.max_response_body,
            requests: AtomicU64::new(0),
        };
        conn.session.ping().await.map_err(failed)?;
        Ok(conn)
    }

    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Sends an HTTP/2 PING and waits for its answer; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, h2::Error> {
        self.session.ping().await
    }

    /// The receive windows in force: those of the settings at the handshake, grown by
    /// the adaptive mode (when on) as the measured bandwidth-delay product asks.
    pub fn receive_window(&self) -> ReceiveWindow {
        self.session.receive_window().unwrap_or(ReceiveWindow {
            stream: H2Windows::MIN,
            connection: H2Windows::MIN,
        })
    }

    /// The dial's validation request within `timeout`; not counted in `requests_sent`
    /// (it does not make the connection "reused" for callers).
    ///
    /// # Errors
    /// The validation's verdict (banned, rejected) or its failure.
    pub async fn validate(
        &self,
        validation: &Validation,
        timeout: Duration,
    ) -> Result<(), DialError> {
        pool_http::validate(self, validation, timeout).await?;
        self.requests.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// A relative URI completed with the connection's scheme, the authority of the
    /// request's `host` header if it has one (removed: HTTP/2 names it in `:authority`),
    /// else the connection's, path `/` when it has none; an absolute one kept.
    fn complete(&self, parts: &mut http::request::Parts) -> Result<(), RequestError> {
        if parts.uri.scheme().is_some() && parts.uri.authority().is_some() {
            return Ok(());
        }
        let authority = match parts.headers.remove(header::HOST) {
            Some(host) => Authority::try_from(host.as_bytes()).map_err(http::Error::from)?,
            None => self.authority.clone(),
        };
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.scheme.get_or_insert(self.scheme.clone());
        uri.authority.get_or_insert(authority);
        uri.path_and_query
            .get_or_insert(PathAndQuery::from_static("/"));
        parts.uri = http::Uri::from_parts(uri).map_err(http::Error::from)?;
        Ok(())
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
    type ResponseBody = H2Body<h2::RecvStream>;

    /// Sends `request` on a new stream, its body pumped into the stream as h2's flow
    /// control allows (by a task that ends with the body, or when the response is
    /// dropped), and resolves with the response headers; the body streams ([`H2Body`]).
    ///
    /// A relative URI (`/path`) gets the connection's scheme and host (or the request's
    /// `host` header) as authority; a request without `accept-language` gets the
    /// connection's, if any.
    async fn send<B>(
        &self,
        request: Request<B>,
    ) -> Result<Response<Self::ResponseBody>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();
        self.complete(&mut parts)?;
        if let Some(lang) = &self.info.accept_language
            && !parts.headers.contains_key(header::ACCEPT_LANGUAGE)
        {
            parts.headers.insert(header::ACCEPT_LANGUAGE, lang.clone());
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
