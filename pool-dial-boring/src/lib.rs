//! # pool-dial-boring: a TCP + BoringSSL dialer with browser profiles for hotpool
//!
//! [`BoringDialer`] → [`BoringConn`]: the same pooled HTTP/2 and HTTP/1.1 connections as
//! `pool-dial-rustls` (a user swaps `H2Dialer` for `BoringDialer` and changes nothing else: the
//! connection implements `pool_core::Connection` and `pool_http::HttpConnection`), but the
//! ClientHello and the HTTP/2 preface are a real browser's, from a [`BrowserProfile`]
//! (Chrome, Firefox, Safari, Edge: data in `src/profiles/`, each citing its capture):
//! cipher suites, groups (X25519MLKEM768 for Chrome and Firefox), key shares, signature
//! algorithms, extension set and order (Chrome permutes per connection, Firefox and Safari
//! keep a fixed order), GREASE, ALPN, ALPS on the new code point, certificate compression
//! (brotli / zlib / zstd decompressors supplied here), ECH GREASE, record size limit; and
//! HTTP/2 SETTINGS values and order, the connection WINDOW_UPDATE, pseudo-header order,
//! header order and HEADERS priority (the `http2` crate, an h2 fork: stock h2 can do none
//! of the ordering). A JA4 classifier sees the browser, not rustls.
//!
//! Certificates are verified for the host name (BoringSSL's hostname check) against the
//! system roots and extra CAs ([`pool_dial::Trust`], the same options as the rustls path);
//! a refused certificate fails the dial with a [`BoringError::Certificate`] cause; turning
//! verification off is logged loudly at build and at every dial.
//!
//! The binding is `btls` / `tokio-btls` (BoringSSL built from source: cmake + libclang),
//! chosen over Cloudflare's `boring`: see `docs/boring.md`.
//!
//! ## Example
//! ```no_run
//! use bytes::Bytes;
//! use pool_dial_boring::{BoringDialer, BoringOptions, BrowserProfile};
//! use pool_core::{Pool, PoolOptions};
//! use pool_http::{Empty, HttpLeaseExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dialer = BoringDialer::new(BoringOptions {
//!     profiles: vec![BrowserProfile::chrome(), BrowserProfile::firefox()],
//!     ..BoringOptions::default()
//! })?;
//! let pool = Pool::new(dialer, PoolOptions::default())?;
//! pool.set_addrs("example.com", ["93.184.215.14:443".parse()?]);
//! let lease = pool.get("example.com").await?;
//! let response = lease.request(http::Request::new(Empty::<Bytes>::new())).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod compress;
mod dialer;
mod error;
mod h2;
mod http2like;
mod options;
pub mod profiles;
mod proxy_tls;
mod roots;
mod session;
mod tls;

pub use dialer::{BoringBody, BoringConn, BoringDialer};
pub use error::BoringError;
pub use h2::{BoringH2Body, BoringH2Conn};
pub use http2like::{Http2Error, Http2Recv};
pub use options::{BoringOptions, Mode};
pub use profiles::BrowserProfile;

/// Re-exported from `pool-dial`: the trust options, the rotation and the connection record
/// both engines share.
pub use pool_dial::{ClientCert, Rotation, TlsInfo, Trust};

/// The BoringSSL binding this crate uses.
pub use btls;
