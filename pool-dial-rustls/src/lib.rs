//! # pool-dial-rustls: TLS, HTTP/1.1, HTTP/2 and auto-ALPN transports for hotpool
//!
//! Four [`Dialer`](pool_core::Dialer)s for [`pool_core::Pool`]:
//!
//! - [`H1Dialer`] → [`H1Conn`]: HTTP/1.1 (hyper `client::conn::http1`), exclusive
//!   (capacity 1), keep-alive; back to the pool only after the response body was read to
//!   the end; `Connection: close` and HTTP/1.0 answers close it; probe = still open.
//! - [`HttpsDialer`] → [`HttpsConn`]: offers `h2, http/1.1` and keeps each connection as
//!   what the server chose (HTTP/2 shared, HTTP/1.1 exclusive). A negotiated protocol a
//!   dialer cannot speak is `DialErrorKind::Unsupported` (not counted against the IP).
//! - [`TlsDialer`] → [`TlsConn`]: an exclusive raw TLS stream (capacity 1), for a protocol
//!   of the user's own. TCP connect to the
//!   target IP (TCP_NODELAY, an optional rotated source address), rustls handshake with
//!   SNI = the host name and the certificate verified for the **host name, never the IP**,
//!   ALPN as configured (the server choosing none when one was required is a `Protocol`
//!   failure, never a downgrade). While idle a watcher reads the socket: EOF, an error or
//!   any unexpected byte closes it, so stale data is never handed out.
//! - [`H2Dialer`] → [`H2Conn`]: HTTP/2 (h2) over that stream; capacity = the peer's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS`, closed when the driver ends (GOAWAY, reset, EOF),
//!   probe = HTTP/2 PING; receive windows of 2 MiB per stream and 5 MiB per connection,
//!   grown from a measured bandwidth-delay product ([`H2Windows`],
//!   [`H2Conn::receive_window`], `docs/h2-windows.md`). [`H2Conn`] implements `pool-http`'s
//!   [`HttpConnection`](pool_http::HttpConnection), so requests go through `pool-http`:
//!   `lease.request(req)` ([`HttpLeaseExt`](pool_http::HttpLeaseExt)),
//!   [`pool_http::send`] (with the retry policy) or
//!   [`PoolService`](pool_http::PoolService) (a `tower_service::Service` for one host).
//!
//! All run the optional "hot connect" [`Validation`] before the pool admits a connection,
//! classified by `pool-http` ([`pool_http::classify`]): 2xx admits it, a banned status
//! (default 403) fails the dial as `Banned` (the IP is blacklisted at once), anything else
//! as `Rejected` (closed, no penalty). Trust roots, the insecure verifier, the key log and
//! TLS profiles are `pool-rustls`'s, shared with the QUIC dialer. What both TLS engines
//! share — TCP connect, HTTP/1.1 over any stream, the HTTP/2 session, GOAWAY sniffing,
//! [`TlsInfo`], [`Trust`] — is `pool-dial`'s (`docs/dial-crates.md`).
//!
//! ## Identity
//! The pool keys connections by host and address (IP and port); everything else that is
//! security-relevant — ALPN, trust roots, verification mode, the set of TLS profiles — is
//! the dialer's, and a pool has one dialer, so a connection is only ever reused under the
//! identity it was made for. [`TlsInfo`] reports each connection's negotiated details.
//! Profiles rotate per connection by design; pin one by configuring only that profile.
//!
//! ## What this crate does not do
//! It does not imitate a browser's ClientHello byte for byte (see [`TlsProfile`] and
//! `docs/tls-profiles.md`), does not do client certificates yet, and does not do DNS.
//!
//! ## Example
//! ```no_run
//! use bytes::Bytes;
//! use pool_core::{Pool, PoolOptions};
//! use pool_http::{Empty, HttpLeaseExt};
//! use pool_dial_rustls::{H2Dialer, H2Options};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dialer = H2Dialer::new(H2Options::default())?;
//! let pool = Pool::new(dialer, PoolOptions::default())?;
//! pool.set_addrs("example.com", ["93.184.215.14:443".parse()?]);
//! pool.warm("example.com").await;
//! let lease = pool.get("example.com").await?;
//! let response = lease.request(http::Request::new(Empty::<Bytes>::new())).await?;
//! let status = response.status();
//! let body = response.into_body().bytes().await?; // the lease returns at the body's end
//! println!("{status} {} bytes", body.len());
//! pool.close().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod auto;
mod h1;
mod h2;
mod options;
mod proxy_tls;
mod tls;

pub use crate::h2::{H2Conn, H2Dialer};
pub use auto::{HttpsBody, HttpsConn, HttpsDialer, HttpsOptions};
pub use h1::H1Dialer;
pub use options::{H2Options, TlsOptions};
pub use proxy_tls::{DialedTls, ProxyTlsStream};
pub use tls::{TlsConn, TlsDialer, TlsIo};

/// The streamed body of an HTTP/2 response: `pool-dial`'s [`pool_dial::H2Body`] over h2's
/// receiving half, the [`HttpConnection::ResponseBody`](pool_http::HttpConnection::ResponseBody)
/// of an [`H2Conn`].
pub type H2Body<R = ::h2::RecvStream> = pool_dial::H2Body<R>;

/// Re-exported from `pool-dial`, where what both TLS engines share lives (users of the
/// options and connections of this crate name them here): the HTTP/1.1 connection, the TCP
/// options and connect, source addresses, the connection record, the HTTP/2 windows, the
/// handshake counters (`metrics`).
pub use pool_dial::{
    CipherSuite, ClientCert, ConnectBy, Credentials, EgressStream, H1Body, H1Conn, H2Windows,
    ProtocolVersion, Proxy, ProxyError, ProxyScheme, ReceiveWindow, SourceAddrs, TcpKeepalive,
    TcpOptions, TlsConnection, TlsInfo, connect_tcp, metrics, when_closed,
};

/// Re-exported from `pool-rustls` (and `pool-dial`, for `Rotation` and `Trust`), for the
/// users of the TLS options.
pub use pool_rustls::{ConfigError, Rotation, TlsProfile, TlsVersion, Trust};

/// Re-exported from `pool-http`: the validation request of [`TlsOptions::validation`].
pub use pool_http::Validation;

/// The rustls version this crate uses.
pub use rustls;
