//! Firefox 144 on Windows (2025-10).
//!
//! Source: the tls.peet.ws capture of Firefox 144 (JA3 `771,4865-4867-4866-49195-49199-
//! 52393-52392-49196-49200-49162-49161-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-
//! 34-18-51-43-13-45-28-27-65037,4588-29-23-24-25-256-257,0`; JA4
//! `t13d1717h2_5b57614c22b0_3cbfd9057e0d`; Akamai `1:65536;2:0;4:131072;5:16384|12517377|0|
//! m,p,a,s`, HEADERS weight 42 on the root, not exclusive). NSS: no GREASE, a fixed
//! extension order, delegated credentials, record_size_limit 16385, zlib/brotli/zstd
//! certificate compression, ECH GREASE, three key shares.

use super::{
    BrowserProfile, CertCompression, ExtensionOrder, H2Fingerprint, Pseudo, StreamPriority,
    TlsFingerprint, version,
};

pub(super) fn profile() -> BrowserProfile {
    let order = vec![
        0, 23, 65281, 10, 11, 35, 16, 5, 34, 18, 51, 43, 13, 45, 28, 27, 65037,
    ];
    let mut extensions = order.clone();
    extensions.sort_unstable();
    BrowserProfile {
        name: "firefox".to_owned(),
        browser: "Firefox 144 (Windows 10/11, x64)",
        source: "tls.peet.ws capture of Firefox 144 (JA4 database entry t13d1717h2_5b57614c22b0_3cbfd9057e0d)",
        ja4: "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
        tls: TlsFingerprint {
            cipher_suites: vec![
                0x1301, 0x1303, 0x1302, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc00a,
                0xc009, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
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
        user_agent:
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0"
                .to_owned(),
        accept_language: "en-US,en;q=0.5".to_owned(),
    }
}
