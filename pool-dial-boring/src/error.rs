//! The crate's error type.

use std::path::PathBuf;
use std::sync::Arc;

/// What can go wrong building a [`BoringDialer`](crate::BoringDialer), or, as the cause
/// of a `DialError`, dialing with one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoringError {
    /// BoringSSL refused a setting.
    #[error("BoringSSL: {0}")]
    Ssl(#[from] btls::error::ErrorStack),
    /// No profile of that name.
    #[error("unknown browser profile {0:?} (known: chrome, firefox, safari, edge)")]
    UnknownProfile(String),
    /// A profile lists a value BoringSSL (or this crate) cannot send.
    #[error("profile {profile}: {field} value {value:#06x} is not supported")]
    Unsupported {
        /// The profile.
        profile: String,
        /// The list it is in.
        field: &'static str,
        /// The code point.
        value: u16,
    },
    /// A profile does not offer the ALPN protocol the dialer's mode needs.
    #[error("profile {profile} does not offer ALPN {alpn:?}, which {mode:?} mode requires")]
    Alpn {
        /// The profile.
        profile: String,
        /// The protocol it lacks.
        alpn: &'static str,
        /// The dialer's mode.
        mode: crate::Mode,
    },
    /// A profile's `User-Agent` or `Accept-Language` is not a valid header value.
    #[error("profile {profile}: invalid header value")]
    Header {
        /// The profile.
        profile: String,
        /// Why.
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    /// An extra CA file could not be read or holds no certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The client certificate (mutual TLS) could not be used (never shows the key).
    #[error("client certificate: {0}")]
    ClientCert(String),
    /// No trust roots configured and verification not turned off.
    #[error("no trust roots: enable webpki or system roots, add CAs, or turn verification off")]
    NoRoots,
    /// The server's certificate was refused (not trusted, expired, or not for the host).
    #[error("certificate for {host} refused: {reason}")]
    Certificate {
        /// The host name it was verified against.
        host: Arc<str>,
        /// BoringSSL's verify result.
        reason: &'static str,
    },
}
