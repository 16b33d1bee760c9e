//! Trust roots for rustls: `pool-dial`'s [`Trust`] (webpki-roots, extra CA files and
//! certificates, the insecure switch) loaded into a [`RootCertStore`].

use std::path::PathBuf;

use pool_dial::Trust;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::{CaFileError, ConfigError};

/// The trust roots: webpki-roots and/or the extra CAs. Empty roots are an error unless
/// verification is off.
pub fn root_store(trust: &Trust) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    if trust.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in &trust.extra_ca_files {
        let bad = |source: CaFileError| ConfigError::CaFile {
            path: path.clone(),
            source,
        };
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.into()))? {
            let cert = cert.map_err(|e| bad(e.into()))?;
            roots.add(cert).map_err(|e| bad(e.into()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(CaFileError::Empty));
        }
    }
    for cert in &trust.extra_ca_certs {
        roots
            .add(CertificateDer::from(cert.clone()))
            .map_err(|e| ConfigError::CaFile {
                path: PathBuf::from("<extra_ca_certs>"),
                source: e.into(),
            })?;
    }
    if roots.is_empty() && !trust.danger_accept_invalid_certs {
        return Err(ConfigError::NoRoots);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_required_unless_verification_is_off() {
        let none = Trust {
            webpki_roots: false,
            ..Trust::default()
        };
        assert!(matches!(root_store(&none), Err(ConfigError::NoRoots)));
        let insecure = Trust {
            danger_accept_invalid_certs: true,
            ..none
        };
        assert!(root_store(&insecure).unwrap().is_empty());
        assert!(!root_store(&Trust::default()).unwrap().is_empty());
    }

    #[test]
    fn unreadable_and_empty_ca_files_are_named() {
        let dir = std::env::temp_dir().join(format!("pool-rustls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for (path, want_empty) in [(dir.join("missing.pem"), false), (empty, true)] {
            let trust = Trust {
                extra_ca_files: vec![path.clone()],
                ..Trust::default()
            };
            match root_store(&trust) {
                Err(ConfigError::CaFile { path: p, source }) => {
                    assert_eq!(p, path);
                    assert_eq!(matches!(source, CaFileError::Empty), want_empty, "{source}");
                }
                other => panic!("{path:?}: {other:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
