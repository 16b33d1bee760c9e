//! Auto ALPN: one HTTPS dialer that offers `h2, http/1.1` and pools each connection as
//! what the origin chose — HTTP/2 shared by the peer's stream limit, HTTP/1.1 exclusive —
//! as Envoy's mixed pool does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pool_core::{Connection, DialError, Dialer, ProbeVerdict, Target};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};
use pool_rustls::ConfigError;

use crate::h1::{H1Body, H1Conn};
use crate::h2::{H2Conn, H2Dialer};
use crate::h2like::H2Body;
use crate::options::{H2Options, H2Windows, TlsOptions};
use crate::tls::{AlpnRule, HTTP1_ALPN, TlsCore, TlsInfo, timeout_error};

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

    async fn connect(&self, target: &Target) -> Result<HttpsConn, DialError> {
        let (tls, info) = self.core.connect(target).await?;
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
        let conn = tokio::time::timeout(opts.conn_timeout, self.connect(target))
            .await
            .map_err(|_| timeout_error("connect + TLS + HTTP handshake", opts.conn_timeout))??;
        match &conn {
            HttpsConn::H1(c) => c.validate(opts).await?,
            HttpsConn::H2(c) => self.h2.validate(c).await?,
        }
        Ok(conn)
    }
}

/// A connection of an [`HttpsDialer`]: HTTP/2 or HTTP/1.1, as the server chose by ALPN.
/// `H` is the HTTP/2 connection: h2's by default, another engine's (`pool-dial-boring`'s) else.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "clippy sizes the generic H as 0 bytes; both engines' HTTP/2 connections are as large as H1Conn"
)]
pub enum HttpsConn<H = H2Conn> {
    /// HTTP/1.1 (exclusive).
    H1(H1Conn),
    /// HTTP/2 (shared by the peer's stream limit).
    H2(H),
}

impl HttpsConn {
    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        match self {
            HttpsConn::H1(c) => c.info(),
            HttpsConn::H2(c) => c.info(),
        }
    }
}

impl<H: Connection> Connection for HttpsConn<H> {
    fn protocol(&self) -> Protocol {
        match self {
            HttpsConn::H1(c) => c.protocol(),
            HttpsConn::H2(c) => c.protocol(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            HttpsConn::H1(c) => c.capacity(),
            HttpsConn::H2(c) => c.capacity(),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            HttpsConn::H1(c) => c.is_closed(),
            HttpsConn::H2(c) => c.is_closed(),
        }
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let (h1, h2) = match self {
            HttpsConn::H1(c) => (Some(c.closed()), None),
            HttpsConn::H2(c) => (None, Some(c.closed())),
        };
        async move {
            match (h1, h2) {
                (Some(f), _) => f.await,
                (_, Some(f)) => f.await,
                (None, None) => {}
            }
        }
    }

    fn close_reason(&self) -> pool_core::CloseReason {
        match self {
            HttpsConn::H1(c) => c.close_reason(),
            HttpsConn::H2(c) => c.close_reason(),
        }
    }

    async fn probe(&self) -> ProbeVerdict {
        match self {
            HttpsConn::H1(c) => c.probe().await,
            HttpsConn::H2(c) => c.probe().await,
        }
    }
}

impl<H: HttpConnection> HttpConnection for HttpsConn<H> {
    type ResponseBody = HttpsBody<H::ResponseBody>;

    async fn send<B>(
        &self,
        request: Request<B>,
    ) -> Result<Response<HttpsBody<H::ResponseBody>>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        Ok(match self {
            HttpsConn::H1(c) => c.send(request).await?.map(HttpsBody::H1),
            HttpsConn::H2(c) => c.send(request).await?.map(HttpsBody::H2),
        })
    }

    fn requests_sent(&self) -> u64 {
        match self {
            HttpsConn::H1(c) => c.requests_sent(),
            HttpsConn::H2(c) => c.requests_sent(),
        }
    }
}

/// The response body of an [`HttpsConn`]: the chosen protocol's. `B` is the HTTP/2 body:
/// h2's by default, another crate's for another engine (`pool-dial-boring`'s `BoringBody`).
#[derive(Debug)]
pub enum HttpsBody<B = H2Body> {
    /// An HTTP/1.1 body.
    H1(H1Body),
    /// An HTTP/2 body.
    H2(B),
}

impl<B> Body for HttpsBody<B>
where
    B: Body<Data = Bytes, Error = RequestError> + Unpin,
{
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        match self.get_mut() {
            HttpsBody::H1(b) => Pin::new(b).poll_frame(cx),
            HttpsBody::H2(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            HttpsBody::H1(b) => b.is_end_stream(),
            HttpsBody::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            HttpsBody::H1(b) => b.size_hint(),
            HttpsBody::H2(b) => b.size_hint(),
        }
    }
}
