//! [`BoringOptions`]: plain pub fields with defaults (the names of `pool_dial_rustls::H2Options`
//! and `TlsOptions` where they mean the same), so a config layer can fill them in.

use std::time::Duration;

use pool_dial::{Proxy, Rotation, SourceAddrs, TcpOptions, Trust};
use pool_http::Validation;

use crate::profiles::BrowserProfile;

/// Which HTTP version a [`BoringDialer`](crate::BoringDialer) speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// HTTP/2 only: ALPN `h2` must be negotiated (as `pool_dial_rustls::H2Dialer`).
    #[default]
    H2,
    /// HTTP/1.1 only: the profile's ALPN list is replaced by `http/1.1` (as
    /// `pool_dial_rustls::H1Dialer`; the ClientHello then differs from the browser's in ALPN).
    H1,
    /// The profile's ALPN list (`h2, http/1.1`): each connection is pooled as what the
    /// server chose (as `pool_dial_rustls::HttpsDialer`).
    Auto,
}

/// Options of a [`BoringDialer`](crate::BoringDialer).
///
/// HTTP/2 flow-control windows are not an option here: they are the profile's (its
/// `SETTINGS_INITIAL_WINDOW_SIZE` and first WINDOW_UPDATE, part of the browser's
/// fingerprint; Chrome: 6 MiB per stream, 15 MiB per connection), fixed for the
/// connection's life, never grown adaptively. The config's `[h2]` keys apply to the
/// rustls engine only (`docs/h2-windows.md`);
/// [`BoringH2Conn::receive_window`](crate::BoringH2Conn::receive_window) reads them back.
#[derive(Clone, Debug)]
pub struct BoringOptions {
    /// Browser profiles to rotate through per connection. Empty: Chrome.
    pub profiles: Vec<BrowserProfile>,
    /// How a connection's profile is chosen.
    pub profile_rotation: Rotation,
    /// HTTP/2, HTTP/1.1 or auto (ALPN picks). Default: HTTP/2.
    pub mode: Mode,
    /// Trust roots (webpki, extra CA files / DER certificates), the loudly logged insecure
    /// switch, the key log: the same struct as the rustls dialers'.
    pub trust: Trust,
    /// Also trust the system's roots (BoringSSL's default paths, `/etc/ssl/certs`).
    /// Default: false.
    pub system_roots: bool,
    /// TCP connect plus TLS handshake (plus the HTTP/2 handshake) must finish within this.
    pub conn_timeout: Duration,
    /// Bound of the validation request and of a health probe (HTTP/2 PING).
    pub test_timeout: Duration,
    /// Local addresses to dial from, rotated per dial and matched to the target's family.
    pub source_addrs: SourceAddrs,
    /// The "hot connect" check run on every new connection before the pool admits it.
    pub validation: Option<Validation>,
    /// The largest response header list accepted, in bytes (HTTP/1.1: the head, as hyper's
    /// `max_header_size`; HTTP/2: the decoded list, 32 bytes per field included, checked on
    /// each response head). A larger one fails the request with `RequestError::PeerLimit`.
    /// It is not sent as `SETTINGS_MAX_HEADER_LIST_SIZE`: the SETTINGS frame is the
    /// profile's (Chrome sends 262144, Firefox and Safari none), the fingerprint being the
    /// point; `http2` itself refuses a list past the advertised value (or its 16 MiB
    /// default). Default: `pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE`.
    pub max_response_header_size: usize,
    /// The most concurrent streams one HTTP/2 connection carries. Default: 256.
    pub max_streams_cap: usize,
    /// The most bytes one response body streams. Default: no limit (`usize::MAX`), as
    /// `pool_dial_rustls::H2Options::max_response_body`: buffering is bounded by
    /// `pool_http::Body::collect`'s limit, streams by `RequestOptions::max_response_body`.
    pub max_response_body: usize,
    /// Keepalive and `TCP_USER_TIMEOUT` of the TCP connection (the config's `[tcp]`; the
    /// same dial as the rustls dialers', `pool_dial::connect_tcp`). Default:
    /// `TcpOptions::default()`.
    pub tcp: TcpOptions,
    /// The proxy every dial goes through (HTTP CONNECT, over TLS for an `https://` proxy,
    /// SOCKS5, SOCKS4: the same proxy step as the rustls dialers', `pool_dial::dial_tcp`),
    /// or `None` to dial directly. An `https://` proxy's certificate is verified for the
    /// proxy's host with `trust`'s roots (and `system_roots`), never skipped by
    /// `trust.danger_accept_invalid_certs` (`docs/egress.md`). Part of the dialer's
    /// identity. Default: `None`.
    pub proxy: Option<Proxy>,
}

impl Default for BoringOptions {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            profile_rotation: Rotation::RoundRobin,
            mode: Mode::H2,
            trust: Trust::default(),
            system_roots: false,
            conn_timeout: Duration::from_secs(30),
            test_timeout: Duration::from_secs(15),
            source_addrs: SourceAddrs::default(),
            validation: None,
            max_response_header_size: pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE,
            max_streams_cap: 256,
            max_response_body: usize::MAX,
            tcp: TcpOptions::default(),
            proxy: None,
        }
    }
}
