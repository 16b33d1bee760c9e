//! The resolver behind a refresher or a [`DnsSource`](crate::DnsSource): the configured
//! name servers over UDP, TCP, DNS-over-TLS or DNS-over-HTTPS, or the system configuration
//! (a resolv.conf file).
//!
//! The rustls config of the encrypted transports is built by pool-rustls from
//! [`DnsOptions::tls`], so DoT and DoH trust exactly what the TLS and QUIC dialers trust,
//! on the same crypto provider (ring).

use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};

use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{ConnectionProvider, PoolContext, Resolver};
use pool_rustls::rustls::pki_types::ServerName;
use pool_rustls::{TlsProfile, root_store};

use crate::{DnsOptions, DnsProtocol, NameServer};

/// The resolver could not be built from its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The system's resolver configuration (or the given resolv.conf) could not be read,
    /// or names no name server.
    #[error("cannot read the DNS configuration {}: {source}", path.display())]
    SystemConfig {
        /// The file read (`/etc/resolv.conf` for the platform's configuration).
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: NetError,
    },
    /// An encrypted name server's `tls_name` is neither a DNS name nor an IP address.
    #[error("name server {addr} ({protocol}): invalid TLS name {tls_name:?}")]
    TlsName {
        /// The server's address.
        addr: std::net::SocketAddr,
        /// `tls` or `https`.
        protocol: &'static str,
        /// The name given.
        tls_name: String,
    },
    /// The rustls config of the encrypted name servers could not be built (a CA file, no
    /// roots).
    #[error("DNS-over-TLS/HTTPS trust: {0}")]
    Tls(#[from] pool_rustls::ConfigError),
    /// hickory refused the resulting configuration.
    #[error("cannot build the DNS resolver: {0}")]
    Resolver(#[source] NetError),
}

/// The path of the platform's resolver configuration, for messages.
const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";

/// The resolver of a refresher or source, and what its connections' failures were.
#[derive(Clone, Debug)]
pub(crate) struct DnsResolver {
    pub(crate) resolver: Resolver<Connector>,
    pub(crate) connector: Connector,
}

/// tokio's connection provider, remembering the TLS handshakes that failed.
///
/// hickory's name-server pool answers a lookup whose every connection failed with "no
/// connections available", dropping the connections' own errors; this keeps the typed
/// ones the lookup needs to tell a TLS failure from a network one.
#[derive(Clone, Default)]
pub(crate) struct Connector {
    runtime: TokioRuntimeProvider,
    tls_failures: Arc<Mutex<TlsFailures>>,
}

/// Failed TLS handshakes so far, and the last one's description (for logs).
#[derive(Debug, Default, Clone)]
pub(crate) struct TlsFailures {
    pub(crate) count: u64,
    pub(crate) last: Option<String>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("tls_failures", &self.tls_failures())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// The TLS handshakes that failed so far.
    pub(crate) fn tls_failures(&self) -> TlsFailures {
        locked(&self.tls_failures).clone()
    }
}

fn locked(failures: &Mutex<TlsFailures>) -> std::sync::MutexGuard<'_, TlsFailures> {
    failures.lock().unwrap_or_else(PoisonError::into_inner)
}

type ConnFuture = Pin<
    Box<
        dyn Future<Output = Result<<TokioRuntimeProvider as ConnectionProvider>::Conn, NetError>>
            + Send,
    >,
>;

impl ConnectionProvider for Connector {
    type Conn = <TokioRuntimeProvider as ConnectionProvider>::Conn;
    type FutureConn = ConnFuture;
    type RuntimeProvider = TokioRuntimeProvider;

    fn new_connection(
        &self,
        ip: IpAddr,
        config: &ConnectionConfig,
        cx: &PoolContext,
    ) -> Result<ConnFuture, NetError> {
        let connecting = ConnectionProvider::new_connection(&self.runtime, ip, config, cx)?;
        let failures = Arc::clone(&self.tls_failures);
        Ok(Box::pin(async move {
            let result = connecting.await;
            if let Err(NetError::Io(io)) = &result
                && is_tls(io)
            {
                let mut f = locked(&failures);
                f.count += 1;
                f.last = Some(format!("{ip}: {io}"));
            }
            result
        }))
    }

    fn runtime_provider(&self) -> &TokioRuntimeProvider {
        &self.runtime
    }
}

pub(crate) fn build_resolver(options: &DnsOptions) -> Result<DnsResolver, SetupError> {
    let (config, system_opts) = if options.name_servers.is_empty() {
        let (config, opts) = system_config(options.resolv_conf.as_deref())?;
        (config, Some(opts))
    } else {
        let servers = options
            .name_servers
            .iter()
            .map(server_config)
            .collect::<Result<Vec<_>, _>>()?;
        (ResolverConfig::from_parts(None, vec![], servers), None)
    };
    let encrypted = options
        .name_servers
        .iter()
        .any(|ns| ns.protocol.tls_name().is_some());
    let connector = Connector::default();
    let mut builder = Resolver::builder_with_config(config, connector.clone());
    if let Some(opts) = system_opts {
        *builder.options_mut() = opts;
    }
    if encrypted {
        builder = builder.with_tls_config(tls_config(options)?);
    }
    let opts = builder.options_mut();
    // The refresher schedules re-resolution from the TTL itself: a cache would only
    // answer the refresh with the record it is meant to replace.
    opts.cache_size = 0;
    opts.timeout = options.query_timeout;
    opts.attempts = options.attempts.max(1);
    let resolver = builder.build().map_err(SetupError::Resolver)?;
    Ok(DnsResolver {
        resolver,
        connector,
    })
}

/// hickory's form of one configured name server (one connection type, trusted negative
/// answers: the refresher confirms NXDOMAIN itself).
fn server_config(ns: &NameServer) -> Result<NameServerConfig, SetupError> {
    if let Some(name) = ns.protocol.tls_name()
        && ServerName::try_from(name).is_err()
    {
        return Err(SetupError::TlsName {
            addr: ns.addr,
            protocol: ns.protocol.as_str(),
            tls_name: name.to_owned(),
        });
    }
    let mut conn = match &ns.protocol {
        DnsProtocol::Udp => ConnectionConfig::udp(),
        DnsProtocol::Tcp => ConnectionConfig::tcp(),
        DnsProtocol::Tls { tls_name } => ConnectionConfig::tls(Arc::clone(tls_name)),
        DnsProtocol::Https { tls_name } => ConnectionConfig::https(Arc::clone(tls_name), None),
    };
    conn.port = ns.addr.port();
    Ok(NameServerConfig::new(ns.addr.ip(), true, vec![conn]))
}

/// The rustls config of DoT and DoH: pool-rustls' config for [`DnsOptions::tls`], with
/// rustls' default suites and versions and no ALPN (hickory offers `h2` for DoH itself).
fn tls_config(options: &DnsOptions) -> Result<pool_rustls::rustls::ClientConfig, SetupError> {
    let roots = Arc::new(root_store(&options.tls)?);
    Ok(pool_rustls::client_config(
        &options.tls,
        &roots,
        &TlsProfile::named("dns"),
        &[],
        None,
    )?)
}

/// The system's configuration, or the given resolv.conf's.
fn system_config(path: Option<&Path>) -> Result<(ResolverConfig, ResolverOpts), SetupError> {
    let failed = |path: &Path, source: NetError| SetupError::SystemConfig {
        path: path.to_owned(),
        source,
    };
    match path {
        None => hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| failed(Path::new(SYSTEM_RESOLV_CONF), e)),
        Some(path) => read_resolv_conf(path).map_err(|e| failed(path, e)),
    }
}

#[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
fn read_resolv_conf(path: &Path) -> Result<(ResolverConfig, ResolverOpts), NetError> {
    let text = std::fs::read(path)?;
    hickory_resolver::system_conf::parse_resolv_conf(text)
}

#[cfg(not(all(unix, not(any(target_os = "android", target_vendor = "apple")))))]
fn read_resolv_conf(_: &Path) -> Result<(ResolverConfig, ResolverOpts), NetError> {
    Err(NetError::from(
        "a resolv.conf file is only read on Linux and the BSDs; use name_servers",
    ))
}

/// Whether an I/O error carries a rustls error (how tokio-rustls reports a failed
/// handshake: a bad certificate, a wrong name, an alert from the server).
pub(crate) fn is_tls(io: &std::io::Error) -> bool {
    io.get_ref()
        .is_some_and(|inner| inner.is::<pool_rustls::rustls::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(name_servers: Vec<NameServer>) -> DnsOptions {
        DnsOptions {
            name_servers,
            ..DnsOptions::default()
        }
    }

    #[tokio::test]
    async fn every_protocol_builds_and_bad_tls_names_are_refused() {
        let addr = "127.0.0.1:853".parse().unwrap();
        let ok = options(vec![
            NameServer::udp(addr),
            NameServer::tcp(addr),
            NameServer::tls(addr, "dns.example.test"),
            NameServer::https(addr, "127.0.0.1"),
        ]);
        assert!(build_resolver(&ok).is_ok());
        let bad = options(vec![NameServer::tls(addr, "not a name!")]);
        match build_resolver(&bad) {
            Err(SetupError::TlsName {
                tls_name, protocol, ..
            }) => {
                assert_eq!(tls_name, "not a name!");
                assert_eq!(protocol, "tls");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[tokio::test]
    async fn encrypted_servers_need_trust_roots() {
        let mut o = options(vec![NameServer::https(
            "127.0.0.1:443".parse().unwrap(),
            "dns.example.test",
        )]);
        o.tls.webpki_roots = false;
        assert!(matches!(
            build_resolver(&o),
            Err(SetupError::Tls(pool_rustls::ConfigError::NoRoots))
        ));
        // Plain name servers never build a TLS config.
        o.name_servers = vec![NameServer::udp("127.0.0.1:53".parse().unwrap())];
        assert!(build_resolver(&o).is_ok());
    }

    #[tokio::test]
    async fn a_resolv_conf_without_name_servers_is_named() {
        let dir = std::env::temp_dir().join(format!("pool-dns-servers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("resolv.conf");
        std::fs::write(&empty, "options ndots:1\n").unwrap();
        for path in [empty, dir.join("missing.conf")] {
            let o = DnsOptions {
                resolv_conf: Some(path.clone()),
                ..DnsOptions::default()
            };
            match build_resolver(&o) {
                Err(SetupError::SystemConfig { path: p, .. }) => assert_eq!(p, path),
                other => panic!("{path:?}: {:?}", other.map(|_| ())),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
