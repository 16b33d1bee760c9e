//! The one configuration error of every rustls transport.

use std::path::PathBuf;

/// Why a rustls-based dialer could not be built from its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A CA file could not be read or parsed, or held no certificate.
    #[error("CA file {}: {source}", path.display())]
    CaFile {
        /// The file (`<extra_ca_certs>` for certificates given in DER form).
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: CaFileError,
    },
    /// The client certificate (mutual TLS) could not be used: a chain or key that does not
    /// parse, or a key that does not match the certificate. Never shows the key.
    #[error("client certificate: {0}")]
    ClientCert(String),
    /// No trust root at all: webpki roots off and no extra CA given (and verification on).
    #[error("no trusted roots: enable webpki_roots or give extra CA files")]
    NoRoots,
    /// A profile names an unknown cipher suite or group, or enables nothing usable.
    #[error("TLS profile `{profile}`: {source}")]
    Profile {
        /// The profile's name.
        profile: String,
        /// What is wrong with it.
        #[source]
        source: ProfileError,
    },
    /// The ALPN settings cannot work (e.g. `h2` required but not offered).
    #[error("ALPN: {0}")]
    Alpn(AlpnError),
    /// Another option of the transport was refused (e.g. a header value, a QUIC limit).
    #[error("{option}: {source}")]
    Option {
        /// The option's name.
        option: &'static str,
        /// Why it was refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a CA file (or certificate) was not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaFileError {
    /// Reading or decoding the PEM file failed.
    #[error(transparent)]
    Pem(#[from] rustls_pki_types::pem::Error),
    /// rustls refused the certificate as a trust anchor.
    #[error(transparent)]
    Rejected(#[from] rustls::Error),
    /// The file holds no certificate.
    #[error("no certificate in the file")]
    Empty,
}

/// What is wrong with a [`TlsProfile`](crate::TlsProfile).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// A cipher suite name ring does not implement.
    #[error("unknown cipher suite `{0}`")]
    UnknownCipherSuite(String),
    /// A key-exchange group name ring does not implement.
    #[error("unknown key-exchange group `{0}`")]
    UnknownKxGroup(String),
    /// rustls refused the combination (e.g. no suite for the enabled versions).
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// A profile does not offer the ALPN protocol its dialer requires.
#[derive(Debug, thiserror::Error)]
#[error("profile `{profile}` does not offer the required `{required}` (offers {offered:?})")]
pub struct AlpnError {
    /// The profile's name.
    pub profile: String,
    /// The protocol the dialer speaks.
    pub required: String,
    /// What the profile offers.
    pub offered: Vec<String>,
}
