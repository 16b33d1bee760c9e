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
    /// Who we are to a server that asks (mutual TLS): a certificate chain and its key,
    /// offered by every connection of the dialer. Part of the dialer's identity (a pool has
    /// one dialer, so no connection made with this certificate serves another identity).
    /// Default: none.
    pub client_cert: Option<ClientCert>,
}

/// A client certificate for mutual TLS, as PEM: `chain` (the leaf first, then any
/// intermediates) and `key` (PKCS#8, PKCS#1 or SEC1). Each TLS engine parses it when its
/// dialer is built, so a bad file is an error there, not at a dial. `Debug` never shows
/// the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain, PEM.
    pub chain_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl ClientCert {
    /// Reads the chain and the key from PEM files.
    ///
    /// # Errors
    /// A file that cannot be read (the error names it).
    pub fn from_files(chain: &std::path::Path, key: &std::path::Path) -> std::io::Result<Self> {
        let read = |path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        Ok(Self {
            chain_pem: read(chain)?,
            key_pem: read(key)?,
        })
    }
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("chain_pem", &format_args!("{} bytes", self.chain_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            webpki_roots: true,
            extra_ca_files: Vec::new(),
            extra_ca_certs: Vec::new(),
            danger_accept_invalid_certs: false,
            key_log: false,
            client_cert: None,
        }
    }
}

/// Logs, at every dial made without certificate verification, that it is so.
pub fn warn_insecure_dial(transport: &str, host: &str, addr: std::net::SocketAddr) {
    tracing::warn!(transport, host, %addr,
        "dialing WITHOUT certificate verification (danger_accept_invalid_certs)");
}
