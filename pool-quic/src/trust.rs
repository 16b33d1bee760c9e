//! The rustls client config of the QUIC dialer: trust roots and the insecure verifier.
//! (A small copy of `pool-tls`'s: the layering forbids depending on it; see
//! `docs/quic-capacity.md`.)

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::QuicOptions;

/// Why a [`QuicDialer`](crate::QuicDialer) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A CA file could not be read or parsed.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No trust root at all (and verification on).
    #[error("no trusted roots: enable webpki_roots or give extra CA files")]
    NoRoots,
    /// The TLS or transport configuration was refused.
    #[error("TLS: {0}")]
    Tls(String),
}

/// TLS 1.3 only (QUIC), ring provider, the configured roots and ALPN.
pub(crate) fn client_config(opts: &QuicOptions) -> Result<ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConfigError::Tls(e.to_string()))?;
    let mut config = if opts.danger_accept_invalid_certs {
        tracing::warn!(
            "QUIC certificate verification is OFF (danger_accept_invalid_certs): any server \
             can impersonate any host; use only for testing"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(opts)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = opts.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Ok(config)
}

fn root_store(opts: &QuicOptions) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    if opts.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in &opts.extra_ca_files {
        let bad = |reason: String| ConfigError::CaFile {
            path: path.clone(),
            reason,
        };
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no certificate in the file".to_owned()));
        }
    }
    for cert in &opts.extra_ca_certs {
        roots.add(cert.clone()).map_err(|e| ConfigError::CaFile {
            path: PathBuf::from("<extra_ca_certs>"),
            reason: e.to_string(),
        })?;
    }
    if roots.is_empty() {
        return Err(ConfigError::NoRoots);
    }
    Ok(roots)
}

/// Accepts any certificate; handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
