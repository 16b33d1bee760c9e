//! DNS-over-TLS and DNS-over-HTTPS listeners of a [`DnsServer`](crate::DnsServer): the same
//! zones, failure modes and query counter as its UDP and TCP listeners, behind a
//! certificate of a [`TestCa`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::server::RequestHandler;
use tokio::net::TcpListener;

use crate::TestCa;

/// How long a DoT or DoH client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The DoH request path (RFC 8484's usual one, what resolvers use by default).
pub const DOH_PATH: &str = "/dns-query";

/// The encrypted listeners of a [`DnsServer`](crate::DnsServer) (see
/// [`DnsServerOptions::tls`](crate::DnsServerOptions::tls)).
#[derive(Debug, Clone)]
pub struct DnsTlsOptions {
    /// The CA that issues the server's certificate: a client trusting it (and asking for
    /// one of `names`) gets through, any other client fails its handshake.
    pub ca: Arc<TestCa>,
    /// The names of the certificate: what a client's TLS name must match.
    pub names: Vec<String>,
}

impl DnsTlsOptions {
    /// A certificate for `names`, issued by `ca`.
    pub fn new(ca: &Arc<TestCa>, names: &[&str]) -> Self {
        Self {
            ca: Arc::clone(ca),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

/// The addresses of the encrypted listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlsAddrs {
    /// DNS over TLS (RFC 7858), ALPN `dot`.
    pub(crate) tls: SocketAddr,
    /// DNS over HTTPS (RFC 8484, HTTP/2) at [`DOH_PATH`], ALPN `h2`.
    pub(crate) https: SocketAddr,
}

/// Binds a DoT and a DoH listener on `ip` (each on its own random port) and registers
/// them with `server`.
pub(crate) fn register<H: RequestHandler>(
    server: &mut Server<H>,
    ip: IpAddr,
    options: &DnsTlsOptions,
) -> io::Result<TlsAddrs> {
    let names: Vec<&str> = options.names.iter().map(String::as_str).collect();
    let dot = Arc::new(
        options
            .ca
            .server_config(&names, &[b"dot".to_vec()], false)?,
    );
    let doh = Arc::new(options.ca.server_config(&names, &[b"h2".to_vec()], false)?);
    let tls = listener(ip)?;
    let https = listener(ip)?;
    let addrs = TlsAddrs {
        tls: tls.local_addr()?,
        https: https.local_addr()?,
    };
    server.register_tls_listener_with_tls_config(tls, HANDSHAKE_TIMEOUT, dot)?;
    server.register_https_listener_with_tls_config(
        https,
        HANDSHAKE_TIMEOUT,
        doh,
        None,
        DOH_PATH.to_owned(),
    )?;
    tracing::debug!(?addrs, names = ?options.names, "DNS-over-TLS and DNS-over-HTTPS listening");
    Ok(addrs)
}

fn listener(ip: IpAddr) -> io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}
