//! Browser profiles as data: one table per browser (`chrome.rs`, `firefox.rs`, `safari.rs`,
//! `edge.rs`), each naming the browser version and the public capture its values come from.
//!
//! A profile holds everything a server can fingerprint before the first response: the
//! ClientHello ([`TlsFingerprint`]: what JA4 hashes and what it does not), the HTTP/2
//! preface and first HEADERS ([`H2Fingerprint`]: what the Akamai string encodes), and the
//! two headers a browser always sends (`User-Agent`, `Accept-Language`). Values are IANA
//! code points, so a table reads like the capture it was copied from.

mod chrome;
mod edge;
mod firefox;
mod safari;

use crate::error::BoringError;

/// TLS versions as their wire code points.
pub mod version {
    /// TLS 1.0.
    pub const TLS1_0: u16 = 0x0301;
    /// TLS 1.2.
    pub const TLS1_2: u16 = 0x0303;
    /// TLS 1.3.
    pub const TLS1_3: u16 = 0x0304;
}

/// How the ClientHello's extensions are ordered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtensionOrder {
    /// BoringSSL permutes them per connection (Chrome since 110): JA4 sorts extensions, so
    /// it stays the same while the wire order changes.
    Permuted,
    /// This fixed wire order (extension code points; GREASE, if on, is BoringSSL's).
    Fixed(Vec<u16>),
}

/// A certificate compression algorithm (RFC 8879) the client offers; this crate supplies
/// each decompressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertCompression {
    /// zlib (1).
    Zlib,
    /// brotli (2).
    Brotli,
    /// zstd (3).
    Zstd,
}

/// What a ClientHello carries: the JA4 inputs (version, SNI, cipher suites, extensions,
/// ALPN, signature algorithms) and what JA4 leaves out but other fingerprints read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFingerprint {
    /// Cipher suites in wire order (IANA code points; GREASE not listed).
    pub cipher_suites: Vec<u16>,
    /// Supported groups in wire order (IANA code points: 4588 X25519MLKEM768, 29 X25519,
    /// 23 P-256, 24 P-384, 25 P-521, 256/257 ffdhe2048/3072).
    pub groups: Vec<u16>,
    /// The groups a key share is sent for, in order (a subset of `groups`).
    pub key_shares: Vec<u16>,
    /// Signature algorithms in wire order (IANA code points).
    pub signature_algorithms: Vec<u16>,
    /// Delegated credentials' signature algorithms (extension 34; Firefox); empty: none.
    pub delegated_credentials: Vec<u16>,
    /// Every extension the ClientHello carries (code points, GREASE not listed); the
    /// documented list JA4_c is computed from. BoringSSL adds each from the settings
    /// above: this list states what the settings must produce.
    pub extensions: Vec<u16>,
    /// Wire order of the extensions.
    pub extension_order: ExtensionOrder,
    /// GREASE values (RFC 8701) in cipher suites, extensions, groups, versions.
    pub grease: bool,
    /// ALPN protocols in preference order.
    pub alpn: Vec<String>,
    /// ALPS (application settings) for these protocols; empty: no ALPS.
    pub alps: Vec<String>,
    /// ALPS on the new code point (17613, Chrome 143+) instead of the old (17513).
    pub alps_new_codepoint: bool,
    /// Certificate compression algorithms offered, in order.
    pub cert_compression: Vec<CertCompression>,
    /// A GREASE encrypted_client_hello extension (65037).
    pub ech_grease: bool,
    /// The record_size_limit extension's value (28; Firefox), if sent.
    pub record_size_limit: Option<u16>,
    /// status_request (5, OCSP stapling).
    pub ocsp_stapling: bool,
    /// signed_certificate_timestamp (18).
    pub signed_cert_timestamps: bool,
    /// session_ticket (35).
    pub session_ticket: bool,
    /// Lowest TLS version offered (see [`version`]).
    pub min_version: u16,
    /// Highest TLS version offered.
    pub max_version: u16,
}

/// An HTTP/2 stream priority (RFC 7540 §5.3) as it is on the wire: `weight` is the wire
/// byte (0..=255 meaning 1..=256).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPriority {
    /// The stream depended on (0: the root).
    pub depends_on: u32,
    /// The wire weight byte.
    pub weight: u8,
    /// Exclusive dependency.
    pub exclusive: bool,
}

/// An HTTP/2 pseudo-header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    /// `:method` (`m`).
    Method,
    /// `:authority` (`a`).
    Authority,
    /// `:scheme` (`s`).
    Scheme,
    /// `:path` (`p`).
    Path,
}

impl Pseudo {
    /// The letter of the Akamai fingerprint.
    pub fn letter(self) -> char {
        match self {
            Pseudo::Method => 'm',
            Pseudo::Authority => 'a',
            Pseudo::Scheme => 's',
            Pseudo::Path => 'p',
        }
    }
}

/// What the client's HTTP/2 preface and first HEADERS show: the Akamai fingerprint's
/// inputs, plus the order of regular headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Fingerprint {
    /// The SETTINGS frame's (id, value) pairs in wire order.
    pub settings: Vec<(u16, u32)>,
    /// The connection-level WINDOW_UPDATE increment sent after SETTINGS (0: none).
    pub window_update: u32,
    /// PRIORITY frames sent after the preface: (stream id, priority).
    pub priorities: Vec<(u32, StreamPriority)>,
    /// The pseudo-header order of every HEADERS frame.
    pub pseudo_order: [Pseudo; 4],
    /// The priority carried in each HEADERS frame, if any.
    pub headers_priority: Option<StreamPriority>,
    /// Regular header names (lower case) in the order the browser sends them; the ones a
    /// request carries go first in this order, the rest after in their own order.
    pub header_order: Vec<String>,
    /// The documented Akamai fingerprint string of the capture (see [`H2Fingerprint::akamai`]).
    pub documented: &'static str,
}

impl H2Fingerprint {
    /// The Akamai-style fingerprint of these values:
    /// `id:value;…|window_update|priority frames (stream:exclusive:dep:weight, or 0)|pseudo
    /// order`, the weight as the wire byte + 1.
    pub fn akamai(&self) -> String {
        let settings = self
            .settings
            .iter()
            .map(|(id, v)| format!("{id}:{v}"))
            .collect::<Vec<_>>()
            .join(";");
        let priorities = if self.priorities.is_empty() {
            "0".to_owned()
        } else {
            self.priorities
                .iter()
                .map(|(id, p)| {
                    format!(
                        "{id}:{}:{}:{}",
                        u8::from(p.exclusive),
                        p.depends_on,
                        u16::from(p.weight) + 1
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let pseudo = self
            .pseudo_order
            .iter()
            .map(|p| p.letter().to_string())
            .collect::<Vec<_>>()
            .join(",");
        format!("{settings}|{}|{priorities}|{pseudo}", self.window_update)
    }
}

/// A browser profile: what one browser version sends, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserProfile {
    /// The name it is chosen by (`chrome`, `firefox`, `safari`, `edge`).
    pub name: String,
    /// The browser and version the values are from, e.g. `Chrome 143 (Windows)`.
    pub browser: &'static str,
    /// The public capture the values come from.
    pub source: &'static str,
    /// The browser's published JA4 (`a_b_c`): what a classifier sees.
    pub ja4: &'static str,
    /// The ClientHello.
    pub tls: TlsFingerprint,
    /// The HTTP/2 preface and HEADERS.
    pub h2: H2Fingerprint,
    /// `User-Agent`, added to each request that sets none.
    pub user_agent: String,
    /// `Accept-Language`, added to each request that sets none.
    pub accept_language: String,
}

impl BrowserProfile {
    /// Chrome (current stable, see `profiles/chrome.rs`).
    pub fn chrome() -> Self {
        chrome::profile()
    }

    /// Firefox (see `profiles/firefox.rs`).
    pub fn firefox() -> Self {
        firefox::profile()
    }

    /// Safari (see `profiles/safari.rs`).
    pub fn safari() -> Self {
        safari::profile()
    }

    /// Edge (Chromium: Chrome's ClientHello and HTTP/2, its own `User-Agent`; see
    /// `profiles/edge.rs`).
    pub fn edge() -> Self {
        edge::profile()
    }

    /// The profile named `name` (case-insensitive): `chrome`, `firefox`, `safari`, `edge`.
    pub fn by_name(name: &str) -> Result<Self, BoringError> {
        match name.to_ascii_lowercase().as_str() {
            "chrome" => Ok(Self::chrome()),
            "firefox" => Ok(Self::firefox()),
            "safari" => Ok(Self::safari()),
            "edge" => Ok(Self::edge()),
            _ => Err(BoringError::UnknownProfile(name.to_owned())),
        }
    }

    /// The names [`BrowserProfile::by_name`] knows.
    pub const NAMES: [&'static str; 4] = ["chrome", "firefox", "safari", "edge"];

    /// JA4_a + JA4_b of the published JA4 (`t13d1516h2_8daaf6152771` for Chrome).
    pub fn ja4_ab(&self) -> &'static str {
        self.ja4.rsplit_once('_').map_or(self.ja4, |(ab, _)| ab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_has_its_documented_h2_fingerprint() {
        for name in BrowserProfile::NAMES {
            let p = BrowserProfile::by_name(name).unwrap();
            assert_eq!(p.h2.akamai(), p.h2.documented, "{name}");
            assert_eq!(p.name, name);
            assert!(p.tls.key_shares.iter().all(|k| p.tls.groups.contains(k)));
        }
        assert!(matches!(
            BrowserProfile::by_name("netscape"),
            Err(BoringError::UnknownProfile(_))
        ));
    }

    #[test]
    fn chrome_matches_its_published_ja4_prefix() {
        assert_eq!(BrowserProfile::chrome().ja4_ab(), "t13d1516h2_8daaf6152771");
    }
}
