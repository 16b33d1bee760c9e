//! Option structs: plain pub fields with defaults, so a config layer can fill them in.

use std::time::Duration;

use pool_dial::{H2Windows, Proxy, Rotation, SourceAddrs, TcpOptions, Trust};
use pool_http::Validation;
use pool_rustls::TlsProfile;

/// Options of a [`TlsDialer`](crate::TlsDialer) (and, inside [`H2Options`], of an
/// [`H2Dialer`](crate::H2Dialer)).
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// TCP connect plus TLS handshake (plus the HTTP/2 handshake) must finish within this.
    pub conn_timeout: Duration,
    /// Bound of the validation request and of a health probe (HTTP/2 PING).
    pub test_timeout: Duration,
    /// ALPN protocols offered, in preference order, unless a profile sets its own list.
    /// When not empty, the server must choose one of them: choosing none is a dial failure
    /// (`Protocol`), never a silent downgrade. [`H2Dialer`](crate::H2Dialer) requires `h2`
    /// whatever is offered. Default: `["http/1.1"]`.
    pub alpn: Vec<String>,
    /// What the connection trusts: webpki roots, extra CAs, the insecure switch, key log
    /// (see [`Trust`]; shared with the QUIC dialer).
    pub trust: Trust,
    /// TLS profiles to rotate through per connection (see [`TlsProfile`]). Empty: one
    /// profile named `default` with rustls' defaults.
    pub profiles: Vec<TlsProfile>,
    /// How a connection's profile is chosen.
    pub profile_rotation: Rotation,
    /// `Accept-Language` values; each connection gets one (chosen like profiles) and adds
    /// it to requests that set none. Empty: no header is added.
    pub accept_languages: Vec<String>,
    /// How a connection's `Accept-Language` is chosen.
    pub accept_language_rotation: Rotation,
    /// Local addresses to dial from, rotated per dial and matched to the target's family.
    pub source_addrs: SourceAddrs,
    /// The "hot connect" check run on every new connection before the pool admits it
    /// (HTTP/1.1 on a [`TlsDialer`](crate::TlsDialer), HTTP/2 on an
    /// [`H2Dialer`](crate::H2Dialer)). `None`: no check.
    pub validation: Option<Validation>,
    /// The largest response header list accepted, in bytes: HTTP/1.1 the response head
    /// (status line included; hyper's `max_header_size`, and at most 100 fields; also the
    /// raw [`TlsDialer`](crate::TlsDialer)'s validation answer), HTTP/2
    /// the decoded list (32 bytes per field included; sent as
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`). A larger one fails the request with
    /// [`RequestError::PeerLimit`](pool_http::RequestError::PeerLimit) (HTTP/2: when far
    /// past the limit; just past it, h2 resets the stream as a `Protocol` error). Default:
    /// [`DEFAULT_MAX_RESPONSE_HEADER_SIZE`](pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE)
    /// (the config's `pool.max_response_header_size`).
    pub max_response_header_size: usize,
    /// Keepalive and `TCP_USER_TIMEOUT` of the TCP connection (the config's `[tcp]`).
    /// Default: [`TcpOptions::default`].
    pub tcp: TcpOptions,
    /// The proxy every dial goes through (`pool_dial::proxy`: HTTP CONNECT, over TLS for
    /// an `https://` proxy, SOCKS5, SOCKS4), or `None` to dial directly. An `https://`
    /// proxy's certificate is verified for the proxy's host with `trust`'s roots and extra
    /// CAs, never skipped by `trust.danger_accept_invalid_certs` (`docs/egress.md`). Part of
    /// the dialer's identity: a pool has one dialer, so its connections all left through
    /// this proxy. Default: `None`.
    pub proxy: Option<Proxy>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            conn_timeout: Duration::from_secs(30),
            test_timeout: Duration::from_secs(15),
            alpn: vec!["http/1.1".to_owned()],
            trust: Trust::default(),
            profiles: Vec::new(),
            profile_rotation: Rotation::RoundRobin,
            accept_languages: Vec::new(),
            accept_language_rotation: Rotation::RoundRobin,
            source_addrs: SourceAddrs::default(),
            validation: None,
            max_response_header_size: pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE,
            tcp: TcpOptions::default(),
            proxy: None,
        }
    }
}

/// Options of an [`H2Dialer`](crate::H2Dialer).
#[derive(Clone, Debug)]
pub struct H2Options {
    /// The TLS layer. Its ALPN list defaults to `["h2"]` here; `h2` must be negotiated.
    pub tls: TlsOptions,
    /// The most concurrent streams (leases) one connection carries, whatever the peer
    /// allows: a peer that sends no `SETTINGS_MAX_CONCURRENT_STREAMS` allows unlimited.
    /// Default: 256.
    pub max_streams_cap: usize,
    /// The most bytes one response body streams; a longer one fails with
    /// `RequestError::BodyTooLarge`. Default: no limit (`usize::MAX`): a streamed body (a
    /// download to a file) is not capped by a buffering limit — buffering is bounded where
    /// it happens, by `pool_http::Body::collect`'s limit (`bytes()`:
    /// `RequestOptions::max_response_body`, else `pool_http::DEFAULT_COLLECT_LIMIT`, 64
    /// MiB); a sender caps streams with `RequestOptions::max_response_body`.
    pub max_response_body: usize,
    /// This side's receive flow-control windows (how much the peer may send before it
    /// waits for credit) and the adaptive mode. Default: 2 MiB per stream, 5 MiB per
    /// connection, adaptive (see [`H2Windows`] and `docs/h2-windows.md`).
    pub windows: H2Windows,
}

impl Default for H2Options {
    fn default() -> Self {
        Self {
            tls: TlsOptions {
                alpn: vec!["h2".to_owned()],
                ..TlsOptions::default()
            },
            max_streams_cap: 256,
            max_response_body: usize::MAX,
            windows: H2Windows::default(),
        }
    }
}
