//! Edge: Chromium's network stack, so each Edge table is a Chrome table's ClientHello and
//! HTTP/2 fingerprint ([`chrome::tls`], [`chrome::h2`]) with Edge's `User-Agent` (`Edg/…`).
//!
//! - `edge-143`: Chrome 143's table. Source: the tls.peet.ws capture of Edge 143 (identical
//!   TLS and Akamai values to Chrome 143's, JA4 `t13d1516h2_8daaf6152771_d8a2da3f94cd`).
//! - `edge-156` (the bare `edge`): derived from `chrome-156` (Chromium 156, captured here),
//!   not captured from Edge itself (no Edge build on this machine); it inherits Chrome 156's
//!   [`NotSent`](super::NotSent) and so sends the same ClientHello as `edge-143`.

use super::{BrowserProfile, NotSent, chrome};

/// Edge 143 (`edge-143`).
pub(super) fn v143() -> BrowserProfile {
    BrowserProfile {
        name: "edge-143".to_owned(),
        browser: "Edge 143 (Windows 10/11, x64)",
        source: "tls.peet.ws capture of Edge 143 (same JA4 and Akamai string as Chrome 143)",
        ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        browser_ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        not_sent: NotSent::default(),
        tls: chrome::tls(),
        h2: chrome::h2(),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0".to_owned(),
        accept_language: "en-US,en;q=0.9".to_owned(),
        accept_encoding: "gzip, deflate, br, zstd".to_owned(),
    }
}

/// Edge 156 (`edge-156`, the bare `edge`): the `chrome-156` table with Edge's `User-Agent`.
pub(super) fn v156() -> BrowserProfile {
    BrowserProfile {
        name: "edge-156".to_owned(),
        browser: "Edge 156 (Windows 10/11, x64), derived from the Chrome 156 table",
        source: "the chrome-156 table (Debian Chromium 156.0.8078.129 capture); Edge itself not captured",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0".to_owned(),
        ..chrome::v156()
    }
}
