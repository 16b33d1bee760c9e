//! The connection trait of the request layer.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use pool_core::Connection;

use crate::{BoxError, RequestError};

/// A pooled connection that carries HTTP requests: what every transport (HTTP/1.1 and
/// HTTP/2 over TLS, HTTP/3 over QUIC, …) implements so that the request API, the retry
/// policy, deadlines, validation and the tower `Service` work over it unchanged.
pub trait HttpConnection: Connection {
    /// The body of responses on this connection, streamed as the peer sends it (an h2
    /// `RecvStream`, a hyper `Incoming`, an h3 stream, or a [`BufferedBody`](crate::BufferedBody)
    /// for a transport that reads answers whole). Dropping it before its end abandons the
    /// response: the stream is reset (h2, h3), or the connection can carry nothing else
    /// (HTTP/1.1, which `pool-http` then reports broken).
    type ResponseBody: http_body::Body<Data = Bytes, Error = RequestError> + Send + Unpin + 'static;

    /// Sends one request, streaming its body, and resolves with the response headers; the
    /// response body streams after that. A relative URI (`/path`) is completed with the
    /// connection's scheme and host. Transport failures are mapped into
    /// [`RequestError`]'s kinds, so that [`RequestError::is_connection_error`] and
    /// [`RequestError::is_retry_safe`] mean the same on every protocol.
    ///
    /// The future may be dropped at any point (the request's deadline, see
    /// [`RequestOptions`](crate::RequestOptions)): the transport then abandons the request
    /// (h2/h3: resets the stream).
    fn send<B>(
        &self,
        request: Request<B>,
    ) -> impl Future<Output = Result<Response<Self::ResponseBody>, RequestError>> + Send
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>;

    /// How many requests this connection has carried (started), the dial's validation
    /// request not counted. A connection with at least one is "reused".
    fn requests_sent(&self) -> u64;
}
