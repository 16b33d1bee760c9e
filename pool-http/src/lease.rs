//! Requests on a lease — the deadline, the span, the metrics and the outcome of one
//! exchange — and the retry policy through a pool.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use pool_core::{Connection, Dialer, Lease, Pool};
use tracing::Instrument;

use crate::body::report;
use crate::metrics::{End, Record};
use crate::{Body, BoxError, HttpConnection, Replayable, RequestError, RequestOptions};

/// The request API on a lease of any pool whose connections speak HTTP
/// ([`HttpConnection`]).
pub trait HttpLeaseExt {
    /// The pool's dialer.
    type Dialer: Dialer<Conn: HttpConnection>;

    /// [`request_with`](Self::request_with) under the default [`RequestOptions`] (30 s
    /// for the headers, no body-idle timeout), overridable by the request's
    /// [`Timeout`](crate::Timeout) extension.
    fn request<B>(
        self,
        request: Request<B>,
    ) -> impl Future<Output = Result<Response<Body<Self::Dialer>>, RequestError>> + Send
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>;

    /// Sends `request` on the leased connection ([`HttpConnection::send`]) within
    /// `options`' deadline and hands the lease to the response's [`Body`], which reports
    /// the outcome when it ends (see [`Body`]). A request that fails before its headers
    /// reports at once: a connection error ([`RequestError::is_connection_error`]) →
    /// broken (the pool removes the connection); any other error, the deadline included →
    /// error (counts toward `max_errors`; HTTP/1.1: broken). Never retries: see [`send`].
    fn request_with<B>(
        self,
        request: Request<B>,
        options: &RequestOptions,
    ) -> impl Future<Output = Result<Response<Body<Self::Dialer>>, RequestError>> + Send
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>;

    /// Whether the leased connection has carried a request before (see
    /// [`RequestError::is_retryable`]).
    fn is_reused(&self) -> bool;
}

impl<D> HttpLeaseExt for Lease<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    type Dialer = D;

    async fn request<B>(self, request: Request<B>) -> Result<Response<Body<D>>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        exchange(self, request, &RequestOptions::default(), None).await
    }

    fn request_with<B>(
        self,
        request: Request<B>,
        options: &RequestOptions,
    ) -> impl Future<Output = Result<Response<Body<D>>, RequestError>> + Send
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        exchange(self, request, options, None)
    }

    fn is_reused(&self) -> bool {
        self.conn().requests_sent() > 0
    }
}

/// One request on one lease: the deadline, the span and metrics, the outcome.
async fn exchange<D, B>(
    mut lease: Lease<D>,
    request: Request<B>,
    options: &RequestOptions,
    host: Option<&str>,
) -> Result<Response<Body<D>>, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let options = options.for_request(request.extensions());
    let protocol = lease.conn().protocol();
    let span = tracing::debug_span!(
        "request",
        host = host.or(request.uri().host()).unwrap_or_default(),
        addr = %lease.addr(),
        protocol = protocol.as_str(),
        method = %request.method(),
        status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let record = Record::start(span, protocol);
    let sent = tokio::time::timeout(options.timeout, lease.conn().send(request))
        .instrument(record.span.clone())
        .await;
    match sent.unwrap_or(Err(RequestError::Timeout(options.timeout))) {
        Ok(response) => {
            record.headers(response.status());
            let (parts, body) = response.into_parts();
            Ok(Response::from_parts(
                parts,
                Body::new(body, lease, &options, record),
            ))
        }
        Err(error) => {
            report(&mut lease, protocol, End::Failed(&error));
            record.failed(&error);
            Err(error)
        }
    }
}

/// [`send_with`] under the default [`RequestOptions`].
pub async fn send<D, B>(
    pool: &Pool<D>,
    host: &str,
    request: Request<B>,
) -> Result<Response<Body<D>>, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    send_with(pool, host, request, &RequestOptions::default()).await
}

/// How many times [`send_with`] sends one request at most: the first attempt and up to
/// two retries, each on the connection the pool hands out next (the failed one is removed
/// when its connection failed). Several retries matter when several connections fail at
/// once — a GOAWAY on every connection of a host, an address reset with all its
/// connections — so that a request that was never processed does not reach its caller as
/// an error while the host can still serve it.
pub const MAX_ATTEMPTS: u32 = 3;

/// How many leases [`send_with`] hands back at most for one request because their
/// connection was already closed when they arrived — a GOAWAY or a loss the pool's watcher
/// had not acted on yet (a GOAWAY reaches every connection of a host at once). Such a
/// connection is reported broken (removed) and costs no attempt; past this bound the
/// request is sent anyway (and fails as not sent, which the policy retries).
pub const MAX_SKIPPED: u32 = 16;

/// What [`send_with_attempts`] went through for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempts {
    /// Requests sent (exchanges started on a lease); 0 when no lease could be had.
    pub sent: u32,
    /// Whether the connection of the last exchange had carried a request before (the
    /// `reused` of [`RequestError::is_retryable`]).
    pub last_reused: bool,
    /// Attempts whose connection was lost under the request when it may have been
    /// processed (a connection error that is not [`RequestError::is_retry_safe`]).
    pub connections_lost: u32,
}

impl Attempts {
    /// Whether `error`, the request's final error, is one the retry policy promises to
    /// save: [`RequestError::is_retryable`] for the last exchange — and, for a lost
    /// connection, the first one this request lost (the promise is "an idempotent request
    /// that lost a reused connection *once* is sent again"; one that lost a connection on
    /// every attempt had its retries). True only when [`MAX_ATTEMPTS`] ran out or the body
    /// could not be replayed ([`Replayable`]): the failure is one a retry could have
    /// saved, not one the request met on its own (every address down, a deadline, a lost
    /// non-idempotent request, connections lost on every attempt, …).
    pub fn retry_could_have_saved(&self, error: &RequestError, method: &http::Method) -> bool {
        self.sent > 0
            && error.is_retryable(method, self.last_reused)
            && (error.is_retry_safe() || self.connections_lost <= 1)
    }
}

/// Sends `request` to `host` through `pool` — any pool whose connections speak HTTP —
/// under `options`, retrying on the next connection the pool hands out while that is safe
/// ([`RequestError::is_retryable`], decided for each attempt: the attempt was certainly
/// not processed — never sent, refused — or it was an idempotent request whose *reused*
/// connection failed under it), the body can be sent again ([`Replayable`]: a body in
/// memory; a [`Streaming`](crate::Streaming) one is never retried), and at most
/// [`MAX_ATTEMPTS`] times in all; a lease whose connection is already closed is replaced
/// without an attempt (see [`MAX_SKIPPED`]). Only the headers stage is retried: once a
/// response has arrived, its body is the caller's. Each attempt has the whole
/// `options.timeout`.
/// Outcomes are reported as [`HttpLeaseExt::request_with`] does.
pub async fn send_with<D, B>(
    pool: &Pool<D>,
    host: &str,
    request: Request<B>,
    options: &RequestOptions,
) -> Result<Response<Body<D>>, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    send_with_attempts(pool, host, request, options).await.0
}

/// [`send_with`], also returning what it went through ([`Attempts`]), so that a caller can
/// tell a failure a retry could have saved from one the request deserved.
pub async fn send_with_attempts<D, B>(
    pool: &Pool<D>,
    host: &str,
    request: Request<B>,
    options: &RequestOptions,
) -> (Result<Response<Body<D>>, RequestError>, Attempts)
where
    D: Dialer,
    D::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let method = request.method().clone();
    let mut attempts = Attempts::default();
    let mut request = request;
    let mut skipped = 0;
    loop {
        let mut lease = match pool.get(host).await {
            Ok(lease) => lease,
            Err(e) => return (Err(e.into()), attempts),
        };
        if lease.conn().is_closed() && skipped < MAX_SKIPPED {
            // Closed (GOAWAY, lost) before the pool's watcher removed it: sending would be
            // refused at once. Removed without an attempt.
            skipped += 1;
            lease.mark_broken();
            continue;
        }
        let retry = if attempts.sent + 1 < MAX_ATTEMPTS {
            replay(&request)
        } else {
            None
        };
        attempts.sent += 1;
        attempts.last_reused = lease.is_reused();
        let protocol = lease.conn().protocol();
        let error = match exchange(lease, request, options, Some(host)).await {
            Ok(response) => return (Ok(response), attempts),
            Err(e) => e,
        };
        if error.is_connection_error() && !error.is_retry_safe() {
            attempts.connections_lost += 1;
        }
        if !error.is_retryable(&method, attempts.last_reused) {
            return (Err(error), attempts);
        }
        let Some(again) = retry else {
            tracing::debug!(
                error = %error,
                host,
                attempts = attempts.sent,
                "not retried: no attempt left or the body cannot be replayed"
            );
            return (Err(error), attempts);
        };
        tracing::debug!(
            error = %error,
            host,
            reused = attempts.last_reused,
            attempt = attempts.sent,
            "retrying on another connection"
        );
        Record::retried(protocol);
        request = again;
    }
}

/// A copy of a request (its body replayed), for a retry.
fn replay<B: Replayable>(request: &Request<B>) -> Option<Request<B>> {
    let mut copy = Request::new(request.body().replay()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}
