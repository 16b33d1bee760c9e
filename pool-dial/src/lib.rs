//! # pool-dial: what every hotpool TCP dialer shares, whatever its TLS engine
//!
//! The two TLS engines — `pool-dial-rustls` (rustls + h2) and `pool-dial-boring`
//! (BoringSSL + `http2`, browser profiles) — differ in their handshake and in their HTTP/2
//! crate, and in nothing else. Everything else is here, written once, with no TLS engine
//! in it (see `docs/dial-crates.md`):
//!
//! - **TCP connect**: [`connect_tcp`] (TCP_NODELAY, keepalive and `TCP_USER_TIMEOUT` from
//!   [`TcpOptions`], a local address from [`SourceAddrs`]) and [`dial_tcp`] (the same,
//!   through a proxy when there is one: [`proxy`]; for an `https://` proxy, inside the
//!   engine's TLS to it, [`ProxyTls`], the stream handed back an [`EgressStream`]);
//! - **rotation**: [`RoundRobin`] and [`Rotation`] (TLS profiles, `Accept-Language`
//!   values, source addresses);
//! - **TLS, as data**: [`Trust`] (each engine loads it into its own store), [`TlsInfo`]
//!   (what a connection negotiated: [`ProtocolVersion`] and [`CipherSuite`] as IANA code
//!   points), the handshake counters ([`metrics`]), the bounded single-use
//!   [`TicketStore`] both engines keep sessions in;
//! - **HTTP/1.1 over any stream**: [`H1Conn`], [`H1Body`] (hyper), [`validate_on_stream`];
//! - **HTTP/2 over any h2-like crate**: [`H2Session`] (driver, PING, GOAWAY, capacity,
//!   probe, send) over the traits [`H2LikeClient`], [`H2LikeRecv`], [`H2LikeSend`],
//!   [`H2LikePing`], [`H2LikeError`], [`H2LikeConnection`]; the streamed [`H2Body`]; the
//!   receive windows ([`H2Windows`], [`ReceiveWindow`]) and their adaptive growth from a
//!   measured bandwidth-delay product; GOAWAY sniffing ([`Sniff`], [`GoAway`]). With the
//!   feature `h2`, `h2`'s client types implement the traits;
//! - **auto ALPN**: [`AlpnConn`] / [`AlpnBody`], HTTP/2 or HTTP/1.1 as the server chose;
//! - **`http://`**: [`PlainDialer`] → [`PlainConn`], HTTP/1.1 over plain TCP, or HTTP/2
//!   with prior knowledge (h2c, feature `h2`) — no TLS (`docs/plain-http.md`).
//!
//! ## Example
//! A TCP dial from a rotated source address, and HTTP/1.1 over it (plain text here; the
//! dialers hand [`H1Conn::establish`] their TLS stream):
//! ```no_run
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty};
//! use pool_dial::{H1Conn, SourceAddrs, TcpOptions, TlsInfo, connect_tcp};
//! use pool_http::HttpConnection;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let addr = "127.0.0.1:8080".parse()?;
//! let sources = SourceAddrs::new(vec!["127.0.0.2".parse()?], None);
//! let tcp = connect_tcp(addr, &sources, &TcpOptions::default()).await?;
//! let local = tcp.local_addr()?;
//! let info = TlsInfo::new(
//!     Arc::from("localhost"), addr, local, Arc::from("plain"), None, None, None, None, false, false,
//! );
//! let conn = H1Conn::establish(tcp, info, 64 * 1024).await?;
//! let response = conn.send(http::Request::new(Empty::<Bytes>::new())).await?;
//! let body = response.into_body().collect().await?.to_bytes();
//! println!("{} bytes from {local}", body.len());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod alpn;
mod bdp;
mod conn;
mod goaway;
mod h1;
#[cfg(feature = "h2")]
mod h2;
#[cfg(feature = "h2")]
mod h2conn;
mod h2like;
mod h2session;
mod info;
pub mod metrics;
mod ping;
mod plain;
pub mod proxy;
mod rotate;
mod source;
mod tcp;
mod tickets;
mod trust;
mod windows;

pub use alpn::{AlpnBody, AlpnConn};
pub use conn::{authority, authority_for, dial_timeout, when_closed};
pub use goaway::{GoAway, Sniff};
pub use h1::{H1Body, H1Conn, validate_on_stream};
#[cfg(feature = "h2")]
pub use h2conn::{H2Conn, H2ConnSettings};
pub use h2like::{
    H2Body, H2LikeError, H2LikeRecv, H2LikeSend, PumpGuard, request_error, stream_error,
};
pub use h2session::{H2LikeClient, H2LikeConnection, H2Session, complete_uri};
pub use info::{CipherSuite, ProtocolVersion, TlsConnection, TlsInfo};
pub use ping::{H2LikePing, h2_ping};
pub use plain::{
    PLAIN_PROFILE, PlainBody, PlainConn, PlainDialer, PlainOptions, PlainOptionsError,
};
pub use proxy::{
    ConnectBy, Credentials, EgressStream, NoProxyTls, Proxy, ProxyError, ProxyScheme, ProxyTls,
    ProxyUrlError, proxy_from_env,
};
pub use rotate::{Rotation, RoundRobin};
pub use source::SourceAddrs;
pub use tcp::{TcpKeepalive, TcpOptions, connect_tcp, dial_tcp};
pub use tickets::{MAX_TICKETS, TICKETS_PER_NAME, TicketStore};
pub use trust::{ClientCert, Trust, warn_insecure_dial};
pub use windows::{H2Windows, ReceiveWindow};
