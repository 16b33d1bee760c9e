//! Fingerprint capture: an origin that records what each client sends before and with its
//! first request, and the fingerprints computed from it.
//!
//! - [`CaptureOrigin`]: TLS (a certificate of its own [`TestCa`] for one host name, ALPN
//!   `h2` and `http/1.1`) on one loopback address; per accepted connection it records the
//!   raw ClientHello handshake message (read off the TCP stream before rustls sees the
//!   bytes, then replayed to it), the negotiated ALPN and, for HTTP/2, the client's
//!   SETTINGS, first WINDOW_UPDATE, PRIORITY frames and first HEADERS block
//!   ([`H2Preface`]). It answers every request `200` with a small body (`/403` answers
//!   `403`), over HTTP/2 (`h2::server`) or HTTP/1.1 (hyper). It issues no session tickets
//!   (every ClientHello is a first contact's) unless started with
//!   [`CaptureOrigin::start_resuming`].
//! - [`ja4`]: the JA4 TLS fingerprint of a ClientHello, written from the FoxIO spec;
//!   [`extension_order`]: its extension types in wire order, GREASE kept.
//! - [`akamai_h2`]: the Akamai HTTP/2 fingerprint string of an [`H2Preface`].
//!
//! See `docs/fingerprints.md` for the formats and the values measured here.

mod clienthello;
mod h2_fingerprint;
mod ja4;
mod origin;

use std::net::SocketAddr;

pub use clienthello::{
    ClientHello, ClientHelloError, extension_order, is_grease, parse_client_hello,
};
pub use h2_fingerprint::{
    CLIENT_PREFACE, H2Preface, H2PrefaceError, Priority, akamai_h2, parse_h2_preface,
};
pub use ja4::{Ja4, ja4, ja4_of};
pub use origin::CaptureOrigin;

#[cfg(doc)]
use crate::TestCa;

/// At most this many bytes are recorded per connection and direction of interest (the
/// ClientHello records; the client's first HTTP/2 bytes).
pub const CAPTURE_LIMIT: usize = 64 * 1024;

/// What one accepted connection sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The client's address.
    pub peer: SocketAddr,
    /// The ClientHello handshake message (type, 3-byte length, body), without the TLS
    /// record headers; empty when the client sent no ClientHello.
    pub client_hello: Vec<u8>,
    /// The ALPN protocol the handshake settled on (`None`: no ALPN, or the handshake
    /// failed).
    pub alpn: Option<String>,
    /// The HTTP/2 preface up to the first request (ALPN `h2` and a complete first
    /// header block only).
    pub h2: Option<H2Preface>,
    /// The first HTTP/1.1 request head as sent, bytes for bytes (header names in the
    /// client's case), up to its blank line (ALPN `http/1.1` or none).
    pub h1_head: Option<String>,
    /// Whether the TLS handshake completed.
    pub handshake_ok: bool,
    /// Whether the record is complete: the handshake failed, or the first request (HTTP/2
    /// or HTTP/1.1) arrived, or the connection ended. Until then the fields above
    /// may still be filled in.
    pub complete: bool,
}

impl Captured {
    /// The JA4 of [`client_hello`](Self::client_hello).
    pub fn ja4(&self) -> Result<Ja4, ClientHelloError> {
        ja4(&self.client_hello)
    }

    /// The Akamai HTTP/2 string of [`h2`](Self::h2), if there was one.
    pub fn akamai_h2(&self) -> Option<String> {
        self.h2.as_ref().map(akamai_h2)
    }
}

#[cfg(test)]
mod tests;
