//! Chrome: two tables, Chrome 143 (`chrome-143`) and Chrome 156 (`chrome-156`, the bare
//! `chrome`). Both share [`tls`] and [`h2`]: what Chrome 156 adds to its ClientHello is what
//! this engine cannot send ([`NotSent`]), so the two put the same ClientHello on the wire.
//!
//! Chrome 143 on Windows (stable, 2025-12). Source: the tls.browserleaks.com / tls.peet.ws
//! capture of Chrome 143 (`ja4 t13d1516h2_8daaf6152771_d8a2da3f94cd`, `ja4_r t13d1516h2_002f,
//! 0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,
//! 0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_0403,0804,0401,0503,0805,0501,0806,0601`,
//! JA3 groups `4588-29-23-24`, Akamai `1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p`).
//! Chrome permutes its extensions per connection, GREASEs, offers ALPS for h2 on the new code
//! point (17613) and brotli certificate compression, sends an ECH GREASE extension and key
//! shares for X25519MLKEM768 and X25519.
//!
//! Chrome 156: captured here from Debian's Chromium 156.0.8078.129 (headless, 2026-12-07,
//! against `pool-testkit/examples/capture_server.rs`, command in docs/fingerprints.md):
//! JA4 `t13d1517h2_8daaf6152771_cb7bf5808d99`, the same 15 cipher suites, groups (GREASE,
//! 4588, 29, 23, 24), key shares (GREASE, 4588, 29), brotli, ALPS h2 on 17613, ECH GREASE,
//! extension permutation, HTTP/2 preface and header order as Chrome 143, plus:
//! - extension trust_anchors (0xca34, draft-ietf-tls-trust-anchor-ids) with 28 trust
//!   anchor IDs (184 bytes, [`TRUST_ANCHORS_156`]), permuted with the others;
//! - ML-DSA signature algorithms `0x0904, 0x0905, 0x0906` (ML-DSA-44/65/87) before the
//!   eight of Chrome 143;
//! - a GREASE value first in signature_algorithms.
//!
//! None of the three is sent: BoringSSL as vendored by `btls` 0.5.6 refuses the ML-DSA code
//! points in `SSL_CTX_set_verify_algorithm_prefs` (`INVALID_SIGNATURE_ALGORITHM`: it checks
//! each against its own table) and has no raw-sigalg or custom-extension path, and never
//! GREASEs signature algorithms; trust_anchors it could send (`SSL_set1_requested_trust_anchors`)
//! but only through an FFI call `btls` does not wrap, and sending it without the ML-DSA
//! schemes would give JA4 `t13d1517h2_8daaf6152771_dcad5a053991`, which no browser sends.
//! Left out, the wire shows Chrome 143's JA4 exactly (`t13d1516h2_8daaf6152771_d8a2da3f94cd`)
//! with Chrome 156's `User-Agent`.

use super::{
    BrowserProfile, CertCompression, ExtensionOrder, H2Fingerprint, NotSent, Pseudo,
    StreamPriority, TlsFingerprint, version,
};

/// The body of Chrome 156's trust_anchors extension (0xca34) as captured: a 2-byte length
/// (184), then 28 trust anchor IDs, each 8-bit length-prefixed (relative OIDs of the Chrome
/// Root Store's anchors).
pub(super) const TRUST_ANCHORS_156: &[u8] = &[
    0x00, 0xb8, //
    0x05, 0x82, 0xdf, 0x13, 0x02, 0x01, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x06, 0x05, 0x82, 0xdf, 0x13,
    0x02, 0x0d, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x0e, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x0f, 0x05, 0x82,
    0xdf, 0x13, 0x02, 0x12, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x13, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x14,
    0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x07, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d,
    0x01, 0x08, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x09, 0x08, 0x83, 0x9a, 0x64, 0x8c,
    0x9b, 0x2d, 0x01, 0x0a, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0b, 0x08, 0x83, 0x9a,
    0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0c, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0d, 0x08,
    0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x12, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01,
    0x13, 0x04, 0xd6, 0x79, 0x09, 0x01, 0x04, 0xd6, 0x79, 0x09, 0x04, 0x04, 0xd6, 0x79, 0x09, 0x05,
    0x04, 0xd6, 0x79, 0x09, 0x06, 0x04, 0xd6, 0x79, 0x09, 0x07, 0x04, 0xd6, 0x79, 0x09, 0x08, 0x04,
    0xd6, 0x79, 0x09, 0x0a, 0x04, 0xd6, 0x79, 0x09, 0x0b, 0x04, 0xd6, 0x79, 0x09, 0x0c, 0x04, 0xd6,
    0x79, 0x09, 0x0d, 0x04, 0xd6, 0x79, 0x09, 0x0f,
];

/// What Chrome 156 sends that this engine does not (see the module doc).
fn not_sent_156() -> NotSent {
    NotSent {
        extensions: vec![0xca34],
        leading_signature_algorithms: vec![0x0904, 0x0905, 0x0906],
        signature_algorithm_grease: true,
        trust_anchors: TRUST_ANCHORS_156,
    }
}

/// The ClientHello Chrome 143 and 156 share, all this engine sends of either (shared with
/// Edge, the same Chromium network stack).
pub(super) fn tls() -> TlsFingerprint {
    TlsFingerprint {
        cipher_suites: vec![
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ],
        groups: vec![4588, 29, 23, 24],
        key_shares: vec![4588, 29],
        signature_algorithms: vec![
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ],
        delegated_credentials: Vec::new(),
        extensions: vec![
            0, 5, 10, 11, 13, 16, 18, 23, 27, 35, 43, 45, 51, 17613, 65037, 65281,
        ],
        extension_order: ExtensionOrder::Permuted,
        grease: true,
        alpn: vec!["h2".to_owned(), "http/1.1".to_owned()],
        alps: vec!["h2".to_owned()],
        alps_new_codepoint: true,
        cert_compression: vec![CertCompression::Brotli],
        ech_grease: true,
        record_size_limit: None,
        ocsp_stapling: true,
        signed_cert_timestamps: true,
        session_ticket: true,
        min_version: version::TLS1_2,
        max_version: version::TLS1_3,
    }
}

/// Chrome's HTTP/2 preface and HEADERS, the same in 143 and 156 (shared with Edge).
pub(super) fn h2() -> H2Fingerprint {
    H2Fingerprint {
        // HEADER_TABLE_SIZE, ENABLE_PUSH, INITIAL_WINDOW_SIZE, MAX_HEADER_LIST_SIZE
        settings: vec![(1, 65536), (2, 0), (4, 6_291_456), (6, 262_144)],
        window_update: 15_663_105,
        priorities: Vec::new(),
        pseudo_order: [
            Pseudo::Method,
            Pseudo::Authority,
            Pseudo::Scheme,
            Pseudo::Path,
        ],
        // exclusive on the root, weight 256
        headers_priority: Some(StreamPriority {
            depends_on: 0,
            weight: 255,
            exclusive: true,
        }),
        header_order: [
            "content-length",
            "pragma",
            "cache-control",
            "sec-ch-ua",
            "sec-ch-ua-mobile",
            "sec-ch-ua-platform",
            "upgrade-insecure-requests",
            "user-agent",
            "content-type",
            "accept",
            "origin",
            "sec-fetch-site",
            "sec-fetch-mode",
            "sec-fetch-user",
            "sec-fetch-dest",
            "referer",
            "accept-encoding",
            "accept-language",
            "cookie",
            "priority",
        ]
        .map(str::to_owned)
        .to_vec(),
        documented: "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p",
    }
}

/// Chrome 143 (`chrome-143`).
pub(super) fn v143() -> BrowserProfile {
    BrowserProfile {
        name: "chrome-143".to_owned(),
        browser: "Chrome 143 (Windows 10/11, x64)",
        source: "tls.browserleaks.com / tls.peet.ws capture of Chrome 143 (JA4 database entry t13d1516h2_8daaf6152771_d8a2da3f94cd)",
        ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        browser_ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        not_sent: NotSent::default(),
        tls: tls(),
        h2: h2(),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36".to_owned(),
        accept_language: "en-US,en;q=0.9".to_owned(),
        accept_encoding: "gzip, deflate, br, zstd".to_owned(),
    }
}

/// Chrome 156 (`chrome-156`, the bare `chrome`): Chrome 143's ClientHello on the wire, the
/// browser's three additions in [`NotSent`] (module doc).
pub(super) fn v156() -> BrowserProfile {
    BrowserProfile {
        name: "chrome-156".to_owned(),
        browser: "Chrome 156 (Windows 10/11, x64); ClientHello captured from Debian Chromium 156.0.8078.129",
        source: "capture of Debian Chromium 156.0.8078.129 headless against pool-testkit's capture_server, 2026-12-07 (docs/fingerprints.md)",
        ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        browser_ja4: "t13d1517h2_8daaf6152771_cb7bf5808d99",
        not_sent: not_sent_156(),
        tls: tls(),
        h2: h2(),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36".to_owned(),
        accept_language: "en-US,en;q=0.9".to_owned(),
        accept_encoding: "gzip, deflate, br, zstd".to_owned(),
    }
}
