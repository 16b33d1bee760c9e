//! `https://` proxies: the seam where a TLS engine supplies the TLS handshake with the
//! proxy ([`ProxyTls`]), and the stream a TCP dial hands back ([`EgressStream`]): the TCP
//! connection itself (direct, or a tunnel through an `http://` or SOCKS proxy), or the TLS
//! connection to an `https://` proxy that carries the tunnel. The origin's TLS then runs
//! inside it: TLS in TLS.
//!
//! pool-dial has no TLS engine: rustls (`pool-dial-rustls`) and BoringSSL
//! (`pool-dial-boring`) each implement [`ProxyTls`] with their own, and the `CONNECT` inside
//! is [`super::open_tunnel`], the same code as for `http://` proxies.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Proxy, ProxyError};

/// The TLS handshake with an `https://` proxy, supplied by a TLS engine to
/// [`dial_tcp`](crate::dial_tcp).
///
/// An implementation verifies the proxy's certificate for **the proxy's host**
/// ([`Proxy::host`]: a name, or an IP literal checked against the certificate's IP
/// addresses) with the dialer's trust (its roots and extra CA certificates), never with
/// the origin's `danger_accept_invalid_certs` (curl's `--insecure` does not apply to the
/// proxy either), and offers ALPN `http/1.1` only. Its failure is a [`ProxyError::Tls`].
/// The caller bounds it by the dial's deadline.
pub trait ProxyTls: Send + Sync {
    /// The TLS stream to the proxy.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The handshake with `proxy` on `tcp` (connected to it).
    fn handshake(
        &self,
        proxy: &Proxy,
        tcp: TcpStream,
    ) -> impl Future<Output = Result<Self::Stream, ProxyError>> + Send;
}

/// No TLS engine (the plain `http://` dialer): an `https://` proxy is refused with
/// [`ProxyError::Unsupported`], within the dial, and counted as the proxy's fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProxyTls;

impl ProxyTls for NoProxyTls {
    type Stream = TcpStream;

    async fn handshake(&self, proxy: &Proxy, _tcp: TcpStream) -> Result<TcpStream, ProxyError> {
        Err(ProxyError::Unsupported {
            proxy: proxy.endpoint(),
            target: String::new(),
            reason: "an https:// proxy needs a TLS engine: this dialer (http://) has none",
        })
    }
}

/// What a TCP dial ([`dial_tcp`](crate::dial_tcp)) hands back: the byte stream to the
/// origin, on which the dialer runs its TLS handshake. Either the TCP connection itself
/// (a direct dial, or a tunnel through an `http://` or SOCKS proxy), or the TLS stream `S`
/// to an `https://` proxy carrying the tunnel (boxed once per dial, so a direct connection
/// is no larger for it; each read or write is one `match` more, no allocation).
#[derive(Debug)]
pub struct EgressStream<S> {
    io: Io<S>,
    local_addr: SocketAddr,
}

#[derive(Debug)]
enum Io<S> {
    Tcp(TcpStream),
    ProxyTls(Box<S>),
}

impl<S> EgressStream<S> {
    /// A TCP connection (direct, or a tunnel through an `http://` or SOCKS proxy).
    pub fn tcp(stream: TcpStream) -> io::Result<Self> {
        Ok(Self {
            local_addr: stream.local_addr()?,
            io: Io::Tcp(stream),
        })
    }

    /// The TLS stream to an `https://` proxy (the tunnel inside it open), whose TCP
    /// connection left from `local_addr`.
    pub fn proxy_tls(stream: S, local_addr: SocketAddr) -> Self {
        Self {
            io: Io::ProxyTls(Box::new(stream)),
            local_addr,
        }
    }

    /// The local address of the TCP connection (to the origin, or to the proxy).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TCP connection, when the origin's bytes run on it directly (not inside TLS to
    /// an `https://` proxy).
    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match &self.io {
            Io::Tcp(tcp) => Some(tcp),
            Io::ProxyTls(_) => None,
        }
    }

    /// The TCP connection, when the origin's bytes run on it directly (`None` inside TLS to
    /// an `https://` proxy).
    pub fn into_tcp(self) -> Option<TcpStream> {
        match self.io {
            Io::Tcp(tcp) => Some(tcp),
            Io::ProxyTls(_) => None,
        }
    }

    /// Whether the tunnel runs inside TLS to an `https://` proxy.
    pub fn is_proxy_tls(&self) -> bool {
        matches!(self.io, Io::ProxyTls(_))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EgressStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::ProxyTls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EgressStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::ProxyTls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Io::ProxyTls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tcp(tcp) => tcp.is_write_vectored(),
            Io::ProxyTls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::ProxyTls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::ProxyTls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
