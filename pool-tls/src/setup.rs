//! Turning [`TlsOptions`] into rustls client configs: trust roots, profiles, the insecure
//! verifier, and per-connection rotation.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::options::{Rotation, TlsOptions, TlsProfile, TlsVersion};

/// Why a dialer could not be built from its options.
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
    /// No trust root at all: webpki roots off and no extra CA given (and verification on).
    #[error("no trusted roots: enable webpki_roots or give extra CA files")]
    NoRoots,
    /// A profile names an unknown cipher suite or group, or enables nothing usable.
    #[error("TLS profile `{profile}`: {reason}")]
    Profile {
        /// The profile's name.
        profile: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ALPN settings cannot work (e.g. `h2` required but not offered).
    #[error("ALPN: {0}")]
    Alpn(String),
}

/// The one crypto provider of the workspace (see `docs/crypto-provider.md`).
pub(crate) fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The trust roots: webpki-roots and/or the extra CAs.
pub(crate) fn root_store(opts: &TlsOptions) -> Result<RootCertStore, ConfigError> {
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
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
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
    if roots.is_empty() && !opts.danger_accept_invalid_certs {
        return Err(ConfigError::NoRoots);
    }
    Ok(roots)
}

/// A profile turned into a ready rustls config.
pub(crate) struct BuiltProfile {
    pub(crate) name: Arc<str>,
    pub(crate) config: Arc<ClientConfig>,
}

/// Builds one rustls config per profile. `required_alpn` must be offered by every profile.
pub(crate) fn build_profiles(
    opts: &TlsOptions,
    required_alpn: Option<&str>,
) -> Result<Vec<BuiltProfile>, ConfigError> {
    let roots = Arc::new(root_store(opts)?);
    if opts.danger_accept_invalid_certs {
        tracing::warn!(
            "TLS certificate verification is OFF (danger_accept_invalid_certs): any server \
             can impersonate any host; use only for testing"
        );
    }
    let profiles = if opts.profiles.is_empty() {
        vec![TlsProfile::named("default")]
    } else {
        opts.profiles.clone()
    };
    profiles
        .iter()
        .map(|p| build_profile(p, opts, &roots, required_alpn))
        .collect()
}

fn build_profile(
    profile: &TlsProfile,
    opts: &TlsOptions,
    roots: &Arc<RootCertStore>,
    required_alpn: Option<&str>,
) -> Result<BuiltProfile, ConfigError> {
    let bad = |reason: String| ConfigError::Profile {
        profile: profile.name.clone(),
        reason,
    };
    let mut provider = provider();
    if !profile.cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        provider.cipher_suites = profile
            .cipher_suites
            .iter()
            .map(|name| {
                all.iter()
                    .find(|s| format!("{:?}", s.suite()).eq_ignore_ascii_case(name))
                    .copied()
                    .ok_or_else(|| bad(format!("unknown cipher suite `{name}`")))
            })
            .collect::<Result<_, _>>()?;
    }
    if !profile.kx_groups.is_empty() {
        let all = provider.kx_groups.clone();
        provider.kx_groups = profile
            .kx_groups
            .iter()
            .map(|name| {
                all.iter()
                    .find(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(name))
                    .copied()
                    .ok_or_else(|| bad(format!("unknown key-exchange group `{name}`")))
            })
            .collect::<Result<_, _>>()?;
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = if profile.versions.is_empty() {
        rustls::DEFAULT_VERSIONS.to_vec()
    } else {
        profile
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect()
    };
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| bad(e.to_string()))?;
    let mut config = if opts.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth()
    };
    let alpn = if profile.alpn.is_empty() {
        &opts.alpn
    } else {
        &profile.alpn
    };
    if let Some(required) = required_alpn
        && !alpn.iter().any(|a| a == required)
    {
        return Err(ConfigError::Alpn(format!(
            "profile `{}` does not offer the required `{required}` (offers {alpn:?})",
            profile.name
        )));
    }
    config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Ok(BuiltProfile {
        name: profile.name.as_str().into(),
        config: Arc::new(config),
    })
}

/// The insecure verifier: any certificate passes; handshake signatures are still checked
/// (so the peer at least holds the key of the certificate it sent).
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

/// Picks one of `len` choices per call: round-robin or random.
#[derive(Debug)]
pub(crate) struct Rotor {
    mode: Rotation,
    next: AtomicUsize,
    random: RandomState,
}

impl Rotor {
    pub(crate) fn new(mode: Rotation) -> Self {
        Self {
            mode,
            next: AtomicUsize::new(0),
            random: RandomState::new(),
        }
    }

    /// An index below `len` (`len` must be at least 1).
    pub(crate) fn pick(&self, len: usize) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match self.mode {
            Rotation::RoundRobin => n % len,
            Rotation::Random => {
                let mut h = self.random.build_hasher();
                h.write_usize(n);
                (h.finish() % len as u64) as usize
            }
        }
    }
}
