//! # pool-dns: keeps a hot pool's host addresses fresh
//!
//! A [`DnsRefresher`] resolves every registered host with hickory-resolver (A and/or AAAA,
//! see [`IpPreference`]) against configured name servers (address, port, UDP or TCP) or the
//! system's, and feeds each answer into the pool with `Pool::set_addrs` — the pool's one
//! entry point for addresses:
//! - new addresses are warmed at once (`Pool::warm`);
//! - removed addresses drain: idle connections close now, leased ones when released;
//! - a host is re-resolved when its smallest record TTL runs out or after
//!   `dns_update_interval`, whichever is sooner, never sooner than `min_ttl`;
//! - a failure (NXDOMAIN, SERVFAIL, timeout, no records) keeps the last good answer, is
//!   logged and counted ([`DnsStats`], [`metrics`]), and is retried with exponential
//!   backoff;
//! - hosts pinned in config get a static list ([`DnsRefresher::add_static`]), never resolved.
//!
//! What this crate does *not* do: dial, probe, or decide which addresses are allowed (the
//! pool's whitelist and blacklist still apply to every address fed in). Names are always
//! looked up fully qualified (no search-domain expansion).
//!
//! ## Example
//! ```
//! use std::net::SocketAddr;
//! use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};
//! use pool_dns::{DnsOptions, DnsRefresher, NameServer};
//!
//! /// A stand-in transport: a real one connects a socket here.
//! struct Echo;
//! struct EchoConn;
//! impl Connection for EchoConn {
//!     fn capacity(&self) -> usize { 1 }
//!     fn is_closed(&self) -> bool { false }
//! }
//! impl Dialer for Echo {
//!     type Conn = EchoConn;
//!     async fn dial(&self, _: &Target) -> Result<EchoConn, DialError> { Ok(EchoConn) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pool = Pool::new(Echo, PoolOptions::default()).unwrap();
//! let dns = DnsRefresher::start(&pool, DnsOptions {
//!     name_servers: vec![NameServer::udp("127.0.0.1:5353".parse().unwrap())],
//!     ..DnsOptions::default()
//! })
//! .unwrap();
//! // A host pinned in config: no DNS, warmed at once.
//! let addr: SocketAddr = "127.0.0.2:443".parse().unwrap();
//! dns.add_static("pinned.test", [addr]);
//! assert_eq!(pool.addrs("pinned.test"), vec![addr]);
//! // A resolved host: `dns.add_host("www.example.test", 443).await` waits for the first
//! // answer and keeps re-resolving it in the background.
//! dns.stop().await;
//! pool.close().await;
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod family;
pub mod metrics;
mod options;
mod refresher;
mod resolve;

pub use family::FamilyStatus;
pub use options::{DnsOptions, DnsProtocol, IpPreference, NameServer};
pub use refresher::{DnsRefresher, DnsStats, FamilyStats, HostSource, HostStatus};
pub use resolve::{FailureKind, IpFamily, ResolveError, SetupError};
