//! A `tower_service::Service` over a pool, for one host.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pool_core::{Dialer, Pool};

use crate::{Body, BoxError, HttpConnection, Replayable, RequestError, RequestOptions};

/// `Service<Request<B>>` sending every request to one host through a pool of any
/// HTTP-speaking transport, so the pool fits tower/hyper code; responses stream
/// ([`Body`]). Cheap to clone.
///
/// `poll_ready` is always ready: back-pressure happens in the pool, where a call waits
/// (at most `checkout_timeout`) for a connection with spare capacity. Requests go through
/// [`send_with`](crate::send_with) under the service's [`RequestOptions`], so the
/// deadlines and the retry policy apply.
pub struct PoolService<D: Dialer> {
    pool: Pool<D>,
    host: Arc<str>,
    options: Arc<RequestOptions>,
}

impl<D: Dialer> PoolService<D> {
    /// A service sending to `host` through `pool` under the default [`RequestOptions`].
    pub fn new(pool: Pool<D>, host: &str) -> Self {
        Self {
            pool,
            host: host.into(),
            options: Arc::default(),
        }
    }

    /// This service with these request options.
    pub fn with_options(mut self, options: RequestOptions) -> Self {
        self.options = Arc::new(options);
        self
    }

    /// The request options requests are sent under.
    pub fn options(&self) -> &RequestOptions {
        &self.options
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
            options: self.options.clone(),
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

impl<D, B> tower_service::Service<Request<B>> for PoolService<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body<D>>;
    type Error = RequestError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body<D>>, RequestError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), RequestError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let pool = self.pool.clone();
        let host = self.host.clone();
        let options = self.options.clone();
        Box::pin(async move { crate::send_with(&pool, &host, request, &options).await })
    }
}
