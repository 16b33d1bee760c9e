//! Requests on a lease — the deadline, the span, the metrics and the outcome of one
//! exchange — and the retry policy through a pool.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use pool_core::{Connection, Dialer, Lease, LeaseSource};
use tokio::time::Instant;
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
        let options = RequestOptions::default().for_request(request.extensions());
        exchange(self, request, &options, None, None).await
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
        let options = options.for_request(request.extensions());
        async move { exchange(self, request, &options, None, None).await }
    }

    fn is_reused(&self) -> bool {
        self.conn().requests_sent() > 0
    }
}

/// One request on one lease: the deadline, the span and metrics, the outcome. `options`
/// are the request's own (extensions applied: [`RequestOptions::for_request`]); the
/// headers must come by `deadline` (default: `options.timeout` from now), and a miss is
/// reported as [`RequestError::Timeout`] of `options.timeout` — the request's deadline,
/// whatever part of it earlier attempts used.
async fn exchange<D, B>(
    mut lease: Lease<D>,
    request: Request<B>,
    options: &RequestOptions,
    host: Option<&str>,
    deadline: Option<Instant>,
) -> Result<Response<Body<D>>, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let deadline = deadline.unwrap_or_else(|| Instant::now() + options.timeout);
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
    let sent = tokio::time::timeout_at(deadline, lease.conn().send(request))
        .instrument(record.span.clone())
        .await;
    match sent.unwrap_or(Err(RequestError::Timeout(options.timeout))) {
        Ok(response) => {
            record.headers(response.status());
            let (parts, body) = response.into_parts();
            Ok(Response::from_parts(
                parts,
                Body::new(body, lease, options, record),
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
pub async fn send<S, B>(
    pool: &S,
    host: &str,
    request: Request<B>,
) -> Result<Response<Body<S::Dialer>>, RequestError>
where
    S: LeaseSource,
    <S::Dialer as Dialer>::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    send_with(pool, host, request, &RequestOptions::default()).await
}

/// How many times [`send_with`] sends one request that may have been processed at most:
/// the first attempt and up to two retries (of an idempotent request whose reused
/// connection failed under it), each on the connection the pool hands out next (the failed
/// one is removed). Refusals do not count here: see [`MAX_REFUSALS`].
pub const MAX_ATTEMPTS: u32 = 3;

/// How many times [`send_with`] sends one request that the server refused — HTTP/2
/// `REFUSED_STREAM`, a stream above a GOAWAY's last stream id, HTTP/3
/// `H3_REQUEST_REJECTED` or GOAWAY, a request never sent ([`RequestError::is_retry_safe`])
/// — before it gives up with [`RequestError::RefusedTooOften`]. A refusal proves the
/// request was not processed, so it is always sent again and never spends one of the
/// [`MAX_ATTEMPTS`]; this bound only stops a server that refuses forever.
///
/// Why 32: a refused request goes next to a connection that is not draining (the pool
/// never hands out one that is, and dials when none has room), so in a reload each
/// connection refuses a request at most once. The worst case met in practice is a host
/// whose every connection drains at once, a request racing each drain before the pool
/// sees it: one refusal per connection of the host (10 by default `max_conns_per_host`)
/// plus a second reload while it retries — far below 32. Past 32 a server is refusing
/// everything; the waits between refusals (see `refusal_backoff`) keep 32 refusals near
/// 2.5 s, inside the default 30 s deadline.
pub const MAX_REFUSALS: u32 = 32;

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
    /// Requests sent (exchanges started on a lease), refused ones included; 0 when no
    /// lease could be had.
    pub sent: u32,
    /// Whether the connection of the last exchange had carried a request before (the
    /// `reused` of [`RequestError::is_retryable`]).
    pub last_reused: bool,
    /// Attempts whose connection was lost under the request when it may have been
    /// processed (a connection error that is not [`RequestError::is_retry_safe`]).
    pub connections_lost: u32,
    /// Attempts the server refused or that were never sent
    /// ([`RequestError::is_retry_safe`]): they spend [`MAX_REFUSALS`], not
    /// [`MAX_ATTEMPTS`].
    pub refused: u32,
    /// The address of the connection the last exchange went to (`None`: no lease).
    pub last_addr: Option<std::net::SocketAddr>,
}

impl Attempts {
    /// Whether `error`, the request's final error, is one the retry policy promises to
    /// save: a refusal (a refused request is always sent again, so one that reaches its
    /// caller — its body could not be replayed, or [`MAX_REFUSALS`] ran out — is the
    /// policy's failure); otherwise [`RequestError::is_retryable`] for the last exchange —
    /// and, for a lost connection, the first one this request lost (the promise is "an
    /// idempotent request that lost a reused connection *once* is sent again"; one that
    /// lost a connection on every attempt had its retries). True only when the bounds ran
    /// out or the body could not be replayed ([`Replayable`]): the failure is one a retry
    /// could have saved, not one the request met on its own (every address down, a
    /// deadline, a lost non-idempotent request, connections lost on every attempt, …).
    pub fn retry_could_have_saved(&self, error: &RequestError, method: &http::Method) -> bool {
        if matches!(error, RequestError::RefusedTooOften { .. }) {
            return self.sent > 0;
        }
        self.sent > 0
            && error.is_retryable(method, self.last_reused)
            && (error.is_retry_safe() || self.connections_lost <= 1)
    }

    /// Attempts that may have been processed: what [`MAX_ATTEMPTS`] bounds.
    fn maybe_processed(&self) -> u32 {
        self.sent - self.refused
    }
}

/// How long to wait before sending a request again after its `refusals`-th refusal: none
/// after the first (the next connection is another one, or a fresh one), then 1 ms,
/// doubling, at most 100 ms — a server that refuses every stream is not hammered, and
/// [`MAX_REFUSALS`] refusals take about 2.5 s.
fn refusal_backoff(refusals: u32) -> std::time::Duration {
    if refusals <= 1 {
        return std::time::Duration::ZERO;
    }
    let ms = 1u64 << (refusals - 2).min(7);
    std::time::Duration::from_millis(ms.min(100))
}

/// Sends `request` to `host` through `pool` — any pool whose connections speak HTTP —
/// under `options`, sending it again on the next connection the pool hands out while that
/// is safe and the body can be sent again ([`Replayable`]: a body in memory; a
/// [`Streaming`](crate::Streaming) one is never retried):
///
/// - **refused** (never sent, `REFUSED_STREAM`, above a GOAWAY's last stream id:
///   [`RequestError::is_retry_safe`]) → always sent again, whatever the method, on a
///   connection that is not draining (the pool never hands out a draining one and dials
///   when none has room), after a short wait from the second refusal on; at most
///   [`MAX_REFUSALS`] times, then [`RequestError::RefusedTooOften`];
/// - **maybe processed** (an idempotent request whose *reused* connection failed under it:
///   [`RequestError::is_retryable`]) → sent again at most [`MAX_ATTEMPTS`] times in all;
/// - anything else → the error.
///
/// A lease whose connection is already closed is replaced without an attempt (see
/// [`MAX_SKIPPED`]). Only the headers stage is retried: once a response has arrived, its
/// body is the caller's.
///
/// **One deadline for the whole request**: `options.timeout` (or the request's
/// [`Timeout`](crate::Timeout)) bounds every attempt, the waits for a connection and the
/// waits between refusals together — a refused attempt does not restart it. When it
/// passes, the error is [`RequestError::Timeout`] of that timeout.
/// Outcomes are reported as [`HttpLeaseExt::request_with`] does.
pub async fn send_with<S, B>(
    pool: &S,
    host: &str,
    request: Request<B>,
    options: &RequestOptions,
) -> Result<Response<Body<S::Dialer>>, RequestError>
where
    S: LeaseSource,
    <S::Dialer as Dialer>::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    send_with_attempts(pool, host, request, options).await.0
}

/// [`send_with`], also returning what it went through ([`Attempts`]), so that a caller can
/// tell a failure a retry could have saved from one the request deserved.
pub async fn send_with_attempts<S, B>(
    pool: &S,
    host: &str,
    request: Request<B>,
    options: &RequestOptions,
) -> (Result<Response<Body<S::Dialer>>, RequestError>, Attempts)
where
    S: LeaseSource,
    <S::Dialer as Dialer>::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let options = options.for_request(request.extensions());
    let deadline = Instant::now() + options.timeout;
    send_until(pool, host, request, &options, deadline, None).await
}

/// The retry loop of [`send_with_attempts`] with the request's options resolved
/// (`for_request`) and its deadline fixed by the caller, preferring a connection to
/// another address than `avoid` for the first exchange (see [`lease_avoiding`]): the seam
/// the status-aware retries (`polite.rs`) send each attempt through.
pub(crate) async fn send_until<S, B>(
    pool: &S,
    host: &str,
    request: Request<B>,
    options: &RequestOptions,
    deadline: Instant,
    mut avoid: Option<std::net::SocketAddr>,
) -> (Result<Response<Body<S::Dialer>>, RequestError>, Attempts)
where
    S: LeaseSource,
    <S::Dialer as Dialer>::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let method = request.method().clone();
    let timeout = || RequestError::Timeout(options.timeout);
    let mut attempts = Attempts::default();
    let mut request = request;
    let mut skipped = 0;
    let get = pool_core::GetOptions::new().wait_for_host(options.wait_for_host);
    loop {
        let leased = lease_avoiding(pool, host, get, avoid.take());
        let mut lease = match tokio::time::timeout_at(deadline, leased).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(e)) => return (Err(e.into()), attempts),
            Err(_) => return (Err(timeout()), attempts),
        };
        if lease.conn().is_closed() && skipped < MAX_SKIPPED {
            // Closed (GOAWAY, lost) before the pool's watcher removed it: sending would be
            // refused at once. Removed without an attempt.
            skipped += 1;
            lease.mark_broken();
            continue;
        }
        let retry = replay(&request);
        attempts.sent += 1;
        attempts.last_reused = lease.is_reused();
        attempts.last_addr = Some(lease.addr());
        let protocol = lease.conn().protocol();
        let sent = exchange(lease, request, options, Some(host), Some(deadline));
        let error = match sent.await {
            Ok(response) => return (Ok(response), attempts),
            Err(e) => e,
        };
        if error.is_retry_safe() {
            attempts.refused += 1;
            if attempts.refused >= MAX_REFUSALS {
                let refusals = attempts.refused;
                let error = RequestError::RefusedTooOften {
                    refusals,
                    last: Box::new(error),
                };
                return (Err(error), attempts);
            }
        } else {
            if error.is_connection_error() {
                attempts.connections_lost += 1;
            }
            if !error.is_retryable(&method, attempts.last_reused)
                || attempts.maybe_processed() >= MAX_ATTEMPTS
            {
                return (Err(error), attempts);
            }
        }
        let Some(again) = retry else {
            tracing::debug!(
                error = %error,
                host,
                attempts = attempts.sent,
                "not retried: the body cannot be replayed"
            );
            return (Err(error), attempts);
        };
        tracing::debug!(
            error = %error,
            host,
            reused = attempts.last_reused,
            attempt = attempts.sent,
            refused = attempts.refused,
            "sending again on another connection"
        );
        Record::retried(protocol, error.is_retry_safe());
        pool.count_resend(error.is_retry_safe());
        let wait = refusal_backoff(attempts.refused);
        if error.is_retry_safe() && !wait.is_zero() {
            if Instant::now() + wait >= deadline {
                return (Err(timeout()), attempts);
            }
            tokio::time::sleep(wait).await;
        }
        request = again;
    }
}

/// How long [`lease_avoiding`] waits for its second lease.
const AVOID_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// A lease for `host`, on a connection to another address than `avoid` where the pool has
/// one: when the first lease is to `avoid`, a second is taken (holding the first, so the
/// pool's least-loaded choice moves on) and the one to another address kept. At most one
/// extra lease, and only one the pool hands out within [`AVOID_WAIT`] (never a wait for a
/// connection while holding one): where the host has one address, or none free, `avoid`
/// it is.
async fn lease_avoiding<S: LeaseSource>(
    pool: &S,
    host: &str,
    get: pool_core::GetOptions,
    avoid: Option<std::net::SocketAddr>,
) -> Result<Lease<S::Dialer>, pool_core::Error> {
    let first = pool.lease(host, get).await?;
    if avoid != Some(first.addr()) {
        return Ok(first);
    }
    match tokio::time::timeout(AVOID_WAIT, pool.lease(host, get)).await {
        Ok(Ok(second)) if Some(second.addr()) != avoid => {
            let mut first = first;
            first.report_unused();
            Ok(second)
        }
        Ok(Ok(mut second)) => {
            second.report_unused();
            Ok(first)
        }
        Ok(Err(_)) | Err(_) => Ok(first),
    }
}

/// A copy of a request (its body replayed), for a retry.
pub(crate) fn replay<B: Replayable>(request: &Request<B>) -> Option<Request<B>> {
    let mut copy = Request::new(request.body().replay()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}
