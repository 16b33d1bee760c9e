//! The hotpool test kit: local servers and measuring helpers for the workspace's tests,
//! benches and the `hotpool demo`.
//!
//! Everything binds to addresses the caller gives (use `127.0.0.2`, `127.0.0.3`, … as "the
//! IPs of one host"; Linux answers on all of 127.0.0.0/8) and never touches any other
//! network. The servers start in a few milliseconds, count what they see, and let a test
//! inject faults at run time:
//!
//! - [`TestCa`]: a CA generated at run time that issues server certificates;
//! - the [`origin`] module: [`H2Origin`] (TLS with ALPN: HTTP/2 and/or HTTP/1.1 with
//!   hyper, see [`H2OriginOptions::h1_only`] and [`Http1Options`]; every origin answers
//!   the same paths) and [`H3Origin`] (HTTP/3 over quinn), each on one port of several
//!   IPs;
//! - [`DnsServer`]: an authoritative DNS zone (hickory-server) whose records and failure
//!   mode change at run time, over UDP and TCP, and over TLS and HTTPS with a
//!   [`DnsTlsOptions`] certificate;
//! - [`FaultProxy`]: a TCP proxy that refuses, stalls, resets or black-holes connections per
//!   address or per connection;
//! - the [`hostile`] module: origins that complete the handshake and then misbehave with
//!   hand-written bytes and frames (oversized and endless headers, endless bodies,
//!   malformed status lines and frames, PING and SETTINGS floods) on HTTP/1.1, HTTP/2 and
//!   HTTP/3.
//! - the [`capture`] module: [`capture::CaptureOrigin`] records each client's raw
//!   ClientHello and HTTP/2 preface; [`capture::ja4`] and [`capture::akamai_h2`] compute
//!   the fingerprints (see `docs/fingerprints.md`);
//! - the [`wan`] module: [`WanRelay`] puts a round trip (a delay each way), a bandwidth
//!   cap and UDP loss in front of any origin, TCP and UDP alike (this kernel has no netem);
//! - `RedisServer` (feature `redis`): a real `redis-server` on a free port, stopped and
//!   restarted at will (the fleet tests); `RedisCluster` (three masters) and
//!   `RedisSentinel` (master, replica, sentinel) of the same binary, a node killed and
//!   restarted, a master failed over.
//!
//! Every server has a `wait_until` that waits (bounded) for a condition on its counters;
//! [`eventually`] does the same for any condition, so tests never sleep and hope. Besides
//! the servers: [`alloc`], the one counting global allocator (live and peak heap bytes,
//! per-thread exclusion), and [`fds::open_fds`]. The servers are behind the default
//! `servers` feature; without it the kit has no TLS, QUIC or DNS dependency.
//!
//! This crate is a dev-dependency of every crate that tests against real servers, and a
//! normal dependency of `pool-cli` (for `hotpool demo`) only. It depends on no `pool-*`
//! crate, so the pool's own types are never built twice.
//!
//! ```
//! use std::net::IpAddr;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use pool_testkit::{DnsServer, H2Origin, H2OriginOptions, TestCa, eventually};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = Arc::new(TestCa::new()?);
//! let ips: Vec<IpAddr> = vec!["127.0.0.2".parse()?, "127.0.0.3".parse()?];
//! let origin = H2Origin::start(H2OriginOptions::new(&ips, &["demo.hotpool.test"], &ca)).await?;
//! let dns = DnsServer::start_zone("hotpool.test").await?;
//! dns.set_addrs("demo.hotpool.test", origin.addrs(), 60).await?;
//! // ... point a client at dns.addr(), trust ca.root_store(), dial port origin.port() ...
//! let _tcp = tokio::net::TcpStream::connect(origin.socket_addrs()[1]).await?;
//! eventually("the origin accepts", Duration::from_secs(10), || {
//!     origin.stats_for(ips[1]).is_some_and(|s| s.accepted == 1)
//! })
//! .await?;
//! origin.set_status("/check", 403);
//! origin.shutdown().await;
//! dns.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod alloc;
pub mod fds;
pub mod wait;

#[cfg(feature = "servers")]
mod ca;
#[cfg(feature = "servers")]
pub mod capture;
#[cfg(feature = "servers")]
mod dns;
#[cfg(feature = "servers")]
mod dns_tls;
#[cfg(feature = "servers")]
pub mod fault_proxy;
#[cfg(feature = "servers")]
pub mod hostile;
#[cfg(feature = "servers")]
mod net;
#[cfg(feature = "servers")]
pub mod origin;
#[cfg(feature = "servers")]
mod process;
#[cfg(feature = "servers")]
pub mod proxies;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_cluster;
#[cfg(feature = "servers")]
pub mod wan;

pub use wait::{TimedOut, eventually, wait_for};

#[cfg(feature = "redis")]
pub use redis::{RedisServer, RedisServerError};
#[cfg(feature = "redis")]
pub use redis_cluster::{RedisCluster, RedisSentinel, command as redis_command};

#[cfg(feature = "servers")]
pub use ca::{IssuedCert, TestCa, client_config_trusting, crypto_provider};
#[cfg(feature = "servers")]
pub use dns::{DnsFamily, DnsMode, DnsServer, DnsServerOptions};
#[cfg(feature = "servers")]
pub use dns_tls::{DOH_PATH, DnsTlsOptions};
#[cfg(feature = "servers")]
pub use fault_proxy::{Fault, FaultProxy, ProxyStats};
#[cfg(feature = "servers")]
pub use origin::{
    H2Origin, H2OriginOptions, Http1Options, LIMITED_PREFIX, OriginRateLimit, OriginStats,
    RandomClose, RateLimitCounts,
};
#[cfg(feature = "servers")]
pub use origin::{H3Origin, H3OriginOptions, H3Stats};
#[cfg(feature = "servers")]
pub use wan::{WanOptions, WanRelay, WanStats};
