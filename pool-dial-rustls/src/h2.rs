//! HTTP/2 over the pooled TLS stream: [`H2Dialer`], whose connections are `pool-dial`'s
//! [`H2Conn`] (shared with the plain dialer's h2c), carrying `pool-http`'s request API.

use http::uri::Scheme;
use pool_core::{DialError, DialErrorKind, Dialer, Target};
use pool_rustls::ConfigError;
use tokio::time::Instant;

pub use pool_dial::H2Conn;
use pool_dial::{H2ConnSettings, H2Windows, TlsInfo, dial_timeout};

use crate::options::H2Options;
use crate::tls::TlsCore;

/// Dials HTTP/2 connections: a TLS connection as [`TlsDialer`](crate::TlsDialer) makes
/// it, with `h2` required by ALPN, then the h2 handshake, the connection driver spawned,
/// and one PING round trip (so the peer's SETTINGS, sent before its PING ack, are known
/// when the pool reads the capacity). Then the optional validation request.
pub struct H2Dialer {
    core: TlsCore,
    max_streams_cap: usize,
    max_response_body: usize,
    windows: H2Windows,
}

impl H2Dialer {
    /// A dialer with these options. Fails like [`TlsDialer::new`](crate::TlsDialer::new),
    /// and when a profile does not offer `h2`.
    pub fn new(options: H2Options) -> Result<Self, ConfigError> {
        Ok(Self {
            core: TlsCore::new(options.tls, Some("h2"))?,
            max_streams_cap: options.max_streams_cap.max(1),
            max_response_body: options.max_response_body,
            windows: options.windows.clamped(),
        })
    }

    async fn connect(&self, target: &Target, deadline: Instant) -> Result<H2Conn, DialError> {
        let (tls, info) = self.core.connect(target, deadline).await?;
        self.establish(tls, info).await
    }

    /// The HTTP/2 handshake on an established TLS stream (ALPN `h2` checked), the driver
    /// spawned, one PING round trip ([`H2Conn::establish`]). Used by the auto-ALPN
    /// dialer too.
    pub(crate) async fn establish(
        &self,
        tls: crate::DialedTls,
        info: TlsInfo,
    ) -> Result<H2Conn, DialError> {
        let settings = H2ConnSettings {
            scheme: Scheme::HTTPS,
            max_response_header_size: self.core.opts.max_response_header_size,
            windows: self.windows,
            test_timeout: self.core.opts.test_timeout,
            max_streams_cap: self.max_streams_cap,
            max_response_body: self.max_response_body,
        };
        H2Conn::establish(tls, info, &settings, |e| {
            DialError::new(DialErrorKind::Protocol, e)
        })
        .await
    }
}

impl std::fmt::Debug for H2Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Dialer").finish_non_exhaustive()
    }
}

impl Dialer for H2Dialer {
    type Conn = H2Conn;

    async fn dial(&self, target: &Target) -> Result<H2Conn, DialError> {
        let opts = &self.core.opts;
        let deadline = Instant::now() + opts.conn_timeout;
        let conn = tokio::time::timeout_at(deadline, self.connect(target, deadline))
            .await
            .map_err(|_| dial_timeout("connect + TLS + HTTP/2 handshake", opts.conn_timeout))??;
        self.validate(&conn).await?;
        Ok(conn)
    }
}

impl H2Dialer {
    /// The dial's validation request, if configured; not counted in `requests_sent`.
    pub(crate) async fn validate(&self, conn: &H2Conn) -> Result<(), DialError> {
        let opts = &self.core.opts;
        match &opts.validation {
            Some(validation) => conn.validate(validation, opts.test_timeout).await,
            None => Ok(()),
        }
    }
}
