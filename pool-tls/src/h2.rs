//! HTTP/2 over the pooled TLS stream: [`H2Dialer`], [`H2Conn`] and the request API.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use pool_core::{Connection, DialError, DialErrorKind, Dialer, Lease, ProbeVerdict, Target};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::options::H2Options;
use crate::setup::ConfigError;
use crate::tls::{TlsCore, TlsInfo, authority, check_verdict, timeout_error};

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
        let (send, mut connection) = h2::client::Builder::new()
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        let ping = connection.ping_pong();
        let closed = watch::Sender::new(false);
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
        if let Some(validation) = &opts.validation {
            let mut request = Request::builder()
                .method(validation.method.clone())
                .uri(validation.path.as_str())
                .body(validation.body.clone().unwrap_or_default())
                .map_err(|e| DialError::new(DialErrorKind::Rejected, e))?;
            request.headers_mut().insert(
                http::header::USER_AGENT,
                HeaderValue::from_static("hotpool"),
            );
            let status = match tokio::time::timeout(opts.test_timeout, conn.send(request)).await {
                Ok(Ok(response)) => response.status().as_u16(),
                Ok(Err(e)) => return Err(DialError::new(DialErrorKind::Rejected, e)),
                Err(_) => {
                    return Err(DialError::new(
                        DialErrorKind::Rejected,
                        format!("validation timed out after {:?}", opts.test_timeout),
                    ));
                }
            };
            check_verdict(validation, status)?;
            // The validation request does not make the connection "reused" for callers.
            conn.requests.store(0, Ordering::Relaxed);
        }
        Ok(conn)
    }
}

/// A pooled HTTP/2 connection: the h2 `SendRequest` handle plus the task driving the
/// connection. Shared by up to [`Connection::capacity`] leases at once.
///
/// - capacity: the peer's `SETTINGS_MAX_CONCURRENT_STREAMS` as it is now (capped by
///   [`H2Options::max_streams_cap`]); the pool re-reads it at every release;
/// - closed: when the driver ends — the peer closed or reset the socket, or sent GOAWAY
///   and the last stream finished (h2 closes at once when none is open);
/// - probe: an HTTP/2 PING answered within `test_timeout`.
pub struct H2Conn {
    send: SendRequest<Bytes>,
    ping: tokio::sync::Mutex<Option<h2::PingPong>>,
    closed: watch::Sender<bool>,
    driver: AbortHandle,
    info: TlsInfo,
    authority: Authority,
    test_timeout: Duration,
    max_streams_cap: usize,
    max_response_body: usize,
    /// Requests started on it (see [`H2Conn::requests_sent`]).
    requests: AtomicU64,
}

impl H2Conn {
    /// How many requests were started on this connection (the dial's validation request
    /// not counted). A connection that already carried one is "reused": see
    /// [`RequestError::is_retryable`].
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

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
        ping.ping(h2::Ping::opaque()).await?;
        Ok(started.elapsed())
    }

    /// Sends `request` on a new stream and collects the response body.
    ///
    /// A relative URI (`/path`) gets scheme `https` and the connection's host as
    /// authority; a request without `accept-language` gets the connection's, if any.
    pub async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, RequestError> {
        let (mut parts, body) = request.into_parts();
        if parts.uri.scheme().is_none() || parts.uri.authority().is_none() {
            let mut uri = parts.uri.into_parts();
            uri.scheme.get_or_insert(Scheme::HTTPS);
            uri.authority.get_or_insert_with(|| self.authority.clone());
            if uri.path_and_query.is_none() {
                uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
            }
            parts.uri =
                Uri::from_parts(uri).map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
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
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(RequestError::NotSent)?;
        let end_of_stream = body.is_empty();
        let (response, mut stream) = send
            .send_request(request, end_of_stream)
            .map_err(RequestError::NotSent)?;
        if !end_of_stream {
            stream.send_data(body, true)?;
        }
        let (parts, mut body) = response.await?.into_parts();
        let mut collected = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if collected.len() + chunk.len() > self.max_response_body {
                return Err(RequestError::BodyTooLarge {
                    limit: self.max_response_body,
                });
            }
            collected.extend_from_slice(&chunk);
        }
        Ok(Response::from_parts(parts, collected.freeze()))
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
    fn capacity(&self) -> usize {
        self.send
            .current_max_send_streams()
            .clamp(1, self.max_streams_cap)
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
        match tokio::time::timeout(self.test_timeout, self.ping()).await {
            Ok(Ok(_)) => ProbeVerdict::Healthy,
            _ => ProbeVerdict::Unhealthy,
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No connection could be had from the pool.
    #[error(transparent)]
    Pool(#[from] pool_core::Error),
    /// The request was never sent: the connection refused a new stream (GOAWAY received,
    /// connection gone). Safe to retry on another connection.
    #[error("request not sent: {0}")]
    NotSent(h2::Error),
    /// HTTP/2 failed while the request or response was in flight.
    #[error("HTTP/2: {0}")]
    H2(#[from] h2::Error),
    /// The request could not be completed into an absolute URI.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The response body exceeded [`H2Options::max_response_body`].
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
}

impl RequestError {
    /// Whether the connection itself failed (I/O error, GOAWAY): the lease should be
    /// reported broken rather than as an ordinary error.
    pub fn is_connection_error(&self) -> bool {
        match self {
            RequestError::NotSent(_) => true,
            RequestError::H2(e) => e.is_io() || e.is_go_away(),
            _ => false,
        }
    }

    /// Whether the server certainly did not process the request, so sending it again on
    /// another connection is safe even when it is not idempotent: it was never sent, or
    /// the server refused the stream (`REFUSED_STREAM`, or a GOAWAY that excluded it).
    pub fn is_retry_safe(&self) -> bool {
        match self {
            RequestError::NotSent(_) => true,
            RequestError::H2(e) => {
                e.reason() == Some(h2::Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote())
            }
            _ => false,
        }
    }

    /// Whether sending the request again on another connection is safe: always when
    /// [`RequestError::is_retry_safe`]; and when the connection itself failed
    /// ([`RequestError::is_connection_error`]: reset, EOF, GOAWAY) under an idempotent
    /// `method` (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) on a `reused`
    /// connection — one that had carried a request before, so the failure may be the peer
    /// closing a connection it considered idle. A fresh connection that fails under a
    /// request is not retried: the failure is more likely the request's own doing.
    pub fn is_retryable(&self, method: &http::Method, reused: bool) -> bool {
        self.is_retry_safe() || (reused && method.is_idempotent() && self.is_connection_error())
    }
}

/// The request API on a lease of an HTTP/2 pool: sends a request on the leased
/// connection and reports the outcome to the pool (success, error, or broken connection).
pub trait H2LeaseExt {
    /// Sends `request` (see [`H2Conn::send`]) and reports the outcome on the lease.
    fn request(
        &mut self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, RequestError>> + Send;
}

impl H2LeaseExt for Lease<H2Dialer> {
    async fn request(&mut self, request: Request<Bytes>) -> Result<Response<Bytes>, RequestError> {
        let result = self.conn().send(request).await;
        match &result {
            Ok(_) => self.report_success(),
            Err(e) if e.is_connection_error() => self.mark_broken(),
            Err(_) => self.report_error(),
        }
        result
    }
}

/// A copy of a request, for one retry.
pub(crate) fn clone_request(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Sends `request` to `host` through `pool`, retrying once on another connection when that
/// is safe (see [`RequestError::is_retryable`]): the first attempt was certainly not
/// processed, or it was an idempotent request whose reused connection failed under it.
pub async fn send_via_pool(
    pool: &pool_core::Pool<H2Dialer>,
    host: &str,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, RequestError> {
    let retry = clone_request(&request);
    let (first, reused) = {
        let mut lease = pool.get(host).await?;
        let reused = lease.conn().requests_sent() > 0;
        (lease.request(request).await, reused)
    };
    match first {
        Err(e) if e.is_retryable(retry.method(), reused) => {
            tracing::debug!(error = %e, host, reused, "retrying once on another connection");
            let mut lease = pool.get(host).await?;
            lease.request(retry).await
        }
        other => other,
    }
}
