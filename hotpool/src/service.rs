//! [`Client`] as a `tower::Service`: any `http::Request<Bytes>` with an absolute URI.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;

use crate::request::Choices;
use crate::{Client, Error, Response};

impl tower_service::Service<Request<Bytes>> for Client {
    type Response = Response;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>>;

    /// Always ready: a request waits for a connection inside its own deadline.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let client = self.clone();
        Box::pin(async move { client.send(request, &Choices::default()).await })
    }
}
