//! A `tower_service::Service` over an HTTP/2 pool, for one host.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pool_core::Pool;

use crate::h2::{H2Dialer, RequestError, send_via_pool};

/// `Service<Request<Bytes>>` sending every request to one host through the pool, so the
/// pool fits tower/hyper code. Cheap to clone.
///
/// `poll_ready` is always ready: back-pressure happens in the pool, where a call waits
/// (at most `checkout_timeout`) for a connection with spare stream capacity. A request
/// the server certainly did not process (refused stream, GOAWAY) is retried once on
/// another connection.
#[derive(Clone)]
pub struct H2Service {
    pool: Pool<H2Dialer>,
    host: Arc<str>,
}

impl H2Service {
    /// A service sending to `host` through `pool`.
    pub fn new(pool: Pool<H2Dialer>, host: &str) -> Self {
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

impl std::fmt::Debug for H2Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Service")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl tower_service::Service<Request<Bytes>> for H2Service {
    type Response = Response<Bytes>;
    type Error = RequestError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, RequestError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), RequestError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let pool = self.pool.clone();
        let host = self.host.clone();
        Box::pin(async move { send_via_pool(&pool, &host, request).await })
    }
}
