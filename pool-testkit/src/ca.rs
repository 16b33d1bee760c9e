//! A throw-away certificate authority generated at run time.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The crypto provider every rustls config of the kit is built with (ring, as in the
/// rest of the workspace).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config (ring provider, safe default versions) that trusts only the CA
/// certificate `ca` (DER; e.g. [`TestCa::ca_cert_der`] received from another process) and
/// offers `alpn`.
pub fn client_config_trusting(
    ca: CertificateDer<'static>,
    alpn: &[&[u8]],
) -> io::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("CA certificate: {e}")))?;
    client_config_with_roots(roots, alpn)
}

fn client_config_with_roots(
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
) -> io::Result<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("client TLS config: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

/// A certificate chain (leaf first) and its private key, as rustls wants them.
#[derive(Debug)]
pub struct IssuedCert {
    /// The chain: the leaf, then the CA certificate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
}

impl Clone for IssuedCert {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A certificate authority created in memory for tests and the demo.
///
/// Every `TestCa` is fresh (a new key pair), so a client that trusts one CA rejects the
/// certificates of another: this is how tests produce an "unknown issuer" failure.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn rcgen_err(what: &str, e: rcgen::Error) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl TestCa {
    /// Generates a new CA (ECDSA P-256 key, self-signed, CN "hotpool test CA").
    pub fn new() -> io::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| rcgen_err("CA parameters", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "hotpool test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(|e| rcgen_err("CA key", e))?;
        let issuer = CertifiedIssuer::self_signed(params, key)
            .map_err(|e| rcgen_err("CA certificate", e))?;
        Ok(Self { issuer })
    }

    /// Issues a server certificate for `names` (DNS names; strings that parse as IP
    /// addresses become IP SANs). Returns the chain (leaf, CA) and the leaf's key.
    pub fn issue(&self, names: &[&str]) -> io::Result<IssuedCert> {
        let (cert, key) = self.server_leaf(names)?;
        Ok(IssuedCert {
            chain: vec![cert.der().clone(), self.issuer.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// [`TestCa::issue`] as PEM, for servers that read files (stunnel): (the chain, leaf
    /// then CA; the leaf's key, PKCS#8).
    pub fn issue_pem(&self, names: &[&str]) -> io::Result<(String, String)> {
        let (cert, key) = self.server_leaf(names)?;
        Ok((cert.pem() + &self.issuer.pem(), key.serialize_pem()))
    }

    fn server_leaf(&self, names: &[&str]) -> io::Result<(rcgen::Certificate, KeyPair)> {
        let sans: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans)
            .map_err(|e| rcgen_err(&format!("certificate names {names:?}"), e))?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.is_ca = IsCa::NoCa;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(|e| rcgen_err("leaf key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| rcgen_err("leaf certificate", e))?;
        Ok((cert, key))
    }

    /// The CA certificate, PEM encoded.
    pub fn ca_cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate, DER encoded.
    pub fn ca_cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A root store that trusts exactly this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        // Our own freshly generated CA certificate always parses; should it not, the
        // store stays empty and every handshake fails with UnknownIssuer, which is loud.
        if let Err(e) = roots.add(self.ca_cert_der()) {
            tracing::error!(error = %e, "test CA certificate rejected by rustls");
        }
        roots
    }

    /// Writes the CA certificate as PEM to `path` (for "extra CA file" tests).
    pub fn write_ca_pem(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.ca_cert_pem())
    }

    /// A rustls client config (ring provider, safe default versions) that trusts only this
    /// CA and offers `alpn`. Handy for tests and the demo; the pool builds its own.
    pub fn client_config(&self, alpn: &[&[u8]]) -> io::Result<rustls::ClientConfig> {
        client_config_with_roots(self.root_store(), alpn)
    }

    /// A rustls server config (ring provider) presenting a certificate for `names` issued
    /// by this CA, offering `alpn` (empty: no ALPN extension at all), issuing stateless
    /// session tickets (2 per TLS 1.3 handshake, rustls' default). `tls13_only` is for
    /// QUIC.
    pub fn server_config(
        &self,
        names: &[&str],
        alpn: &[Vec<u8>],
        tls13_only: bool,
    ) -> io::Result<rustls::ServerConfig> {
        let issued = self.issue(names)?;
        let builder = rustls::ServerConfig::builder_with_provider(crypto_provider());
        let builder = if tls13_only {
            builder.with_protocol_versions(&[&rustls::version::TLS13])
        } else {
            builder.with_safe_default_protocol_versions()
        }
        .map_err(|e| io::Error::other(format!("server TLS config: {e}")))?;
        let mut cfg = builder
            .with_no_client_auth()
            .with_single_cert(issued.chain, issued.key)
            .map_err(|e| io::Error::other(format!("server certificate: {e}")))?;
        cfg.alpn_protocols = alpn.to_vec();
        // Stateless session tickets (as most web servers issue them), so any number of
        // clients can resume, not only the last 256 sessions of a server-side cache.
        cfg.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| io::Error::other(format!("session ticketer: {e}")))?;
        Ok(cfg)
    }

    /// `config` requiring a client certificate issued by this CA (mutual TLS), same
    /// certificate, ALPN and tickets.
    pub fn requiring_client_certs(
        &self,
        config: rustls::ServerConfig,
    ) -> io::Result<rustls::ServerConfig> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.root_store()),
            crypto_provider(),
        )
        .build()
        .map_err(|e| io::Error::other(format!("client verifier: {e}")))?;
        let mut required = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| io::Error::other(format!("server TLS config: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(config.cert_resolver.clone());
        required.alpn_protocols = config.alpn_protocols.clone();
        required.ticketer = config.ticketer.clone();
        Ok(required)
    }

    /// A client certificate for `name` issued by this CA, as PEM: (chain, key).
    pub fn client_cert_pem(&self, name: &str) -> io::Result<(String, String)> {
        let mut params = CertificateParams::new(vec![name.to_owned()])
            .map_err(|e| rcgen_err(&format!("client certificate name {name:?}"), e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::NoCa;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(|e| rcgen_err("client key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| rcgen_err("client certificate", e))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn ca_pem_file_round_trips_and_certs_chain_to_it() {
        let ca = TestCa::new().expect("CA");
        let path = std::env::temp_dir().join(format!("hotpool-ca-{}.pem", std::process::id()));
        ca.write_ca_pem(&path).expect("write PEM");
        let pem = std::fs::read(&path).expect("read PEM");
        let _ = std::fs::remove_file(&path);
        let parsed = CertificateDer::from_pem_slice(&pem).expect("parse PEM");
        assert_eq!(parsed, ca.ca_cert_der());
        assert_eq!(ca.root_store().len(), 1);

        let issued = ca.issue(&["a.test", "127.0.0.2"]).expect("issue");
        assert_eq!(issued.chain.len(), 2);
        assert_eq!(issued.chain[1], ca.ca_cert_der());
        // Both a TLS 1.2/1.3 and a TLS 1.3-only (QUIC) server config accept the chain.
        ca.server_config(&["a.test"], &[b"h2".to_vec()], false)
            .expect("server config");
        ca.server_config(&["a.test"], &[], true)
            .expect("TLS 1.3 server config");
    }

    #[test]
    fn client_config_trusting_a_der_certificate_rejects_garbage() {
        let ca = TestCa::new().expect("CA");
        let cfg = client_config_trusting(ca.ca_cert_der(), &[b"h2"]).expect("config");
        assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec()]);
        let garbage = CertificateDer::from(vec![1u8, 2, 3]);
        let err = client_config_trusting(garbage, &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn servers_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<TestCa>();
        check::<crate::H2Origin>();
        check::<crate::H3Origin>();
        check::<crate::DnsServer>();
        check::<crate::FaultProxy>();
    }
}
