//! # pool-http: the request layer of hotpool
//!
//! One request API over any pooled connection that speaks HTTP, whatever the transport
//! (HTTP/2 over TLS in `pool-dial-rustls`, QUIC in `pool-dial-quic`, or a user's own dialer):
//!
//! - [`HttpConnection`]: what a connection implements — send one request (its body
//!   streamed in, the response body streamed out), how many it has carried, its
//!   [`Protocol`];
//! - [`HttpLeaseExt`]: `lease.request(req)` on a [`Lease<D>`](pool_core::Lease) of **any**
//!   dialer whose connection implements it, within a deadline ([`RequestOptions`],
//!   [`Timeout`]); the response's [`Body`] owns the lease and reports the outcome when it
//!   ends (see [`Body`]);
//! - [`send`]: a request through a pool with the retry policy, within one deadline — a
//!   refused request (never processed) is always sent again on a connection that is not
//!   draining, at most [`MAX_REFUSALS`] times; an idempotent one whose reused connection
//!   failed under it, at most [`MAX_ATTEMPTS`] times in all (`docs/refusals.md`);
//! - [`send_polite`]: [`send_with`] made polite ([`Polite`]): each host's request rate
//!   awaited first ([`HostRates`] over `pool_core::RateLimit`), adapted on 429/503 (AIMD,
//!   `Retry-After`), throttled idempotent requests sent again after a jittered backoff
//!   within a [`RetryBudget`] ([`StatusRetry`]; `docs/rate-limits.md`);
//! - [`PoolService`]: the `tower_service::Service` for one host of a pool;
//! - [`Validation`] and [`classify`]: the "hot connect" request and its one admit /
//!   banned / rejected classification (banned by default: [`DEFAULT_BANNED_STATUS`]),
//!   used by the dialers' validation ([`validate`]) and by HTTP health probes;
//! - [`decode_response`]: response decompression (gzip, deflate, br, zstd) as the body
//!   streams, bounded by [`DecodeLimits`] (a decompression bomb is
//!   [`RequestError::Decode`]), and [`DEFAULT_ACCEPT_ENCODING`];
//! - [`Redirects`] under a [`RedirectPolicy`]: the redirect rules, sans-IO (what to send
//!   next for a 3xx, or a typed [`RedirectError`]);
//! - [`RequestError`]: one error type for every protocol;
//! - [`metrics`]: the request metrics, and a tracing span per request (host, addr,
//!   protocol, method, status, duration), the same for every protocol.
//!
//! This crate depends on no transport: `docs/request-layer.md` describes the layer.
//!
//! ## Example
//! A tiny in-memory connection standing in for a transport:
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};
//! use pool_http::http_body_util::BodyExt;
//! use pool_http::{BoxError, BufferedBody, Empty, HttpConnection, HttpLeaseExt, Protocol, RequestError};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! /// Answers every request with its own path.
//! struct Echo(AtomicU64);
//! impl Connection for Echo {
//!     fn capacity(&self) -> usize { 8 }
//!     fn is_closed(&self) -> bool { false }
//!     fn protocol(&self) -> Protocol { Protocol::Http2 }
//! }
//! impl HttpConnection for Echo {
//!     type ResponseBody = BufferedBody;
//!     async fn send<B>(&self, request: Request<B>) -> Result<Response<BufferedBody>, RequestError>
//!     where
//!         B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
//!         B::Error: Into<BoxError>,
//!     {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!         Ok(Response::new(BufferedBody::new(request.uri().path().to_owned())))
//!     }
//!     fn requests_sent(&self) -> u64 { self.0.load(Ordering::Relaxed) }
//! }
//! struct EchoDialer;
//! impl Dialer for EchoDialer {
//!     type Conn = Echo;
//!     async fn dial(&self, _: &Target) -> Result<Echo, DialError> { Ok(Echo(AtomicU64::new(0))) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::new(EchoDialer, PoolOptions::default())?;
//! pool.set_addrs("echo.test", ["127.0.0.1:443".parse()?]);
//!
//! // On a lease: one request; the body owns the lease and reports the outcome when it ends.
//! let lease = pool.get("echo.test").await?;
//! let response = lease.request(Request::get("/hello").body(Empty::<Bytes>::new())?).await?;
//! assert_eq!(response.into_body().collect(1024).await?, "/hello");
//!
//! // Through the pool, with the retry policy; the body streams (`http_body::Body`).
//! let response = pool_http::send(&pool, "echo.test", Request::get("/again").body(Empty::new())?).await?;
//! let mut body = response.into_body();
//! while let Some(frame) = body.frame().await {
//!     if let Ok(chunk) = frame?.into_data() {
//!         assert_eq!(chunk, "/again");
//!     }
//! }
//! pool.close().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod body;
mod connection;
mod decode;
mod error;
mod lease;
pub mod metrics;
mod options;
pub mod polite;
mod redirect;
mod request_body;
mod retry;
mod service;
mod validation;

#[cfg(test)]
mod tests;

/// Re-exported: the body trait requests and responses implement.
pub use http_body;
/// Re-exported: bodies ([`Full`](http_body_util::Full), [`Empty`](http_body_util::Empty))
/// and [`BodyExt`](http_body_util::BodyExt).
pub use http_body_util;
/// Re-exported from `http-body-util`: the request bodies held in memory.
pub use http_body_util::{Empty, Full};

pub use body::{Body, DEFAULT_COLLECT_LIMIT};
pub use connection::HttpConnection;
pub use decode::{
    DECODE_CHUNK, DEFAULT_ACCEPT_ENCODING, DecodeError, DecodeLimits, Decoded, Encoding,
    MAX_CODINGS, ZSTD_MAX_WINDOW, decode_response,
};
pub use error::{BoxError, DEFAULT_MAX_RESPONSE_HEADER_SIZE, PeerLimit, RequestError};
pub use lease::{
    Attempts, HttpLeaseExt, MAX_ATTEMPTS, MAX_REFUSALS, MAX_SKIPPED, send, send_with,
    send_with_attempts,
};
pub use options::{BodyIdleTimeout, DEFAULT_REQUEST_TIMEOUT, RequestOptions, Timeout};
pub use polite::{HostRates, Polite, PoliteStats, send_polite};
pub use pool_core::Protocol;
pub use redirect::{
    DEFAULT_MAX_REDIRECTS, NextBody, NextRequest, RedirectAction, RedirectError, RedirectPolicy,
    Redirects, SentBody, SentRequest, is_redirect,
};
pub use request_body::{BufferedBody, Replayable, Streaming};
pub use retry::{BUDGET_WINDOW, RetryBudget, StatusRetry, retry_after};
pub use service::PoolService;
pub use validation::{DEFAULT_BANNED_STATUS, Validation, Verdict, classify, validate};
