//! TLS profiles: named sets of ClientHello choices rustls lets us vary.

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    pub(crate) fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
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
    /// ALPN protocols offered; empty: the dialer's default list.
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
        Self::browser(
            "chrome-like",
            &[
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ],
        )
    }

    /// Firefox's cipher-suite and group order, restricted to what rustls/ring implement
    /// (no FFDHE groups, no CBC suites).
    pub fn firefox_like() -> Self {
        Self::browser(
            "firefox-like",
            &[
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS13_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            ],
        )
    }

    /// Safari's cipher-suite and group order, restricted to what rustls/ring implement.
    pub fn safari_like() -> Self {
        Self::browser(
            "safari-like",
            &[
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ],
        )
    }

    /// A browser-like profile: these suites, the groups every browser profile here uses.
    fn browser(name: &str, suites: &[&str]) -> Self {
        Self {
            cipher_suites: names(suites),
            kx_groups: names(&["X25519", "secp256r1", "secp384r1"]),
            ..Self::named(name)
        }
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
