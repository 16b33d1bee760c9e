//! A pooled HTTP/3 connection: h3's `SendRequest` plus the task driving the connection.

use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h3::ConnectionState;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use pool_core::{Connection, DialError, DialErrorKind, ProbeVerdict};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError, Validation};
use quinn::{Endpoint, VarInt};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::body::{H3Body, Upload, open_error, response_error};
use crate::goaway::GoawayId;

/// HTTP/3's "no error" code (RFC 9114 §8.1): the close of a graceful shutdown.
const H3_NO_ERROR: u64 = 0x100;
/// How long a request lost in a graceful close waits for the connection's driver to read
/// the GOAWAY still queued on the control stream (see [`QuicConn::above_goaway`]).
const GOAWAY_READ_WAIT: Duration = Duration::from_millis(100);

/// What a QUIC connection was made under and negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuicInfo {
    /// The host name: SNI, and the name the certificate was verified against.
    pub host: Arc<str>,
    /// The address connected to.
    pub addr: SocketAddr,
    /// The local IP used, when the platform reports it.
    pub local_ip: Option<IpAddr>,
    /// The negotiated ALPN protocol (`h3`).
    pub alpn: Option<Vec<u8>>,
    /// The peer's `initial_max_streams_bidi` transport parameter.
    pub peer_max_bidi_streams: Option<u64>,
}

/// Where the HTTP/3 connection is, as its driver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Open for new requests.
    Open,
    /// The peer sent GOAWAY: requests in flight finish, no new ones.
    GoingAway,
    /// The driver ended: the connection is closed.
    Closed,
}

/// The settings of a [`QuicConn`] that come from the dialer's options.
pub(crate) struct ConnSettings {
    pub(crate) max_streams_cap: usize,
    pub(crate) test_timeout: Duration,
    pub(crate) probe: Option<Validation>,
    pub(crate) max_response_header_size: usize,
}

/// A pooled HTTP/3 connection (QUIC, ALPN `h3`), shared by up to
/// [`Connection::capacity`] leases, one request stream each.
///
/// - capacity: the peer's bidirectional stream limit (`initial_max_streams_bidi`, see
///   `docs/quic-capacity.md`), capped by `QuicOptions::max_streams_cap`;
/// - closed: the peer sent GOAWAY (the connection drains: requests in flight finish, the
///   pool dials a replacement), or the QUIC connection was lost or closed;
/// - probe: the connection is open and not going away, and, with
///   `QuicOptions::probe_request`, that request answered and classified within
///   `test_timeout`.
pub struct QuicConn {
    conn: quinn::Connection,
    send: h3::client::SendRequest<crate::bounded::Open, Bytes>,
    state: watch::Sender<State>,
    driver: AbortHandle,
    /// Keeps the endpoint (and its UDP socket) alive as long as the connection.
    endpoint: Endpoint,
    info: QuicInfo,
    authority: Authority,
    settings: ConnSettings,
    /// Requests started on it (see [`HttpConnection::requests_sent`]).
    requests: AtomicU64,
    /// The peer's GOAWAY stream id, read off its control stream.
    goaway: GoawayId,
}

impl QuicConn {
    /// Sets up HTTP/3 on an established QUIC connection: h3's client handshake (control
    /// and QPACK streams, SETTINGS), and the driver task, polled for the connection's life.
    pub(crate) async fn start(
        conn: quinn::Connection,
        endpoint: Endpoint,
        info: QuicInfo,
        settings: ConnSettings,
    ) -> Result<Self, DialError> {
        let authority = Authority::try_from(authority(&info.host, info.addr.port()))
            .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
        let goaway = GoawayId::new();
        let (mut driver, send) = h3::client::builder()
            .max_field_section_size(settings.max_response_header_size as u64)
            .build(crate::bounded::Conn::new(
                conn.clone(),
                settings.max_response_header_size as u64,
                goaway.clone(),
            ))
            .await
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        let state = watch::Sender::new(State::Open);
        let driver_state = state.clone();
        let task = tokio::spawn(async move {
            let error = poll_fn(|cx| {
                let polled = driver.poll_close(cx);
                if driver.is_closing() {
                    driver_state.send_if_modified(|s| {
                        let changed = *s == State::Open;
                        if changed {
                            *s = State::GoingAway;
                        }
                        changed
                    });
                }
                polled
            })
            .await;
            if error.is_h3_no_error() {
                tracing::debug!("HTTP/3 connection closed");
            } else {
                tracing::debug!(%error, "HTTP/3 connection ended with an error");
            }
            driver_state.send_replace(State::Closed);
        });
        Ok(Self {
            conn,
            send,
            state,
            driver: task.abort_handle(),
            endpoint,
            info,
            authority,
            settings,
            requests: AtomicU64::new(0),
            goaway,
        })
    }

    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &QuicInfo {
        &self.info
    }

    /// The quinn connection, for anything beyond the request API.
    pub fn quinn(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Whether the peer sent GOAWAY (the connection is draining).
    pub fn is_going_away(&self) -> bool {
        *self.state.borrow() == State::GoingAway
    }

    /// Forgets the requests counted so far (the dial's validation request).
    pub(crate) fn reset_requests(&self) {
        self.requests.store(0, Ordering::Relaxed);
    }

    /// One request on a new stream, not counted in [`HttpConnection::requests_sent`]
    /// (probes use it directly).
    async fn exchange<B>(&self, request: Request<B>) -> Result<Response<H3Body>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, mut body) = request.into_parts();
        if parts.uri.scheme().is_none() || parts.uri.authority().is_none() {
            let mut uri = parts.uri.into_parts();
            uri.scheme.get_or_insert(Scheme::HTTPS);
            uri.authority.get_or_insert_with(|| self.authority.clone());
            if uri.path_and_query.is_none() {
                uri.path_and_query = Some(PathAndQuery::from_static("/"));
            }
            parts.uri = Uri::from_parts(uri).map_err(http::Error::from)?;
        }
        if self.is_going_away() {
            return Err(RequestError::NotSent("the peer sent GOAWAY".into()));
        }
        let mut send = self.send.clone();
        let stream = send
            .send_request(Request::from_parts(parts, ()))
            .await
            .map_err(open_error)?;
        let id = stream.id().into_inner();
        let (tx, rx) = stream.split();
        // The receive side is owned by the body from here: dropped (a deadline), it stops
        // the stream.
        let mut response_body = H3Body::new(rx);
        let mut upload = Upload::new(tx);
        let uploaded = async {
            loop {
                let frame = match body.frame().await {
                    None => break,
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => return Err(RequestError::RequestBody(e.into())),
                };
                if let (Ok(mut data), Some(stream)) = (frame.into_data(), upload.stream()) {
                    if data.has_remaining() {
                        let data = data.copy_to_bytes(data.remaining());
                        stream.send_data(data).await.map_err(response_error)?;
                    }
                }
            }
            if let Some(stream) = upload.stream() {
                stream.finish().await.map_err(response_error)?;
            }
            upload.done();
            Ok::<(), RequestError>(())
        }
        .await;
        // The server may answer before it read the whole body (and stop it): its
        // answer wins over the failed upload.
        let head = match response_body.recv_response().await {
            Ok(head) => head,
            Err(e) => {
                let e = uploaded.err().unwrap_or_else(|| response_error(e));
                return Err(self.above_goaway(id, e).await);
            }
        };
        drop(upload);
        let (parts, ()) = head.into_parts();
        Ok(Response::from_parts(parts, response_body))
    }

    /// `e`, the error of the request on stream `id` before its response headers, as a
    /// refusal when the stream was at or above the peer's GOAWAY id (RFC 9114 §5.2: not
    /// processed, safe to send again whatever the method). h3 reports such a request as a
    /// lost connection when the server closes after its graceful shutdown (`H3_NO_ERROR`)
    /// without having rejected the stream.
    ///
    /// The GOAWAY is read by the connection's driver task, normally long before the close
    /// (the server finishes its requests in between). When the close came first as this
    /// request saw it — a graceful close and no GOAWAY id known yet — it waits (at most
    /// [`GOAWAY_READ_WAIT`]) for the driver to see the GOAWAY or end; still unknown, the
    /// request stays `ConnectionLost` (it may have been processed).
    async fn above_goaway(&self, id: u64, e: RequestError) -> RequestError {
        let RequestError::ConnectionLost(source) = e else {
            return e;
        };
        let graceful = matches!(
            self.conn.close_reason(),
            Some(quinn::ConnectionError::ApplicationClosed(ref close))
                if close.error_code.into_inner() == H3_NO_ERROR
        );
        if graceful && self.goaway.get().is_none() {
            let mut state = self.state.subscribe();
            let _ =
                tokio::time::timeout(GOAWAY_READ_WAIT, state.wait_for(|s| *s != State::Open)).await;
        }
        if self.goaway.refuses(id) {
            tracing::debug!(
                stream = id,
                goaway = self.goaway.get(),
                "HTTP/3 request above the GOAWAY id: refused"
            );
            return RequestError::Refused {
                source,
                connection_closing: true,
            };
        }
        RequestError::ConnectionLost(source)
    }

    /// The configured probe request, classified.
    async fn probe_request(&self, probe: &Validation) -> ProbeVerdict {
        let Ok(request) = probe.request() else {
            return ProbeVerdict::Unhealthy;
        };
        let answered = tokio::time::timeout(self.settings.test_timeout, async {
            let response = self.exchange(request).await?;
            let status = response.status().as_u16();
            // Read the answer to its end so the stream closes cleanly.
            let _ = response.into_body().collect().await?;
            Ok::<u16, RequestError>(status)
        })
        .await;
        match answered {
            Ok(Ok(status)) => probe.classify(status).into(),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, addr = %self.info.addr, "HTTP/3 probe failed");
                ProbeVerdict::Unhealthy
            }
            Err(_) => ProbeVerdict::Unhealthy,
        }
    }
}

/// `host` or `host:port` (port 443 left out), the authority of relative request URIs.
fn authority(host: &str, port: u16) -> String {
    if port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

impl HttpConnection for QuicConn {
    type ResponseBody = H3Body;

    /// Sends `request` on a new request stream: the headers, the body streamed, then the
    /// response headers; the response body streams from the returned [`H3Body`]. A
    /// relative URI (`/path`) gets scheme `https` and the connection's host as authority.
    ///
    /// Errors: GOAWAY received or the connection gone before the request was sent →
    /// `NotSent`; the peer rejected the stream (`H3_REQUEST_REJECTED`), or the connection
    /// lost under a stream at or above the peer's GOAWAY id → `Refused`; otherwise the
    /// connection lost under it → `ConnectionLost`; a stream error → `Protocol`.
    fn send<B>(
        &self,
        request: Request<B>,
    ) -> impl Future<Output = Result<Response<H3Body>, RequestError>> + Send
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.exchange(request)
    }

    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for QuicConn {
    fn drop(&mut self) {
        self.driver.abort();
        self.conn.close(VarInt::from_u32(0), b"pool closed");
        let _ = &self.endpoint;
    }
}

impl std::fmt::Debug for QuicConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConn")
            .field("info", &self.info)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Connection for QuicConn {
    fn protocol(&self) -> Protocol {
        Protocol::Http3
    }

    fn capacity(&self) -> usize {
        let cap = self.settings.max_streams_cap;
        let peer = self
            .info
            .peer_max_bidi_streams
            .map_or(cap, |n| usize::try_from(n).unwrap_or(usize::MAX));
        peer.clamp(1, cap)
    }

    fn is_closed(&self) -> bool {
        *self.state.borrow() != State::Open || self.conn.close_reason().is_some()
    }

    /// GOAWAY when the peer sent one (the state went through `GoingAway`, or its id was
    /// read off the control stream); `Lost` when QUIC's idle timeout ended it (the path
    /// went silent); else the peer closed or reset it.
    fn close_reason(&self) -> pool_core::CloseReason {
        if *self.state.borrow() == State::GoingAway || self.goaway.get().is_some() {
            return pool_core::CloseReason::GoAway;
        }
        match self.conn.close_reason() {
            Some(quinn::ConnectionError::TimedOut) => pool_core::CloseReason::Lost,
            _ => pool_core::CloseReason::PeerClosed,
        }
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut state = self.state.subscribe();
        let conn = self.conn.clone();
        async move {
            tokio::select! {
                _ = state.wait_for(|s| *s != State::Open) => {
                    tracing::debug!("HTTP/3 connection going away or closed");
                }
                reason = conn.closed() => tracing::debug!(%reason, "QUIC connection closed"),
            }
        }
    }

    async fn probe(&self) -> ProbeVerdict {
        // quinn has no user PING: keep-alive PINGs and the idle timeout close a dead
        // connection, which `is_closed` then reports; the request (when configured) is the
        // application-level check.
        if self.is_closed() {
            return ProbeVerdict::Unhealthy;
        }
        match &self.settings.probe {
            Some(probe) => self.probe_request(probe).await,
            None => ProbeVerdict::Healthy,
        }
    }
}
