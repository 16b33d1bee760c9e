//! TCP + BoringSSL: a profile turned into an `SslConnector` (once, at dialer build) and the
//! per-connection settings BoringSSL only takes on an `Ssl` (key shares, ALPS, ECH GREASE);
//! the handshake with SNI and the certificate verified for the host name.

use std::pin::Pin;
use std::sync::Arc;

use btls::error::ErrorStack;
use btls::pkey::PKey;
use btls::ssl::{
    ExtensionType, KeyShare, SslConnector, SslContextBuilder, SslMethod, SslOptions,
    SslSignatureAlgorithm, SslVersion,
};
use btls::x509::X509;
use http::HeaderValue;
use pool_core::{DialError, DialErrorKind, Target};
use pool_dial::metrics::TlsMetrics;
use pool_dial::{ClientCert, EgressStream, TlsInfo, dial_tcp, warn_insecure_dial};
use tokio::time::Instant;

use crate::error::BoringError;
use crate::options::{BoringOptions, Mode};
use crate::profiles::{BrowserProfile, ExtensionOrder};
use crate::proxy_tls::{BoringProxyTls, ProxyTlsStream};
use crate::roots::load_roots;
use crate::session::SessionCache;

/// The TLS stream of a boring connection: over the TCP connection, or over the tunnel
/// inside TLS to an `https://` proxy.
pub(crate) type BoringStream = tokio_btls::SslStream<EgressStream<ProxyTlsStream>>;

/// The ALPN name of HTTP/1.1.
const HTTP1: &str = "http/1.1";

/// A profile ready to dial with.
pub(crate) struct BuiltProfile {
    pub(crate) profile: BrowserProfile,
    pub(crate) name: Arc<str>,
    connector: SslConnector,
    /// The sessions of this profile's connections (one cache per connector).
    sessions: Arc<SessionCache>,
    key_shares: Vec<KeyShare>,
    pub(crate) user_agent: HeaderValue,
    pub(crate) accept_language: HeaderValue,
    pub(crate) accept_encoding: HeaderValue,
}

fn cipher_name(profile: &str, id: u16) -> Result<&'static str, BoringError> {
    btls::ssl::SslCipher::from_value(id)
        .map(|c| c.name())
        .ok_or(BoringError::Unsupported {
            profile: profile.to_owned(),
            field: "cipher_suites",
            value: id,
        })
}

fn group_name(profile: &str, id: u16) -> Result<(&'static str, KeyShare), BoringError> {
    Ok(match id {
        4588 => ("X25519MLKEM768", KeyShare::X25519_MLKEM768),
        29 => ("X25519", KeyShare::X25519),
        23 => ("P-256", KeyShare::P256),
        24 => ("P-384", KeyShare::P384),
        25 => ("P-521", KeyShare::P521),
        256 => ("ffdhe2048", KeyShare::FFDHE2048),
        257 => ("ffdhe3072", KeyShare::FFDHE3072),
        _ => {
            return Err(BoringError::Unsupported {
                profile: profile.to_owned(),
                field: "groups",
                value: id,
            });
        }
    })
}

fn sigalg_name(profile: &str, id: u16) -> Result<&'static str, BoringError> {
    Ok(match id {
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0203 => "ecdsa_sha1",
        _ => {
            return Err(BoringError::Unsupported {
                profile: profile.to_owned(),
                field: "delegated_credentials",
                value: id,
            });
        }
    })
}

fn ssl_version(v: u16) -> Option<SslVersion> {
    SslVersion::try_from(v).ok()
}

fn version_code(v: SslVersion) -> Option<u16> {
    [
        (SslVersion::TLS1, 0x0301),
        (SslVersion::TLS1_1, 0x0302),
        (SslVersion::TLS1_2, 0x0303),
        (SslVersion::TLS1_3, 0x0304),
    ]
    .into_iter()
    .find_map(|(known, code)| (known == v).then_some(code))
}

/// The ALPN wire format of `protocols`.
fn alpn_wire(protocols: &[String]) -> Vec<u8> {
    let mut wire = Vec::new();
    for p in protocols {
        wire.push(u8::try_from(p.len()).unwrap_or(u8::MAX));
        wire.extend_from_slice(p.as_bytes());
    }
    wire
}

/// The ALPN list a profile offers in `mode`: its own (h2 required in `H2` mode), or just
/// `http/1.1` in `H1` mode.
fn alpn_for(profile: &BrowserProfile, mode: Mode) -> Result<Vec<String>, BoringError> {
    let has = |p: &str| profile.tls.alpn.iter().any(|a| a == p);
    match mode {
        Mode::H2 if !has("h2") => Err(BoringError::Alpn {
            profile: profile.name.clone(),
            alpn: "h2",
            mode,
        }),
        Mode::H1 => Ok(vec![HTTP1.to_owned()]),
        _ => Ok(profile.tls.alpn.clone()),
    }
}

/// The client certificate (mutual TLS) every connection of this context offers.
fn use_client_cert(b: &mut SslContextBuilder, cert: &ClientCert) -> Result<(), BoringError> {
    let bad = |what: &str, e: ErrorStack| BoringError::ClientCert(format!("{what}: {e}"));
    let mut chain = X509::stack_from_pem(&cert.chain_pem)
        .map_err(|e| bad("certificate chain", e))?
        .into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| BoringError::ClientCert("the chain holds no certificate".into()))?;
    b.set_certificate(&leaf)
        .map_err(|e| bad("certificate", e))?;
    for intermediate in chain {
        b.add_extra_chain_cert(intermediate)
            .map_err(|e| bad("chain", e))?;
    }
    let key = PKey::private_key_from_pem(&cert.key_pem).map_err(|e| bad("private key", e))?;
    b.set_private_key(&key).map_err(|e| bad("private key", e))?;
    b.check_private_key()
        .map_err(|e| bad("the key does not match the certificate", e))
}

impl BuiltProfile {
    /// The connector for `profile` under `opts`.
    pub(crate) fn build(
        profile: BrowserProfile,
        opts: &BoringOptions,
    ) -> Result<Self, BoringError> {
        let name = profile.name.clone();
        let t = &profile.tls;
        let mut b = SslConnector::bare_builder(SslMethod::tls())?;
        b.set_min_proto_version(ssl_version(t.min_version))?;
        b.set_max_proto_version(ssl_version(t.max_version))?;
        b.set_grease_enabled(t.grease);
        b.set_preserve_tls13_cipher_list(true);
        let ciphers = t
            .cipher_suites
            .iter()
            .map(|&c| cipher_name(&name, c))
            .collect::<Result<Vec<_>, _>>()?;
        b.set_cipher_list(&ciphers.join(":"))?;
        let mut curves = Vec::new();
        for &g in &t.groups {
            curves.push(group_name(&name, g)?.0);
        }
        b.set_curves_list(&curves.join(":"))?;
        let sigalgs: Vec<SslSignatureAlgorithm> = t
            .signature_algorithms
            .iter()
            .map(|&s| SslSignatureAlgorithm::from(s))
            .collect();
        b.set_verify_algorithm_prefs(&sigalgs)?;
        if !t.delegated_credentials.is_empty() {
            let names = t
                .delegated_credentials
                .iter()
                .map(|&s| sigalg_name(&name, s))
                .collect::<Result<Vec<_>, _>>()?;
            b.set_delegated_credentials(&names.join(":"))?;
        }
        match &t.extension_order {
            ExtensionOrder::Permuted => b.set_permute_extensions(true),
            ExtensionOrder::Fixed(order) => {
                let order: Vec<ExtensionType> =
                    order.iter().map(|&e| ExtensionType::from(e)).collect();
                b.set_extension_permutation(&order)?;
            }
        }
        if let Some(limit) = t.record_size_limit {
            b.set_record_size_limit(limit);
        }
        if t.ocsp_stapling {
            b.enable_ocsp_stapling();
        }
        if t.signed_cert_timestamps {
            b.enable_signed_cert_timestamps();
        }
        if !t.session_ticket {
            b.set_options(SslOptions::NO_TICKET);
        }
        b.set_alpn_protos(&alpn_wire(&alpn_for(&profile, opts.mode)?))?;
        for &algorithm in &t.cert_compression {
            crate::compress::register(&mut b, algorithm)?;
        }
        load_roots(&mut b, &opts.trust, opts.system_roots)?;
        if let Some(cert) = &opts.trust.client_cert {
            use_client_cert(&mut b, cert)?;
        }
        let sessions = SessionCache::install(&mut b);
        if opts.trust.key_log
            && let Some(path) = std::env::var_os("SSLKEYLOGFILE")
        {
            b.set_keylog_callback(move |_, line| {
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                {
                    let _ = writeln!(f, "{line}");
                }
            });
        }
        let key_shares = t
            .key_shares
            .iter()
            .map(|&k| group_name(&name, k).map(|(_, share)| share))
            .collect::<Result<Vec<_>, _>>()?;
        let header = |v: &str| {
            HeaderValue::from_str(v).map_err(|source| BoringError::Header {
                profile: name.clone(),
                source,
            })
        };
        let user_agent = header(&profile.user_agent)?;
        let accept_language = header(&profile.accept_language)?;
        let accept_encoding = header(&profile.accept_encoding)?;
        let connector = b.build();
        sessions.bind(connector.context());
        Ok(Self {
            name: Arc::from(name.as_str()),
            connector,
            sessions,
            key_shares,
            user_agent,
            accept_language,
            accept_encoding,
            profile,
        })
    }

    /// TCP connect (through the proxy if any: for an `https://` one, inside TLS to it by
    /// `proxy_tls`), then the TLS handshake for `target.host` (SNI, and the certificate
    /// verified for that name unless verification is off), resuming a session of an
    /// earlier connection to that name when the profile's cache has one. No timeout here:
    /// the dialer bounds the whole dial. A completed handshake is counted in `metrics`.
    pub(crate) async fn connect(
        &self,
        target: &Target,
        opts: &BoringOptions,
        proxy_tls: &BoringProxyTls,
        mode: Mode,
        metrics: &TlsMetrics,
        deadline: Instant,
    ) -> Result<(BoringStream, TlsInfo), DialError> {
        let insecure = opts.trust.danger_accept_invalid_certs;
        if insecure {
            warn_insecure_dial("boring", &target.host, target.addr);
        }
        let ssl = self
            .ssl_for(&target.host, insecure)
            .map_err(handshake_setup)?;
        let proxy = opts.proxy.as_ref();
        let tcp = dial_tcp(
            target,
            proxy,
            proxy_tls,
            &opts.source_addrs,
            &opts.tcp,
            deadline,
        )
        .await?;
        let local_addr = tcp.local_addr();
        let mut stream = tokio_btls::SslStream::new(ssl, tcp).map_err(handshake_setup)?;
        if let Err(e) = Pin::new(&mut stream).connect().await {
            return Err(handshake_error(&stream, &target.host, e));
        }
        let ssl = stream.ssl();
        let resumed = ssl.session_reused();
        metrics.handshake(resumed);
        let alpn = ssl.selected_alpn_protocol().map(<[u8]>::to_vec);
        check_alpn(mode, alpn.as_deref())?;
        let info = TlsInfo::new(
            target.host.clone(),
            target.addr,
            local_addr,
            self.name.clone(),
            alpn,
            ssl.version2().and_then(version_code),
            ssl.current_cipher().map(|c| c.protocol_id()),
            Some(self.accept_language.clone()),
            insecure,
            resumed,
        );
        Ok((stream, info))
    }

    /// The per-connection `Ssl`: SNI + hostname check, key shares, ALPS, ECH GREASE, and
    /// a stored session for `host` to resume.
    fn ssl_for(&self, host: &Arc<str>, insecure: bool) -> Result<btls::ssl::Ssl, BoringError> {
        let t = &self.profile.tls;
        let mut config = self.connector.configure()?.verify_hostname(!insecure);
        config.set_client_key_shares(&self.key_shares)?;
        for proto in &t.alps {
            config.add_application_settings(proto.as_bytes())?;
        }
        if !t.alps.is_empty() {
            config.set_alps_use_new_codepoint(t.alps_new_codepoint);
        }
        config.set_enable_ech_grease(t.ech_grease);
        let mut ssl = config.into_ssl(host)?;
        self.sessions.resume(&mut ssl, host)?;
        Ok(ssl)
    }
}

fn handshake_setup(e: impl Into<BoringError>) -> DialError {
    DialError::new(DialErrorKind::Handshake, e.into())
}

/// A failed handshake as a dial failure: a refused certificate is `Handshake` with a
/// [`BoringError::Certificate`] cause; the server's `no_application_protocol` alert is
/// `Unsupported` (a healthy server, a configuration mismatch); anything else `Handshake`.
fn handshake_error(stream: &BoringStream, host: &Arc<str>, e: btls::ssl::Error) -> DialError {
    // INVALID_CALL: the handshake failed before any certificate was verified (an alert,
    // a protocol error): not a certificate verdict.
    if let Err(verify) = stream.ssl().verify_result()
        && verify != btls::x509::X509VerifyError::INVALID_CALL
    {
        return DialError::new(
            DialErrorKind::Handshake,
            BoringError::Certificate {
                host: host.clone(),
                reason: verify.error_string(),
            },
        );
    }
    let text = e.to_string();
    let kind = if text.contains("NO_APPLICATION_PROTOCOL") {
        DialErrorKind::Unsupported
    } else {
        DialErrorKind::Handshake
    };
    DialError::new(kind, e)
}

/// The negotiated ALPN against the mode: `H2` needs `h2` (another one `Unsupported`, none
/// `Protocol`); `H1` and `Auto` accept what they speak, none meaning HTTP/1.1.
fn check_alpn(mode: Mode, got: Option<&[u8]>) -> Result<(), DialError> {
    let bad = |kind, why: &str| Err(DialError::new(kind, format!("ALPN: {why}")));
    match (mode, got) {
        (Mode::H2, Some(b"h2")) => Ok(()),
        (Mode::H2, None) => bad(
            DialErrorKind::Protocol,
            "the server chose none, h2 required",
        ),
        (Mode::H2, Some(_)) => bad(DialErrorKind::Unsupported, "the server chose other than h2"),
        (Mode::H1, None | Some(b"http/1.1")) => Ok(()),
        (Mode::Auto, None | Some(b"http/1.1" | b"h2")) => Ok(()),
        (_, Some(_)) => bad(
            DialErrorKind::Unsupported,
            "the server chose a protocol this dialer does not speak",
        ),
    }
}
