//! Firefox: two tables, Firefox 144 (`firefox-144`) and Firefox 153 ESR (`firefox-153`, the
//! bare `firefox`), the same but for one cipher suite.
//!
//! Firefox 153: captured here from Debian's firefox-esr 153.8.0esr (headless `--screenshot`,
//! 2026-12-07, against `pool-testkit/examples/capture_server.rs`; command in
//! docs/fingerprints.md): JA4 `t13d1617h2_86a278354501_3cbfd9057e0d`. Against Firefox 144,
//! TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA (0xc009) is gone (16 suites); the extensions and
//! their order, groups, the three key shares (X25519MLKEM768, X25519, P-256), signature
//! algorithms, delegated credentials, record_size_limit, certificate compression and the
//! HTTP/2 preface (`1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s`, HEADERS weight 42 not
//! exclusive) are unchanged. The engine sends all of it. The capture ran on Linux; the
//! `User-Agent` is Firefox 153's on Windows like the other tables (NSS's ClientHello does
//! not depend on the platform).
//!
//! Firefox 144 on Windows (2025-10). Source: the tls.peet.ws capture of Firefox 144 (JA3 `771,4865-4867-4866-49195-49199-
//! 52393-52392-49196-49200-49162-49161-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-
//! 34-18-51-43-13-45-28-27-65037,4588-29-23-24-25-256-257,0`; JA4
//! `t13d1717h2_5b57614c22b0_3cbfd9057e0d`; Akamai `1:65536;2:0;4:131072;5:16384|12517377|0|
//! m,p,a,s`, HEADERS weight 42 on the root, not exclusive). NSS: no GREASE, a fixed
//! extension order, delegated credentials, record_size_limit 16385, zlib/brotli/zstd
//! certificate compression, ECH GREASE, three key shares.

use super::{
    BrowserProfile, CertCompression, ExtensionOrder, H2Fingerprint, NotSent, Pseudo,
    StreamPriority, TlsFingerprint, version,
};

/// Firefox 144's cipher suites; Firefox 153 drops 0xc009.
const CIPHERS_144: [u16; 17] = [
    0x1301, 0x1303, 0x1302, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc00a, 0xc009, 0xc013,
    0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
];

/// Firefox 144 (`firefox-144`).
pub(super) fn v144() -> BrowserProfile {
    BrowserProfile {
        name: "firefox-144".to_owned(),
        browser: "Firefox 144 (Windows 10/11, x64)",
        source: "tls.peet.ws capture of Firefox 144 (JA4 database entry t13d1717h2_5b57614c22b0_3cbfd9057e0d)",
        ja4: "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
        browser_ja4: "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
        user_agent:
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0"
                .to_owned(),
        ..common(CIPHERS_144.to_vec())
    }
}

/// Firefox 153 ESR (`firefox-153`, the bare `firefox`).
pub(super) fn v153() -> BrowserProfile {
    let ciphers = CIPHERS_144.into_iter().filter(|&c| c != 0xc009).collect();
    BrowserProfile {
        name: "firefox-153".to_owned(),
        browser: "Firefox 153 ESR (Windows 10/11, x64); ClientHello captured from Debian firefox-esr 153.8.0esr",
        source: "capture of Debian firefox-esr 153.8.0esr headless against pool-testkit's capture_server, 2026-12-07 (docs/fingerprints.md)",
        ja4: "t13d1617h2_86a278354501_3cbfd9057e0d",
        browser_ja4: "t13d1617h2_86a278354501_3cbfd9057e0d",
        user_agent:
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:153.0) Gecko/20100101 Firefox/153.0"
                .to_owned(),
        ..common(ciphers)
    }
}

/// What Firefox 144 and 153 share; `cipher_suites` is the version's list.
fn common(cipher_suites: Vec<u16>) -> BrowserProfile {
    let order = vec![
        0, 23, 65281, 10, 11, 35, 16, 5, 34, 18, 51, 43, 13, 45, 28, 27, 65037,
    ];
    let mut extensions = order.clone();
    extensions.sort_unstable();
    BrowserProfile {
        name: String::new(),
        browser: "",
        source: "",
        ja4: "",
        browser_ja4: "",
        not_sent: NotSent::default(),
        tls: TlsFingerprint {
            cipher_suites,
            groups: vec![4588, 29, 23, 24, 25, 256, 257],
            key_shares: vec![4588, 29, 23],
            signature_algorithms: vec![
                0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203,
                0x0201,
            ],
            delegated_credentials: vec![0x0403, 0x0503, 0x0603, 0x0203],
            extensions,
            extension_order: ExtensionOrder::Fixed(order),
            grease: false,
            alpn: vec!["h2".to_owned(), "http/1.1".to_owned()],
            alps: Vec::new(),
            alps_new_codepoint: false,
            cert_compression: vec![
                CertCompression::Zlib,
                CertCompression::Brotli,
                CertCompression::Zstd,
            ],
            ech_grease: true,
            record_size_limit: Some(0x4001),
            ocsp_stapling: true,
            signed_cert_timestamps: true,
            session_ticket: true,
            min_version: version::TLS1_2,
            max_version: version::TLS1_3,
        },
        h2: H2Fingerprint {
            // HEADER_TABLE_SIZE, ENABLE_PUSH, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE
            settings: vec![(1, 65536), (2, 0), (4, 131_072), (5, 16384)],
            window_update: 12_517_377,
            priorities: Vec::new(),
            pseudo_order: [
                Pseudo::Method,
                Pseudo::Path,
                Pseudo::Authority,
                Pseudo::Scheme,
            ],
            headers_priority: Some(StreamPriority {
                depends_on: 0,
                weight: 41,
                exclusive: false,
            }),
            header_order: [
                "user-agent",
                "accept",
                "accept-language",
                "accept-encoding",
                "content-type",
                "content-length",
                "origin",
                "referer",
                "cookie",
                "upgrade-insecure-requests",
                "sec-fetch-dest",
                "sec-fetch-mode",
                "sec-fetch-site",
                "sec-fetch-user",
                "priority",
                "te",
            ]
            .map(str::to_owned)
            .to_vec(),
            documented: "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s",
        },
        user_agent: String::new(),
        accept_language: "en-US,en;q=0.5".to_owned(),
        accept_encoding: "gzip, deflate, br, zstd".to_owned(),
    }
}
