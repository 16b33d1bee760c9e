//! The proxy step of a TCP connect: after the TCP connection to the proxy (and, for an
//! `https://` proxy, the TLS handshake with it, which is the dialer's engine's), ask the
//! proxy for a tunnel to the address being dialed. What comes back is a byte stream to the
//! origin, on which the dialer then runs its TLS handshake for the **host name** as usual.
//!
//! - `http://` and `https://` proxies: HTTP `CONNECT` (`http_connect.rs`), Basic auth; for
//!   `https://`, inside the TLS to the proxy that the dialer's engine supplies ([`ProxyTls`]);
//! - `socks5://` (RFC 1928, username/password of RFC 1929), `socks5h://` (the same, naming
//!   the host instead of its address: [`ConnectBy::Name`]);
//! - `socks4://` (an IPv4 address) and `socks4a://` (the host name).
//!
//! By default the proxy is asked for the **address** being dialed (`CONNECT 192.0.2.10:443`),
//! so every address of a host stays its own hot connection behind a proxy;
//! [`ConnectBy::Name`] asks for `host:port` instead, for proxies that require it (the proxy
//! then picks the address).
//!
//! Every reply is bounded ([`MAX_REPLY_HEAD`]); every malformed reply is a typed
//! [`ProxyError`]. Waiting is bounded by the caller (the connect deadline covers the proxy
//! step). Credentials never appear in `Display`, `Debug` or an error.

mod env;
mod http_connect;
mod socks;
mod tls;
mod url;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

pub use env::proxy_from_env;
pub use tls::{EgressStream, NoProxyTls, ProxyTls};
pub use url::ProxyUrlError;

/// The largest HTTP reply head (status line and headers) a proxy may send to a `CONNECT`.
pub const MAX_REPLY_HEAD: usize = 8 * 1024;

/// How a proxy is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// HTTP `CONNECT` over plain TCP (`http://`).
    Http,
    /// HTTP `CONNECT` over TLS to the proxy (`https://`): the origin's TLS runs inside.
    Https,
    /// SOCKS version 5 (`socks5://`, `socks5h://`).
    Socks5,
    /// SOCKS version 4 (`socks4://`: IPv4 addresses only) and 4a (`socks4a://`: names).
    Socks4,
}

impl ProxyScheme {
    /// The URL scheme, as written in a proxy URL (`socks5h` and `socks4a` are
    /// [`ConnectBy::Name`] of `socks5` and `socks4`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Socks5 => "socks5",
            Self::Socks4 => "socks4",
        }
    }
}

/// What the proxy is asked to connect to (`[egress] connect_by` in a config file: `"ip"`,
/// `"name"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ConnectBy {
    /// The IP address being dialed (default): one hot connection per address of the host.
    #[default]
    Ip,
    /// The host name: the proxy resolves it and picks the address.
    Name,
}

/// A proxy user name and password. Neither is ever shown: `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    user: Arc<str>,
    password: Arc<str>,
}

impl Credentials {
    /// A user name and password.
    pub fn new(user: impl Into<Arc<str>>, password: impl Into<Arc<str>>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The user name (for the handshake only: never log it).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password (for the handshake only: never log it).
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// One proxy: how to speak to it, where it is, who we are to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proxy {
    scheme: ProxyScheme,
    host: Arc<str>,
    port: u16,
    credentials: Option<Credentials>,
    connect_by: ConnectBy,
}

impl Proxy {
    /// A proxy without credentials, asked for addresses ([`ConnectBy::Ip`]).
    pub fn new(scheme: ProxyScheme, host: impl Into<Arc<str>>, port: u16) -> Self {
        Self {
            scheme,
            host: host.into(),
            port,
            credentials: None,
            connect_by: ConnectBy::Ip,
        }
    }

    /// Parses a proxy URL as curl does: `scheme://[user[:password]@]host[:port]`, user and
    /// password percent-decoded, no scheme meaning `http://`, default port 1080 (443 for
    /// `https://`). `socks5h://` and `socks4a://` set [`ConnectBy::Name`].
    pub fn parse(url: &str) -> Result<Self, ProxyUrlError> {
        url::parse(url)
    }

    /// The same proxy with these credentials (replacing any from the URL).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The same proxy asked for names or addresses.
    pub fn with_connect_by(mut self, connect_by: ConnectBy) -> Self {
        self.connect_by = connect_by;
        self
    }

    /// How it is spoken to.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host (a name or an address literal, IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Whether the proxy is asked for the address or the host name.
    pub fn connect_by(&self) -> ConnectBy {
        self.connect_by
    }

    /// `host:port` (IPv6 in brackets): the proxy's name in metrics labels, logs and errors.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The URL without credentials: `socks5h://127.0.0.1:1080`.
impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.scheme, self.connect_by) {
            (ProxyScheme::Socks5, ConnectBy::Name) => "socks5h",
            (ProxyScheme::Socks4, ConnectBy::Name) => "socks4a",
            (scheme, _) => scheme.as_str(),
        };
        write!(f, "{scheme}://{}", self.endpoint())
    }
}

/// Why a proxy did not give a tunnel. None of these is the origin's fault: a dial that
/// fails with one is not counted against the origin's address.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy wants credentials (HTTP 407, or SOCKS5 offering only a method we lack).
    #[error("proxy {proxy} requires authentication{}", if *.rejected { " and rejected ours" } else { "" })]
    AuthRequired {
        /// The proxy's endpoint.
        proxy: String,
        /// Whether credentials were sent (and refused).
        rejected: bool,
    },
    /// The proxy answered the `CONNECT` with a status other than 2xx (403, 502, 503 ...).
    #[error("proxy {proxy} refused the tunnel to {target}: HTTP {status}")]
    Refused {
        /// The proxy's endpoint.
        proxy: String,
        /// What was asked for (`ip:port` or `host:port`).
        target: String,
        /// The HTTP status.
        status: u16,
    },
    /// A SOCKS proxy refused the connect request.
    #[error("proxy {proxy} refused the tunnel to {target}: SOCKS reply {code:#04x} ({reason})")]
    SocksRefused {
        /// The proxy's endpoint.
        proxy: String,
        /// What was asked for.
        target: String,
        /// The reply code.
        code: u8,
        /// What the code means.
        reason: &'static str,
    },
    /// The proxy's reply does not follow its protocol (or is longer than allowed).
    #[error("proxy {proxy}: malformed reply: {reason}")]
    Malformed {
        /// The proxy's endpoint.
        proxy: String,
        /// What was wrong.
        reason: String,
    },
    /// The request cannot be expressed in the proxy's protocol (an IPv6 address to a SOCKS4
    /// proxy, a name or credential longer than 255 bytes for SOCKS5).
    #[error("proxy {proxy}: cannot ask for {target}: {reason}")]
    Unsupported {
        /// The proxy's endpoint.
        proxy: String,
        /// What was to be asked for.
        target: String,
        /// Why it cannot be.
        reason: &'static str,
    },
    /// The proxy step (connect to the proxy and its reply) did not end by the dial's
    /// deadline: a proxy that accepts and never answers, or answers without end.
    #[error("proxy {proxy} did not open a tunnel by the dial's deadline")]
    Timeout {
        /// The proxy's endpoint.
        proxy: String,
    },
    /// The TLS handshake with an `https://` proxy failed: its certificate not trusted or
    /// not for the proxy's host, the handshake refused or cut short.
    #[error("proxy {proxy}: TLS handshake with the proxy failed: {source}")]
    Tls {
        /// The proxy's endpoint.
        proxy: String,
        /// The TLS engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading from or writing to the proxy failed (including its closing the connection
    /// before the end of its reply).
    #[error("proxy {proxy}: {source}")]
    Io {
        /// The proxy's endpoint.
        proxy: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Asks `proxy`, over `io` (already connected to it: TCP, or TLS for an `https://` proxy),
/// for a tunnel to `addr` (or `host` and `addr`'s port, with [`ConnectBy::Name`]). On `Ok`
/// the next byte on `io` is the origin's.
pub async fn open_tunnel<S>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    addr: SocketAddr,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match proxy.scheme {
        ProxyScheme::Http | ProxyScheme::Https => http_connect::open(io, proxy, host, addr).await,
        ProxyScheme::Socks5 => socks::open_v5(io, proxy, host, addr).await,
        ProxyScheme::Socks4 => socks::open_v4(io, proxy, host, addr).await,
    }
}

/// What the proxy is asked for, as `host:port` text (IPv6 in brackets).
fn target_text(proxy: &Proxy, host: &str, addr: SocketAddr) -> String {
    match proxy.connect_by {
        ConnectBy::Ip => addr.to_string(),
        ConnectBy::Name if host.contains(':') => format!("[{host}]:{}", addr.port()),
        ConnectBy::Name => format!("{host}:{}", addr.port()),
    }
}

impl ProxyError {
    /// An I/O failure talking to `proxy`.
    pub(crate) fn io(proxy: &Proxy, source: std::io::Error) -> Self {
        Self::Io {
            proxy: proxy.endpoint(),
            source,
        }
    }

    /// The TLS handshake with `proxy` failed (for the engines' [`ProxyTls`]).
    pub fn tls(proxy: &Proxy, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Tls {
            proxy: proxy.endpoint(),
            source: source.into(),
        }
    }

    fn malformed(proxy: &Proxy, reason: impl Into<String>) -> Self {
        Self::Malformed {
            proxy: proxy.endpoint(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The byte level, against a scripted peer on an in-memory pipe: exact requests, and
    //! every malformed or hostile reply a typed error.
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Runs the proxy step against a peer that answers `reply` (in one write, then keeps the
    /// pipe open); returns the step's result and the bytes the step sent.
    async fn against(
        proxy: &Proxy,
        host: &str,
        addr: &str,
        reply: &[u8],
    ) -> (Result<(), ProxyError>, Vec<u8>) {
        let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let reply = reply.to_vec();
        let peer = tokio::spawn(async move {
            theirs.write_all(&reply).await.unwrap();
            let mut sent = Vec::new();
            let mut buf = [0u8; 1024];
            // Collect what the step sends until it drops its end.
            while let Ok(n) = theirs.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sent.extend_from_slice(&buf[..n]);
            }
            sent
        });
        let result = open_tunnel(&mut ours, proxy, host, addr.parse().unwrap()).await;
        drop(ours);
        (result, peer.await.unwrap())
    }

    fn proxy(scheme: ProxyScheme) -> Proxy {
        Proxy::new(scheme, "127.0.0.1", 1080)
    }

    #[tokio::test]
    async fn connect_names_the_address_and_sends_basic_auth() {
        let p = proxy(ProxyScheme::Http).with_credentials(Credentials::new("u", "p w"));
        let (result, sent) = against(
            &p,
            "origin.test",
            "192.0.2.10:443",
            b"HTTP/1.1 200 OK\r\n\r\n",
        )
        .await;
        result.unwrap();
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "CONNECT 192.0.2.10:443 HTTP/1.1\r\nHost: 192.0.2.10:443\r\n\
             Proxy-Authorization: Basic dTpwIHc=\r\n\r\n"
        );
        let by_name = proxy(ProxyScheme::Http).with_connect_by(ConnectBy::Name);
        let (result, sent) = against(
            &by_name,
            "origin.test",
            "[2001:db8::1]:8443",
            b"HTTP/1.0 200 Connection established\r\nProxy-Agent: x\r\n\r\n",
        )
        .await;
        result.unwrap();
        assert!(
            String::from_utf8(sent)
                .unwrap()
                .starts_with("CONNECT origin.test:8443 HTTP/1.1\r\n")
        );
    }

    #[tokio::test]
    async fn malformed_http_replies_are_typed() {
        let p = proxy(ProxyScheme::Http);
        let cases: [(&[u8], &str); 4] = [
            (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "status line"),
            (b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01", "bytes after"),
            (&[b'x'; MAX_REPLY_HEAD + 2048], "longer than"),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
        ];
        for (reply, expect) in cases {
            let (result, _) = against(&p, "h", "192.0.2.1:443", reply).await;
            match result {
                Err(ProxyError::Malformed { reason, .. }) => {
                    assert!(reason.contains(expect), "{reason}")
                }
                other => panic!("{expect}: {other:?}"),
            }
        }
        let (result, _) = against(
            &p,
            "h",
            "192.0.2.1:443",
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad",
        )
        .await;
        assert!(
            matches!(result, Err(ProxyError::Refused { status: 502, .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_reply_cut_short_is_an_io_error() {
        let (mut ours, theirs) = tokio::io::duplex(1024);
        let peer = tokio::spawn(async move {
            let mut theirs = theirs;
            theirs.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
            // and hangs up
        });
        let result = open_tunnel(
            &mut ours,
            &proxy(ProxyScheme::Http),
            "h",
            "192.0.2.1:443".parse().unwrap(),
        )
        .await;
        peer.await.unwrap();
        assert!(matches!(result, Err(ProxyError::Io { .. })), "{result:?}");
    }

    #[tokio::test]
    async fn socks5_requests_and_hostile_replies() {
        let p = proxy(ProxyScheme::Socks5).with_credentials(Credentials::new("ab", "c"));
        // method 2, auth ok, reply with a domain-name bound address.
        let reply = [&[5, 2, 1, 0][..], &[5, 0, 0, 3, 3], b"abc", &[1, 187]].concat();
        let (result, sent) = against(&p, "h", "192.0.2.7:443", &reply).await;
        result.unwrap();
        let want = [
            &[5, 2, 0, 2][..],
            &[1, 2],
            b"ab",
            &[1],
            b"c",
            &[5, 1, 0, 1, 192, 0, 2, 7, 1, 187],
        ]
        .concat();
        assert_eq!(sent, want);

        let by_name = proxy(ProxyScheme::Socks5).with_connect_by(ConnectBy::Name);
        let (result, sent) = against(
            &by_name,
            "origin.test",
            "[::1]:443",
            &[
                5, 0, 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 187,
            ],
        )
        .await;
        result.unwrap();
        assert_eq!(&sent[3..8], &[5, 1, 0, 3, 11]);

        let anonymous = proxy(ProxyScheme::Socks5);
        let cases: [(&[u8], &str); 4] = [
            (&[5, 0, 5, 0, 0, 9, 1, 2], "unknown address type 9"),
            (&[4, 0], "SOCKS version 4"),
            (&[5, 2], "not offered"),
            (&[5, 0, 6, 0, 0, 1], "SOCKS version 6"),
        ];
        for (reply, expect) in cases {
            let (result, _) = against(&anonymous, "h", "192.0.2.1:443", reply).await;
            match result {
                Err(ProxyError::Malformed { reason, .. }) => {
                    assert!(reason.contains(expect), "{reason}")
                }
                other => panic!("{expect}: {other:?}"),
            }
        }
        let (result, _) = against(&anonymous, "h", "192.0.2.1:443", &[5, 0xff]).await;
        assert!(
            matches!(
                result,
                Err(ProxyError::AuthRequired {
                    rejected: false,
                    ..
                })
            ),
            "{result:?}"
        );
        let (result, _) = against(&anonymous, "h", "192.0.2.1:443", &[5, 0, 5, 2, 0, 1]).await;
        assert!(
            matches!(
                result,
                Err(ProxyError::SocksRefused {
                    code: 2,
                    reason: "not allowed by ruleset",
                    ..
                })
            ),
            "{result:?}"
        );
        let long = "x".repeat(300);
        let (result, sent) = against(&by_name, &long, "192.0.2.1:443", &[]).await;
        assert!(
            matches!(result, Err(ProxyError::Unsupported { .. })),
            "{result:?}"
        );
        assert!(
            sent.is_empty(),
            "nothing is sent for a request that cannot be made"
        );
    }

    #[tokio::test]
    async fn socks4a_sends_the_name_after_the_user_id() {
        let p = proxy(ProxyScheme::Socks4)
            .with_connect_by(ConnectBy::Name)
            .with_credentials(Credentials::new("id", ""));
        let (result, sent) = against(
            &p,
            "origin.test",
            "192.0.2.1:443",
            &[0, 0x5a, 0, 0, 0, 0, 0, 0],
        )
        .await;
        result.unwrap();
        let want = [&[4, 1, 1, 187, 0, 0, 0, 1][..], b"id\0", b"origin.test\0"].concat();
        assert_eq!(sent, want);
        let (result, _) = against(
            &p,
            "origin.test",
            "192.0.2.1:443",
            &[0, 0x5c, 0, 0, 0, 0, 0, 0],
        )
        .await;
        assert!(
            matches!(result, Err(ProxyError::SocksRefused { code: 0x5c, .. })),
            "{result:?}"
        );
        let (result, _) = against(
            &p,
            "origin.test",
            "192.0.2.1:443",
            &[5, 0, 0, 0, 0, 0, 0, 0],
        )
        .await;
        assert!(
            matches!(result, Err(ProxyError::Malformed { .. })),
            "{result:?}"
        );
    }
}
