//! Local test and demo servers, loopback only.
//!
//! Everything here binds to addresses the caller gives (use `127.0.0.2`, `127.0.0.3`, …
//! as "the IPs of one host"; Linux answers on all of 127.0.0.0/8) and never touches any
//! other network. The servers start in a few milliseconds, count what they see, and let a
//! test inject faults at run time:
//!
//! - [`TestCa`]: a CA generated at run time that issues server certificates;
//! - [`H2Origin`]: TLS + HTTP/2 (and minimal HTTP/1.1) origin on one port of several IPs;
//! - [`QuicOrigin`]: a QUIC origin (quinn) with a one-request-per-stream protocol;
//! - [`DnsServer`]: an authoritative DNS server (hickory-server) whose records and
//!   failure mode change at run time.
//!
//! Counters are readable at any time; every server also has a `wait_until` that waits
//! (bounded) for a condition on its counters, so tests never sleep and hope.
//!
//! ```no_run
//! use std::net::IpAddr;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use pool_cli::local::{DnsServer, H2Origin, H2OriginOptions, TestCa};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let ca = Arc::new(TestCa::new()?);
//! let ips: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
//! let origin = H2Origin::start(H2OriginOptions::new(&ips, &["demo.hotpool.test"], &ca)).await?;
//! let dns = DnsServer::start_zone("hotpool.test").await?;
//! dns.set_addrs("demo.hotpool.test", origin.addrs(), 60).await?;
//! // ... point a client at dns.addr(), trust ca.root_store(), dial port origin.port() ...
//! origin.set_status("/check", 403);
//! origin.wait_until(Duration::from_secs(5), |o| o.stats().requests >= 2).await;
//! origin.shutdown().await;
//! dns.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod ca;
mod dns;
mod h2origin;
mod quic;
mod util;

pub use ca::{IssuedCert, TestCa, crypto_provider};
pub use dns::{DnsMode, DnsServer, DnsServerOptions};
pub use h2origin::{H2Origin, H2OriginOptions, OriginStats};
pub use quic::{QuicOrigin, QuicOriginOptions, QuicStats};
