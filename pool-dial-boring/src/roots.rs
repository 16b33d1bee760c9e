//! The trust store of a BoringSSL connector (the origin's and an https:// proxy's):
//! extra CA files and certificates, the system's roots, or no verification at all.

use btls::ssl::SslVerifyMode;
use btls::x509::X509;
use btls::x509::store::X509StoreBuilder;
use pool_dial::Trust;

use crate::error::BoringError;

/// The trust store of `trust` (+ the system's roots), or nothing when verification is off.
pub(crate) fn load_roots(
    builder: &mut btls::ssl::SslConnectorBuilder,
    trust: &Trust,
    system_roots: bool,
) -> Result<(), BoringError> {
    if trust.danger_accept_invalid_certs {
        builder.set_verify(SslVerifyMode::NONE);
        return Ok(());
    }
    builder.set_verify(SslVerifyMode::PEER);
    let mut store = X509StoreBuilder::new()?;
    let mut count = 0usize;
    for path in &trust.extra_ca_files {
        let bad = |reason: String| BoringError::CaFile {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = X509::stack_from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no certificate in it".to_owned()));
        }
        for cert in certs {
            store.add_cert(cert)?;
            count += 1;
        }
    }
    for der in &trust.extra_ca_certs {
        store.add_cert(X509::from_der(der)?)?;
        count += 1;
    }
    // webpki-roots holds trust anchors (subject, key, constraints), not certificates, and
    // BoringSSL verifies against certificates: `webpki_roots` here means the system bundle,
    // which on Debian (ca-certificates) is the same Mozilla root program (docs/boring.md).
    let use_system = system_roots || trust.webpki_roots;
    if use_system {
        store.set_default_paths()?;
    }
    if count == 0 && !use_system {
        return Err(BoringError::NoRoots);
    }
    builder.set_cert_store_builder(store);
    Ok(())
}
