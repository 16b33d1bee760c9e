//! HTTP/1.1 over a rustls stream: [`H1Dialer`], whose connections are `pool-dial`'s
//! [`H1Conn`] (one HTTP/1.1 connection type for both TLS engines).

use pool_core::{DialError, Dialer, Target};
use pool_dial::{H1Conn, dial_timeout};
use pool_rustls::ConfigError;
use tokio::time::Instant;

use crate::options::TlsOptions;
use crate::tls::{AlpnRule, HTTP1_ALPN, TlsCore};

/// Dials HTTP/1.1 connections: a TLS connection as [`TlsDialer`](crate::TlsDialer) makes
/// it, offering `http/1.1` (the ALPN list of [`TlsOptions`]); a server that negotiates
/// another protocol fails the dial as `Unsupported` (not counted against the IP), one that
/// negotiates none is taken as HTTP/1.1. Then hyper's HTTP/1.1 handshake, the connection
/// task spawned, and the optional validation request (`pool_http::validate`).
pub struct H1Dialer {
    core: TlsCore,
}

impl H1Dialer {
    /// A dialer with these options (ALPN: keep the default `["http/1.1"]`). Fails like
    /// [`TlsDialer::new`](crate::TlsDialer::new), and when a profile does not offer
    /// `http/1.1`.
    pub fn new(options: TlsOptions) -> Result<Self, ConfigError> {
        Ok(Self {
            core: TlsCore::with_rule(options, AlpnRule::Speaks(&[HTTP1_ALPN]))?,
        })
    }

    /// The options this dialer runs with.
    pub fn options(&self) -> &TlsOptions {
        &self.core.opts
    }
}

impl std::fmt::Debug for H1Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Dialer").finish_non_exhaustive()
    }
}

impl Dialer for H1Dialer {
    type Conn = H1Conn;

    async fn dial(&self, target: &Target) -> Result<H1Conn, DialError> {
        let opts = &self.core.opts;
        let deadline = Instant::now() + opts.conn_timeout;
        let connect = async {
            let (tls, info) = self.core.connect(target, deadline).await?;
            H1Conn::establish(tls, info, opts.max_response_header_size).await
        };
        let conn = tokio::time::timeout_at(deadline, connect)
            .await
            .map_err(|_| dial_timeout("connect + TLS handshake", opts.conn_timeout))??;
        conn.validate(opts.validation.as_ref(), opts.test_timeout)
            .await?;
        Ok(conn)
    }
}
