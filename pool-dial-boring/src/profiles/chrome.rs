//! Chrome 143 on Windows (stable, 2025-12).
//!
//! Source: the tls.browserleaks.com / tls.peet.ws capture of Chrome 143
//! (`ja4 t13d1516h2_8daaf6152771_d8a2da3f94cd`, `ja4_r t13d1516h2_002f,0035,009c,009d,1301,
//! 1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,
//! 002b,002d,0033,44cd,fe0d,ff01_0403,0804,0401,0503,0805,0501,0806,0601`, JA3 groups
//! `4588-29-23-24`, Akamai `1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p`). Chrome
//! permutes its extensions per connection, GREASEs, offers ALPS for h2 on the new code
//! point (17613) and brotli certificate compression, sends an ECH GREASE extension and key
//! shares for X25519MLKEM768 and X25519.

use super::{
    BrowserProfile, CertCompression, ExtensionOrder, H2Fingerprint, Pseudo, StreamPriority,
    TlsFingerprint, version,
};

/// Chrome's ClientHello (shared with Edge, the same Chromium network stack).
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

/// Chrome's HTTP/2 preface and HEADERS (shared with Edge).
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

pub(super) fn profile() -> BrowserProfile {
    BrowserProfile {
        name: "chrome".to_owned(),
        browser: "Chrome 143 (Windows 10/11, x64)",
        source: "tls.browserleaks.com / tls.peet.ws capture of Chrome 143 (JA4 database entry t13d1516h2_8daaf6152771_d8a2da3f94cd)",
        ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        tls: tls(),
        h2: h2(),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36".to_owned(),
        accept_language: "en-US,en;q=0.9".to_owned(),
    }
}
