//! The TLS handshake with an `https://` proxy, by BoringSSL: `pool-dial`'s [`ProxyTls`] for
//! this crate's dialer (`docs/egress.md`, "https:// proxies"). A plain client handshake
//! (BoringSSL's defaults, TLS 1.2 and up), not the browser profile: the profile's
//! fingerprint is for the origin, which sees it inside the tunnel.

use std::pin::Pin;

use btls::ssl::{SslConnector, SslMethod, SslVersion};
use pool_dial::{Proxy, ProxyError, ProxyScheme, ProxyTls, Trust};
use tokio::net::TcpStream;

use crate::error::BoringError;
use crate::options::BoringOptions;
use crate::roots::load_roots;

/// The TLS stream to an `https://` proxy.
pub(crate) type ProxyTlsStream = tokio_btls::SslStream<TcpStream>;

/// The connector of the proxy's TLS, built with the dialer when its proxy is `https://`
/// (none otherwise).
pub(crate) struct BoringProxyTls {
    connector: Option<SslConnector>,
}

impl BoringProxyTls {
    /// For `opts.proxy`: the dialer's roots (`opts.trust`, `opts.system_roots`) with
    /// verification always on (the origin's `danger_accept_invalid_certs` is not the
    /// proxy's), no client certificate (that identity is the origin's), ALPN `http/1.1`.
    pub(crate) fn new(opts: &BoringOptions) -> Result<Self, BoringError> {
        let https = opts
            .proxy
            .as_ref()
            .is_some_and(|p| p.scheme() == ProxyScheme::Https);
        if !https {
            return Ok(Self { connector: None });
        }
        let mut b = SslConnector::bare_builder(SslMethod::tls())?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        b.set_alpn_protos(b"\x08http/1.1")?;
        let trust = Trust {
            danger_accept_invalid_certs: false,
            client_cert: None,
            ..opts.trust.clone()
        };
        load_roots(&mut b, &trust, opts.system_roots)?;
        Ok(Self {
            connector: Some(b.build()),
        })
    }
}

impl ProxyTls for BoringProxyTls {
    type Stream = ProxyTlsStream;

    async fn handshake(&self, proxy: &Proxy, tcp: TcpStream) -> Result<ProxyTlsStream, ProxyError> {
        let Some(connector) = &self.connector else {
            // `new` builds it whenever the dialer's proxy is https://.
            return Err(ProxyError::tls(proxy, "no TLS config for this proxy"));
        };
        // SNI for a name (none for an IP literal); the certificate checked for the name or
        // the address.
        let ssl = connector
            .configure()
            .and_then(|c| c.into_ssl(proxy.host()))
            .map_err(|e| ProxyError::tls(proxy, e))?;
        let mut stream =
            tokio_btls::SslStream::new(ssl, tcp).map_err(|e| ProxyError::tls(proxy, e))?;
        if let Err(e) = Pin::new(&mut stream).connect().await {
            // A certificate verdict says more than the handshake's error stack.
            if let Err(verify) = stream.ssl().verify_result()
                && verify != btls::x509::X509VerifyError::INVALID_CALL
            {
                let reason = format!("certificate refused: {}", verify.error_string());
                return Err(ProxyError::tls(proxy, reason));
            }
            return Err(ProxyError::tls(proxy, e));
        }
        Ok(stream)
    }
}
