//! What a TLS connection trusts, as plain data both TLS engines read ([`Trust`]); each
//! engine loads it into its own store once: rustls' `RootCertStore` in
//! `pool_rustls::root_store`, BoringSSL's `X509Store` in `pool-dial-boring`'s `tls.rs`.

use std::path::PathBuf;

/// What a TLS transport trusts, and how it may be observed. The TLS and QUIC dialers'
/// options carry these fields and hand them over as one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// Trust Mozilla's roots (rustls: webpki-roots; BoringSSL: the system bundle, the same
    /// root program on Debian). Default: true.
    pub webpki_roots: bool,
    /// Extra CA certificates to trust, as PEM files (each may hold several).
    pub extra_ca_files: Vec<PathBuf>,
    /// Extra CA certificates to trust, already in DER form (plain bytes, so this data type
    /// ties the BoringSSL build to no rustls crate).
    pub extra_ca_certs: Vec<Vec<u8>>,
    /// **Insecure**: accept any server certificate (handshake signatures are still
    /// checked). Logged as a warning when a config is built and at every dial
    /// ([`warn_insecure_dial`]). Default: false.
    pub danger_accept_invalid_certs: bool,
    /// Write the session secrets to the file named by the `SSLKEYLOGFILE` environment
    /// variable (NSS key log format, for Wireshark). Nothing is written when the variable
    /// is unset. Default: false.
    pub key_log: bool,
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            webpki_roots: true,
            extra_ca_files: Vec::new(),
            extra_ca_certs: Vec::new(),
            danger_accept_invalid_certs: false,
            key_log: false,
        }
    }
}

/// Logs, at every dial made without certificate verification, that it is so.
pub fn warn_insecure_dial(transport: &str, host: &str, addr: std::net::SocketAddr) {
    tracing::warn!(transport, host, %addr,
        "dialing WITHOUT certificate verification (danger_accept_invalid_certs)");
}
