//! # pool-dns: keeps a hot pool's host addresses fresh
//!
//! A [`DnsRefresher`] resolves every registered host with hickory-resolver against
//! configured name servers ([`NameServer`]: address, port, and UDP, TCP, DNS-over-TLS or
//! DNS-over-HTTPS — [`DnsProtocol`]) or the system's (`/etc/resolv.conf`, or the file
//! named by [`DnsOptions::resolv_conf`]), and feeds the pool with `Pool::set_addrs` — the
//! pool's one entry point for addresses:
//! - **encrypted resolvers** check the server's certificate against [`DnsOptions::tls`],
//!   a [`Trust`] built into a rustls config by pool-rustls (the same roots, extra CAs and
//!   ring provider as the TLS and QUIC dialers); a failed handshake (wrong `tls_name`,
//!   untrusted CA) is [`FailureKind::Tls`];
//! - **per family**: A and AAAA ([`IpFamily`]) are looked up, scheduled (each by its own
//!   TTL, `min(ttl, dns_update_interval)`, at least `min_ttl`), retried with exponential
//!   backoff and remembered separately ([`FamilyStatus`]); the host's set is the union of
//!   the families' last good answers (see [`IpPreference`]);
//! - **failures keep the last good answer**: REFUSED, SERVFAIL, timeouts, network and TLS
//!   errors and NODATA ([`FailureKind`], typed from hickory's response codes and error
//!   variants) leave a family's addresses and connections alone until it answers again or
//!   its answer is older than `stale_after`; a family that never answered contributes
//!   nothing;
//!   **NXDOMAIN** is the only answer that removes addresses, after
//!   `nxdomain_confirmations` in a row;
//! - new addresses are warmed at once (`Pool::warm`); removed ones drain (idle
//!   connections close now, leased ones when released);
//! - failures are logged and counted per kind and family ([`DnsStats`], [`metrics`]);
//! - hosts pinned in config get a static list ([`DnsRefresher::add_static`]), never
//!   resolved;
//! - more [`AddressSource`]s per host ([`DnsRefresher::add_source`]: a user's "remote IP
//!   pool", a [`StaticSource`], a second resolver as [`DnsSource`]) are pulled on their own
//!   schedule; the pool gets the union of every source's last good set, and removing one
//!   drains only the addresses no other source gives;
//! - **HTTPS records** (RFC 9460, type 65: `alpn`, `port`, address hints) of an origin,
//!   on a refresher's resolver ([`DnsRefresher::lookup_https`]) or one of their own
//!   ([`HttpsLookup`]), with the same deadline and typed errors ([`HttpsRecords`]).
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
mod https;
pub mod metrics;
mod options;
mod refresher;
mod resolve;
mod servers;
mod sources;
mod status;

pub use family::FamilyStatus;
pub use https::{DEFAULT_ALPN, HttpsLookup, HttpsRecords, HttpsService, https_query_name};
pub use options::{DnsOptions, DnsProtocol, IpPreference, NameServer};
/// What DoT and DoH servers' certificates are checked against ([`DnsOptions::tls`]): the
/// same type as the TLS and QUIC dialers' trust.
pub use pool_rustls::Trust;
pub use refresher::DnsRefresher;
pub use resolve::{FailureKind, IpFamily, ResolveError};
pub use servers::SetupError;
pub use sources::{AddressSource, DnsSource, SourceError, SourceStatus, StaticSource};
pub use status::{DnsStats, FamilyStats, HostSource, HostStatus};
