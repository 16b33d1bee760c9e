//! Requests on a lease, with the one outcome-reporting path, and the retry policy.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use pool_core::{Dialer, Lease, Pool};

use crate::{HttpConnection, RequestError};

/// The request API on a lease of any pool whose connections speak HTTP
/// ([`HttpConnection`]).
pub trait HttpLeaseExt {
    /// Sends `request` on the leased connection ([`HttpConnection::send`]) and reports the
    /// outcome on the lease: a response → success; a connection error
    /// ([`RequestError::is_connection_error`]) → broken (the pool removes the connection);
    /// any other error → error (counts toward `max_errors`). Never retries: see [`send`].
    fn request(
        &mut self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, RequestError>> + Send;

    /// Whether the leased connection has carried a request before (see
    /// [`RequestError::is_retryable`]).
    fn is_reused(&self) -> bool;
}

impl<D> HttpLeaseExt for Lease<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    async fn request(&mut self, request: Request<Bytes>) -> Result<Response<Bytes>, RequestError> {
        let result = self.conn().send(request).await;
        report(self, &result);
        result
    }

    fn is_reused(&self) -> bool {
        self.conn().requests_sent() > 0
    }
}

/// The one place a request's result becomes the lease's outcome.
fn report<D: Dialer, T>(lease: &mut Lease<D>, result: &Result<T, RequestError>) {
    match result {
        Ok(_) => lease.report_success(),
        Err(e) if e.is_connection_error() => lease.mark_broken(),
        Err(_) => lease.report_error(),
    }
}

/// A copy of a request, for one retry.
fn clone_request(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Sends `request` to `host` through `pool` — any pool whose connections speak HTTP —
/// retrying once on another connection when that is safe
/// ([`RequestError::is_retryable`]): the first attempt was certainly not processed (never
/// sent, refused), or it was an idempotent request whose *reused* connection failed under
/// it. Outcomes are reported on each lease as [`HttpLeaseExt::request`] does.
pub async fn send<D>(
    pool: &Pool<D>,
    host: &str,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let retry = clone_request(&request);
    let (first, reused) = {
        let mut lease = pool.get(host).await?;
        let reused = lease.is_reused();
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
