//! # pool-quic: the QUIC transport for hotpool
//!
//! [`QuicDialer`] → [`QuicConn`]: a quinn connection per target IP, pooled and multiplexed
//! by [`pool_core::Pool`] exactly like the HTTP/2 transport of `pool-tls`, so swapping
//! TLS/h2 for QUIC is a change of the dialer type.
//!
//! - One client endpoint (UDP socket) per address family, or one per configured local
//!   source address (rotated per dial, matched to the target's family, see
//!   [`pool_core::SourceAddrs`]); a QUIC connection per target IP.
//! - SNI = the host name and the certificate verified for it (never the IP), against
//!   webpki roots plus extra CA files; an explicit, warning-logged option turns
//!   verification off for testing; the key log is opt-in. All of it is `pool-rustls`'s,
//!   shared with the TLS dialers. The negotiated ALPN must be one offered.
//! - `conn_timeout` bounds the handshake.
//! - capacity = the peer's bidirectional stream limit, read from its transport parameters
//!   (`initial_max_streams_bidi`) during the handshake (quinn does not expose it, so the
//!   dialer's crypto layer captures it; see `docs/quic-capacity.md`);
//! - closed = the connection was lost (idle timeout, close, reset): the pool removes it;
//! - liveness: QUIC keep-alive PINGs every `keep_alive_interval` and the idle timeout
//!   close a dead connection on their own; [`Connection::probe`] reports that state;
//! - requests: [`QuicConn`] implements `pool-http`'s
//!   [`HttpConnection`] over the private one-exchange-per-stream
//!   protocol of hotpool's QUIC test origin (see [`QuicConn::exchange`]; HTTP/3 replaces
//!   it), so `lease.request(req)`, [`pool_http::send`] and
//!   [`PoolService`](pool_http::PoolService) work on a QUIC pool as on an HTTP/2 one.
//!
//! ## Example
//! ```no_run
//! use pool_core::{Pool, PoolOptions};
//! use bytes::Bytes;
//! use pool_http::{Empty, HttpLeaseExt};
//! use pool_quic::{QuicDialer, QuicOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = QuicOptions { alpn: vec!["hotpool".into()], ..QuicOptions::default() };
//! let pool = Pool::new(QuicDialer::new(options)?, PoolOptions::default())?;
//! pool.set_addrs("quic.example", ["192.0.2.10:4433".parse()?]);
//! let lease = pool.get("quic.example").await?;
//! let response = lease.request(http::Request::get("/ping").body(Empty::<Bytes>::new())?).await?;
//! println!("{} {} bytes", response.status(), response.into_body().bytes().await?.len());
//! pool.close().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod capture;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use pool_core::{Connection, DialError, DialErrorKind, Dialer, ProbeVerdict, SourceAddrs, Target};
use pool_http::http_body_util::BodyExt;
use pool_http::{BoxError, BufferedBody, HttpConnection, RequestError};
use pool_rustls::{TlsProfile, TlsVersion};
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Endpoint, EndpointConfig, TransportConfig, VarInt};
use socket2::{Domain, Socket, Type};

/// Why a [`QuicDialer`] could not be built: `pool-rustls`'s one error type.
pub use pool_rustls::{ConfigError, Trust};

/// Options of a [`QuicDialer`]. Plain fields with defaults, for a config layer to fill.
#[derive(Clone, Debug)]
pub struct QuicOptions {
    /// The QUIC handshake must finish within this.
    pub conn_timeout: Duration,
    /// ALPN protocols offered (QUIC requires one to be agreed). Default: `["h3"]`.
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
    /// The largest answer [`HttpConnection::send`] reads; longer ones fail. Default: 64 MiB.
    pub max_response_body: usize,
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
            max_response_body: 64 << 20,
        }
    }
}

/// Dials QUIC connections with quinn (see the crate docs).
pub struct QuicDialer {
    crypto: Arc<QuicClientConfig>,
    transport: Arc<TransportConfig>,
    options: QuicOptions,
    /// Endpoints by local bind address (unspecified address: the OS picks).
    endpoints: Mutex<HashMap<SocketAddr, Endpoint>>,
}

impl QuicDialer {
    /// A dialer with these options. Fails on unreadable CA files or no trust roots.
    pub fn new(options: QuicOptions) -> Result<Self, ConfigError> {
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
        // The server never opens streams toward the pool.
        transport.max_concurrent_bidi_streams(VarInt::from_u32(0));
        transport.max_concurrent_uni_streams(VarInt::from_u32(0));
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
        let offered = &self.options.alpn;
        let agreed = alpn
            .as_deref()
            .is_some_and(|a| offered.iter().any(|o| o.as_bytes() == a));
        if !offered.is_empty() && !agreed {
            conn.close(VarInt::from_u32(0), b"ALPN mismatch");
            return Err(DialError::new(
                DialErrorKind::Protocol,
                format!("ALPN mismatch: offered {offered:?}, server chose {alpn:?}"),
            ));
        }
        let local_ip = conn.local_ip();
        Ok(QuicConn {
            conn,
            endpoint,
            info: QuicInfo {
                host: target.host.clone(),
                addr: target.addr,
                local_ip,
                alpn,
                peer_max_bidi_streams: peer_bidi.get().copied(),
            },
            max_streams_cap: self.options.max_streams_cap.max(1),
            max_response_body: self.options.max_response_body,
            requests: AtomicU64::new(0),
        })
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
        tokio::time::timeout(limit, self.connect(target))
            .await
            .map_err(|_| {
                DialError::new(
                    DialErrorKind::Timeout,
                    format!("QUIC handshake did not finish within {limit:?}"),
                )
            })?
    }
}

/// What a QUIC connection was made under and negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuicInfo {
    /// The host name: SNI, and the name the certificate was verified against.
    pub host: Arc<str>,
    /// The address connected to.
    pub addr: SocketAddr,
    /// The local IP used, when the platform reports it.
    pub local_ip: Option<IpAddr>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The peer's `initial_max_streams_bidi` transport parameter.
    pub peer_max_bidi_streams: Option<u64>,
}

/// A pooled QUIC connection, shared by up to [`Connection::capacity`] leases (one
/// bidirectional stream each).
pub struct QuicConn {
    conn: quinn::Connection,
    /// Keeps the endpoint (and its UDP socket) alive as long as the connection.
    endpoint: Endpoint,
    info: QuicInfo,
    max_streams_cap: usize,
    max_response_body: usize,
    /// Requests started on it (see [`HttpConnection::requests_sent`]).
    requests: AtomicU64,
}

impl QuicConn {
    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &QuicInfo {
        &self.info
    }

    /// The quinn connection, for anything beyond the request API.
    pub fn quinn(&self) -> &quinn::Connection {
        &self.conn
    }

    /// One raw exchange on a new bidirectional stream: writes `body`, finishes the stream,
    /// and reads the answer to its end (at most `max_response` bytes). This is the private
    /// protocol of hotpool's QUIC test origin, which answers `200 ` followed by the request
    /// bytes; [`HttpConnection::send`] carries HTTP requests over it.
    pub async fn exchange(
        &self,
        body: &[u8],
        max_response: usize,
    ) -> Result<Vec<u8>, RequestError> {
        let (mut send, mut recv) = self
            .conn
            .open_bi()
            .await
            .map_err(|e| RequestError::NotSent(e.into()))?;
        send.write_all(body).await.map_err(|e| match e {
            quinn::WriteError::ConnectionLost(e) => RequestError::ConnectionLost(e.into()),
            e => RequestError::Protocol(e.into()),
        })?;
        send.finish()
            .map_err(|e| RequestError::Protocol(e.into()))?;
        recv.read_to_end(max_response).await.map_err(|e| match e {
            quinn::ReadToEndError::TooLong => RequestError::BodyTooLarge {
                limit: max_response,
            },
            quinn::ReadToEndError::Read(quinn::ReadError::ConnectionLost(e)) => {
                RequestError::ConnectionLost(e.into())
            }
            e => RequestError::Protocol(e.into()),
        })
    }
}

/// HTTP over the test protocol: the request travels as `METHOD path` (plus `\r\n\r\n`
/// and the body when there is one); an answer starting with a three-digit status and a
/// space is that status and the rest as body, any other answer is a 200 with the whole
/// answer as body. Headers are not carried.
impl HttpConnection for QuicConn {
    type ResponseBody = BufferedBody;

    async fn send<B>(&self, request: Request<B>) -> Result<Response<BufferedBody>, RequestError>
    where
        B: pool_http::http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (request, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| RequestError::RequestBody(e.into()))?
            .to_bytes();
        let path = request
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let mut wire = format!("{} {path}", request.method).into_bytes();
        if !body.is_empty() {
            wire.extend_from_slice(b"\r\n\r\n");
            wire.extend_from_slice(&body);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let answer = self.exchange(&wire, self.max_response_body).await?;
        let status = answer
            .get(..4)
            .filter(|head| head[3] == b' ')
            .and_then(|head| StatusCode::from_bytes(&head[..3]).ok());
        let (status, body) = match status {
            Some(status) => (status, Bytes::from(answer).slice(4..)),
            None => (StatusCode::OK, Bytes::from(answer)),
        };
        let mut response = Response::new(BufferedBody::new(body));
        *response.status_mut() = status;
        Ok(response)
    }

    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn protocol(&self) -> pool_http::Protocol {
        pool_http::Protocol::QuicStream
    }
}

impl Drop for QuicConn {
    fn drop(&mut self) {
        self.conn.close(VarInt::from_u32(0), b"pool closed");
        let _ = &self.endpoint;
    }
}

impl std::fmt::Debug for QuicConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConn")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Connection for QuicConn {
    fn capacity(&self) -> usize {
        let peer = self
            .info
            .peer_max_bidi_streams
            .map_or(self.max_streams_cap, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        peer.clamp(1, self.max_streams_cap)
    }

    fn is_closed(&self) -> bool {
        self.conn.close_reason().is_some()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let conn = self.conn.clone();
        async move {
            let reason = conn.closed().await;
            tracing::debug!(%reason, "QUIC connection closed");
        }
    }

    async fn probe(&self) -> ProbeVerdict {
        // quinn has no user PING; keep-alive PINGs and the idle timeout close a dead
        // connection, which `close_reason` then reports.
        if self.is_closed() {
            ProbeVerdict::Unhealthy
        } else {
            ProbeVerdict::Healthy
        }
    }
}
