//! Browser profiles as data: one file per browser (`chrome.rs`, `firefox.rs`, `safari.rs`,
//! `edge.rs`), one table per browser version, each naming the capture its values come from.
//! The bare name (`chrome`, `firefox`, `edge`, `safari`) is the newest table; older ones stay
//! selectable by version ([`BrowserProfile::VERSIONED`]: `chrome-143`, `firefox-144`, …).
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

/// What the browser's ClientHello carries that pool-dial-boring does not send with this table
/// (BoringSSL as vendored by `btls` 0.5.6 cannot, or the dialer does not set it); all empty
/// when the table is the browser's whole ClientHello. The first two are JA4 inputs: a table
/// with either shows [`BrowserProfile::ja4`] on the wire, not [`BrowserProfile::browser_ja4`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotSent {
    /// Extensions (code points) the browser adds to [`TlsFingerprint::extensions`].
    pub extensions: Vec<u16>,
    /// Signature algorithms the browser offers before [`TlsFingerprint::signature_algorithms`]
    /// (Chrome 156's ML-DSA `0x0904..=0x0906`, which this BoringSSL refuses as unknown).
    pub leading_signature_algorithms: Vec<u16>,
    /// A GREASE value first in the signature algorithms (Chrome 156; this BoringSSL GREASEs
    /// ciphers, extensions, groups, versions and key shares, never signature algorithms).
    /// Not a JA4 input.
    pub signature_algorithm_grease: bool,
    /// The body of the browser's trust_anchors extension (0xca34: a 2-byte length, then
    /// 8-bit length-prefixed trust anchor IDs), kept so the dialer can send it once it can
    /// (`SSL_set1_requested_trust_anchors` takes the list after the length).
    pub trust_anchors: &'static [u8],
}

impl NotSent {
    /// Whether the engine sends the browser's whole ClientHello.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
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
    /// The name it is chosen by (`chrome`, `chrome-156`, `firefox`, `safari`, `edge`, …).
    pub name: String,
    /// The browser and version the values are from, e.g. `Chrome 143 (Windows)`.
    pub browser: &'static str,
    /// The capture the values come from (a public one, or ours: browser version, date).
    pub source: &'static str,
    /// The JA4 (`a_b_c`) this table puts on the wire: what a classifier sees of hotpool.
    /// The browser's own ([`browser_ja4`](Self::browser_ja4)) unless [`not_sent`](Self::not_sent)
    /// holds a JA4 input; then a real older browser's where one matches (see the table).
    pub ja4: &'static str,
    /// The browser's JA4 as captured from the browser itself.
    pub browser_ja4: &'static str,
    /// What the browser sends that the engine does not (empty for a table sent whole).
    pub not_sent: NotSent,
    /// The ClientHello.
    pub tls: TlsFingerprint,
    /// The HTTP/2 preface and HEADERS.
    pub h2: H2Fingerprint,
    /// `User-Agent`, added to each request that sets none.
    pub user_agent: String,
    /// `Accept-Language`, added to each request that sets none.
    pub accept_language: String,
    /// `Accept-Encoding`: the codings the browser offers, sent instead of the client's
    /// default offer (`pool_http::DEFAULT_ACCEPT_ENCODING`, which `hotpool::Client` adds
    /// when it decodes; it decodes every coding a profile offers).
    pub accept_encoding: String,
}

impl BrowserProfile {
    /// Chrome: the newest table, Chrome 156 (see `profiles/chrome.rs`).
    pub fn chrome() -> Self {
        chrome::v156().named("chrome")
    }

    /// Firefox: the newest table, Firefox 153 ESR (see `profiles/firefox.rs`).
    pub fn firefox() -> Self {
        firefox::v153().named("firefox")
    }

    /// Safari (see `profiles/safari.rs`).
    pub fn safari() -> Self {
        safari::profile()
    }

    /// Edge: the newest table, Edge 156 (Chromium: Chrome 156's ClientHello and HTTP/2,
    /// its own `User-Agent`; see `profiles/edge.rs`).
    pub fn edge() -> Self {
        edge::v156().named("edge")
    }

    /// The profile named `name` (case-insensitive): a bare name of [`NAMES`](Self::NAMES)
    /// (the browser's newest table) or a versioned one of [`VERSIONED`](Self::VERSIONED).
    /// The profile's [`name`](Self::name) is the name asked for, lower case.
    pub fn by_name(name: &str) -> Result<Self, BoringError> {
        let lower = name.to_ascii_lowercase();
        let profile = match lower.as_str() {
            "chrome" => Self::chrome(),
            "firefox" => Self::firefox(),
            "safari" => Self::safari(),
            "edge" => Self::edge(),
            "chrome-143" => chrome::v143(),
            "chrome-156" => chrome::v156(),
            "edge-143" => edge::v143(),
            "edge-156" => edge::v156(),
            "firefox-144" => firefox::v144(),
            "firefox-153" => firefox::v153(),
            _ => return Err(BoringError::UnknownProfile(name.to_owned())),
        };
        Ok(profile.named(&lower))
    }

    /// The bare names [`BrowserProfile::by_name`] knows, each the browser's newest table.
    pub const NAMES: [&'static str; 4] = ["chrome", "firefox", "safari", "edge"];

    /// The versioned names [`BrowserProfile::by_name`] knows (`browser-major`), oldest
    /// first per browser; the bare name is the same table as the newest of these.
    pub const VERSIONED: [&'static str; 6] = [
        "chrome-143",
        "chrome-156",
        "edge-143",
        "edge-156",
        "firefox-144",
        "firefox-153",
    ];

    /// This profile chosen by `name`.
    fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// The extensions the browser sends (JA4's input): the table's plus
    /// [`NotSent::extensions`], sorted.
    pub fn browser_extensions(&self) -> Vec<u16> {
        let mut all = self.tls.extensions.clone();
        all.extend_from_slice(&self.not_sent.extensions);
        all.sort_unstable();
        all
    }

    /// The signature algorithms the browser sends in wire order, GREASE not listed:
    /// [`NotSent::leading_signature_algorithms`], then the table's.
    pub fn browser_signature_algorithms(&self) -> Vec<u16> {
        let mut all = self.not_sent.leading_signature_algorithms.clone();
        all.extend_from_slice(&self.tls.signature_algorithms);
        all
    }

    /// JA4_a + JA4_b of [`ja4`](Self::ja4), the wire's (`t13d1516h2_8daaf6152771` for
    /// Chrome).
    pub fn ja4_ab(&self) -> &'static str {
        self.ja4.rsplit_once('_').map_or(self.ja4, |(ab, _)| ab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_has_its_documented_h2_fingerprint() {
        for name in BrowserProfile::NAMES
            .iter()
            .chain(&BrowserProfile::VERSIONED)
        {
            let p = BrowserProfile::by_name(name).unwrap();
            assert_eq!(p.h2.akamai(), p.h2.documented, "{name}");
            assert_eq!(&p.name, name);
            assert!(p.tls.key_shares.iter().all(|k| p.tls.groups.contains(k)));
            assert_eq!(p.not_sent.is_empty(), p.ja4 == p.browser_ja4, "{name}");
        }
        for bad in ["netscape", "chrome-1", "chrome-", "firefox-999"] {
            assert!(
                matches!(
                    BrowserProfile::by_name(bad),
                    Err(BoringError::UnknownProfile(n)) if n == bad
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_bare_name_is_the_newest_versioned_table() {
        for (bare, newest) in [
            ("chrome", "chrome-156"),
            ("firefox", "firefox-153"),
            ("edge", "edge-156"),
        ] {
            let bare = BrowserProfile::by_name(bare).unwrap();
            let newest = BrowserProfile::by_name(newest).unwrap();
            assert_eq!(bare.clone().named(&newest.name), newest);
            // The newest of a browser's versioned names, in VERSIONED's order.
            let last = BrowserProfile::VERSIONED
                .iter()
                .rfind(|v| v.starts_with(&format!("{}-", bare.name)))
                .unwrap();
            assert_eq!(last, &newest.name);
        }
        assert_eq!(
            BrowserProfile::by_name("Chrome-143").unwrap().name,
            "chrome-143"
        );
    }

    #[test]
    fn chrome_matches_its_published_ja4_prefix() {
        assert_eq!(BrowserProfile::chrome().ja4_ab(), "t13d1516h2_8daaf6152771");
        assert_eq!(
            BrowserProfile::chrome().browser_ja4,
            "t13d1517h2_8daaf6152771_cb7bf5808d99"
        );
    }
}
