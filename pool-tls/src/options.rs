//! Option structs: plain pub fields with defaults, so a config layer can fill them in.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use pool_core::SourceAddrs;
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
            profiles: Vec::new(),
            profile_rotation: Rotation::RoundRobin,
            accept_languages: Vec::new(),
            accept_language_rotation: Rotation::RoundRobin,
            source_addrs: SourceAddrs::default(),
            validation: None,
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

/// How one of several choices (profile, `Accept-Language`) is made per connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rotation {
    /// In order, wrapping around.
    #[default]
    RoundRobin,
    /// Uniformly at random.
    Random,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// A named set of ClientHello choices rustls lets us vary.
///
/// What this imitates of a browser, and what it cannot, is in `docs/tls-profiles.md`: the
/// *order* and *set* of cipher suites, key-exchange groups, protocol versions and ALPN
/// protocols — but not extension order, GREASE, compression methods, padding, record
/// size limit, post-quantum groups or anything else rustls fixes. It changes what a
/// server negotiates; it does not make the ClientHello byte-identical to a browser's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsProfile {
    /// The profile's name (reported per connection).
    pub name: String,
    /// ALPN protocols offered; empty: [`TlsOptions::alpn`].
    pub alpn: Vec<String>,
    /// Cipher suites in preference order, by rustls name (e.g. `TLS13_AES_128_GCM_SHA256`,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); empty: rustls' default order.
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups in preference order (`X25519`, `secp256r1`, `secp384r1`);
    /// empty: rustls' default order.
    pub kx_groups: Vec<String>,
    /// Protocol versions enabled; empty: TLS 1.3 and TLS 1.2.
    pub versions: Vec<TlsVersion>,
}

impl TlsProfile {
    /// A profile with rustls' defaults under `name`.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            alpn: Vec::new(),
            cipher_suites: Vec::new(),
            kx_groups: Vec::new(),
            versions: Vec::new(),
        }
    }

    /// Chrome's cipher-suite and group order, restricted to what rustls/ring implement
    /// (no X25519MLKEM768, no CBC or 3DES suites).
    pub fn chrome_like() -> Self {
        Self {
            name: "chrome-like".to_owned(),
            alpn: Vec::new(),
            cipher_suites: names(&[
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ]),
            kx_groups: names(&["X25519", "secp256r1", "secp384r1"]),
            versions: Vec::new(),
        }
    }

    /// Firefox's cipher-suite and group order, restricted to what rustls/ring implement
    /// (no FFDHE groups, no CBC suites).
    pub fn firefox_like() -> Self {
        Self {
            name: "firefox-like".to_owned(),
            alpn: Vec::new(),
            cipher_suites: names(&[
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS13_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            ]),
            kx_groups: names(&["X25519", "secp256r1", "secp384r1"]),
            versions: Vec::new(),
        }
    }

    /// Safari's cipher-suite and group order, restricted to what rustls/ring implement.
    pub fn safari_like() -> Self {
        Self {
            name: "safari-like".to_owned(),
            alpn: Vec::new(),
            cipher_suites: names(&[
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ]),
            kx_groups: names(&["X25519", "secp256r1", "secp384r1"]),
            versions: Vec::new(),
        }
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The "hot connect" check: a request sent on every new connection before the pool
/// admits it. A 2xx answer admits the connection; a status in `banned_statuses` fails the
/// dial as `Banned` (the IP is blacklisted at once); any other status, an error or running
/// out of `test_timeout` fails it as `Rejected` (closed, the IP not penalised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// The request method. Default: `GET`.
    pub method: http::Method,
    /// The request path (and query). Default: `/`.
    pub path: String,
    /// The request body, if any.
    pub body: Option<Bytes>,
    /// Statuses meaning "this IP is banned". Default: `[403]`.
    pub banned_statuses: Vec<u16>,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            method: http::Method::GET,
            path: "/".to_owned(),
            body: None,
            banned_statuses: vec![403],
        }
    }
}

/// What a validation answer means (shared by both dialers).
pub(crate) fn classify_status(validation: &Validation, status: u16) -> Verdict {
    if validation.banned_statuses.contains(&status) {
        Verdict::Banned
    } else if (200..300).contains(&status) {
        Verdict::Ok
    } else {
        Verdict::Rejected
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok,
    Banned,
    Rejected,
}
