//! # pool-health: health checks for the hot pool
//!
//! A [`HealthChecker`] probes a pool's idle connections and removes the failing ones, so a
//! dead connection is found by the checker instead of by a request:
//! - the pool schedules a probe per idle connection `health_check_interval` after its last
//!   check (a successful lease counts as one) and wakes the checker;
//! - the checker takes the due connections (never a leased one; each is held out of
//!   checkout while probed), runs a [`Probe`] on up to `concurrency` at once, each within
//!   `test_timeout`, and reports the verdicts;
//! - unhealthy (or timed out) → the connection is closed; the banned status of an HTTP
//!   probe → closed and the IP blacklisted; `failure_threshold` can tolerate a few
//!   failures in a row first.
//!
//! Probes: [`TransportProbe`] (the default, [`pool_core::Connection::probe`]: an HTTP/2
//! PING, a QUIC ping), [`RequestProbe`] (an HTTP request on any `pool-http`
//! [`HttpConnection`](pool_http::HttpConnection), classified by status like the dialers'
//! validation), [`HttpProbe`] (a request a closure sends, classified the same way), or any
//! closure ([`FnProbe`]).
//!
//! The re-test of blacklisted addresses runs in the pool itself (every
//! `blacklist_check_interval` its driver dials each dynamically blacklisted IP once and
//! restores it on success); [`HealthStats`] and the [`metrics`] report it.
//!
//! ## Example
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//! use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, ProbeVerdict, Target};
//! use pool_health::{HealthChecker, HealthOptions, TransportProbe};
//!
//! /// A stand-in transport whose health the example controls.
//! struct Mem(Arc<AtomicBool>);
//! struct MemConn(Arc<AtomicBool>);
//! impl Connection for MemConn {
//!     fn capacity(&self) -> usize { 1 }
//!     fn is_closed(&self) -> bool { false }
//!     async fn probe(&self) -> ProbeVerdict {
//!         if self.0.load(Ordering::SeqCst) { ProbeVerdict::Healthy } else { ProbeVerdict::Unhealthy }
//!     }
//! }
//! impl Dialer for Mem {
//!     type Conn = MemConn;
//!     async fn dial(&self, _: &Target) -> Result<MemConn, DialError> {
//!         Ok(MemConn(self.0.clone()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let healthy = Arc::new(AtomicBool::new(true));
//! let options = PoolOptions {
//!     health_check_interval: Some(Duration::from_millis(20)),
//!     ..PoolOptions::default()
//! };
//! let pool = Pool::new(Mem(healthy.clone()), options).unwrap();
//! let checker = HealthChecker::start(&pool, TransportProbe, HealthOptions::default());
//! pool.set_addrs("example.test", ["127.0.0.2:443".parse().unwrap()]);
//! pool.warm("example.test").await;
//!
//! healthy.store(false, Ordering::SeqCst); // the peer stops answering
//! // The failed probe closes the connection as unhealthy (the warmed host stays hot: the
//! // pool dials a replacement at once, see pool-core's `docs/stay-hot.md`).
//! let unhealthy = || pool.stats().closed_for(pool_core::CloseReason::Unhealthy);
//! let seen = tokio::time::timeout(Duration::from_secs(10), async {
//!     while unhealthy() == 0 {
//!         tokio::time::sleep(Duration::from_millis(10)).await;
//!     }
//! });
//! seen.await.expect("the failed probe closes the connection within 10 s");
//! assert!(checker.stats().failed >= 1);
//! checker.stop().await;
//! pool.close().await;
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod checker;
pub mod metrics;
mod probe;

pub use checker::{HealthChecker, HealthOptions, HealthStats};
pub use probe::{
    DEFAULT_BANNED_STATUS, FnProbe, HttpProbe, Probe, ProbeFuture, RequestProbe, TransportProbe,
    classify_http,
};
