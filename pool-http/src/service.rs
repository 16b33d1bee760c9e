//! A `tower_service::Service` over a pool, for one host.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pool_core::{Dialer, Pool};

use crate::{HttpConnection, RequestError};

/// `Service<Request<Bytes>>` sending every request to one host through a pool of any
/// HTTP-speaking transport, so the pool fits tower/hyper code. Cheap to clone.
///
/// `poll_ready` is always ready: back-pressure happens in the pool, where a call waits
/// (at most `checkout_timeout`) for a connection with spare capacity. Requests go through
/// [`send`](crate::send), so the retry policy applies.
pub struct PoolService<D: Dialer> {
    pool: Pool<D>,
    host: Arc<str>,
}

impl<D: Dialer> PoolService<D> {
    /// A service sending to `host` through `pool`.
    pub fn new(pool: Pool<D>, host: &str) -> Self {
        Self {
            pool,
            host: host.into(),
        }
    }

    /// The host requests go to.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl<D: Dialer> Clone for PoolService<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            host: self.host.clone(),
        }
    }
}

impl<D: Dialer> std::fmt::Debug for PoolService<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolService")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl<D> tower_service::Service<Request<Bytes>> for PoolService<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    type Response = Response<Bytes>;
    type Error = RequestError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, RequestError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), RequestError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let pool = self.pool.clone();
        let host = self.host.clone();
        Box::pin(async move { crate::send(&pool, &host, request).await })
    }
}
