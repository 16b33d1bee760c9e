//! DNS-over-TLS and DNS-over-HTTPS listeners of a [`DnsServer`](crate::DnsServer): the same
//! zones, failure modes and query counter as its UDP and TCP listeners, behind a
//! certificate of a [`TestCa`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::server::RequestHandler;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

use crate::net::lock;
use crate::{TestCa, crypto_provider};

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
    /// The names of the certificate: what a client's TLS name must match (changed at run
    /// time with [`DnsServer::set_tls_names`](crate::DnsServer::set_tls_names)).
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

/// The certificate both encrypted listeners present, switchable at run time (see
/// [`DnsServer::set_tls_names`](crate::DnsServer::set_tls_names)).
#[derive(Debug)]
pub(crate) struct Certs {
    ca: Arc<TestCa>,
    current: Mutex<Arc<CertifiedKey>>,
}

impl Certs {
    fn new(ca: &Arc<TestCa>, names: &[String]) -> io::Result<Self> {
        Ok(Self {
            ca: Arc::clone(ca),
            current: Mutex::new(certified(ca, names)?),
        })
    }

    /// From the next handshake on (the listeners never resume sessions), presents a
    /// certificate for `names` (issued by the same CA); open connections keep theirs.
    pub(crate) fn set_names(&self, names: &[String]) -> io::Result<()> {
        *lock(&self.current) = certified(&self.ca, names)?;
        Ok(())
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&lock(&self.current)))
    }
}

fn certified(ca: &TestCa, names: &[String]) -> io::Result<Arc<CertifiedKey>> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let issued = ca.issue(&names)?;
    CertifiedKey::from_der(issued.chain, issued.key, &crypto_provider())
        .map(Arc::new)
        .map_err(|e| io::Error::other(format!("server certificate: {e}")))
}

fn server_config(certs: &Arc<Certs>, alpn: &[u8]) -> io::Result<Arc<rustls::ServerConfig>> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("server TLS config: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(certs) as Arc<dyn ResolvesServerCert>);
    cfg.alpn_protocols = vec![alpn.to_vec()];
    // No session resumption: every handshake presents (and the client checks) the
    // current certificate, so a switch applies to the next connection.
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// The encrypted listeners of a running server.
#[derive(Debug)]
pub(crate) struct TlsListeners {
    /// DNS over TLS (RFC 7858), ALPN `dot`.
    pub(crate) tls: SocketAddr,
    /// DNS over HTTPS (RFC 8484, HTTP/2) at [`DOH_PATH`], ALPN `h2`.
    pub(crate) https: SocketAddr,
    /// The certificate both present.
    pub(crate) certs: Arc<Certs>,
}

/// Binds a DoT and a DoH listener on `ip` (each on its own random port) and registers
/// them with `server`.
pub(crate) fn register<H: RequestHandler>(
    server: &mut Server<H>,
    ip: IpAddr,
    options: &DnsTlsOptions,
) -> io::Result<TlsListeners> {
    let certs = Arc::new(Certs::new(&options.ca, &options.names)?);
    let tls = listener(ip)?;
    let https = listener(ip)?;
    let listeners = TlsListeners {
        tls: tls.local_addr()?,
        https: https.local_addr()?,
        certs: Arc::clone(&certs),
    };
    server.register_tls_listener_with_tls_config(
        tls,
        HANDSHAKE_TIMEOUT,
        server_config(&certs, b"dot")?,
    )?;
    server.register_https_listener_with_tls_config(
        https,
        HANDSHAKE_TIMEOUT,
        server_config(&certs, b"h2")?,
        None,
        DOH_PATH.to_owned(),
    )?;
    tracing::debug!(tls = %listeners.tls, https = %listeners.https, names = ?options.names,
        "DNS-over-TLS and DNS-over-HTTPS listening");
    Ok(listeners)
}

fn listener(ip: IpAddr) -> io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}
