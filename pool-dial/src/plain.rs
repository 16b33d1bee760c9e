//! `http://` origins: HTTP over plain TCP, no TLS ([`PlainDialer`], [`PlainConn`]).
//!
//! The same pool rules as the TLS dialers: the TCP dial (through [`dial_tcp`], so source
//! addresses, socket options and the proxy step apply) and the protocol's handshake under
//! `conn_timeout` (a typed `Timeout`), then the optional validation request under
//! `test_timeout`; a failed dial drops its socket. Then either
//!
//! - **HTTP/1.1** (the default): `pool-dial`'s [`H1Conn`] over the TCP stream, exclusive
//!   (capacity 1), keep-alive, `Connection: close` honoured — the very connection type of
//!   the TLS dialers; or
//! - **HTTP/2 with prior knowledge** (h2c, RFC 9113 §3.3) when
//!   [`PlainOptions::h2_prior_knowledge`] is set (feature `h2`): the client sends the
//!   HTTP/2 preface at once, no `Upgrade: h2c` dance (RFC 9113 removed it); capacity = the
//!   peer's `SETTINGS_MAX_CONCURRENT_STREAMS`, PING probes, GOAWAY drains — the one
//!   [`H2Session`] of the TLS dialers. A server that does not speak HTTP/2 fails the dial
//!   (`Protocol`).
//!
//! A connection's record is the [`TlsInfo`] every connection of the TCP dialers carries,
//! with nothing negotiated: no TLS version, cipher suite or ALPN (`None`), profile
//! [`PLAIN_PROFILE`], `insecure: false` (no certificate to skip), `resumed: false`. See
//! `docs/plain-http.md`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use pool_core::{Connection, DialError, DialErrorKind, Dialer, ProbeVerdict, Target};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError, Validation};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::alpn::{AlpnBody, AlpnConn};
use crate::conn::dial_timeout;
use crate::h1::H1Conn;
use crate::info::{TlsConnection, TlsInfo};
use crate::proxy::NoProxyTls;
use crate::proxy::Proxy;
use crate::source::SourceAddrs;
use crate::tcp::{TcpOptions, dial_tcp};
use crate::windows::{H2Windows, ReceiveWindow};

/// The [`TlsInfo::profile`] of every plain connection: no TLS profile was used.
pub const PLAIN_PROFILE: &str = "plain";

/// Options of a [`PlainDialer`]: plain pub fields with defaults, as the TLS dialers'.
#[derive(Clone, Debug)]
pub struct PlainOptions {
    /// The TCP connect (and the proxy step) plus the HTTP/2 handshake and its first PING
    /// round trip (h2c) must finish within this: a `Timeout` dial failure otherwise.
    /// HTTP/1.1 has no handshake on the wire: its first exchange is the validation
    /// request (or the caller's first request). Default: 30 s.
    pub conn_timeout: Duration,
    /// Bound of the validation request and of a health probe (h2c: HTTP/2 PING).
    /// Default: 15 s.
    pub test_timeout: Duration,
    /// Local addresses to dial from, rotated per dial and matched to the target's family.
    pub source_addrs: SourceAddrs,
    /// Keepalive and `TCP_USER_TIMEOUT` of the TCP connection (the config's `[tcp]`).
    /// Default: [`TcpOptions::default`].
    pub tcp: TcpOptions,
    /// The proxy every dial goes through, or `None` to dial directly. An `http://` origin
    /// goes through an HTTP proxy by CONNECT as a TLS one does (a tunnel, then this
    /// dialer's HTTP inside it), not by the absolute-form forwarding of plain HTTP: one
    /// proxy step for every dialer, and the proxy sees no request. A proxy that refuses
    /// CONNECT to ports other than 443 (squid's default `SSL_ports` rule) fails the dial
    /// as `Proxy`. Default: `None`.
    pub proxy: Option<Proxy>,
    /// The "hot connect" check run on every new connection before the pool admits it.
    /// `None`: no check.
    pub validation: Option<Validation>,
    /// The largest response header list accepted, in bytes (see the TLS dialers' option
    /// of the same name; the config's `pool.max_response_header_size`). Default:
    /// [`pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE`].
    pub max_response_header_size: usize,
    /// Speak HTTP/2 at once (h2c with prior knowledge, RFC 9113 §3.3) instead of
    /// HTTP/1.1. Only for origins known to speak it: an HTTP/1.1-only server fails the
    /// dial (`Protocol`). Needs the feature `h2` ([`PlainDialer::new`] fails without it).
    /// Default: false.
    pub h2_prior_knowledge: bool,
    /// h2c: the most concurrent streams (leases) one connection carries, whatever the
    /// peer allows. Default: 256 (as the TLS HTTP/2 dialer).
    pub max_streams_cap: usize,
    /// h2c: the most bytes one response body streams (`RequestError::BodyTooLarge`
    /// past it). Default: no limit, as the TLS HTTP/2 dialer (buffering is bounded by
    /// `pool_http::Body::collect`).
    pub max_response_body: usize,
    /// h2c: this side's receive windows and the adaptive mode. Default:
    /// [`H2Windows::default`] (2 MiB per stream, 5 MiB per connection, adaptive).
    pub h2_windows: H2Windows,
}

impl Default for PlainOptions {
    fn default() -> Self {
        Self {
            conn_timeout: Duration::from_secs(30),
            test_timeout: Duration::from_secs(15),
            source_addrs: SourceAddrs::default(),
            tcp: TcpOptions::default(),
            proxy: None,
            validation: None,
            max_response_header_size: pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE,
            h2_prior_knowledge: false,
            max_streams_cap: 256,
            max_response_body: usize::MAX,
            h2_windows: H2Windows::default(),
        }
    }
}

/// [`PlainOptions`] this build cannot honour.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlainOptionsError {
    /// `h2_prior_knowledge` without pool-dial's feature `h2` (the HTTP/2 crate).
    #[error("h2_prior_knowledge needs pool-dial's feature `h2` (HTTP/2 over plain TCP)")]
    H2Unavailable,
}

/// Dials `http://` origins: TCP (through [`dial_tcp`]: source address, socket options,
/// proxy step), then HTTP/1.1 ([`H1Conn`]) or, with
/// [`PlainOptions::h2_prior_knowledge`], HTTP/2 with prior knowledge — the whole dial
/// under `conn_timeout` — then the optional validation request under `test_timeout`.
/// A pool of this dialer holds `http://` connections only: scheme, like ALPN, is part of
/// the dialer's identity, so a connection is never reused for `https://`.
pub struct PlainDialer {
    opts: PlainOptions,
    profile: Arc<str>,
}

impl PlainDialer {
    /// A dialer with these options; fails when they ask for h2c in a build without the
    /// feature `h2`.
    pub fn new(options: PlainOptions) -> Result<Self, PlainOptionsError> {
        if options.h2_prior_knowledge && !cfg!(feature = "h2") {
            return Err(PlainOptionsError::H2Unavailable);
        }
        Ok(Self {
            opts: PlainOptions {
                max_streams_cap: options.max_streams_cap.max(1),
                h2_windows: options.h2_windows.clamped(),
                ..options
            },
            profile: Arc::from(PLAIN_PROFILE),
        })
    }

    /// The options this dialer runs with.
    pub fn options(&self) -> &PlainOptions {
        &self.opts
    }

    /// The TCP dial and the protocol's handshake (no deadline here: `dial` bounds it).
    async fn connect(&self, target: &Target, deadline: Instant) -> Result<PlainConn, DialError> {
        let opts = &self.opts;
        let stream = dial_tcp(
            target,
            opts.proxy.as_ref(),
            &NoProxyTls,
            &opts.source_addrs,
            &opts.tcp,
            deadline,
        )
        .await?;
        // No proxy TLS here (`NoProxyTls` refuses it): the stream is the TCP connection.
        let tcp = stream.into_tcp().ok_or_else(|| {
            DialError::new(
                DialErrorKind::Unsupported,
                "a TLS stream to a proxy without TLS",
            )
        })?;
        let local_addr = tcp
            .local_addr()
            .map_err(|e| DialError::new(DialErrorKind::Connect, e))?;
        let info = TlsInfo::new(
            target.host.clone(),
            target.addr,
            local_addr,
            self.profile.clone(),
            None,
            None,
            None,
            None,
            false,
            false,
        );
        let authority = plain_authority(&info.host, info.addr.port());
        let host = HeaderValue::from_str(&authority)
            .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
        let inner = if opts.h2_prior_knowledge {
            AlpnConn::H2(establish_h2c(tcp, info, opts).await?)
        } else {
            AlpnConn::H1(H1Conn::establish(tcp, info, opts.max_response_header_size).await?)
        };
        Ok(PlainConn { inner, host })
    }
}

impl std::fmt::Debug for PlainDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainDialer")
            .field("h2_prior_knowledge", &self.opts.h2_prior_knowledge)
            .finish_non_exhaustive()
    }
}

impl Dialer for PlainDialer {
    type Conn = PlainConn;

    async fn dial(&self, target: &Target) -> Result<PlainConn, DialError> {
        let opts = &self.opts;
        let deadline = Instant::now() + opts.conn_timeout;
        let what = if opts.h2_prior_knowledge {
            "TCP connect + HTTP/2 handshake (h2c)"
        } else {
            "TCP connect"
        };
        let conn = tokio::time::timeout_at(deadline, self.connect(target, deadline))
            .await
            .map_err(|_| dial_timeout(what, opts.conn_timeout))??;
        if let Some(validation) = &opts.validation {
            match &conn.inner {
                AlpnConn::H1(c) => c.validate(Some(validation), opts.test_timeout).await?,
                #[cfg(feature = "h2")]
                AlpnConn::H2(c) => c.validate(validation, opts.test_timeout).await?,
                #[cfg(not(feature = "h2"))]
                AlpnConn::H2(c) => c.validate(Some(validation), opts.test_timeout).await?,
            }
        }
        Ok(conn)
    }
}

/// The connection in the HTTP/2 slot of [`PlainConn`]: h2c with the feature `h2`.
#[cfg(feature = "h2")]
type H2Side = crate::H2Conn;
/// Without the feature `h2` the HTTP/2 slot is never filled ([`PlainDialer::new`] refuses
/// h2c); any HTTP connection type stands in, so the public types stay the same.
#[cfg(not(feature = "h2"))]
type H2Side = H1Conn;

/// A pooled `http://` connection: HTTP/1.1 (exclusive, keep-alive) or, from a dialer with
/// [`PlainOptions::h2_prior_knowledge`], HTTP/2 (shared by the peer's stream limit).
/// `pool-dial`'s [`AlpnConn`] inside (the protocol chosen by the options, not by ALPN).
///
/// Requests: a relative URI (`/path`) goes to the connection's host — HTTP/1.1 gets a
/// `host` header (`host`, or `host:port` when the port is not 80), HTTP/2 the `http`
/// scheme and that authority (a `host` header the caller set wins in both).
#[derive(Debug)]
pub struct PlainConn {
    inner: AlpnConn<H2Side>,
    /// `host[:port]` (no port when 80): the `host` of a request that names none.
    host: HeaderValue,
}

impl PlainConn {
    /// What the connection was made under: host, address, local address; nothing
    /// negotiated (see the module docs).
    pub fn info(&self) -> &TlsInfo {
        self.inner.info()
    }

    /// The HTTP/2 receive windows in force (h2c); `None` for HTTP/1.1.
    pub fn receive_window(&self) -> Option<ReceiveWindow> {
        match &self.inner {
            AlpnConn::H1(_) => None,
            #[cfg(feature = "h2")]
            AlpnConn::H2(c) => Some(c.receive_window()),
            #[cfg(not(feature = "h2"))]
            AlpnConn::H2(_) => None,
        }
    }
}

impl TlsConnection for PlainConn {
    fn info(&self) -> &TlsInfo {
        self.inner.info()
    }
}

impl Connection for PlainConn {
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

impl HttpConnection for PlainConn {
    type ResponseBody = PlainBody;

    /// Sends `request` on the connection (HTTP/1.1: the one exchange at a time; h2c: a
    /// new stream) and resolves with the response head; the body streams ([`PlainBody`]).
    async fn send<B>(&self, request: Request<B>) -> Result<Response<PlainBody>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let body = match &self.inner {
            AlpnConn::H1(c) => {
                let (mut parts, body) = request.into_parts();
                if parts.uri.authority().is_none() {
                    // The URI stays in origin form (no rewrite in `H1Conn`).
                    parts
                        .headers
                        .entry(header::HOST)
                        .or_insert_with(|| self.host.clone());
                }
                let request = Request::from_parts(parts, body);
                c.send(request).await?.map(AlpnBody::H1)
            }
            AlpnConn::H2(c) => c.send(request).await?.map(AlpnBody::H2),
        };
        Ok(body.map(PlainBody))
    }

    fn requests_sent(&self) -> u64 {
        self.inner.requests_sent()
    }
}

/// The streamed response body of a [`PlainConn`] (HTTP/1.1's or HTTP/2's).
#[derive(Debug)]
pub struct PlainBody(AlpnBody<<H2Side as HttpConnection>::ResponseBody>);

impl Body for PlainBody {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// `host`, or `host:port` when the port is not HTTP's 80: the `host` header and
/// `:authority` of a request on a plain connection that names none.
fn plain_authority(host: &str, port: u16) -> String {
    crate::authority_for(host, port, 80)
}

#[cfg(feature = "h2")]
use h2c::establish_h2c;

#[cfg(not(feature = "h2"))]
async fn establish_h2c(
    _tcp: TcpStream,
    _info: TlsInfo,
    _opts: &PlainOptions,
) -> Result<H2Side, DialError> {
    // `PlainDialer::new` refuses h2c without the feature.
    Err(DialError::new(
        DialErrorKind::Unsupported,
        PlainOptionsError::H2Unavailable,
    ))
}

#[cfg(feature = "h2")]
mod h2c {
    //! HTTP/2 with prior knowledge over the TCP stream (h2 client, the shared
    //! [`H2Session`]).

    use http::uri::Scheme;

    use super::*;

    /// How an HTTP/1.x answer begins: a server that answers the HTTP/2 preface with it
    /// does not speak h2c.
    const HTTP1_HEAD: &[u8] = b"HTTP/";

    /// [`H2Conn::establish`](crate::H2Conn::establish) on the TCP stream (scheme `http`),
    /// as the TLS HTTP/2 dialer does after ALPN.
    /// A server that answers the preface in HTTP/1.x (nginx's 400) does not speak h2c:
    /// `Unsupported` (a healthy server, a configuration mismatch: the address is not
    /// penalised); any other failure (a closed socket, bad frames) is `Protocol`.
    pub(super) async fn establish_h2c(
        tcp: TcpStream,
        info: TlsInfo,
        opts: &PlainOptions,
    ) -> Result<crate::H2Conn, DialError> {
        let head = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tcp = Opening {
            io: tcp,
            seen: 0,
            head: head.clone(),
        };
        let protocol = |e: h2::Error| {
            let head = head
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if head.starts_with(HTTP1_HEAD) {
                DialError::new(
                    DialErrorKind::Unsupported,
                    format!(
                        "the server answered the HTTP/2 preface in HTTP/1.x: it does not \
                         speak h2c (HTTP/2 with prior knowledge) ({e})"
                    ),
                )
            } else {
                DialError::new(DialErrorKind::Protocol, e)
            }
        };
        let settings = crate::H2ConnSettings {
            scheme: Scheme::HTTP,
            max_response_header_size: opts.max_response_header_size,
            windows: opts.h2_windows,
            test_timeout: opts.test_timeout,
            max_streams_cap: opts.max_streams_cap,
            max_response_body: opts.max_response_body,
        };
        crate::H2Conn::establish(tcp, info, &settings, protocol).await
    }

    /// The TCP stream, keeping the first bytes the server sends (up to [`HTTP1_HEAD`]'s
    /// length) for `establish_h2c`'s verdict; after them, a pass-through.
    struct Opening {
        io: TcpStream,
        seen: usize,
        head: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl tokio::io::AsyncRead for Opening {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let this = &mut *self;
            let before = buf.filled().len();
            let polled = Pin::new(&mut this.io).poll_read(cx, buf);
            if this.seen < HTTP1_HEAD.len() && matches!(polled, Poll::Ready(Ok(()))) {
                let read = &buf.filled()[before..];
                let take = read.len().min(HTTP1_HEAD.len() - this.seen);
                let mut head = this
                    .head
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                head.extend_from_slice(&read[..take]);
                this.seen += take;
            }
            polled
        }
    }

    impl tokio::io::AsyncWrite for Opening {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.io).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.io.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.io).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_names_the_port_unless_it_is_80() {
        assert_eq!(plain_authority("a.test", 80), "a.test");
        assert_eq!(plain_authority("a.test", 8080), "a.test:8080");
        assert_eq!(plain_authority("a.test", 443), "a.test:443");
    }

    #[test]
    fn h2c_needs_the_feature() {
        let options = PlainOptions {
            h2_prior_knowledge: true,
            ..PlainOptions::default()
        };
        let made = PlainDialer::new(options);
        assert_eq!(made.is_ok(), cfg!(feature = "h2"), "{made:?}");
        let h1 = PlainDialer::new(PlainOptions::default()).unwrap();
        assert!(!h1.options().h2_prior_knowledge);
    }
}
