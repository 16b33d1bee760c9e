//! HTTP/2 over a BoringSSL stream with the `http2` crate (the h2 fork that orders SETTINGS
//! and pseudo-headers and sends priorities): [`BoringH2Conn`], which carries `pool-http`'s
//! request API. Its shape is `pool_tls::H2Conn`'s; the types are `http2`'s, not `h2`'s.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, header};
use http_body::Frame;
use http_body_util::BodyExt;
use http2::client::SendRequest;
use http2::frame::{
    Priorities, Priority, PseudoId, PseudoOrder, SettingId, SettingsOrder, StreamDependency,
    StreamId,
};
use pool_core::{Connection, DialError, DialErrorKind, ProbeVerdict};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};
use pool_tls::{GoAway, Sniff, TlsInfo};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::error::BoringError;
use crate::profiles::{H2Fingerprint, Pseudo};
use crate::tls::{BoringStream, BuiltProfile, authority};

/// A profile's HTTP/2 fingerprint as an `http2` client builder.
pub(crate) fn builder(
    profile: &str,
    h2: &H2Fingerprint,
) -> Result<http2::client::Builder, BoringError> {
    let mut b = http2::client::Builder::new();
    let mut order = SettingsOrder::builder();
    for &(id, value) in &h2.settings {
        let setting = match id {
            1 => {
                b.header_table_size(value);
                SettingId::HeaderTableSize
            }
            2 => {
                b.enable_push(value != 0);
                SettingId::EnablePush
            }
            3 => {
                b.max_concurrent_streams(value);
                SettingId::MaxConcurrentStreams
            }
            4 => {
                b.initial_window_size(value);
                SettingId::InitialWindowSize
            }
            5 => {
                b.max_frame_size(value);
                SettingId::MaxFrameSize
            }
            6 => {
                b.max_header_list_size(value);
                SettingId::MaxHeaderListSize
            }
            8 => {
                b.enable_connect_protocol(value != 0);
                SettingId::EnableConnectProtocol
            }
            9 => {
                b.no_rfc7540_priorities(value != 0);
                SettingId::NoRfc7540Priorities
            }
            _ => {
                return Err(BoringError::Unsupported {
                    profile: profile.to_owned(),
                    field: "h2.settings",
                    value: id,
                });
            }
        };
        order = order.push(setting);
    }
    b.settings_order(order.build());
    if h2.window_update > 0 {
        b.initial_connection_window_size(h2.window_update.saturating_add(65_535));
    }
    let pseudo = h2.pseudo_order.iter().map(|p| match p {
        Pseudo::Method => PseudoId::Method,
        Pseudo::Scheme => PseudoId::Scheme,
        Pseudo::Authority => PseudoId::Authority,
        Pseudo::Path => PseudoId::Path,
    });
    b.headers_pseudo_order(PseudoOrder::builder().extend(pseudo).build());
    if let Some(p) = h2.headers_priority {
        b.headers_stream_dependency(StreamDependency::new(
            StreamId::from(p.depends_on),
            p.weight,
            p.exclusive,
        ));
    }
    if !h2.priorities.is_empty() {
        let mut list = Priorities::builder();
        for &(id, p) in &h2.priorities {
            list = list.push(Priority::new(
                StreamId::from(id),
                StreamDependency::new(StreamId::from(p.depends_on), p.weight, p.exclusive),
            ));
        }
        b.priorities(list.build());
    }
    Ok(b)
}

/// The headers a profile adds and the order it sends them in.
#[derive(Clone, Debug)]
pub(crate) struct HeaderShape {
    user_agent: HeaderValue,
    accept_language: HeaderValue,
    order: Arc<[HeaderName]>,
}

impl HeaderShape {
    pub(crate) fn of(profile: &BuiltProfile) -> Self {
        let order = profile
            .profile
            .h2
            .header_order
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        Self {
            user_agent: profile.user_agent.clone(),
            accept_language: profile.accept_language.clone(),
            order,
        }
    }

    /// `User-Agent` and `Accept-Language` added when missing; then (HTTP/2) the headers
    /// put in the browser's order: the named ones first, in order, the rest after.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, reorder: bool) {
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(header::ACCEPT_LANGUAGE) {
            headers.insert(header::ACCEPT_LANGUAGE, self.accept_language.clone());
        }
        if !reorder {
            return;
        }
        let mut old = std::mem::take(headers);
        let mut ordered = HeaderMap::with_capacity(old.len());
        for name in self.order.iter() {
            for value in old.get_all(name) {
                ordered.append(name.clone(), value.clone());
            }
            old.remove(name);
        }
        let mut last: Option<HeaderName> = None;
        for (name, value) in old {
            let name = match name {
                Some(n) => {
                    last = Some(n.clone());
                    n
                }
                None => match &last {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            ordered.append(name, value);
        }
        *headers = ordered;
    }
}

/// The HTTP/2 handshake on an established stream (ALPN `h2` checked by the caller), the
/// driver spawned, one PING round trip (so the peer's SETTINGS are known when the pool
/// reads the capacity).
pub(crate) async fn establish(
    tls: BoringStream,
    info: TlsInfo,
    profile: &BuiltProfile,
    builder: &http2::client::Builder,
    limits: Limits,
) -> Result<BoringH2Conn, DialError> {
    let closed = watch::Sender::new(false);
    let goaway = GoAway::new(closed.clone());
    let (send, mut connection) = builder
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
    let authority = Authority::try_from(authority(&info.host, info.addr))
        .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
    let conn = BoringH2Conn {
        send,
        ping: tokio::sync::Mutex::new(ping),
        closed,
        goaway,
        driver: driver.abort_handle(),
        info,
        authority,
        shape: HeaderShape::of(profile),
        limits,
        requests: AtomicU64::new(0),
    };
    conn.ping()
        .await
        .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
    Ok(conn)
}

/// The per-connection bounds of an HTTP/2 connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) test_timeout: Duration,
    pub(crate) max_streams_cap: usize,
    pub(crate) max_response_body: usize,
    /// `max_response_header_size`: checked on every response head (the SETTINGS carry
    /// the profile's value, or none, as the browser sends).
    pub(crate) max_header_list: usize,
}

/// A pooled HTTP/2 connection of a [`BoringDialer`](crate::BoringDialer): the `http2`
/// `SendRequest` handle plus the task driving the connection; capacity = the peer's
/// `SETTINGS_MAX_CONCURRENT_STREAMS` (capped), closed on GOAWAY (the pool drains it) or
/// when the driver ends, probe = an HTTP/2 PING within `test_timeout`.
pub struct BoringH2Conn {
    send: SendRequest<Bytes>,
    ping: tokio::sync::Mutex<Option<http2::PingPong>>,
    closed: watch::Sender<bool>,
    goaway: Arc<GoAway>,
    driver: AbortHandle,
    info: TlsInfo,
    authority: Authority,
    shape: HeaderShape,
    limits: Limits,
    requests: AtomicU64,
}

impl BoringH2Conn {
    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Sends an HTTP/2 PING and waits for its answer; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, http2::Error> {
        let mut guard = self.ping.lock().await;
        let Some(ping) = guard.as_mut() else {
            return Err(http2::Error::from(http2::Reason::INTERNAL_ERROR));
        };
        let started = Instant::now();
        ping.ping(http2::Ping::opaque()).await?;
        Ok(started.elapsed())
    }
}

impl Drop for BoringH2Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl std::fmt::Debug for BoringH2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoringH2Conn")
            .field("info", &self.info)
            .field("closed", &*self.closed.borrow())
            .finish_non_exhaustive()
    }
}

impl Connection for BoringH2Conn {
    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }

    fn capacity(&self) -> usize {
        self.send
            .current_max_send_streams()
            .clamp(1, self.limits.max_streams_cap)
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.closed.subscribe();
        async move {
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    async fn probe(&self) -> ProbeVerdict {
        if self.is_closed() {
            return ProbeVerdict::Unhealthy;
        }
        match tokio::time::timeout(self.limits.test_timeout, self.ping()).await {
            Ok(Ok(_)) => ProbeVerdict::Healthy,
            _ => ProbeVerdict::Unhealthy,
        }
    }
}

impl HttpConnection for BoringH2Conn {
    type ResponseBody = BoringH2Body;

    /// Sends `request` on a new stream (its body pumped as flow control allows) and
    /// resolves with the response headers. A relative URI gets scheme `https` and the
    /// connection's host; `User-Agent` / `Accept-Language` come from the profile when the
    /// request sets none; headers go out in the profile's order.
    async fn send<B>(&self, request: Request<B>) -> Result<Response<BoringH2Body>, RequestError>
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
        self.shape.apply(&mut parts.headers, true);
        let request = Request::from_parts(parts, ());
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.goaway.received() {
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
        let pump =
            (!end_of_stream).then(|| PumpGuard(tokio::spawn(pump(body, stream)).abort_handle()));
        let stream_id = u32::from(response.stream_id());
        let (parts, recv) = response
            .await
            .map_err(|e| self.stream_error(e, stream_id))?
            .into_parts();
        let size: usize = parts
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        if size > self.limits.max_header_list {
            return Err(RequestError::PeerLimit {
                limit: pool_http::PeerLimit::HeaderList,
                source: format!(
                    "response header list of {size} bytes, over {}",
                    self.limits.max_header_list
                )
                .into(),
            });
        }
        Ok(Response::from_parts(
            parts,
            BoringH2Body {
                recv,
                trailers: false,
                limit: self.limits.max_response_body,
                read: 0,
                _pump: pump,
            },
        ))
    }

    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Pumps a request body into its stream as the peer's window allows; a body error resets
/// the stream (`CANCEL`).
async fn pump<B>(mut body: B, mut stream: http2::SendStream<Bytes>)
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    loop {
        let frame = match body.frame().await.map(|r| r.map_err(Into::into)) {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err::<_, BoxError>(e)) => {
                tracing::debug!(error = %e, "request body failed; resetting the stream");
                stream.send_reset(http2::Reason::CANCEL);
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

/// The streamed body of an HTTP/2 response on a [`BoringH2Conn`]: data as it arrives
/// (flow-control capacity released as it is handed out), then the trailers; at most
/// `max_response_body` bytes. Dropping it early resets the stream.
pub struct BoringH2Body {
    recv: http2::RecvStream,
    trailers: bool,
    limit: usize,
    read: usize,
    _pump: Option<PumpGuard>,
}

impl http_body::Body for BoringH2Body {
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

impl std::fmt::Debug for BoringH2Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoringH2Body")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl BoringH2Conn {
    /// As [`request_error`], except that a connection lost after a GOAWAY that excluded
    /// stream `id` is a refusal (RFC 9113 §6.8: not processed).
    fn stream_error(&self, e: http2::Error, id: u32) -> RequestError {
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

/// An `http2` error under a request, as `pool-http`'s kind (the same rules as
/// `pool_tls::H2Conn`'s for h2's errors).
fn request_error(e: http2::Error) -> RequestError {
    let refused = e.reason() == Some(http2::Reason::REFUSED_STREAM);
    if e.reason() == Some(http2::Reason::ENHANCE_YOUR_CALM) && !e.is_remote() {
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
