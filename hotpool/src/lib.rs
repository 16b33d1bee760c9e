//! # hotpool: hot connection pools, one dependency
//!
//! The crate a user adds. [`Client`] sends requests to any `https://` URL over hot pools:
//! each host's pool is started on first use (resolved by DNS and refreshed, health-checked,
//! new addresses warmed in the background), connections are kept open to every address of
//! the host, and every request is sent with the pool's retry policy within a deadline.
//!
//! ```no_run
//! # async fn run() -> Result<(), hotpool::Error> {
//! let client = hotpool::Client::from_config("hotpool.toml")?; // or Client::new()
//! let response = client.get("https://example.com/").send().await?;
//! println!("{}", response.status());
//! let body = response.into_body().bytes().await?;
//! # let _ = body; Ok(()) }
//! ```
//!
//! Underneath are the per-transport crates (`pool-core`, `pool-http`, the dialers): the
//! pieces are re-exported for a user who needs one ([`HostStack`] runs one host's pool;
//! [`ConfigOptions`] builds each crate's options from a [`Config`]).
//!
//! Examples (`cargo run -p hotpool --example NAME`, on local origins): `client`,
//! `decompression`, `redirects`, `alt_svc`, `proxies`.
//!
//! Features: `h3` (default: HTTP/3 over QUIC), `dns` (default: hickory resolution with
//! the config's name servers, DoT and DoH; without it the system's resolver), `health`
//! (default: health checks of idle connections), `cookies` (a cookie jar per client),
//! `redis` (the fleet backend), `boring` (BoringSSL browser profiles; builds BoringSSL
//! from source).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(all(feature = "h3", feature = "dns"))]
mod alt_host;
mod altsvc;
mod body;
mod client;
#[cfg(feature = "cookies")]
mod cookies;
mod error;
mod hosts;
#[cfg(feature = "dns")]
mod https_records;
mod inspect;
mod options;
mod parts;
mod request;
mod service;
pub mod stack;

pub use altsvc::{AltSvcStats, AltSvcStatus};
pub use body::Body;
pub use client::{Client, ClientBuilder};
pub use error::Error;
pub use hosts::{DEFAULT_IDLE_HOST_TIMEOUT, HostInfo, WarmPolicy};
#[cfg(feature = "dns")]
pub use https_records::HTTPS_RECORD_GRACE;
pub use inspect::HostHandle;
pub use options::ConfigOptions;
#[cfg(not(feature = "dns"))]
pub use parts::{ResolveError as SystemResolveError, SystemResolver};
pub use pool_config::{Config, ConfigError, Transport};
pub use pool_core::RateLimit;
pub use pool_http::{
    DecodeLimits, HostRates, Polite, Protocol, RedirectPolicy, RequestError, StatusRetry,
};
pub use request::{DecodedFrom, RequestBuilder, ResponseUrl};
pub use stack::HostStack;

/// A response: status, headers and a streamed [`Body`].
pub type Response = http::Response<Body>;

/// Re-exported: `http`'s request, response, header and status types.
pub use http;
