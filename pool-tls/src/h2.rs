//! HTTP/2 over the pooled TLS stream: [`H2Dialer`] and [`H2Conn`], which carries
//! `pool-http`'s request API ([`HttpConnection`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::SendStream;
use h2::client::SendRequest;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use http_body::Frame;
use http_body_util::BodyExt;
use pool_core::{Connection, DialError, DialErrorKind, Dialer, ProbeVerdict, Target};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};
use pool_rustls::ConfigError;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::goaway::{GoAway, Sniff};
use crate::options::H2Options;
use crate::tls::{TlsCore, TlsInfo, authority, timeout_error};

/// Dials HTTP/2 connections: a TLS connection as [`TlsDialer`](crate::TlsDialer) makes
/// it, with `h2` required by ALPN, then the h2 handshake, the connection driver spawned,
/// and one PING round trip (so the peer's SETTINGS, sent before its PING ack, are known
/// when the pool reads the capacity). Then the optional validation request.
pub struct H2Dialer {
    core: TlsCore,
    max_streams_cap: usize,
    max_response_body: usize,
}

impl H2Dialer {
    /// A dialer with these options. Fails like [`TlsDialer::new`](crate::TlsDialer::new),
    /// and when a profile does not offer `h2`.
    pub fn new(options: H2Options) -> Result<Self, ConfigError> {
        Ok(Self {
            core: TlsCore::new(options.tls, Some("h2"))?,
            max_streams_cap: options.max_streams_cap.max(1),
            max_response_body: options.max_response_body,
        })
    }

    async fn connect(&self, target: &Target) -> Result<H2Conn, DialError> {
        let (tls, info) = self.core.connect(target).await?;
        self.establish(tls, info).await
    }

    /// The HTTP/2 handshake on an established TLS stream (ALPN `h2` checked), the driver
    /// spawned, one PING round trip. Used by the auto-ALPN dialer too.
    pub(crate) async fn establish(
        &self,
        tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        info: TlsInfo,
    ) -> Result<H2Conn, DialError> {
        let max_header_list =
            u32::try_from(self.core.opts.max_response_header_size).unwrap_or(u32::MAX);
        let closed = watch::Sender::new(false);
        let goaway = GoAway::new(closed.clone());
        let (send, mut connection) = h2::client::Builder::new()
            .max_header_list_size(max_header_list)
            .handshake::<_, Bytes>(Sniff::new(tls, goaway.clone()))
            .await
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        let ping = connection.ping_pong();
        let driver_closed = closed.clone();
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
            }
            driver_closed.send_replace(true);
        });
        let authority = Authority::try_from(authority(&info.host, info.addr.port()))
            .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
        let conn = H2Conn {
            send,
            ping: tokio::sync::Mutex::new(ping),
            closed,
            goaway,
            driver: driver.abort_handle(),
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
        let conn = tokio::time::timeout(opts.conn_timeout, self.connect(target))
            .await
            .map_err(|_| timeout_error("connect + TLS + HTTP/2 handshake", opts.conn_timeout))??;
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
/// - probe: an HTTP/2 PING answered within `test_timeout`.
pub struct H2Conn {
    send: SendRequest<Bytes>,
    ping: tokio::sync::Mutex<Option<h2::PingPong>>,
    closed: watch::Sender<bool>,
    /// The peer's GOAWAY frames (which also mark the connection closed).
    goaway: Arc<GoAway>,
    driver: AbortHandle,
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
        let mut guard = self.ping.lock().await;
        let Some(ping) = guard.as_mut() else {
            return Err(h2::Error::from(h2::Reason::INTERNAL_ERROR));
        };
        let started = Instant::now();
        // Also when the wait is abandoned (a probe's timeout drops this future).
        let ping = ForgetPinger(ping);
        ping.0.ping(h2::Ping::opaque()).await?;
        Ok(started.elapsed())
    }
}

/// Makes h2 forget the task that waited for the last PING's answer, when dropped.
///
/// h2 0.4 registers the waiting task's waker on every poll of the answer, the last one
/// (which finds the answer) included, and keeps it until the next PING. A waker holds its
/// task's allocation alive, so without this every pooled connection kept the finished
/// *dial* task (≈ 7.5 KiB: the whole connect + TLS + h2 handshake future) for as long as
/// it lived (`docs/idle-memory.md`). Polling once more with a no-op waker replaces it; the
/// answer was consumed, so the poll is `Pending` and changes nothing else.
struct ForgetPinger<'a>(&'a mut h2::PingPong);

impl Drop for ForgetPinger<'_> {
    fn drop(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = self.0.poll_pong(&mut cx);
    }
}

impl Drop for H2Conn {
    fn drop(&mut self) {
        // Dropping the driver closes the socket; leases are gone by now.
        self.driver.abort();
    }
}

impl std::fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Conn")
            .field("info", &self.info)
            .field("closed", &*self.closed.borrow())
            .finish_non_exhaustive()
    }
}

impl Connection for H2Conn {
    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }

    fn capacity(&self) -> usize {
        self.send
            .current_max_send_streams()
            .clamp(1, self.max_streams_cap)
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        crate::tls::when_closed(&self.closed)
    }

    async fn probe(&self) -> ProbeVerdict {
        if self.is_closed() {
            return ProbeVerdict::Unhealthy;
        }
        match tokio::time::timeout(self.test_timeout, self.ping()).await {
            Ok(Ok(_)) => ProbeVerdict::Healthy,
            _ => ProbeVerdict::Unhealthy,
        }
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
        if parts.uri.scheme().is_none() || parts.uri.authority().is_none() {
            let mut uri = parts.uri.into_parts();
            uri.scheme.get_or_insert(Scheme::HTTPS);
            uri.authority.get_or_insert_with(|| self.authority.clone());
            if uri.path_and_query.is_none() {
                uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
            }
            parts.uri = Uri::from_parts(uri).map_err(http::Error::from)?;
        }
        if let Some(lang) = &self.info.accept_language
            && !parts.headers.contains_key(http::header::ACCEPT_LANGUAGE)
        {
            parts
                .headers
                .insert(http::header::ACCEPT_LANGUAGE, lang.clone());
        }
        let request = Request::from_parts(parts, ());
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.goaway.received() {
            // h2 would open the stream, and the peer ignore it.
            return Err(RequestError::NotSent("the peer sent GOAWAY".into()));
        }
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|e| RequestError::NotSent(e.into()))?;
        let end_of_stream = body.is_end_stream();
        let (response, stream) = send
            .send_request(request, end_of_stream)
            .map_err(|e| RequestError::NotSent(e.into()))?;
        // Aborted when the exchange is abandoned (this future or the response body
        // dropped), so the stream's last handle goes and h2 resets it.
        let pump =
            (!end_of_stream).then(|| PumpGuard(tokio::spawn(pump(body, stream)).abort_handle()));
        let stream_id = u32::from(response.stream_id());
        let (parts, recv) = response
            .await
            .map_err(|e| self.stream_error(e, stream_id))?
            .into_parts();
        let body = H2Body {
            recv,
            trailers: false,
            limit: self.max_response_body,
            read: 0,
            _pump: pump,
        };
        Ok(Response::from_parts(parts, body))
    }

    /// Requests started on this connection, the dial's validation request not counted.
    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Pumps a request body into its h2 stream, a chunk at a time as the peer's flow-control
/// window allows; a body error resets the stream (`CANCEL`).
async fn pump<B>(mut body: B, mut stream: SendStream<Bytes>)
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    loop {
        let next: Option<Result<Frame<Bytes>, BoxError>> =
            body.frame().await.map(|r| r.map_err(Into::into));
        let frame = match next {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "request body failed; resetting the stream");
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        let end = body.is_end_stream();
        let mut data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let _ = stream.send_trailers(trailers);
                    return;
                }
                continue;
            }
        };
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            let granted = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(n)) => n,
                // The stream was reset or the connection ended: the response says why.
                _ => return,
            };
            let chunk = data.split_to(granted.min(data.len()));
            if stream.send_data(chunk, end && data.is_empty()).is_err() {
                return;
            }
        }
        if end {
            return;
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// Aborts the request-body pump when dropped.
#[derive(Debug)]
struct PumpGuard(AbortHandle);

impl Drop for PumpGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The streamed body of an HTTP/2 response ([`H2Conn`]'s
/// [`HttpConnection::ResponseBody`]): data frames as they arrive, flow-control capacity
/// released as each is handed out, then the trailers; at most `H2Options::max_response_body`
/// bytes ([`RequestError::BodyTooLarge`] past it). Dropping it before its end resets the
/// stream (`CANCEL`) and stops the request body's pump.
pub struct H2Body {
    recv: h2::RecvStream,
    trailers: bool,
    limit: usize,
    read: usize,
    _pump: Option<PumpGuard>,
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        let this = &mut *self;
        if !this.trailers {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.read += data.len();
                    if this.read > this.limit {
                        return Poll::Ready(Some(Err(RequestError::BodyTooLarge {
                            limit: this.limit,
                        })));
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(request_error(e)))),
                None => this.trailers = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(request_error(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

impl std::fmt::Debug for H2Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Body")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl H2Conn {
    /// An h2 error before the response headers of stream `id`, as [`request_error`]
    /// maps it, except that a connection lost after a GOAWAY whose last stream id is
    /// below `id` is a refusal: the peer never processed the stream (RFC 9113 §6.8), but
    /// h2 sent it after the GOAWAY and learnt nothing more until the connection ended.
    fn stream_error(&self, e: h2::Error, id: u32) -> RequestError {
        match request_error(e) {
            RequestError::ConnectionLost(source) if self.goaway.excludes(id) => {
                RequestError::Refused {
                    source,
                    connection_closing: true,
                }
            }
            other => other,
        }
    }
}

/// An h2 error under a request, as `pool-http`'s kind: this side's `ENHANCE_YOUR_CALM`
/// (h2 cut off a CONTINUATION flood or a header list far past the limit) → `PeerLimit`;
/// refused (`REFUSED_STREAM`, or a
/// GOAWAY that excluded the stream: not processed), connection lost (I/O, GOAWAY), or a
/// stream error.
fn request_error(e: h2::Error) -> RequestError {
    let refused = e.reason() == Some(h2::Reason::REFUSED_STREAM);
    if e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) && !e.is_remote() {
        RequestError::PeerLimit {
            limit: pool_http::PeerLimit::Flood,
            source: e.into(),
        }
    } else if e.is_go_away() && (e.is_remote() || refused) {
        RequestError::Refused {
            source: e.into(),
            connection_closing: true,
        }
    } else if refused {
        RequestError::Refused {
            source: e.into(),
            connection_closing: false,
        }
    } else if e.is_io() || e.is_go_away() {
        RequestError::ConnectionLost(e.into())
    } else {
        RequestError::Protocol(e.into())
    }
}
