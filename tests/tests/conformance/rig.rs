//! The per-dialer part of the conformance suite, in one place: how each dialer is built,
//! which testkit origin it meets, and where its transport genuinely differs (capacity,
//! what a stalled request does to the connection, how the server loses a connection
//! under a request).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::Dialer;
use pool_dial_boring::{BoringDialer, BoringOptions};
use pool_dial_quic::{QuicDialer, QuicOptions};
use pool_dial_rustls::{
    H1Dialer, H2Dialer, H2Options, HttpsDialer, HttpsOptions, TlsOptions, Trust,
};
use pool_http::{HttpConnection, Validation};
use pool_testkit::{FaultProxy, H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa};

use crate::common::trust;

/// The streams the origins allow at once on a connection (h2 `SETTINGS_MAX_CONCURRENT_STREAMS`,
/// QUIC's bidirectional stream limit): a multiplexed connection's capacity.
pub const STREAM_LIMIT: u32 = 4;

/// Which testkit origin a dialer meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginKind {
    /// `H2Origin`, HTTP/1.1 only.
    Http1,
    /// `H2Origin`, h2 and HTTP/1.1 offered (the server prefers h2).
    Http2,
    /// `H3Origin`.
    Http3,
}

/// What one dialer under test is: built once per test, against its origin.
pub trait Rig: 'static {
    /// The dialer.
    type Dialer: Dialer<Conn = Self::Conn>;
    /// Its connection.
    type Conn: HttpConnection;
    /// Which origin it meets.
    const ORIGIN: OriginKind;
    /// A connection's capacity against an origin allowing [`STREAM_LIMIT`] streams:
    /// HTTP/1.1 is exclusive (1), h2 and h3 take the peer's limit.
    const CAPACITY: u32;
    /// Whether a connection survives a request that timed out on it: HTTP/1.1 cannot
    /// tell where the stalled response ends, so it closes it; h2 / h3 reset the stream
    /// and keep the connection.
    const KEEPS_CONNECTION_AFTER_A_TIMEOUT: bool;
    /// Whether the protocol has a GOAWAY (h2, h3). HTTP/1.1 has none: the testkit's
    /// "GOAWAY" only marks its connections to close after their next response, so the
    /// drain case checks HTTP/1.1 with a close only, and `goaway_refuses_what_follows`
    /// does not run for it.
    const HAS_GOAWAY: bool;
    /// The dialer, trusting `trust`, validating new connections with `validation`.
    fn dialer(trust: Trust, validation: Option<Validation>) -> Self::Dialer;
}

/// How long a dial (TCP/TLS/QUIC handshake) and a validation may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

fn tls(trust: Trust, validation: Option<Validation>) -> TlsOptions {
    let mut tls = TlsOptions {
        trust,
        validation,
        ..TlsOptions::default()
    };
    tls.conn_timeout = DIAL_TIMEOUT;
    tls.test_timeout = DIAL_TIMEOUT;
    tls
}

/// `pool_dial_rustls::H1Dialer`: HTTP/1.1 over rustls.
pub struct H1;
impl Rig for H1 {
    type Dialer = H1Dialer;
    type Conn = <H1Dialer as Dialer>::Conn;
    const ORIGIN: OriginKind = OriginKind::Http1;
    const CAPACITY: u32 = 1;
    const HAS_GOAWAY: bool = false;
    const KEEPS_CONNECTION_AFTER_A_TIMEOUT: bool = false;
    fn dialer(trust: Trust, validation: Option<Validation>) -> H1Dialer {
        H1Dialer::new(tls(trust, validation)).unwrap()
    }
}

/// `pool_dial_rustls::H2Dialer`: HTTP/2 over rustls.
pub struct H2;
impl Rig for H2 {
    type Dialer = H2Dialer;
    type Conn = <H2Dialer as Dialer>::Conn;
    const ORIGIN: OriginKind = OriginKind::Http2;
    const CAPACITY: u32 = STREAM_LIMIT;
    const HAS_GOAWAY: bool = true;
    const KEEPS_CONNECTION_AFTER_A_TIMEOUT: bool = true;
    fn dialer(trust: Trust, validation: Option<Validation>) -> H2Dialer {
        let mut options = H2Options::default();
        let alpn = options.tls.alpn.clone();
        options.tls = TlsOptions {
            alpn,
            ..tls(trust, validation)
        };
        H2Dialer::new(options).unwrap()
    }
}

/// `pool_dial_rustls::HttpsDialer`: ALPN chooses (h2 here: the origin prefers it).
pub struct Https;
impl Rig for Https {
    type Dialer = HttpsDialer;
    type Conn = <HttpsDialer as Dialer>::Conn;
    const ORIGIN: OriginKind = OriginKind::Http2;
    const CAPACITY: u32 = STREAM_LIMIT;
    const HAS_GOAWAY: bool = true;
    const KEEPS_CONNECTION_AFTER_A_TIMEOUT: bool = true;
    fn dialer(trust: Trust, validation: Option<Validation>) -> HttpsDialer {
        let mut options = HttpsOptions::default();
        let alpn = options.tls.alpn.clone();
        options.tls = TlsOptions {
            alpn,
            ..tls(trust, validation)
        };
        HttpsDialer::new(options).unwrap()
    }
}

/// `pool_dial_quic::QuicDialer`: HTTP/3 over QUIC.
pub struct Quic;
impl Rig for Quic {
    type Dialer = QuicDialer;
    type Conn = <QuicDialer as Dialer>::Conn;
    const ORIGIN: OriginKind = OriginKind::Http3;
    const CAPACITY: u32 = STREAM_LIMIT;
    const HAS_GOAWAY: bool = true;
    const KEEPS_CONNECTION_AFTER_A_TIMEOUT: bool = true;
    fn dialer(trust: Trust, validation: Option<Validation>) -> QuicDialer {
        QuicDialer::new(QuicOptions {
            trust,
            conn_timeout: DIAL_TIMEOUT,
            validation,
            ..QuicOptions::default()
        })
        .unwrap()
    }
}

/// `pool_dial_boring::BoringDialer` (BoringSSL, its default h2 mode).
pub struct Boring;
impl Rig for Boring {
    type Dialer = BoringDialer;
    type Conn = <BoringDialer as Dialer>::Conn;
    const ORIGIN: OriginKind = OriginKind::Http2;
    const CAPACITY: u32 = STREAM_LIMIT;
    const HAS_GOAWAY: bool = true;
    const KEEPS_CONNECTION_AFTER_A_TIMEOUT: bool = true;
    fn dialer(trust: Trust, validation: Option<Validation>) -> BoringDialer {
        BoringDialer::new(BoringOptions {
            trust,
            conn_timeout: DIAL_TIMEOUT,
            test_timeout: DIAL_TIMEOUT,
            validation,
            ..BoringOptions::default()
        })
        .unwrap()
    }
}

/// The server side of one test: the rig's origin on `127.0.net.1..`, and for a TCP
/// transport a [`FaultProxy`] in front of it (the pool dials the proxy's addresses), so
/// a connection can be lost exactly under a request.
pub struct Site {
    /// The test CA the origin's certificates come from.
    pub ca: Arc<TestCa>,
    /// The origin.
    pub origin: Origin,
    /// The proxy in front of a TCP origin (none for QUIC).
    pub proxy: Option<FaultProxy>,
}

/// The testkit origin of a [`Site`].
pub enum Origin {
    /// TLS + HTTP/2 and/or HTTP/1.1.
    Tcp(H2Origin),
    /// QUIC + HTTP/3.
    Quic(H3Origin),
}

/// What the origin saw, whichever it is.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    /// Completed handshakes.
    pub handshakes: u64,
    /// Requests answered (counted when the answer is about to be sent).
    pub requests: u64,
    /// The most requests in progress at once on one connection.
    pub max_concurrent_streams_seen: u64,
}

/// The host every case asks for.
pub const HOST: &str = "conform.test";

fn ip(net: u8, last: u8) -> IpAddr {
    IpAddr::from([127, 0, net, last])
}

impl Site {
    /// `R`'s origin on `ips` addresses `127.0.net.1..`, its certificate for [`HOST`].
    pub async fn start<R: Rig>(net: u8, ips: u8) -> Site {
        Site::start_for::<R>(net, ips, HOST).await
    }

    /// `R`'s origin on `ips` addresses `127.0.net.1..`, its certificate for `name`.
    pub async fn start_for<R: Rig>(net: u8, ips: u8, name: &str) -> Site {
        let ca = Arc::new(TestCa::new().unwrap());
        let addrs: Vec<IpAddr> = (1..=ips).map(|i| ip(net, i)).collect();
        let h2 = |options: H2OriginOptions| H2OriginOptions {
            max_concurrent_streams: Some(STREAM_LIMIT),
            ..options
        };
        let origin = match R::ORIGIN {
            OriginKind::Http1 => Origin::Tcp(
                H2Origin::start(H2OriginOptions::h1_only(&addrs, &[name], &ca))
                    .await
                    .unwrap(),
            ),
            OriginKind::Http2 => Origin::Tcp(
                H2Origin::start(h2(H2OriginOptions::new(&addrs, &[name], &ca)))
                    .await
                    .unwrap(),
            ),
            OriginKind::Http3 => Origin::Quic(
                H3Origin::start(H3OriginOptions {
                    max_concurrent_bidi_streams: Some(STREAM_LIMIT),
                    ..H3OriginOptions::new(&addrs, &[name], &ca)
                })
                .await
                .unwrap(),
            ),
        };
        Site {
            ca,
            origin,
            proxy: None,
        }
    }

    /// For a TCP origin, a [`FaultProxy`] on `127.0.net.101` in front of its first address
    /// (QUIC: unchanged, its origin loses connections itself).
    pub async fn behind_a_proxy(mut self, net: u8) -> Site {
        if let Origin::Tcp(o) = &self.origin {
            let front = [ip(net, 101)];
            self.proxy = Some(
                FaultProxy::start(&front, o.socket_addrs()[0])
                    .await
                    .unwrap(),
            );
        }
        self
    }

    /// The addresses the pool dials: the proxy's when there is one, else the origin's.
    pub fn pool_addrs(&self) -> Vec<SocketAddr> {
        match (&self.origin, &self.proxy) {
            (_, Some(proxy)) => proxy.socket_addrs(),
            (Origin::Tcp(o), None) => o.socket_addrs(),
            (Origin::Quic(o), None) => o.socket_addrs(),
        }
    }

    /// The addresses of the origin itself (each a distinct IP: what the pool warms).
    pub fn origin_addrs(&self) -> Vec<SocketAddr> {
        match &self.origin {
            Origin::Tcp(o) => o.socket_addrs(),
            Origin::Quic(o) => o.socket_addrs(),
        }
    }

    /// What the origin saw.
    pub fn seen(&self) -> Seen {
        match &self.origin {
            Origin::Tcp(o) => {
                let s = o.stats();
                Seen {
                    handshakes: s.handshakes,
                    requests: s.requests,
                    max_concurrent_streams_seen: s.max_concurrent_streams_seen,
                }
            }
            Origin::Quic(o) => {
                let s = o.stats();
                Seen {
                    handshakes: s.handshakes,
                    requests: s.requests,
                    max_concurrent_streams_seen: s.max_concurrent_streams_seen,
                }
            }
        }
    }

    /// Trust in the site's CA only.
    pub fn trust(&self) -> Trust {
        trust(&self.ca)
    }

    /// Answers `path` with `status` from now on.
    pub fn set_status(&self, path: &str, status: u16) {
        match &self.origin {
            Origin::Tcp(o) => o.set_status(path, status),
            Origin::Quic(o) => o.set_status(path, status),
        }
    }

    /// GOAWAY on every connection (h2, h3; an idle HTTP/1.1 connection gets a TLS
    /// close_notify). Returns how many were signalled.
    pub fn goaway_all(&self) -> usize {
        match &self.origin {
            Origin::Tcp(o) => o.goaway_all(),
            Origin::Quic(o) => o.goaway_all(),
        }
    }

    /// Drops every connection without a GOAWAY (TCP FIN / QUIC CONNECTION_CLOSE).
    pub fn close_all(&self) -> usize {
        match &self.origin {
            Origin::Tcp(o) => o.close_all(),
            Origin::Quic(o) => o.close_all(),
        }
    }

    /// Stops the proxy and the origin.
    pub async fn shutdown(self) {
        if let Some(proxy) = self.proxy {
            proxy.shutdown().await;
        }
        match self.origin {
            Origin::Tcp(o) => o.shutdown().await,
            Origin::Quic(o) => o.shutdown().await,
        }
    }
}
