//! Option structs: plain pub fields with defaults, so a config layer can fill them in.

use std::path::PathBuf;
use std::time::Duration;

use pool_core::SourceAddrs;
use pool_http::Validation;
use pool_rustls::{Rotation, TlsProfile, Trust};
use rustls_pki_types::CertificateDer;

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
    /// Trust Mozilla's roots (webpki-roots). Default: true.
    pub webpki_roots: bool,
    /// Extra CA certificates to trust, as PEM files (each may hold several).
    pub extra_ca_files: Vec<PathBuf>,
    /// Extra CA certificates to trust, already in DER form.
    pub extra_ca_certs: Vec<CertificateDer<'static>>,
    /// **Insecure**: accept any server certificate (for testing only). Logged as a warning
    /// when the dialer is built and at every dial. Default: false.
    pub danger_accept_invalid_certs: bool,
    /// Write TLS session secrets to the file named by `SSLKEYLOGFILE` (for Wireshark; see
    /// [`Trust::key_log`]). Default: false.
    pub key_log: bool,
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
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            conn_timeout: Duration::from_secs(30),
            test_timeout: Duration::from_secs(15),
            alpn: vec!["http/1.1".to_owned()],
            webpki_roots: true,
            extra_ca_files: Vec::new(),
            extra_ca_certs: Vec::new(),
            danger_accept_invalid_certs: false,
            key_log: false,
            profiles: Vec::new(),
            profile_rotation: Rotation::RoundRobin,
            accept_languages: Vec::new(),
            accept_language_rotation: Rotation::RoundRobin,
            source_addrs: SourceAddrs::default(),
            validation: None,
        }
    }
}

impl TlsOptions {
    /// The trust settings, for `pool-rustls`.
    pub fn trust(&self) -> Trust {
        Trust {
            webpki_roots: self.webpki_roots,
            extra_ca_files: self.extra_ca_files.clone(),
            extra_ca_certs: self.extra_ca_certs.clone(),
            danger_accept_invalid_certs: self.danger_accept_invalid_certs,
            key_log: self.key_log,
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
    /// The largest response body the request API collects; longer ones fail. Default:
    /// 64 MiB.
    pub max_response_body: usize,
}

impl Default for H2Options {
    fn default() -> Self {
        Self {
            tls: TlsOptions {
                alpn: vec!["h2".to_owned()],
                ..TlsOptions::default()
            },
            max_streams_cap: 256,
            max_response_body: 64 << 20,
        }
    }
}
