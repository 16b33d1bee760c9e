//! Profiles → rustls client configs, with the one crypto provider.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Trust;
use crate::error::{AlpnError, ConfigError, ProfileError};
use crate::profile::TlsProfile;
use crate::session::SessionStore;
use crate::trust::root_store;
use crate::verifier::AcceptAnyCert;

/// The one crypto provider of the workspace, ring (see `docs/crypto-provider.md`).
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A profile turned into a ready rustls config.
#[derive(Clone, Debug)]
pub struct BuiltProfile {
    /// The profile's name.
    pub name: Arc<str>,
    /// Its config.
    pub config: Arc<ClientConfig>,
}

/// Builds one config per profile (`profiles` empty: one named `default` with rustls'
/// defaults). A profile without its own ALPN list offers `default_alpn`; when
/// `required_alpn` is set, every profile must offer it. Logs a warning when verification
/// is off.
pub fn build_profiles(
    trust: &Trust,
    profiles: &[TlsProfile],
    default_alpn: &[String],
    required_alpn: Option<&str>,
) -> Result<Vec<BuiltProfile>, ConfigError> {
    let roots = Arc::new(root_store(trust)?);
    let default = [TlsProfile::named("default")];
    let profiles = if profiles.is_empty() {
        &default[..]
    } else {
        profiles
    };
    profiles
        .iter()
        .map(|p| {
            Ok(BuiltProfile {
                name: p.name.as_str().into(),
                config: Arc::new(client_config(
                    trust,
                    &roots,
                    p,
                    default_alpn,
                    required_alpn,
                )?),
            })
        })
        .collect()
}

/// One rustls client config: `profile`'s suites, groups and versions on the ring
/// provider, `roots` (or the insecure verifier, logged), the key log when asked for, and
/// the profile's ALPN list (or `default_alpn`), which must contain `required_alpn`, and a
/// session store of its own ([`SessionStore`]: TLS 1.3 tickets used once, sized for one
/// host of ~1,600 addresses).
pub fn client_config(
    trust: &Trust,
    roots: &Arc<RootCertStore>,
    profile: &TlsProfile,
    default_alpn: &[String],
    required_alpn: Option<&str>,
) -> Result<ClientConfig, ConfigError> {
    let bad = |source: ProfileError| ConfigError::Profile {
        profile: profile.name.clone(),
        source,
    };
    let mut provider = provider();
    if !profile.cipher_suites.is_empty() {
        provider.cipher_suites = pick(&provider.cipher_suites, &profile.cipher_suites, |s| {
            format!("{:?}", s.suite())
        })
        .map_err(|name| bad(ProfileError::UnknownCipherSuite(name)))?;
    }
    if !profile.kx_groups.is_empty() {
        provider.kx_groups = pick(&provider.kx_groups, &profile.kx_groups, |g| {
            format!("{:?}", g.name())
        })
        .map_err(|name| bad(ProfileError::UnknownKxGroup(name)))?;
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = if profile.versions.is_empty() {
        rustls::DEFAULT_VERSIONS.to_vec()
    } else {
        profile.versions.iter().map(|v| v.rustls()).collect()
    };
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| bad(e.into()))?;
    let mut config = if trust.danger_accept_invalid_certs {
        tracing::warn!(
            profile = %profile.name,
            "TLS certificate verification is OFF (danger_accept_invalid_certs): any server \
             can impersonate any host; use only for testing"
        );
        with_client_cert(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))),
            trust,
        )?
    } else {
        with_client_cert(builder.with_root_certificates(roots.clone()), trust)?
    };
    let alpn = if profile.alpn.is_empty() {
        default_alpn
    } else {
        &profile.alpn
    };
    if let Some(required) = required_alpn
        && !alpn.iter().any(|a| a == required)
    {
        return Err(ConfigError::Alpn(AlpnError {
            profile: profile.name.clone(),
            required: required.to_owned(),
            offered: alpn.to_vec(),
        }));
    }
    config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    if trust.key_log {
        config.key_log = Arc::new(rustls::KeyLogFile::new());
    }
    // One session store per config: a session is offered only under the config it came
    // from, for the server name it came from (docs/tls-resumption.md).
    config.resumption = Resumption::store(Arc::new(SessionStore::new()));
    Ok(config)
}

/// The entries of `all` named by `wanted`, in `wanted`'s order (names compared without
/// case); the first unknown name is the error.
fn pick<T: Copy>(
    all: &[T],
    wanted: &[String],
    name: impl Fn(&T) -> String,
) -> Result<Vec<T>, String> {
    wanted
        .iter()
        .map(|w| {
            all.iter()
                .find(|t| name(t).eq_ignore_ascii_case(w))
                .copied()
                .ok_or_else(|| w.clone())
        })
        .collect()
}

/// The last step of a `ClientConfig`: the client certificate of `trust` (mutual TLS), or
/// none.
fn with_client_cert(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    trust: &Trust,
) -> Result<ClientConfig, ConfigError> {
    let Some(cert) = &trust.client_cert else {
        return Ok(builder.with_no_client_auth());
    };
    let bad = |reason: String| ConfigError::ClientCert(reason);
    let chain = CertificateDer::pem_slice_iter(&cert.chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad("the certificate chain holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&cert.key_pem)
        .map_err(|e| bad(format!("private key: {e}")))?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TlsVersion;

    fn alpn(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn profiles_choose_suites_groups_versions_and_alpn() {
        let built = build_profiles(
            &Trust::default(),
            &[
                TlsProfile::chrome_like(),
                TlsProfile {
                    versions: vec![TlsVersion::Tls13],
                    alpn: alpn(&["h2"]),
                    ..TlsProfile::named("tls13")
                },
            ],
            &alpn(&["http/1.1"]),
            None,
        )
        .unwrap();
        assert_eq!(built.len(), 2);
        assert_eq!(&*built[0].name, "chrome-like");
        assert_eq!(built[0].config.alpn_protocols, [b"http/1.1".to_vec()]);
        let suites: Vec<String> = built[0]
            .config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(suites, TlsProfile::chrome_like().cipher_suites);
        assert_eq!(built[1].config.alpn_protocols, [b"h2".to_vec()]);
        assert!(!built[0].config.key_log.will_log("CLIENT_RANDOM"));
    }

    #[test]
    fn bad_profiles_and_missing_alpn_are_refused() {
        let trust = Trust::default();
        let roots = Arc::new(root_store(&trust).unwrap());
        let unknown = TlsProfile {
            cipher_suites: alpn(&["TLS_NULL_WITH_NULL_NULL"]),
            ..TlsProfile::named("bad")
        };
        assert!(matches!(
            client_config(&trust, &roots, &unknown, &[], None),
            Err(ConfigError::Profile {
                source: ProfileError::UnknownCipherSuite(_),
                ..
            })
        ));
        let group = TlsProfile {
            kx_groups: alpn(&["ffdhe2048"]),
            ..TlsProfile::named("bad")
        };
        assert!(matches!(
            client_config(&trust, &roots, &group, &[], None),
            Err(ConfigError::Profile {
                source: ProfileError::UnknownKxGroup(_),
                ..
            })
        ));
        let e = client_config(
            &trust,
            &roots,
            &TlsProfile::named("p"),
            &alpn(&["http/1.1"]),
            Some("h2"),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ConfigError::Alpn(a) if a.required == "h2"),
            "{e}"
        );
    }

    #[test]
    fn key_log_is_opt_in() {
        let trust = Trust {
            key_log: true,
            ..Trust::default()
        };
        let roots = Arc::new(root_store(&trust).unwrap());
        let config = client_config(&trust, &roots, &TlsProfile::named("k"), &[], None).unwrap();
        // KeyLogFile logs only when SSLKEYLOGFILE names a file; its Debug shows the type.
        assert!(format!("{:?}", config.key_log).contains("KeyLogFile"));
    }
}
