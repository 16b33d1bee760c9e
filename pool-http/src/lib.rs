//! # pool-http: the request layer of hotpool
//!
//! One request API over any pooled connection that speaks HTTP, whatever the transport
//! (HTTP/2 over TLS in `pool-tls`, QUIC in `pool-quic`, or a user's own dialer):
//!
//! - [`HttpConnection`]: what a connection implements — send one request, how many it
//!   has carried, its [`Protocol`];
//! - [`HttpLeaseExt`]: `lease.request(req)` on a [`Lease<D>`](pool_core::Lease) of **any**
//!   dialer whose connection implements it, reporting the outcome on the lease (response
//!   → success, connection error → broken, other error → error);
//! - [`send`]: a request through a pool with the retry policy — once, on another
//!   connection, only when safe (never processed; or idempotent on a reused connection
//!   whose connection failed);
//! - [`PoolService`]: the `tower_service::Service` for one host of a pool;
//! - [`Validation`] and [`classify`]: the "hot connect" request and its one admit /
//!   banned / rejected classification (banned by default: [`DEFAULT_BANNED_STATUS`]),
//!   used by the dialers' validation ([`validate`]) and by HTTP health probes;
//! - [`RequestError`]: one error type for every protocol.
//!
//! This crate depends on no transport: `docs/request-layer.md` describes the layer.
//!
//! ## Example
//! A tiny in-memory connection standing in for a transport:
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};
//! use pool_http::{HttpConnection, HttpLeaseExt, Protocol, RequestError};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! /// Answers every request with its own path.
//! struct Echo(AtomicU64);
//! impl Connection for Echo {
//!     fn capacity(&self) -> usize { 8 }
//!     fn is_closed(&self) -> bool { false }
//! }
//! impl HttpConnection for Echo {
//!     async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, RequestError> {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!         Ok(Response::new(Bytes::from(request.uri().path().to_owned())))
//!     }
//!     fn requests_sent(&self) -> u64 { self.0.load(Ordering::Relaxed) }
//!     fn protocol(&self) -> Protocol { Protocol::Http2 }
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
//! // On a lease: one request, the outcome reported on the lease.
//! let mut lease = pool.get("echo.test").await?;
//! let response = lease.request(Request::get("/hello").body(Bytes::new())?).await?;
//! assert_eq!(&response.body()[..], b"/hello");
//! assert!(lease.is_reused());
//! drop(lease);
//!
//! // Through the pool, with the retry policy.
//! let response = pool_http::send(&pool, "echo.test", Request::get("/again").body(Bytes::new())?).await?;
//! assert_eq!(&response.body()[..], b"/again");
//! pool.close().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod connection;
mod error;
mod lease;
mod service;
mod validation;

#[cfg(test)]
mod tests;

pub use connection::{HttpConnection, Protocol};
pub use error::{BoxError, RequestError};
pub use lease::{HttpLeaseExt, send};
pub use service::PoolService;
pub use validation::{DEFAULT_BANNED_STATUS, Validation, Verdict, classify, validate};
