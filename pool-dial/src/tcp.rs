//! TCP connect: the one TCP dial of every TCP dialer ([`connect_tcp`]) and its socket
//! options ([`TcpOptions`]: keepalive, `TCP_USER_TIMEOUT`; see `docs/tcp-keepalive.md`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

use pool_core::{DialError, DialErrorKind, Target};
use tokio::time::Instant;

use crate::proxy::{EgressStream, Proxy, ProxyError, ProxyScheme, ProxyTls, open_tunnel};
use crate::source::SourceAddrs;

/// TCP socket options set on every TCP dial (both TLS engines'):
/// keepalive probes and `TCP_USER_TIMEOUT`, so a silently dropped path (a NAT or firewall
/// that forgot the flow, a peer that vanished) is found on an idle connection instead of
/// at the next request's deadline. The defaults and why: `docs/tcp-keepalive.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    /// Keepalive probes (`SO_KEEPALIVE` with `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
    /// `TCP_KEEPCNT`); `None`: no keepalive. Default: [`TcpKeepalive::default`].
    pub keepalive: Option<TcpKeepalive>,
    /// `TCP_USER_TIMEOUT` (Linux): the connection is reset once sent data (or, on an idle
    /// connection, a keepalive probe) has gone unacknowledged this long; `None`: the
    /// kernel's default (retransmissions for ~15 minutes).
    /// Default: 20 s.
    pub user_timeout: Option<Duration>,
}

/// The keepalive part of [`TcpOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`, whole seconds, at least 1).
    /// Default: 15 s (Go's `net.Dialer`).
    pub idle: Duration,
    /// Time between unanswered probes (`TCP_KEEPINTVL`, whole seconds, at least 1).
    /// Default: 5 s.
    pub interval: Duration,
    /// Unanswered probes before the connection is reset (`TCP_KEEPCNT`), when no
    /// `user_timeout` decides first. Default: 3.
    pub retries: u32,
}

impl Default for TcpKeepalive {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(15),
            interval: Duration::from_secs(5),
            retries: 3,
        }
    }
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            keepalive: Some(TcpKeepalive::default()),
            user_timeout: Some(Duration::from_secs(20)),
        }
    }
}

impl TcpOptions {
    /// No keepalive and the kernel's retransmission timeout: a plain socket.
    pub fn off() -> Self {
        Self {
            keepalive: None,
            user_timeout: None,
        }
    }

    /// Sets these options on `socket` (before connect, so they hold from the SYN on).
    fn apply(&self, socket: &Socket) -> io::Result<()> {
        let named = |what: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        if let Some(k) = self.keepalive {
            // Linux counts both in whole seconds and refuses 0.
            let second = Duration::from_secs(1);
            let params = socket2::TcpKeepalive::new()
                .with_time(k.idle.max(second))
                .with_interval(k.interval.max(second))
                .with_retries(k.retries);
            socket.set_keepalive(true).map_err(named("SO_KEEPALIVE"))?;
            socket
                .set_tcp_keepalive(&params)
                .map_err(named("TCP keepalive parameters"))?;
        }
        if let Some(t) = self.user_timeout {
            socket
                .set_tcp_user_timeout(Some(t))
                .map_err(named("TCP_USER_TIMEOUT"))?;
        }
        Ok(())
    }
}

/// A TCP connection to `addr` (TCP_NODELAY on, `tcp`'s keepalive and `TCP_USER_TIMEOUT`),
/// bound to the next source address of its family if any: the one TCP dial of both TLS
/// engines, and the place where an egress step (a proxy's CONNECT / SOCKS5 handshake) goes.
/// Read the options back with `socket2::SockRef::from(&stream)`. No timeout here: callers
/// bound the whole dial with their `conn_timeout`.
pub async fn connect_tcp(
    addr: SocketAddr,
    sources: &SourceAddrs,
    tcp: &TcpOptions,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    tcp.apply(&socket)?;
    if let Some((ip, from_prefix)) = sources.pick(addr.ip()) {
        if from_prefix {
            socket.set_freebind_v6(true)?;
        }
        let local = SocketAddr::new(ip, 0);
        socket
            .bind(&local.into())
            .map_err(|e| io::Error::new(e.kind(), format!("bind {local}: {e}")))?;
    }
    let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The TCP dial of every TCP dialer: a TCP connection to `target.addr`, directly or through
/// `proxy` (connect to the proxy, from a rotated source address and with `tcp`'s options;
/// for an `https://` proxy, the TLS handshake with it by `proxy_tls`, the dialer's engine;
/// then ask it for a tunnel: see [`crate::proxy`]). On `Ok` the stream carries the origin's
/// bytes; the caller's TLS handshake follows for `target.host` as usual (for an `https://`
/// proxy, inside the proxy's TLS).
///
/// `deadline` is the dial's (the caller bounds the whole dial by it too): the proxy step
/// (TCP, the proxy's TLS, its reply) ends by it with its own error, so a proxy that hangs is
/// the proxy's failure ([`DialErrorKind::Proxy`], the address not penalised), not the
/// address's timeout. Errors: [`DialError::connect`] for a direct connect; `Proxy` for
/// everything in the proxy step except local resource exhaustion (`Local`).
pub async fn dial_tcp<T: ProxyTls>(
    target: &Target,
    proxy: Option<&Proxy>,
    proxy_tls: &T,
    sources: &SourceAddrs,
    tcp: &TcpOptions,
    deadline: Instant,
) -> Result<EgressStream<T::Stream>, DialError> {
    let Some(proxy) = proxy else {
        let stream = connect_tcp(target.addr, sources, tcp)
            .await
            .map_err(DialError::connect)?;
        return EgressStream::tcp(stream).map_err(DialError::connect);
    };
    let step = async {
        let at = proxy_addr(proxy).await?;
        let connected = connect_tcp(at, sources, tcp).await.and_then(|stream| {
            let local = stream.local_addr()?;
            Ok((stream, local))
        });
        let (mut stream, local) = connected.map_err(|e| match DialErrorKind::of_connect(&e) {
            DialErrorKind::Local => DialError::connect(e),
            _ => proxy_failed(ProxyError::io(proxy, e)),
        })?;
        if proxy.scheme() == ProxyScheme::Https {
            let mut tls = proxy_tls
                .handshake(proxy, stream)
                .await
                .map_err(proxy_failed)?;
            open_tunnel(&mut tls, proxy, &target.host, target.addr)
                .await
                .map_err(proxy_failed)?;
            return Ok(EgressStream::proxy_tls(tls, local));
        }
        open_tunnel(&mut stream, proxy, &target.host, target.addr)
            .await
            .map_err(proxy_failed)?;
        EgressStream::tcp(stream).map_err(|e| proxy_failed(ProxyError::io(proxy, e)))
    };
    match tokio::time::timeout_at(deadline, step).await {
        Ok(result) => result,
        Err(_) => Err(proxy_failed(ProxyError::Timeout {
            proxy: proxy.endpoint(),
        })),
    }
}

/// The proxy's address: its host as an IP literal, else the system resolver's first answer.
async fn proxy_addr(proxy: &Proxy) -> Result<SocketAddr, DialError> {
    if let Ok(ip) = proxy.host().parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, proxy.port()));
    }
    let resolved = tokio::net::lookup_host((proxy.host(), proxy.port()))
        .await
        .map_err(|e| proxy_failed(ProxyError::io(proxy, e)))?
        .next();
    resolved.ok_or_else(|| {
        let none = io::Error::new(io::ErrorKind::NotFound, "the proxy's name has no address");
        proxy_failed(ProxyError::io(proxy, none))
    })
}

fn proxy_failed(error: ProxyError) -> DialError {
    DialError::new(DialErrorKind::Proxy, error)
}

#[cfg(test)]
mod tests {
    //! The seam of `https://` proxies: the engine's handshake runs on the TCP connection to
    //! the proxy, and the `CONNECT` goes inside what it returns. A pass-through "TLS" here
    //! (the engines' real TLS: `tests/tests/https_proxy.rs`).
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Counts handshakes and hands the TCP stream back unchanged.
    #[derive(Default)]
    struct PassThrough(AtomicUsize);

    impl ProxyTls for PassThrough {
        type Stream = TcpStream;

        async fn handshake(&self, _: &Proxy, tcp: TcpStream) -> Result<TcpStream, ProxyError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(tcp)
        }
    }

    /// A proxy that answers every `CONNECT` with 200 and then echoes.
    async fn connect_proxy() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    assert!(head.starts_with(b"CONNECT 192.0.2.1:443 "));
                    socket.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_https_proxy_tunnels_inside_the_engines_handshake() {
        let at = connect_proxy().await;
        let target = Target {
            host: "origin.test".into(),
            addr: "192.0.2.1:443".parse().unwrap(),
        };
        let tls = PassThrough::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let dial = |scheme| {
            let proxy = Proxy::new(scheme, "127.0.0.1", at.port());
            let (tls, target) = (&tls, &target);
            async move {
                let sources = SourceAddrs::default();
                dial_tcp(
                    target,
                    Some(&proxy),
                    tls,
                    &sources,
                    &TcpOptions::off(),
                    deadline,
                )
                .await
            }
        };

        let mut stream = dial(ProxyScheme::Https).await.unwrap();
        assert_eq!(
            tls.0.load(Ordering::SeqCst),
            1,
            "one handshake with the proxy"
        );
        assert!(stream.is_proxy_tls() && stream.as_tcp().is_none());
        assert!(stream.local_addr().ip().is_loopback());
        stream.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        stream.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"ping", "the tunnel carries bytes both ways");

        let plain = dial(ProxyScheme::Http).await.unwrap();
        assert_eq!(
            tls.0.load(Ordering::SeqCst),
            1,
            "no TLS to an http:// proxy"
        );
        assert!(!plain.is_proxy_tls());
        assert_eq!(
            plain.as_tcp().map(|t| t.local_addr().unwrap()),
            Some(plain.local_addr())
        );
    }

    #[test]
    fn a_direct_stream_is_not_grown_by_the_proxy_tls_variant() {
        // The TLS stream to a proxy is boxed once per dial: the enum stays TcpStream-sized.
        let direct = std::mem::size_of::<TcpStream>();
        let egress = std::mem::size_of::<EgressStream<[u8; 4096]>>();
        assert!(egress <= direct + 32, "{egress} vs {direct}");
    }
}
