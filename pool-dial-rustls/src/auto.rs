//! Auto ALPN: one HTTPS dialer that offers `h2, http/1.1` and pools each connection as
//! what the origin chose — HTTP/2 shared by the peer's stream limit, HTTP/1.1 exclusive —
//! as Envoy's mixed pool does.

use pool_core::{DialError, Dialer, Target};
use pool_dial::{AlpnBody, AlpnConn, H1Conn, H2Windows, dial_timeout};
use pool_rustls::ConfigError;
use tokio::time::Instant;

use crate::H2Body;
use crate::h2::{H2Conn, H2Dialer};
use crate::options::{H2Options, TlsOptions};
use crate::tls::{AlpnRule, HTTP1_ALPN, TlsCore};

/// A connection of an [`HttpsDialer`]: HTTP/2 ([`H2Conn`]) or HTTP/1.1, as the server chose
/// by ALPN (`pool-dial`'s [`AlpnConn`], shared with the BoringSSL engine).
pub type HttpsConn<H = H2Conn> = AlpnConn<H>;

/// The response body of an [`HttpsConn`]: the chosen protocol's (`pool-dial`'s
/// [`AlpnBody`]).
pub type HttpsBody<B = H2Body> = AlpnBody<B>;

/// Options of an [`HttpsDialer`].
#[derive(Clone, Debug)]
pub struct HttpsOptions {
    /// The TLS layer. Its ALPN list defaults to `["h2", "http/1.1"]` here: the server
    /// picks. A negotiated protocol other than these is `Unsupported` (the IP is not
    /// penalised); none negotiated is HTTP/1.1.
    pub tls: TlsOptions,
    /// The cap on concurrent streams of an HTTP/2 connection (see
    /// [`H2Options::max_streams_cap`]). Default: 256.
    pub max_streams_cap: usize,
    /// The receive windows of an HTTP/2 connection (see [`H2Options::windows`]).
    /// Default: [`H2Windows::default`].
    pub h2_windows: H2Windows,
}

impl Default for HttpsOptions {
    fn default() -> Self {
        Self {
            tls: TlsOptions {
                alpn: vec!["h2".to_owned(), HTTP1_ALPN.to_owned()],
                ..TlsOptions::default()
            },
            max_streams_cap: H2Options::default().max_streams_cap,
            h2_windows: H2Windows::default(),
        }
    }
}

/// Dials HTTPS connections offering `h2, http/1.1` and keeps each as the protocol the
/// server chose: [`HttpsConn::H2`] (capacity = the peer's stream limit) or
/// [`HttpsConn::H1`] (capacity 1). Validation runs in the chosen protocol.
pub struct HttpsDialer {
    core: TlsCore,
    h2: H2Dialer,
}

impl HttpsDialer {
    /// A dialer with these options. Fails like [`TlsDialer::new`](crate::TlsDialer::new).
    pub fn new(options: HttpsOptions) -> Result<Self, ConfigError> {
        let h2 = H2Dialer::new(H2Options {
            tls: TlsOptions {
                alpn: vec!["h2".to_owned()],
                ..options.tls.clone()
            },
            max_streams_cap: options.max_streams_cap,
            windows: options.h2_windows,
            ..H2Options::default()
        })?;
        Ok(Self {
            core: TlsCore::with_rule(options.tls, AlpnRule::Speaks(&["h2", HTTP1_ALPN]))?,
            h2,
        })
    }

    /// The TLS options this dialer runs with.
    pub fn options(&self) -> &TlsOptions {
        &self.core.opts
    }

    async fn connect(&self, target: &Target, deadline: Instant) -> Result<HttpsConn, DialError> {
        let (tls, info) = self.core.connect(target, deadline).await?;
        Ok(if info.alpn.as_deref() == Some(b"h2") {
            HttpsConn::H2(self.h2.establish(tls, info).await?)
        } else {
            HttpsConn::H1(
                H1Conn::establish(tls, info, self.core.opts.max_response_header_size).await?,
            )
        })
    }
}

impl std::fmt::Debug for HttpsDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsDialer").finish_non_exhaustive()
    }
}

impl Dialer for HttpsDialer {
    type Conn = HttpsConn;

    async fn dial(&self, target: &Target) -> Result<HttpsConn, DialError> {
        let opts = &self.core.opts;
        let deadline = Instant::now() + opts.conn_timeout;
        let conn = tokio::time::timeout_at(deadline, self.connect(target, deadline))
            .await
            .map_err(|_| dial_timeout("connect + TLS + HTTP handshake", opts.conn_timeout))??;
        match &conn {
            HttpsConn::H1(c) => {
                c.validate(opts.validation.as_ref(), opts.test_timeout)
                    .await?
            }
            HttpsConn::H2(c) => self.h2.validate(c).await?,
        }
        Ok(conn)
    }
}
