//! The TLS handshake with an `https://` proxy, by rustls: `pool-dial`'s [`ProxyTls`] for
//! this crate's dialers (`docs/egress.md`, "https:// proxies").

use std::sync::Arc;

use pool_dial::{EgressStream, Proxy, ProxyError, ProxyScheme, ProxyTls};
use pool_rustls::{ConfigError, TlsProfile, Trust, client_config, root_store};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::options::TlsOptions;

/// The TLS stream to an `https://` proxy.
pub type ProxyTlsStream = TlsStream<TcpStream>;

/// The TLS stream of every connection of this crate's dialers: rustls over what the TCP
/// dial gave (the TCP connection, or the tunnel inside TLS to an `https://` proxy).
pub type DialedTls = TlsStream<EgressStream<ProxyTlsStream>>;

/// The rustls config of the proxy's TLS, built with the dialer when its proxy is
/// `https://` (none otherwise).
pub(crate) struct RustlsProxyTls {
    connector: Option<TlsConnector>,
}

impl RustlsProxyTls {
    /// For `opts.proxy`: the dialer's roots and extra CAs (`opts.trust`), verification
    /// always on (the origin's `danger_accept_invalid_certs` is not the proxy's), no client
    /// certificate (that identity is the origin's), ALPN `http/1.1`, rustls' default
    /// suites and versions, a session store of its own (the proxy's sessions resume).
    pub(crate) fn new(opts: &TlsOptions) -> Result<Self, ConfigError> {
        let https = opts
            .proxy
            .as_ref()
            .is_some_and(|p| p.scheme() == ProxyScheme::Https);
        if !https {
            return Ok(Self { connector: None });
        }
        let trust = Trust {
            danger_accept_invalid_certs: false,
            client_cert: None,
            ..opts.trust.clone()
        };
        let roots = Arc::new(root_store(&trust)?);
        let config = client_config(
            &trust,
            &roots,
            &TlsProfile::named("https-proxy"),
            &["http/1.1".to_owned()],
            None,
        )?;
        Ok(Self {
            connector: Some(TlsConnector::from(Arc::new(config))),
        })
    }
}

impl ProxyTls for RustlsProxyTls {
    type Stream = ProxyTlsStream;

    async fn handshake(&self, proxy: &Proxy, tcp: TcpStream) -> Result<ProxyTlsStream, ProxyError> {
        let Some(connector) = &self.connector else {
            // `new` builds it whenever the dialer's proxy is https://.
            return Err(ProxyError::tls(proxy, "no TLS config for this proxy"));
        };
        let name =
            ServerName::try_from(proxy.host().to_owned()).map_err(|e| ProxyError::tls(proxy, e))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| ProxyError::tls(proxy, e))
    }
}
