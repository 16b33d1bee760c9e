//! Edge 143 on Windows: Chromium's network stack, so Chrome 143's ClientHello (same JA4,
//! `t13d1516h2_8daaf6152771_d8a2da3f94cd`) and HTTP/2 fingerprint; only the `User-Agent`
//! (`Edg/143`) and the usual `Accept-Language` differ.
//!
//! Source: the tls.peet.ws capture of Edge 143 (identical TLS and Akamai values to Chrome
//! 143's, see `chrome.rs`).

use super::{BrowserProfile, chrome};

pub(super) fn profile() -> BrowserProfile {
    BrowserProfile {
        name: "edge".to_owned(),
        browser: "Edge 143 (Windows 10/11, x64)",
        source: "tls.peet.ws capture of Edge 143 (same JA4 and Akamai string as Chrome 143)",
        ja4: "t13d1516h2_8daaf6152771_d8a2da3f94cd",
        tls: chrome::tls(),
        h2: chrome::h2(),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0".to_owned(),
        accept_language: "en-US,en;q=0.9".to_owned(),
    }
}
