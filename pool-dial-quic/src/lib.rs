//! # pool-dial-quic: the QUIC transport for hotpool
//!
//! [`QuicDialer`] → [`QuicConn`]: a quinn connection per target IP, pooled and multiplexed
//! by [`pool_core::Pool`] exactly like the HTTP/2 transport of `pool-dial-rustls`, so swapping
//! TLS/h2 for QUIC is a change of the dialer type.
//!
//! - One client endpoint (UDP socket) per address family, or one per configured local
//!   source address (rotated per dial, matched to the target's family, see
//!   [`pool_dial::SourceAddrs`]); a QUIC connection per target IP.
//! - SNI = the host name and the certificate verified for it (never the IP), against
//!   webpki roots plus extra CA files; an explicit, warning-logged option turns
//!   verification off for testing; the key log is opt-in. All of it is `pool-rustls`'s,
//!   shared with the TLS dialers. The negotiated ALPN must be one offered.
//! - `conn_timeout` bounds the handshake.
//! - capacity = the peer's bidirectional stream limit, read from its transport parameters
//!   (`initial_max_streams_bidi`) during the handshake (quinn does not expose it, so the
//!   dialer's crypto layer captures it; see `docs/quic-capacity.md`);
//! - HTTP/3 ([`QuicConn`]): ALPN `h3` is required; h3's client (`h3` + `h3-quinn`) runs on
//!   the connection, its driver task polled for the connection's life; requests and
//!   response bodies stream ([`H3Body`]); a body dropped before its end stops that stream
//!   only, the connection carries on;
//! - closed = the peer sent GOAWAY (draining: requests in flight finish, the pool dials a
//!   replacement) or the connection was lost (idle timeout, close, reset): the pool
//!   removes it;
//! - validation ("hot connect"): the optional [`Validation`] request through
//!   [`pool_http::validate`], as on the other transports;
//! - liveness: QUIC keep-alive PINGs every `keep_alive_interval` and the idle timeout
//!   close a dead connection on their own; [`Connection::probe`](pool_core::Connection::probe) reports that state and,
//!   with [`QuicOptions::probe_request`], sends that request (see `docs/quic-capacity.md`);
//! - requests: [`QuicConn`] implements `pool-http`'s [`HttpConnection`](pool_http::HttpConnection), so
//!   `lease.request(req)`, [`pool_http::send`] and
//!   [`PoolService`](pool_http::PoolService) work on a QUIC pool as on an HTTP/2 one.
//!
//! ## Example
//! ```no_run
//! use pool_core::{Pool, PoolOptions};
//! use pool_dial_quic::{QuicDialer, QuicOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::new(QuicDialer::new(QuicOptions::default())?, PoolOptions::default())?;
//! pool.set_addrs("h3.example", ["192.0.2.10:443".parse()?]);
//! let request = http::Request::get("/").body(http_body_util::Empty::<bytes::Bytes>::new())?;
//! let response = pool_http::send(&pool, "h3.example", request).await?;
//! println!("{} {} bytes", response.status(), response.into_body().bytes().await?.len());
//! pool.close().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod body;
mod bounded;
mod capture;
mod conn;
mod goaway;
mod tuning;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pool_core::{DialError, DialErrorKind, Dialer, Target};
use pool_rustls::{AlpnError, TlsProfile, TlsVersion};
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Endpoint, EndpointConfig, TransportConfig, VarInt};
use socket2::{Domain, Socket, Type};

pub use body::H3Body;
pub use conn::{QuicConn, QuicInfo};
/// Re-exported from `pool-http`: the request of [`QuicOptions::validation`] and
/// [`QuicOptions::probe_request`].
pub use pool_http::Validation;
/// Why a [`QuicDialer`] could not be built: `pool-rustls`'s one error type.
pub use pool_rustls::{ConfigError, Trust};
pub use tuning::Congestion;

/// Re-exported from `pool-dial`: the type of [`QuicOptions::source_addrs`], shared with the
/// TCP dialers.
pub use pool_dial::SourceAddrs;

/// The ALPN protocol HTTP/3 runs under; [`QuicOptions::alpn`] must offer it.
pub const ALPN_H3: &str = "h3";

/// Options of a [`QuicDialer`]. Plain fields with defaults, for a config layer to fill.
#[derive(Clone, Debug)]
pub struct QuicOptions {
    /// The QUIC handshake must finish within this.
    pub conn_timeout: Duration,
    /// ALPN protocols offered; must contain `h3`, which the server must choose.
    /// Default: `["h3"]`.
    pub alpn: Vec<String>,
    /// What the connection trusts: webpki roots, extra CAs, the insecure switch, key log
    /// (see [`Trust`]; shared with the TLS dialers).
    pub trust: Trust,
    /// Local addresses to dial from (one endpoint each), rotated per dial.
    pub source_addrs: SourceAddrs,
    /// QUIC keep-alive interval, so idle pooled connections stay open and a dead peer is
    /// noticed. Default: 10 s.
    pub keep_alive_interval: Option<Duration>,
    /// A connection silent for this long is closed. Default: 30 s.
    pub max_idle_timeout: Duration,
    /// The most streams (leases) one connection carries, whatever the peer allows.
    /// Default: 256.
    pub max_streams_cap: usize,
    /// The most response data quinn buffers per stream before the reader takes it (the
    /// QUIC stream flow-control window): one body moves at most this per round trip, and a
    /// slowly read body holds at most this in memory. Default: 6 MiB (Chrome's; quinn's
    /// own is 1.25 MB). See `docs/quic-tuning.md`.
    pub stream_receive_window: u32,
    /// The most unread response data over all streams of one connection (the connection
    /// flow-control window): what one connection may hold for slow readers. Default:
    /// 15 MiB (Chrome's; quinn's own is unlimited).
    pub receive_window: u64,
    /// The most request data quinn buffers unacknowledged over all streams. Default: 10 MB
    /// (quinn's).
    pub send_window: u64,
    /// The RTT assumed before the first sample (the first handshake retransmission
    /// timeout is about 3x this). Default: 100 ms (quinn's own is RFC 9002's 333 ms).
    pub initial_rtt: Duration,
    /// The congestion controller of the sending side. Default: CUBIC.
    pub congestion: Congestion,
    /// Bound of the validation request and of a probe request. Default: 15 s.
    pub test_timeout: Duration,
    /// The "hot connect" request sent on every new connection before the pool admits it
    /// (see [`Validation`]). Default: none.
    pub validation: Option<Validation>,
    /// A request the health probe sends on an idle connection, classified like
    /// validation (2xx healthy, a banned status banned, else unhealthy). Default: none —
    /// the probe then only checks that the connection is open and not going away
    /// (keep-alive PINGs and the idle timeout catch a dead peer).
    pub probe_request: Option<Validation>,
    /// The largest response header list accepted (the decoded list, 32 bytes per field
    /// included; sent as `SETTINGS_MAX_FIELD_SECTION_SIZE`): a larger one fails the
    /// request with [`RequestError::PeerLimit`](pool_http::RequestError::PeerLimit), and
    /// so does any frame but DATA on a request stream that announces more than this many
    /// bytes, before h3 buffers it (h3 buffers such frames whole). Default: [`DEFAULT_MAX_RESPONSE_HEADER_SIZE`](pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE)
    /// (the config's `pool.max_response_header_size`).
    pub max_response_header_size: usize,
}

impl Default for QuicOptions {
    fn default() -> Self {
        Self {
            conn_timeout: Duration::from_secs(30),
            alpn: vec!["h3".to_owned()],
            trust: Trust::default(),
            source_addrs: SourceAddrs::default(),
            keep_alive_interval: Some(Duration::from_secs(10)),
            max_idle_timeout: Duration::from_secs(30),
            max_streams_cap: 256,
            stream_receive_window: tuning::DEFAULT_STREAM_RECEIVE_WINDOW,
            receive_window: tuning::DEFAULT_RECEIVE_WINDOW,
            send_window: tuning::DEFAULT_SEND_WINDOW,
            initial_rtt: tuning::DEFAULT_INITIAL_RTT,
            congestion: Congestion::Cubic,
            test_timeout: Duration::from_secs(15),
            validation: None,
            probe_request: None,
            max_response_header_size: pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE,
        }
    }
}

/// Dials HTTP/3 connections: QUIC with quinn, ALPN `h3`, h3's client on top, then the
/// optional validation request (see the crate docs).
pub struct QuicDialer {
    crypto: Arc<QuicClientConfig>,
    transport: Arc<TransportConfig>,
    options: QuicOptions,
    /// Endpoints by local bind address (unspecified address: the OS picks).
    endpoints: Mutex<HashMap<SocketAddr, Endpoint>>,
}

impl QuicDialer {
    /// A dialer with these options. Fails on unreadable CA files, no trust roots, or an
    /// ALPN list without `h3`.
    pub fn new(options: QuicOptions) -> Result<Self, ConfigError> {
        if !options.alpn.iter().any(|a| a == ALPN_H3) {
            return Err(ConfigError::Alpn(AlpnError {
                profile: "quic".to_owned(),
                required: ALPN_H3.to_owned(),
                offered: options.alpn.clone(),
            }));
        }
        let trust = &options.trust;
        let roots = Arc::new(pool_rustls::root_store(trust)?);
        let tls13 = TlsProfile {
            versions: vec![TlsVersion::Tls13],
            ..TlsProfile::named("quic")
        };
        let tls = pool_rustls::client_config(trust, &roots, &tls13, &options.alpn, None)?;
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| ConfigError::Option {
            option: "QUIC TLS 1.3 cipher suite",
            source: e.into(),
        })?;
        let mut transport = TransportConfig::default();
        transport.keep_alive_interval(options.keep_alive_interval);
        transport.max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(options.max_idle_timeout).map_err(|e| {
                ConfigError::Option {
                    option: "max_idle_timeout",
                    source: e.into(),
                }
            })?,
        ));
        // The server never opens request streams toward the pool; HTTP/3 needs its
        // control and QPACK streams (and tolerates a few more, e.g. GREASE).
        transport.max_concurrent_bidi_streams(VarInt::from_u32(0));
        transport.max_concurrent_uni_streams(VarInt::from_u32(8));
        tuning::apply(&options, &mut transport);
        Ok(Self {
            crypto: Arc::new(crypto),
            transport: Arc::new(transport),
            options,
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    /// The options this dialer runs with.
    pub fn options(&self) -> &QuicOptions {
        &self.options
    }

    /// The endpoint for a dial to `target`: by source address, or the family's default.
    fn endpoint_for(&self, target: IpAddr) -> std::io::Result<Endpoint> {
        let (ip, freebind) = match self.options.source_addrs.pick(target) {
            Some(picked) => picked,
            None if target.is_ipv6() => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), false),
            None => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), false),
        };
        let bind = SocketAddr::new(ip, 0);
        if freebind {
            // A random address of the prefix: one endpoint for this connection only.
            return new_endpoint(bind, true);
        }
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(endpoint) = endpoints.get(&bind) {
            return Ok(endpoint.clone());
        }
        let endpoint = new_endpoint(bind, false)?;
        endpoints.insert(bind, endpoint.clone());
        Ok(endpoint)
    }

    async fn connect(&self, target: &Target) -> Result<QuicConn, DialError> {
        let endpoint = self
            .endpoint_for(target.addr.ip())
            .map_err(DialError::connect)?;
        let peer_bidi = Arc::new(OnceLock::new());
        let crypto = capture::Capture::new(self.crypto.clone(), peer_bidi.clone());
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(self.transport.clone());
        if self.options.trust.danger_accept_invalid_certs {
            pool_rustls::warn_insecure_dial("quic", &target.host, target.addr);
        }
        let connecting = endpoint
            .connect_with(config, target.addr, &target.host)
            .map_err(|e| DialError::new(DialErrorKind::Connect, e))?;
        let conn = connecting.await.map_err(|e| {
            let kind = match e {
                quinn::ConnectionError::TimedOut => DialErrorKind::Timeout,
                quinn::ConnectionError::TransportError(_)
                | quinn::ConnectionError::ConnectionClosed(_) => DialErrorKind::Handshake,
                _ => DialErrorKind::Connect,
            };
            DialError::new(kind, e)
        })?;
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol);
        if alpn.as_deref() != Some(ALPN_H3.as_bytes()) {
            conn.close(VarInt::from_u32(0), b"ALPN mismatch");
            return Err(DialError::new(
                DialErrorKind::Protocol,
                format!(
                    "ALPN: HTTP/3 needs `h3`, the server chose {:?}",
                    alpn.as_deref().map(String::from_utf8_lossy)
                ),
            ));
        }
        let info = QuicInfo {
            host: target.host.clone(),
            addr: target.addr,
            local_ip: conn.local_ip(),
            alpn,
            peer_max_bidi_streams: peer_bidi.get().copied(),
        };
        let settings = conn::ConnSettings {
            max_streams_cap: self.options.max_streams_cap.max(1),
            test_timeout: self.options.test_timeout,
            probe: self.options.probe_request.clone(),
            max_response_header_size: self.options.max_response_header_size,
        };
        QuicConn::start(conn, endpoint, info, settings).await
    }
}

/// A UDP socket bound to `bind` (with `IP_FREEBIND` for prefix addresses) as an endpoint.
fn new_endpoint(bind: SocketAddr, freebind: bool) -> std::io::Result<Endpoint> {
    let socket = Socket::new(
        Domain::for_address(bind),
        Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if freebind {
        socket.set_freebind_v6(true)?;
    }
    socket
        .bind(&bind.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("bind {bind}: {e}")))?;
    Endpoint::new(
        EndpointConfig::default(),
        None,
        socket.into(),
        Arc::new(quinn::TokioRuntime),
    )
}

impl std::fmt::Debug for QuicDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicDialer").finish_non_exhaustive()
    }
}

impl Dialer for QuicDialer {
    type Conn = QuicConn;

    async fn dial(&self, target: &Target) -> Result<QuicConn, DialError> {
        let limit = self.options.conn_timeout;
        let conn = tokio::time::timeout(limit, self.connect(target))
            .await
            .map_err(|_| {
                DialError::new(
                    DialErrorKind::Timeout,
                    format!("QUIC + HTTP/3 handshake did not finish within {limit:?}"),
                )
            })??;
        if let Some(validation) = &self.options.validation {
            pool_http::validate(&conn, validation, self.options.test_timeout).await?;
            // The validation request does not make the connection "reused" for callers.
            conn.reset_requests();
        }
        Ok(conn)
    }
}
