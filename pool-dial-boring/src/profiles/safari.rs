//! Safari on macOS: the ClientHello of Safari 16–18.0 and the HTTP/2 preface of Safari 18.x.
//!
//! Sources, checked against public data in session 4 (see `docs/boring.md`):
//! - TLS: the full JA4 `t13d2014h2_a09f3c656075_14788d8d241b` is the published JA4 of Safari
//!   16.0 (the value listed for uTLS' `HelloSafari_16_0` and seen from
//!   `com.apple.WebKit.Networking`): 20 cipher suites including the legacy 3DES ones, 14
//!   extensions including padding, the signature algorithm rsa_pss_rsae_sha384 listed twice.
//!   JA4_a and JA4_b (`t13d2014h2_a09f3c656075`) are the same for Safari 16 to 26; Safari
//!   18.4+ moved JA4_c (published: `…_7f0f34a4126d` for 18.4, `…_e42f34c56612` for 18.5),
//!   which this table does not follow yet.
//! - HTTP/2: Akamai `2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p`, the string published for
//!   Safari 18.5 (older Safari sent `2:0;4:4194304;3:100|10485760|0|m,s,p,a`).
//!
//! Secure Transport / Network.framework: GREASE, a fixed extension order, zlib certificate
//! compression, no session ticket, no ALPS, no ECH GREASE, one X25519 key share, TLS 1.0–1.3
//! offered.

use super::{
    BrowserProfile, CertCompression, ExtensionOrder, H2Fingerprint, NotSent, Pseudo,
    TlsFingerprint, version,
};

pub(super) fn profile() -> BrowserProfile {
    let order = vec![0, 23, 65281, 10, 11, 16, 5, 13, 18, 51, 45, 43, 27, 21];
    let mut extensions = order.clone();
    extensions.sort_unstable();
    BrowserProfile {
        name: "safari".to_owned(),
        browser: "Safari (macOS): Safari 16–18.0 ClientHello, Safari 18.5 HTTP/2",
        source: "published JA4 of Safari 16.0 (t13d2014h2_a09f3c656075_14788d8d241b, uTLS HelloSafari_16_0); Akamai string published for Safari 18.5",
        ja4: "t13d2014h2_a09f3c656075_14788d8d241b",
        browser_ja4: "t13d2014h2_a09f3c656075_14788d8d241b",
        not_sent: NotSent::default(),
        tls: TlsFingerprint {
            cipher_suites: vec![
                0x1301, 0x1302, 0x1303, 0xc02c, 0xc02b, 0xcca9, 0xc030, 0xc02f, 0xcca8, 0xc00a,
                0xc009, 0xc014, 0xc013, 0x009d, 0x009c, 0x0035, 0x002f, 0xc008, 0xc012, 0x000a,
            ],
            groups: vec![29, 23, 24, 25],
            key_shares: vec![29],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0203, 0x0805, 0x0805, 0x0501, 0x0806, 0x0601,
                0x0201,
            ],
            delegated_credentials: Vec::new(),
            extensions,
            extension_order: ExtensionOrder::Fixed(order),
            grease: true,
            alpn: vec!["h2".to_owned(), "http/1.1".to_owned()],
            alps: Vec::new(),
            alps_new_codepoint: false,
            cert_compression: vec![CertCompression::Zlib],
            ech_grease: false,
            record_size_limit: None,
            ocsp_stapling: true,
            signed_cert_timestamps: true,
            session_ticket: false,
            min_version: version::TLS1_0,
            max_version: version::TLS1_3,
        },
        h2: H2Fingerprint {
            // ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, NO_RFC7540_PRIORITIES
            settings: vec![(2, 0), (3, 100), (4, 2_097_152), (9, 1)],
            window_update: 10_420_225,
            priorities: Vec::new(),
            pseudo_order: [Pseudo::Method, Pseudo::Scheme, Pseudo::Authority, Pseudo::Path],
            headers_priority: None,
            header_order: [
                "content-type",
                "accept",
                "sec-fetch-site",
                "sec-fetch-dest",
                "accept-language",
                "sec-fetch-mode",
                "user-agent",
                "referer",
                "accept-encoding",
                "content-length",
                "cookie",
                "priority",
            ]
            .map(str::to_owned)
            .to_vec(),
            documented: "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p",
        },
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15".to_owned(),
        accept_language: "en-US,en;q=0.9".to_owned(),
        accept_encoding: "gzip, deflate, br".to_owned(),
    }
}
