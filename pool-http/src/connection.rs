//! The connection trait of the request layer.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use pool_core::Connection;

use crate::RequestError;

/// A pooled connection that carries HTTP requests: what every transport (HTTP/2 over
/// TLS, QUIC, …) implements so that the request API, the retry policy, validation and
/// the tower `Service` work over it unchanged.
pub trait HttpConnection: Connection {
    /// Sends one request and waits for the whole response. A relative URI (`/path`) is
    /// completed with the connection's scheme and host. Transport failures are mapped into
    /// [`RequestError`]'s kinds, so that [`RequestError::is_connection_error`] and
    /// [`RequestError::is_retry_safe`] mean the same on every protocol.
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, RequestError>> + Send;

    /// How many requests this connection has carried (started), the dial's validation
    /// request not counted. A connection with at least one is "reused".
    fn requests_sent(&self) -> u64;

    /// The protocol requests travel in.
    fn protocol(&self) -> Protocol;
}

/// The protocol of an [`HttpConnection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 (exclusive connections).
    Http1,
    /// HTTP/2.
    Http2,
    /// HTTP/3 over QUIC.
    Http3,
    /// One request/response exchange per raw QUIC stream (the private protocol of
    /// hotpool's QUIC test origin; HTTP/3 replaces it).
    QuicStream,
}

impl Protocol {
    /// A short name for reports: `h1`, `h2`, `h3`, `quic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
            Protocol::Http3 => "h3",
            Protocol::QuicStream => "quic",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
