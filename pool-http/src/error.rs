//! The one error of a request, whatever the protocol.

use std::time::Duration;

/// A transport's own error, kept as the source of a [`RequestError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default bound of a response's header list, in bytes (256 KiB): the transports'
/// `max_response_header_size` (HTTP/1.1: the response head, status line included; HTTP/2
/// and HTTP/3: the decoded header list, 32 bytes per field included). The config key
/// `pool.max_response_header_size` declares the same default.
pub const DEFAULT_MAX_RESPONSE_HEADER_SIZE: usize = 256 << 10;

/// Which limit a peer broke ([`RequestError::PeerLimit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerLimit {
    /// The response header list (or head) was larger than the transport's
    /// `max_response_header_size`, or had more fields than the transport takes.
    HeaderList,
    /// The peer flooded the connection (HTTP/2 `ENHANCE_YOUR_CALM` raised by this side:
    /// a CONTINUATION flood, a header list far past the limit, too many resets).
    Flood,
}

impl PeerLimit {
    /// A short name: `header_list` or `flood`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerLimit::HeaderList => "header_list",
            PeerLimit::Flood => "flood",
        }
    }
}

impl std::fmt::Display for PeerLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeerLimit::HeaderList => "response header size",
            PeerLimit::Flood => "flood",
        })
    }
}

/// Why a request failed. Transports map their errors into these kinds; the predicates
/// ([`is_connection_error`](Self::is_connection_error),
/// [`is_retry_safe`](Self::is_retry_safe), [`is_retryable`](Self::is_retryable),
/// [`is_timeout`](Self::is_timeout)) are what callers and the retry policy decide on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No connection could be had from the pool.
    #[error(transparent)]
    Pool(#[from] pool_core::Error),
    /// The request was never sent: the connection refused a new stream (GOAWAY received,
    /// connection gone). Safe to retry on another connection.
    #[error("request not sent: {0}")]
    NotSent(#[source] BoxError),
    /// The peer refused the request without processing it (HTTP/2 `REFUSED_STREAM`, or a
    /// GOAWAY whose last stream id excluded it). Safe to retry on another connection.
    #[error("request refused by the server: {source}")]
    Refused {
        /// The transport's error.
        #[source]
        source: BoxError,
        /// Whether the connection is closing too (GOAWAY) rather than just this stream.
        connection_closing: bool,
    },
    /// The server refused the request every time it was sent, [`MAX_REFUSALS`](crate::MAX_REFUSALS)
    /// times in a row (refused or never sent, on a connection that was not draining when
    /// the pool handed it out): a server that refuses forever. Never retried.
    #[error("request refused {refusals} times (the last: {last})")]
    RefusedTooOften {
        /// How many times it was refused (or not sent).
        refusals: u32,
        /// The last refusal.
        #[source]
        last: Box<RequestError>,
    },
    /// The connection failed (reset, EOF, GOAWAY, lost) while the request was in flight:
    /// the server may have processed it.
    #[error("connection lost: {0}")]
    ConnectionLost(#[source] BoxError),
    /// The protocol failed for this request only (stream reset, malformed answer); the
    /// connection may carry others.
    #[error("protocol error: {0}")]
    Protocol(#[source] BoxError),
    /// The request's own body failed while it was read to be sent.
    #[error("request body failed: {0}")]
    RequestBody(#[source] BoxError),
    /// The request could not be completed into an absolute URI.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] http::Error),
    /// The response body exceeded a limit (the transport's, [`RequestOptions::max_response_body`](crate::RequestOptions::max_response_body)
    /// or [`Body::collect`](crate::Body::collect)'s).
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The peer broke a limit this side sets on what it accepts (see [`PeerLimit`]): a
    /// hostile or broken server. Never retried (another connection meets the same
    /// server); counted as an error on the connection, and under the metric label
    /// `peer_limit`.
    #[error("the peer broke the {limit} limit: {source}")]
    PeerLimit {
        /// Which limit.
        limit: PeerLimit,
        /// The transport's error.
        #[source]
        source: BoxError,
    },
    /// The response body could not be decoded from its `Content-Encoding`: corrupt,
    /// truncated, or over a [`DecodeLimits`](crate::DecodeLimits) bound (a
    /// decompression bomb). Never retried.
    #[error("response body not decoded: {0}")]
    Decode(#[from] crate::DecodeError),
    /// A redirect could not be followed: too many, a missing or malformed `Location`, a
    /// body that cannot be sent again (see [`RedirectError`](crate::RedirectError)).
    /// Never retried.
    #[error("redirect not followed: {0}")]
    Redirect(#[from] crate::RedirectError),
    /// No response headers within the request's deadline, or a response body idle for
    /// longer than its body-idle timeout (see [`RequestOptions`](crate::RequestOptions)).
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The host's request rate (`pool_core::RateLimit`, adapted on 429/503, paused by a
    /// `Retry-After`) had no slot for the request before its deadline: it failed at once
    /// instead of waiting in vain. Never sent; never retried.
    #[error("request not sent: {0}")]
    RateLimited(#[from] pool_core::RateError),
}

impl RequestError {
    /// Whether the connection itself failed (I/O error, GOAWAY, lost): the lease is
    /// reported broken rather than as an ordinary error.
    pub fn is_connection_error(&self) -> bool {
        match self {
            RequestError::NotSent(_) | RequestError::ConnectionLost(_) => true,
            RequestError::Refused {
                connection_closing, ..
            } => *connection_closing,
            _ => false,
        }
    }

    /// Whether the server certainly did not process the request, so sending it again on
    /// another connection is safe even when it is not idempotent: it was never sent, or
    /// the server refused it.
    pub fn is_retry_safe(&self) -> bool {
        matches!(
            self,
            RequestError::NotSent(_) | RequestError::Refused { .. }
        )
    }

    /// Whether sending the request again on another connection is safe: always when
    /// [`is_retry_safe`](Self::is_retry_safe); and when the connection itself failed
    /// ([`is_connection_error`](Self::is_connection_error): reset, EOF, GOAWAY) under an
    /// idempotent `method` (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) on a
    /// `reused` connection — one that had carried a request before, so the failure may be
    /// the peer closing a connection it considered idle. A fresh connection that fails
    /// under a request is not retried: the failure is more likely the request's own doing.
    pub fn is_retryable(&self, method: &http::Method, reused: bool) -> bool {
        self.is_retry_safe() || (reused && method.is_idempotent() && self.is_connection_error())
    }

    /// Whether time ran out: the request's deadline, or the pool's checkout timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            RequestError::Timeout(_)
                | RequestError::RateLimited(_)
                | RequestError::Pool(pool_core::Error::Timeout { .. })
        )
    }

    /// A short name of the kind, for metric labels and reports: `pool`, `not_sent`,
    /// `refused`, `refused_too_often`, `connection_lost`, `protocol`, `request_body`, `invalid_request`,
    /// `body_too_large`, `peer_limit`, `decode`, `redirect`, `timeout`, `rate_limited`.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::Pool(_) => "pool",
            RequestError::NotSent(_) => "not_sent",
            RequestError::Refused { .. } => "refused",
            RequestError::RefusedTooOften { .. } => "refused_too_often",
            RequestError::ConnectionLost(_) => "connection_lost",
            RequestError::Protocol(_) => "protocol",
            RequestError::RequestBody(_) => "request_body",
            RequestError::InvalidRequest(_) => "invalid_request",
            RequestError::BodyTooLarge { .. } => "body_too_large",
            RequestError::PeerLimit { .. } => "peer_limit",
            RequestError::Decode(_) => "decode",
            RequestError::Redirect(_) => "redirect",
            RequestError::Timeout(_) => "timeout",
            RequestError::RateLimited(_) => "rate_limited",
        }
    }
}

/// A body that cannot fail (`Full`, `Empty`) has `Infallible` errors: they convert, so
/// such a body can stand where a body with [`RequestError`]s is expected (e.g. in
/// [`Decoded`](crate::Decoded)).
impl From<std::convert::Infallible> for RequestError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_over_a_limit_is_never_retried_nor_a_connection_error() {
        let e = RequestError::PeerLimit {
            limit: PeerLimit::HeaderList,
            source: "too big".into(),
        };
        assert!(!e.is_retryable(&http::Method::GET, true));
        assert!(!e.is_retry_safe());
        assert!(!e.is_connection_error());
        assert!(!e.is_timeout());
        assert_eq!(e.kind(), "peer_limit");
        assert_eq!(
            e.to_string(),
            "the peer broke the response header size limit: too big"
        );
        assert_eq!(PeerLimit::Flood.as_str(), "flood");
    }

    #[test]
    fn refused_too_often_is_final_and_says_how_often() {
        let e = RequestError::RefusedTooOften {
            refusals: 32,
            last: Box::new(RequestError::Refused {
                source: "refused stream".into(),
                connection_closing: false,
            }),
        };
        assert!(!e.is_retry_safe());
        assert!(!e.is_retryable(&http::Method::GET, true));
        assert!(!e.is_connection_error());
        assert!(!e.is_timeout());
        assert_eq!(e.kind(), "refused_too_often");
        assert_eq!(
            e.to_string(),
            "request refused 32 times (the last: request refused by the server: refused stream)"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
