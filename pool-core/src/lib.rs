//! # pool-core: the hot connection pool
//!
//! Keeps connections *already open* to every address of a host, so a request takes a warm
//! connection instead of paying a handshake. Transport-agnostic: TLS, HTTP/2 and QUIC live
//! in `pool-dial-rustls` / `pool-dial-quic`, which implement [`Dialer`] and [`Connection`]; this crate
//! depends on no TLS, QUIC, HTTP or DNS library.
//!
//! ## Design overview
//! The quinn-proto / quinn split, in one crate:
//! - [`proto`] is the sans-IO state machine, [`proto::PoolState`]: it takes time as an
//!   input, returns decisions as [`proto::Action`]s, and never sleeps, spawns or reads the
//!   clock. It is a coordinator over parts that each own their data and operations: the
//!   connection slab, the lease gauges (shared with the shell's fast lane), the hosts
//!   (address → connections, host → addresses and members), the timers, the blacklist,
//!   the dials and waiters, the counters.
//! - The shell is [`Pool`], the async layer on tokio: `get(host)` hands out a [`Lease`]
//!   (an RAII guard that returns itself on drop, also when unwinding from a panic) — on an
//!   open connection with room through the fast lane, one CAS and no pool lock — dials
//!   run as tasks, and one driver task sleeps until the state machine's next deadline.
//! - The crate root is the user API: the shell, the [`Dialer`] / [`Connection`] traits a
//!   transport implements, options, stats and errors. The state machine's own types
//!   (ids, actions, dial requests) are reachable only as `pool_core::proto::…`.
//! - What this crate does *not* do: network I/O of its own, DNS (see `pool-dns`: it feeds
//!   [`Pool::set_addrs`]), probing (see `pool-health`: it uses [`Pool::take_probes`]).
//!
//! ## Example
//! ```
//! use std::net::SocketAddr;
//! use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};
//!
//! /// A stand-in transport: a real one connects a socket here.
//! struct Echo;
//! struct EchoConn(SocketAddr);
//! impl Connection for EchoConn {
//!     fn capacity(&self) -> usize { 1 }
//!     fn is_closed(&self) -> bool { false }
//! }
//! impl Dialer for Echo {
//!     type Conn = EchoConn;
//!     async fn dial(&self, target: &Target) -> Result<EchoConn, DialError> {
//!         Ok(EchoConn(target.addr))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pool = Pool::new(Echo, PoolOptions::default()).unwrap();
//! pool.set_addrs("example.test", ["127.0.0.2:443".parse().unwrap()]);
//! let report = pool.warm("example.test").await;
//! assert_eq!(report.ok, 1);
//! let lease = pool.get("example.test").await.unwrap();
//! assert_eq!(lease.0, "127.0.0.2:443".parse::<SocketAddr>().unwrap());
//! drop(lease); // back in the pool
//! assert_eq!(pool.stats().reuse_rate(), 0.0); // one lease, one dial
//! pool.close().await;
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod error;
pub mod fleet;
mod ip_range;
pub mod memory;
pub mod metrics;
mod options;
pub mod proto;
pub mod rate;
mod shell;
mod sync;
mod transport;
mod types;

pub use error::Error;
pub use fleet::{FleetApplied, FleetBan, FleetDemand, FleetEvent, SharedState};
pub use ip_range::{IpRange, IpRangeError};
pub use memory::{FixedMemory, MemorySource, ProcessMemory};
pub use options::{OptionsError, Placement, PoolOptions};
pub use rate::{
    Adaptation, Decision, Feedback, FleetAccount, FleetRateSettings, FleetRateStats, FleetStep,
    FleetTokens, FleetTokensError, HostRate, RateError, RateLimit, RateLimitError, RateStats,
    TokenGrant,
};
#[cfg(not(hotpool_shuttle))]
pub use shell::{EgressLease, EgressRotation, EgressSet, EgressState};
pub use shell::{
    GetOptions, Lease, LeaseSource, Pool, ProbeTicket, WarmOutcome, WarmProgress, WarmReport,
};
pub use transport::{Connection, DialError, DialErrorKind, Dialer, Target};
pub use types::{
    BlacklistReason, CloseReason, ConnInfo, Outcome, ProbeVerdict, Protocol, Stats, WarmLimit,
};
