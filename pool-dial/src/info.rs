//! What a TLS connection was made under and negotiated ([`TlsInfo`]), in the same shape
//! for both TLS engines: the TLS version and cipher suite as their IANA code points
//! ([`ProtocolVersion`], [`CipherSuite`]), so no engine's types leak into it.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;

/// What a connection was made under and what it negotiated: its identity for reuse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The host name: SNI, and the name the certificate was verified against.
    pub host: Arc<str>,
    /// The address connected to.
    pub addr: SocketAddr,
    /// The local address the connection was made from.
    pub local_addr: SocketAddr,
    /// The TLS profile used.
    pub profile: Arc<str>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The negotiated TLS version.
    pub protocol_version: Option<ProtocolVersion>,
    /// The negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// The connection's `Accept-Language`, if languages are configured.
    pub accept_language: Option<HeaderValue>,
    /// Whether certificate verification was off (`danger_accept_invalid_certs`).
    pub insecure: bool,
    /// Whether the handshake resumed an earlier session (a ticket of an earlier
    /// connection to the same host name under the same profile) instead of a full one.
    pub resumed: bool,
}

impl TlsInfo {
    /// The record of a connection just through its handshake. `protocol_version` and
    /// `cipher_suite` are the IANA code points; `resumed` whether the handshake resumed a
    /// session.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: Arc<str>,
        addr: SocketAddr,
        local_addr: SocketAddr,
        profile: Arc<str>,
        alpn: Option<Vec<u8>>,
        protocol_version: Option<u16>,
        cipher_suite: Option<u16>,
        accept_language: Option<HeaderValue>,
        insecure: bool,
        resumed: bool,
    ) -> Self {
        Self {
            host,
            addr,
            local_addr,
            profile,
            alpn,
            protocol_version: protocol_version.map(ProtocolVersion),
            cipher_suite: cipher_suite.map(CipherSuite),
            accept_language,
            insecure,
            resumed,
        }
    }
}

/// A connection that reports what it was made under (every connection of both TLS
/// engines), so a connection of either HTTP version ([`AlpnConn`](crate::AlpnConn)) can.
pub trait TlsConnection {
    /// What the connection was made under and negotiated.
    fn info(&self) -> &TlsInfo;
}

/// A TLS protocol version: its code point on the wire (`0x0304` is TLS 1.3). Printed
/// (`Debug`, `Display`) by the name rustls gives it (`TLSv1_3`), or as the code when
/// unknown.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion(pub u16);

#[allow(
    non_upper_case_globals,
    reason = "the names rustls gives these versions"
)]
impl ProtocolVersion {
    /// TLS 1.0.
    pub const TLSv1_0: Self = Self(0x0301);
    /// TLS 1.1.
    pub const TLSv1_1: Self = Self(0x0302);
    /// TLS 1.2.
    pub const TLSv1_2: Self = Self(0x0303);
    /// TLS 1.3.
    pub const TLSv1_3: Self = Self(0x0304);

    /// The code point.
    pub fn code(self) -> u16 {
        self.0
    }

    /// The version's name (`TLSv1_3`), if it is one of the four above.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::TLSv1_0 => "TLSv1_0",
            Self::TLSv1_1 => "TLSv1_1",
            Self::TLSv1_2 => "TLSv1_2",
            Self::TLSv1_3 => "TLSv1_3",
            _ => return None,
        })
    }
}

/// A cipher suite: its IANA code point (`0x1301` is `TLS13_AES_128_GCM_SHA256`). Printed
/// (`Debug`, `Display`) by its name as rustls gives it, or as the code when not in the
/// table of [`CipherSuite::name`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite(pub u16);

/// The suites a browser profile or rustls may negotiate: code point, name.
const SUITES: &[(u16, &str)] = &[
    (0x1301, "TLS13_AES_128_GCM_SHA256"),
    (0x1302, "TLS13_AES_256_GCM_SHA384"),
    (0x1303, "TLS13_CHACHA20_POLY1305_SHA256"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
];

#[allow(
    non_upper_case_globals,
    reason = "the IANA names, as rustls gives them"
)]
impl CipherSuite {
    /// TLS 1.3, AES-128-GCM.
    pub const TLS13_AES_128_GCM_SHA256: Self = Self(0x1301);
    /// TLS 1.3, AES-256-GCM.
    pub const TLS13_AES_256_GCM_SHA384: Self = Self(0x1302);
    /// TLS 1.3, ChaCha20-Poly1305.
    pub const TLS13_CHACHA20_POLY1305_SHA256: Self = Self(0x1303);
    /// TLS 1.2, ECDHE with an ECDSA certificate, AES-128-GCM.
    pub const TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: Self = Self(0xc02b);
    /// TLS 1.2, ECDHE with an RSA certificate, AES-128-GCM.
    pub const TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: Self = Self(0xc02f);
    /// TLS 1.2, ECDHE with an ECDSA certificate, AES-256-GCM.
    pub const TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: Self = Self(0xc02c);
    /// TLS 1.2, ECDHE with an RSA certificate, AES-256-GCM.
    pub const TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: Self = Self(0xc030);
    /// TLS 1.2, ECDHE with an ECDSA certificate, ChaCha20-Poly1305.
    pub const TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: Self = Self(0xcca9);
    /// TLS 1.2, ECDHE with an RSA certificate, ChaCha20-Poly1305.
    pub const TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: Self = Self(0xcca8);

    /// The code point.
    pub fn code(self) -> u16 {
        self.0
    }

    /// The suite's name as rustls gives it (`TLS13_AES_128_GCM_SHA256`), for the suites
    /// either engine negotiates with the shipped profiles; `None` for another code.
    pub fn name(self) -> Option<&'static str> {
        SUITES
            .iter()
            .find_map(|&(code, name)| (code == self.0).then_some(name))
    }
}

/// `Name` or `Unknown(0x....)`, as rustls prints its own enums.
fn named(f: &mut std::fmt::Formatter<'_>, name: Option<&str>, code: u16) -> std::fmt::Result {
    match name {
        Some(name) => f.write_str(name),
        None => write!(f, "Unknown({code:#06x})"),
    }
}

impl std::fmt::Debug for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        named(f, self.name(), self.0)
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        named(f, self.name(), self.0)
    }
}

impl std::fmt::Debug for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        named(f, self.name(), self.0)
    }
}

impl std::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        named(f, self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_by_name_or_as_unknown() {
        assert_eq!(format!("{:?}", ProtocolVersion(0x0304)), "TLSv1_3");
        assert_eq!(ProtocolVersion::TLSv1_2.code(), 0x0303);
        assert_eq!(format!("{}", ProtocolVersion(0x7f1c)), "Unknown(0x7f1c)");
        assert_eq!(
            format!("{:?}", CipherSuite(0xcca9)),
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        );
        assert_eq!(
            CipherSuite::TLS13_AES_256_GCM_SHA384.name(),
            Some("TLS13_AES_256_GCM_SHA384")
        );
        assert_eq!(CipherSuite(0x0a0a).name(), None);
        // Every named constant is in the table, under its own name.
        for c in [
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ] {
            assert!(c.name().is_some_and(|n| n.starts_with("TLS")), "{c:?}");
        }
    }

    #[test]
    fn new_takes_the_code_points() {
        let addr: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let info = TlsInfo::new(
            "a.test".into(),
            addr,
            addr,
            "p".into(),
            Some(b"h2".to_vec()),
            Some(0x0303),
            Some(0xc02f),
            None,
            false,
            true,
        );
        assert_eq!(info.protocol_version, Some(ProtocolVersion::TLSv1_2));
        assert_eq!(
            info.cipher_suite,
            Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        );
        assert!(info.resumed);
    }
}
