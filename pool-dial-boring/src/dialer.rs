//! [`BoringDialer`] and its connection [`BoringConn`]: HTTP/2 ([`BoringH2Conn`], `http2`)
//! or HTTP/1.1 (`pool_dial::H1Conn`, hyper) over TCP + BoringSSL, as the mode and the
//! server's ALPN choice say.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use pool_core::{Connection, DialError, DialErrorKind, Dialer, ProbeVerdict, Target};
use pool_dial::metrics::TlsMetrics;
use pool_dial::{AlpnBody, AlpnConn, H1Conn, RoundRobin, TlsInfo, dial_timeout};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};

use crate::error::BoringError;
use crate::h2::{BoringH2Body, BoringH2Conn, HeaderShape, Limits};
use crate::options::BoringOptions;
use crate::profiles::BrowserProfile;
use crate::proxy_tls::BoringProxyTls;
use crate::tls::BuiltProfile;

/// One profile, built: its TLS connector and its HTTP/2 client settings.
struct Built {
    tls: BuiltProfile,
    h2: http2::client::Builder,
}

/// Dials TCP + BoringSSL connections whose ClientHello and HTTP/2 preface are a browser
/// profile's, one profile per connection (rotated as configured): TCP connect, the TLS
/// handshake (SNI, the certificate verified for the host name), ALPN checked against the
/// mode, the HTTP/2 handshake and one PING (or hyper's HTTP/1.1 handshake), all within
/// `conn_timeout`; then the optional validation request within `test_timeout`.
///
/// A drop-in for `pool_dial_rustls::H2Dialer` (mode [`Mode::H2`](crate::Mode::H2)),
/// `H1Dialer` ([`Mode::H1`](crate::Mode::H1)) or `HttpsDialer`
/// ([`Mode::Auto`](crate::Mode::Auto)): its connection implements `pool_core::Connection`
/// and `pool_http::HttpConnection`, so the pool and the request API are the same.
pub struct BoringDialer {
    opts: BoringOptions,
    profiles: RoundRobin<Built>,
    /// Handshakes and resumptions (`pool_dial::metrics`, shared with the rustls dialers).
    metrics: TlsMetrics,
    /// The TLS handshake with an `https://` proxy (inert for other proxies and none).
    proxy_tls: BoringProxyTls,
}

impl BoringDialer {
    /// A dialer with these options. Fails when BoringSSL refuses a profile's values, a
    /// profile does not offer `h2` in [`Mode::H2`](crate::Mode::H2), a CA file is
    /// unreadable, or there are no trust roots.
    pub fn new(mut options: BoringOptions) -> Result<Self, BoringError> {
        if options.profiles.is_empty() {
            options.profiles.push(BrowserProfile::chrome());
        }
        if options.trust.danger_accept_invalid_certs {
            tracing::warn!(
                "pool-dial-boring: certificate verification is OFF (danger_accept_invalid_certs)"
            );
        }
        let profiles = options
            .profiles
            .iter()
            .map(|p| {
                Ok(Built {
                    h2: crate::h2::builder(&p.name, &p.h2)?,
                    tls: BuiltProfile::build(p.clone(), &options)?,
                })
            })
            .collect::<Result<Vec<_>, BoringError>>()?;
        Ok(Self {
            profiles: RoundRobin::new(profiles),
            proxy_tls: BoringProxyTls::new(&options)?,
            opts: options,
            metrics: TlsMetrics::new(),
        })
    }

    /// The options this dialer runs with.
    pub fn options(&self) -> &BoringOptions {
        &self.opts
    }

    async fn connect(
        &self,
        built: &Built,
        target: &Target,
        deadline: Instant,
    ) -> Result<BoringConn, DialError> {
        let opts = &self.opts;
        let (tls, info) = built
            .tls
            .connect(
                target,
                opts,
                &self.proxy_tls,
                opts.mode,
                &self.metrics,
                deadline,
            )
            .await?;
        let shape = HeaderShape::of(&built.tls);
        let inner = if info.alpn.as_deref() == Some(b"h2") {
            let limits = Limits {
                test_timeout: opts.test_timeout,
                max_streams_cap: opts.max_streams_cap.max(1),
                max_response_body: opts.max_response_body,
                max_header_list: opts.max_response_header_size,
            };
            AlpnConn::H2(crate::h2::establish(tls, info, &built.tls, &built.h2, limits).await?)
        } else {
            let max = opts.max_response_header_size;
            AlpnConn::H1(H1Conn::establish_with(tls, info, max, true).await?)
        };
        Ok(BoringConn {
            inner,
            shape,
            validation_requests: AtomicU64::new(0),
        })
    }
}

impl std::fmt::Debug for BoringDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoringDialer")
            .field("mode", &self.opts.mode)
            .field("profiles", &self.profiles.len())
            .finish_non_exhaustive()
    }
}

impl Dialer for BoringDialer {
    type Conn = BoringConn;

    async fn dial(&self, target: &Target) -> Result<BoringConn, DialError> {
        let opts = &self.opts;
        let built = opts
            .profile_rotation
            .pick(&self.profiles)
            .ok_or_else(|| DialError::new(DialErrorKind::Handshake, "no profile"))?;
        let deadline = Instant::now() + opts.conn_timeout;
        let conn = tokio::time::timeout_at(deadline, self.connect(built, target, deadline))
            .await
            .map_err(|_| dial_timeout("connect + TLS + HTTP handshake", opts.conn_timeout))??;
        if let Some(validation) = &opts.validation {
            pool_http::validate(&conn, validation, opts.test_timeout).await?;
            // The validation request does not make the connection "reused" for callers.
            conn.validation_requests
                .store(conn.inner.requests_sent(), Ordering::Relaxed);
        }
        Ok(conn)
    }
}

/// A connection of a [`BoringDialer`]: HTTP/2 (shared by the peer's stream limit) or
/// HTTP/1.1 (exclusive), as the mode and the server's ALPN choice made it. Requests get the
/// profile's `User-Agent` and `Accept-Language` when they set none, and go out with the
/// profile's header order.
#[derive(Debug)]
pub struct BoringConn {
    /// `pool_dial`'s ALPN enum over this engine's HTTP/2 connection.
    inner: AlpnConn<BoringH2Conn>,
    shape: HeaderShape,
    /// Requests the dial's validation sent (not counted in `requests_sent`).
    validation_requests: AtomicU64,
}

impl BoringConn {
    /// What the connection was made under and negotiated (the profile's name in
    /// `profile`).
    pub fn info(&self) -> &TlsInfo {
        self.inner.info()
    }

    /// The HTTP/2 connection, when it is one (its PING, for instance).
    pub fn as_h2(&self) -> Option<&BoringH2Conn> {
        match &self.inner {
            AlpnConn::H2(c) => Some(c),
            AlpnConn::H1(_) => None,
        }
    }
}

impl Connection for BoringConn {
    fn protocol(&self) -> Protocol {
        self.inner.protocol()
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.closed()
    }

    fn close_reason(&self) -> pool_core::CloseReason {
        self.inner.close_reason()
    }

    async fn probe(&self) -> ProbeVerdict {
        self.inner.probe().await
    }
}

impl HttpConnection for BoringConn {
    type ResponseBody = BoringBody;

    async fn send<B>(&self, request: Request<B>) -> Result<Response<BoringBody>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let request = if let AlpnConn::H1(_) = &self.inner {
            // The HTTP/2 connection applies the shape itself (and orders the headers).
            let (mut parts, body) = request.into_parts();
            self.shape.apply(&mut parts.headers, true);
            Request::from_parts(parts, body)
        } else {
            request
        };
        self.inner.send(request).await
    }

    fn requests_sent(&self) -> u64 {
        self.inner
            .requests_sent()
            .saturating_sub(self.validation_requests.load(Ordering::Relaxed))
    }
}

/// The response body of a [`BoringConn`]: the chosen protocol's (`pool_dial::AlpnBody`
/// with the `http2` body).
pub type BoringBody = AlpnBody<BoringH2Body>;
