//! JA4 (TLS client fingerprint), written from the FoxIO JA4 technical details (BSD-3):
//! `a_b_c` where
//! - `a` = `t` (TLS over TCP) + version (highest of supported_versions, else
//!   legacy_version: `13`, `12`, `11`, `10`, `s3`, `s2`, `s1`, `00`) + `d`/`i` (SNI present
//!   or not) + two-digit cipher count + two-digit extension count (both without GREASE,
//!   capped at 99; the extension count includes SNI and ALPN) + first and last character of
//!   the first ALPN value (`00` without ALPN; the first and last hex digit of the value
//!   when those characters are not ASCII alphanumeric);
//! - `b` = the first 12 hex digits of SHA-256 over the sorted cipher suites (4-digit
//!   lower-case hex, comma separated, no GREASE); `000000000000` without ciphers;
//! - `c` = the same over the sorted extensions without GREASE, SNI and ALPN, then `_` and
//!   the signature algorithms in wire order (no `_` part when there are none).

use std::fmt;

use super::clienthello::{
    ClientHello, ClientHelloError, EXT_ALPN, EXT_SERVER_NAME, is_grease, parse_client_hello,
};

/// A JA4 fingerprint; `Display` writes the full `a_b_c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4 {
    /// The readable part, e.g. `t13d1516h2`.
    pub a: String,
    /// Truncated hash of the sorted cipher suites, e.g. `8daaf6152771`.
    pub b: String,
    /// Truncated hash of the sorted extensions and the signature algorithms.
    pub c: String,
    /// What `b` hashes: the sorted cipher list, e.g. `002f,0035,…`.
    pub raw_b: String,
    /// What `c` hashes: the sorted extension list, `_`, the signature algorithms.
    pub raw_c: String,
}

impl Ja4 {
    /// The raw form `a_rawb_rawc` (FoxIO's `ja4_r`).
    pub fn raw(&self) -> String {
        format!("{}_{}_{}", self.a, self.raw_b, self.raw_c)
    }
}

impl fmt::Display for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_{}", self.a, self.b, self.c)
    }
}

/// The JA4 of a ClientHello (handshake message or the records carrying it).
pub fn ja4(client_hello: &[u8]) -> Result<Ja4, ClientHelloError> {
    Ok(ja4_of(&parse_client_hello(client_hello)?))
}

/// The JA4 of a parsed ClientHello.
pub fn ja4_of(hello: &ClientHello) -> Ja4 {
    let mut ciphers: Vec<u16> = hello
        .cipher_suites
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let extensions: Vec<u16> = hello
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e))
        .collect();
    let version = hello
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(hello.legacy_version);
    let sni = if hello.extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let a = format!(
        "t{}{sni}{:02}{:02}{}",
        version_code(version),
        ciphers.len().min(99),
        extensions.len().min(99),
        alpn_code(hello.alpn.first().map(Vec::as_slice))
    );
    ciphers.sort_unstable();
    let raw_b = hex_list(&ciphers);
    let mut hashed_exts: Vec<u16> = extensions
        .into_iter()
        .filter(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN)
        .collect();
    hashed_exts.sort_unstable();
    let sigalgs: Vec<u16> = hello
        .signature_algorithms
        .iter()
        .copied()
        .filter(|s| !is_grease(*s))
        .collect();
    let raw_c = if sigalgs.is_empty() {
        hex_list(&hashed_exts)
    } else {
        format!("{}_{}", hex_list(&hashed_exts), hex_list(&sigalgs))
    };
    Ja4 {
        b: truncated_sha256(&raw_b, ciphers.is_empty()),
        c: truncated_sha256(&raw_c, hashed_exts.is_empty()),
        a,
        raw_b,
        raw_c,
    }
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        0x0100 => "s1",
        _ => "00",
    }
}

fn alpn_code(first: Option<&[u8]>) -> String {
    let Some(value) = first.filter(|v| !v.is_empty()) else {
        return "00".to_owned();
    };
    let (f, l) = (value[0], value[value.len() - 1]);
    if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
        format!("{}{}", char::from(f), char::from(l))
    } else {
        let hex = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
        format!("{}{}", hex(f >> 4), hex(l & 0x0f))
    }
}

fn hex_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The first 12 hex digits of SHA-256 of `text`; twelve zeros when the list is empty.
fn truncated_sha256(text: &str, empty: bool) -> String {
    if empty {
        return "000000000000".to_owned();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
