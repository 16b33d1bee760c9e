//! HTTP/1.1 over any stream (hyper 1.x `client::conn::http1`): [`H1Conn`], which carries
//! `pool-http`'s request API ([`HttpConnection`]), for the TLS streams of both engines;
//! and the one-exchange validation of a raw stream ([`validate_on_stream`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Version, header};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use pool_core::{Connection, DialError, DialErrorKind, Target};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError, Validation};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::conn::{authority, when_closed};
use crate::info::{TlsConnection, TlsInfo};

/// A request body as the connection's hyper handle takes it (one type for every caller).
type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// A pooled HTTP/1.1 connection: hyper's `SendRequest` handle plus the task driving the
/// connection, exclusive (capacity 1).
///
/// - keep-alive: the connection is reused after a response whose body was read to the
///   end; a body dropped half way closes it (hyper closes the socket; the connection
///   reports closed at once);
/// - `Connection: close` (either side) and an HTTP/1.0 answer without keep-alive mark the
///   connection closed as soon as the response head arrives: it is never reused;
/// - closed: when hyper's connection task ends (the peer closed while idle, unexpected
///   bytes, an error) — hyper reads the idle socket, so a stale stream is never handed
///   out;
/// - probe: whether it is still open (no request).
pub struct H1Conn {
    send: tokio::sync::Mutex<SendRequest<ReqBody>>,
    closed: watch::Sender<bool>,
    driver: AbortHandle,
    info: TlsInfo,
    host: HeaderValue,
    /// Browser-like header writing ([`H1Conn::establish_with`]): title case, `Host` first.
    browser_like: bool,
    /// Requests started on it (see [`HttpConnection::requests_sent`]).
    requests: AtomicU64,
}

impl H1Conn {
    /// hyper's handshake on an established TLS stream (either engine's), the response head
    /// bounded by `max_header_size` bytes (the dialers' `max_response_header_size`);
    /// spawns the connection task.
    pub async fn establish<T>(
        tls: T,
        info: TlsInfo,
        max_header_size: usize,
    ) -> Result<H1Conn, DialError>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::establish_with(tls, info, max_header_size, false).await
    }

    /// [`H1Conn::establish`], writing header names in title case (`Host`, `User-Agent`,
    /// `Accept-Language`) and `Host` first, as browsers do on HTTP/1.1, when `title_case`
    /// (the BoringSSL path: its requests look like the browser's). Browsers send Chrome's `sec-ch-ua*` in
    /// lower case, which hyper's title case cannot (`docs/egress.md`).
    pub async fn establish_with<T>(
        tls: T,
        info: TlsInfo,
        max_header_size: usize,
        title_case: bool,
    ) -> Result<H1Conn, DialError>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let host = HeaderValue::from_str(&authority(&info.host, info.addr.port()))
            .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
        let (send, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(title_case)
            .max_header_size(max_header_size)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        let closed = watch::Sender::new(false);
        let driver_closed = closed.clone();
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/1.1 connection ended with an error");
            }
            driver_closed.send_replace(true);
        });
        Ok(H1Conn {
            send: tokio::sync::Mutex::new(send),
            closed,
            driver: driver.abort_handle(),
            info,
            host,
            browser_like: title_case,
            requests: AtomicU64::new(0),
        })
    }

    /// The dial's validation request, if configured, within `test_timeout`; not counted
    /// in `requests_sent`.
    pub async fn validate(
        &self,
        validation: Option<&Validation>,
        test_timeout: std::time::Duration,
    ) -> Result<(), DialError> {
        if let Some(validation) = validation {
            pool_http::validate(self, validation, test_timeout).await?;
            self.requests.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    fn mark_closed(&self) {
        self.closed.send_replace(true);
    }

    /// Sends `request` and returns the response with hyper's streaming body. The request
    /// target is sent in origin form (`/path?query`) with a `host` header (the URI's
    /// authority, else the connection's host); a request without `accept-language` gets the
    /// connection's, if any.
    async fn send_streaming(
        &self,
        request: Request<ReqBody>,
    ) -> Result<Response<H1Body>, RequestError> {
        let (mut parts, body) = request.into_parts();
        let host = match parts.uri.authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).map_err(http::Error::from)?,
            None => self.host.clone(),
        };
        if self.browser_like && !parts.headers.contains_key(header::HOST) {
            // First, as browsers send it (hyper writes the map's order).
            let mut headers = http::HeaderMap::with_capacity(parts.headers.len() + 1);
            headers.insert(header::HOST, host);
            headers.extend(std::mem::take(&mut parts.headers));
            parts.headers = headers;
        } else {
            parts.headers.entry(header::HOST).or_insert(host);
        }
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            // Absolute form → origin form; a URI that is already `/path?query` is sent as
            // it is (no copy, no second parse).
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", http::uri::PathAndQuery::as_str)
                .to_owned();
            parts.uri = path.parse::<http::Uri>().map_err(http::Error::from)?;
        }
        parts.version = Version::HTTP_11;
        if let Some(lang) = &self.info.accept_language
            && !parts.headers.contains_key(header::ACCEPT_LANGUAGE)
        {
            parts.headers.insert(header::ACCEPT_LANGUAGE, lang.clone());
        }
        let close_requested = wants_close(&parts.headers);
        let request = Request::from_parts(parts, body);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = {
            let mut send = self.send.lock().await;
            send.ready()
                .await
                .map_err(|e| RequestError::NotSent(e.into()))?;
            send.try_send_request(request)
        };
        // Dropped before the response head arrives (the caller gave up): the answer is
        // still coming on the wire, so the connection must not be reused.
        let mut unfinished = CloseOnDrop(Some(&self.closed));
        let response = response.await.map_err(|e| {
            self.mark_closed();
            send_error(e)
        })?;
        unfinished.0 = None;
        let keep_alive = !close_requested
            && !wants_close(response.headers())
            && (response.version() != Version::HTTP_10
                || response
                    .headers()
                    .get(header::CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive")));
        if !keep_alive {
            self.mark_closed();
        }
        let closed = self.closed.clone();
        Ok(response.map(|body| H1Body {
            body,
            closed,
            done: false,
        }))
    }
}

/// Marks the connection closed when dropped while armed.
struct CloseOnDrop<'a>(Option<&'a watch::Sender<bool>>);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(closed) = self.0 {
            closed.send_replace(true);
        }
    }
}

/// Whether `headers` carry `connection: close`.
fn wants_close(headers: &http::HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    })
}

/// The streaming response body of an [`H1Conn`]: hyper's body with its errors as
/// [`RequestError`]s. Dropped before its end, it marks the connection closed (the rest of
/// the response is still on the wire: the connection is never reused).
pub struct H1Body {
    body: Incoming,
    closed: watch::Sender<bool>,
    done: bool,
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                this.closed.send_replace(true);
                Poll::Ready(Some(Err(request_error(e))))
            }
            other => other.map_err(request_error),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl std::fmt::Debug for H1Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Body")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Drop for H1Body {
    fn drop(&mut self) {
        if !self.done && !self.body.is_end_stream() {
            self.closed.send_replace(true);
        }
    }
}

impl Drop for H1Conn {
    fn drop(&mut self) {
        // Dropping the connection task closes the socket; leases are gone by now.
        self.driver.abort();
    }
}

impl std::fmt::Debug for H1Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Conn")
            .field("info", &self.info)
            .field("closed", &*self.closed.borrow())
            .finish_non_exhaustive()
    }
}

impl Connection for H1Conn {
    fn protocol(&self) -> Protocol {
        Protocol::Http1
    }

    fn capacity(&self) -> usize {
        1
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        when_closed(&self.closed)
    }

    /// A TLS stream or an HTTP/1.1 connection that ends on its own was closed or reset by
    /// the peer (this side never closes one without the pool knowing).
    fn close_reason(&self) -> pool_core::CloseReason {
        pool_core::CloseReason::PeerClosed
    }
}

impl TlsConnection for H1Conn {
    fn info(&self) -> &TlsInfo {
        &self.info
    }
}

impl HttpConnection for H1Conn {
    type ResponseBody = H1Body;

    /// Sends `request` (its body streamed by hyper) and resolves with the response head;
    /// the body streams ([`H1Body`]). The connection is exclusive: one exchange at a time.
    async fn send<B>(&self, request: Request<B>) -> Result<Response<H1Body>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        self.send_streaming(request.map(|b| b.map_err(Into::into).boxed_unsync()))
            .await
    }

    /// Requests started on this connection, the dial's validation request not counted.
    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// A failed `try_send_request`: hyper hands the request back when it failed before a
/// byte of it was written — the server closed its keep-alive connection (FIN, TLS
/// close_notify, a `Connection: close` the pool had not seen) just before this request
/// was to go out — which is `NotSent`, safe to send again whatever the method. Once
/// written (even in part), the request may have been processed: [`request_error`]
/// (hyper's "connection closed before message completed" is then `ConnectionLost`; see
/// hyper#2136: the race is inherent to HTTP/1.1 keep-alive, only idempotent requests on a
/// reused connection are retried).
fn send_error<B>(mut e: hyper::client::conn::TrySendError<B>) -> RequestError {
    let never_written = e.take_message().is_some();
    let e = e.into_error();
    if never_written {
        RequestError::NotSent(e.into())
    } else {
        request_error(e)
    }
}

/// A hyper error under a request, as `pool-http`'s kind: a response head over
/// `max_response_header_size` (or with too many fields) → `PeerLimit`, the connection
/// lost (closed, incomplete message, canceled after the request was written, I/O), or a
/// protocol error (unparsable answer). Never sent is told by [`send_error`].
fn request_error(e: hyper::Error) -> RequestError {
    if e.is_parse_too_large() {
        RequestError::PeerLimit {
            limit: pool_http::PeerLimit::HeaderList,
            source: e.into(),
        }
    } else if e.is_parse() || e.is_user() {
        RequestError::Protocol(e.into())
    } else {
        RequestError::ConnectionLost(e.into())
    }
}

/// The validation of a raw stream (`pool-dial-rustls`'s `TlsDialer`): one HTTP/1.1
/// exchange (hyper) on a borrowed fresh stream, which must stay usable afterwards — the
/// answer read to its end, not closing the connection, nothing after it; the answer's head
/// bounded by `max_header_size` bytes. Returns the status.
pub async fn validate_on_stream<S>(
    stream: &mut S,
    validation: &Validation,
    target: &Target,
    language: Option<&HeaderValue>,
    max_header_size: usize,
) -> Result<u16, BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let unusable = |what: &str| -> BoxError {
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned()).into()
    };
    let mut request = Request::builder()
        .method(validation.method.clone())
        .uri(validation.path.as_str())
        .header(header::HOST, authority(&target.host, target.addr.port()))
        .header(header::USER_AGENT, "hotpool");
    if let Some(lang) = language {
        request = request.header(header::ACCEPT_LANGUAGE, lang.clone());
    }
    let body = validation.body.clone().unwrap_or_default();
    let request = request.body(http_body_util::Full::new(body))?;
    let (mut send, conn) = hyper::client::conn::http1::Builder::new()
        .max_header_size(max_header_size)
        .handshake(TokioIo::new(&mut *stream))
        .await?;
    let mut conn = std::pin::pin!(conn.without_shutdown());
    let exchange = async {
        let response = send.send_request(request).await?;
        let closes = wants_close(response.headers()) || response.version() == Version::HTTP_10;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok::<_, BoxError>((status, closes))
    };
    let (status, closes) = tokio::select! {
        r = exchange => r?,
        r = conn.as_mut() => {
            r?;
            return Err(unusable("connection ended before the validation answer"));
        }
    };
    if closes {
        return Err(unusable("the validation answer closes the connection"));
    }
    drop(send);
    let parts = conn.await?;
    if !parts.read_buf.is_empty() {
        return Err(unusable("unexpected bytes after the validation answer"));
    }
    Ok(status)
}
