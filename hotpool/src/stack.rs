//! One host's running pool: the pool with its DNS refresh (pool-dns) and health checks
//! (pool-health), built from a [`Config`] — what the [`Client`](crate::Client) starts for
//! each host on first use, and what the `hotpool` CLI's commands run on.

use std::net::{IpAddr, SocketAddr};
#[cfg(feature = "redis")]
use std::sync::Arc;
#[cfg(feature = "redis")]
use std::time::Duration;

use pool_config::{Config, HostConfig, Transport};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dns::DnsRefresher;
use pool_health::{HealthChecker, RequestProbe, TransportProbe};
use pool_http::{HttpConnection, RequestOptions, Validation};

use crate::{ConfigOptions, Error};

/// Where a host lives: its name, port and transport, completed from `[[hosts]]`.
#[derive(Clone, Debug)]
pub struct HostSpec {
    /// Host name (or IP literal): SNI and certificate name.
    pub name: String,
    /// Port dialed.
    pub port: u16,
    /// Transport from the host's `[[hosts]]` entry (default h2).
    pub transport: Transport,
    /// The `[[hosts]]` entry, if any.
    pub entry: Option<HostConfig>,
}

impl HostSpec {
    /// `HOST` or `HOST:PORT` (IPv6 literals in brackets), completed from `[[hosts]]`.
    ///
    /// # Errors
    /// Text that is not a host or `host:port`.
    pub fn parse(text: &str, cfg: &Config) -> Result<Self, Error> {
        let (name, port) = split_host_port(text)?;
        Ok(Self::new(name, port, cfg))
    }

    /// `name` (and `port`, if given) completed from its `[[hosts]]` entry: the entry's port
    /// and transport, else 443 and the default transport.
    #[must_use]
    pub fn new(name: String, port: Option<u16>, cfg: &Config) -> Self {
        let entry = cfg
            .hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(&name))
            .cloned();
        let port = port.or(entry.as_ref().map(|h| h.port)).unwrap_or(443);
        let transport = entry.as_ref().map(|h| h.transport).unwrap_or_default();
        Self {
            name,
            port,
            transport,
            entry,
        }
    }
}

/// Splits `host[:port]` / `[v6][:port]`.
///
/// # Errors
/// Text that is not a host or `host:port` ([`Error::Url`]).
pub fn split_host_port(text: &str) -> Result<(String, Option<u16>), Error> {
    let bad = || Error::url(text, "not a host or host:port");
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((ip.to_owned(), port));
    }
    if text.parse::<IpAddr>().is_ok() {
        return Ok((text.to_owned(), None));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse().map_err(|_| bad())?;
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_owned(), Some(port)))
        }
        None if text.is_empty() => Err(bad()),
        None => Ok((text.to_owned(), None)),
    }
}

/// The HTTP/2 dialer for `host` from the config.
///
/// # Errors
/// The options do not convert, or TLS setup fails ([`Error::Config`], [`Error::Setup`]).
pub fn h2_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_rustls::H2Dialer, Error> {
    let options = cfg.h2_options(host.entry.as_ref())?;
    pool_dial_rustls::H2Dialer::new(options).map_err(|e| Error::setup(&host.name, tls_setup(e)))
}

/// The HTTP/1.1 dialer for `host` from the config (`transport = "h1"`).
///
/// # Errors
/// As [`h2_dialer`].
pub fn h1_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_rustls::H1Dialer, Error> {
    let options = cfg.h1_options(host.entry.as_ref())?;
    pool_dial_rustls::H1Dialer::new(options).map_err(|e| Error::setup(&host.name, tls_setup(e)))
}

/// The auto-ALPN HTTPS dialer for `host` from the config (`transport = "auto"`).
///
/// # Errors
/// As [`h2_dialer`].
pub fn https_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_rustls::HttpsDialer, Error> {
    let options = cfg.https_options(host.entry.as_ref())?;
    pool_dial_rustls::HttpsDialer::new(options).map_err(|e| Error::setup(&host.name, tls_setup(e)))
}

/// The HTTP/3 (QUIC) dialer for `host` from the config.
///
/// # Errors
/// As [`h2_dialer`].
#[cfg(feature = "h3")]
pub fn quic_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_quic::QuicDialer, Error> {
    let options = cfg.quic_options(host.entry.as_ref())?;
    pool_dial_quic::QuicDialer::new(options)
        .map_err(|e| Error::setup(&host.name, format!("QUIC setup: {e}")))
}

/// Whether the TCP transports dial with BoringSSL (`[tls] engine = "boring"`).
#[cfg(feature = "boring")]
#[must_use]
pub fn uses_boring(cfg: &Config) -> bool {
    cfg.tls.engine == pool_config::TlsEngine::Boring
}

/// The BoringSSL dialer for `host` from the config (`[tls] engine = "boring"`; the mode
/// follows the host's transport).
///
/// # Errors
/// As [`h2_dialer`].
#[cfg(feature = "boring")]
pub fn boring_dialer(
    cfg: &Config,
    host: &HostSpec,
) -> Result<pool_dial_boring::BoringDialer, Error> {
    let options = cfg.boring_options(host.entry.as_ref())?;
    pool_dial_boring::BoringDialer::new(options)
        .map_err(|e| Error::setup(&host.name, format!("BoringSSL setup: {e}")))
}

fn tls_setup(e: impl std::fmt::Display) -> String {
    format!("TLS setup: {e}")
}

/// A running pool and its helpers, for one host.
pub struct HostStack<D: Dialer> {
    /// The transport's name in the config (`h2`, `h3`, ...), for reports.
    pub transport: &'static str,
    /// The pool.
    pub pool: Pool<D>,
    /// The options the pool runs with (limits resolved for the transport).
    pub options: PoolOptions,
    /// DNS refresh feeding the pool.
    pub dns: DnsRefresher,
    /// Health checks of idle connections.
    pub health: HealthChecker,
    /// The deadlines requests are sent under (`pool.request_timeout`,
    /// `pool.body_idle_timeout`).
    pub request: RequestOptions,
    /// The fleet backend, with a `[fleet]` backend.
    #[cfg(feature = "redis")]
    pub fleet: Option<Arc<pool_redis::RedisFleet>>,
}

/// How long a start waits for the fleet's bans, and a stop for its events.
#[cfg(feature = "redis")]
const FLEET_WAIT: Duration = Duration::from_secs(1);

impl<D: Dialer<Conn: HttpConnection>> HostStack<D> {
    /// Builds the pool with `dialer` and the config's options, starts DNS refresh and
    /// health checks, and registers `host`: a static address list (IP literal or the host's
    /// `addrs`) or DNS resolution (waiting for the first answer). New addresses are warmed
    /// by the DNS refresh when `warm` (the client), not when the caller warms them itself
    /// (the CLI's commands, with a progress bar).
    ///
    /// With a `[fleet]` backend the pool shares its blacklist (and budgets) with the fleet;
    /// the subscriber is attached once the host is registered, so its first load of the
    /// fleet's bans already knows the host.
    ///
    /// # Errors
    /// Pool options, fleet or DNS setup refused ([`Error::Setup`]); the host does not
    /// resolve ([`Error::Resolve`]).
    pub async fn start(
        cfg: &Config,
        dialer: D,
        host: &HostSpec,
        warm: bool,
    ) -> Result<Self, Error> {
        #[cfg(feature = "redis")]
        let fleet = match cfg.fleet_config() {
            None => None,
            Some(Ok(fleet)) => Some(
                pool_redis::RedisFleet::start(fleet)
                    .map_err(|e| Error::setup(&host.name, format!("fleet: {e}")))?,
            ),
            Some(Err(e)) => return Err(Error::setup(&host.name, format!("fleet: {e}"))),
        };
        // An absent `pool.max_conns_per_ip` resolves for this host's transport: 1 for h2
        // and h3, 6 where connections may be exclusive HTTP/1.1 (h1, auto).
        let options = cfg.pool_options_for(host.transport);
        let setup =
            |e: pool_core::OptionsError| Error::setup(&host.name, format!("pool options: {e}"));
        #[cfg(feature = "redis")]
        let pool = match &fleet {
            Some(fleet) => Pool::with_shared_state(dialer, options.clone(), fleet.clone()),
            None => Pool::new(dialer, options.clone()),
        }
        .map_err(setup)?;
        #[cfg(not(feature = "redis"))]
        let pool = Pool::new(dialer, options.clone()).map_err(setup)?;
        let mut dns_options = cfg.dns_options();
        dns_options.warm_new_addrs = warm;
        let dns = DnsRefresher::start(&pool, dns_options)
            .map_err(|e| Error::setup(&host.name, format!("DNS: {e}")))?;
        let health = if cfg.health.probe == pool_config::ProbeKind::Http {
            let method = http::Method::from_bytes(cfg.health.method.as_bytes())
                .map_err(|e| Error::setup(&host.name, format!("health.method: {e}")))?;
            let probe = RequestProbe::new(Validation {
                method,
                path: cfg.health.path.clone(),
                body: None,
                banned_statuses: vec![cfg.pool.banned_status],
            });
            HealthChecker::start(&pool, probe, cfg.health_options())
        } else {
            HealthChecker::start(&pool, TransportProbe, cfg.health_options())
        };
        let stack = Self {
            transport: host.transport.as_str(),
            pool,
            options,
            dns,
            health,
            request: cfg.request_options(),
            #[cfg(feature = "redis")]
            fleet: None,
        };
        let static_addrs: Option<Vec<IpAddr>> = match host.name.parse::<IpAddr>() {
            Ok(ip) => Some(vec![ip]),
            Err(_) => host.entry.as_ref().and_then(|h| h.addrs.clone()),
        };
        let result = match static_addrs {
            Some(ips) => {
                let addrs = ips.into_iter().map(|ip| SocketAddr::new(ip, host.port));
                stack.dns.add_static(&host.name, addrs);
                Ok(())
            }
            None => stack
                .dns
                .add_host(&host.name, host.port)
                .await
                .map(drop)
                .map_err(|e| Error::Resolve {
                    host: host.name.clone(),
                    reason: e.to_string(),
                }),
        };
        if let Err(e) = result {
            stack.stop().await;
            return Err(e);
        }
        #[cfg(feature = "redis")]
        if let Some(fleet) = &fleet {
            fleet.attach(&stack.pool);
            // The fleet's bans before the first dial, bounded: a slow Redis delays the
            // start by at most this, and an unreachable one does not stop it.
            if !fleet.wait_synced(FLEET_WAIT).await {
                tracing::warn!(wait = ?FLEET_WAIT, "fleet: the fleet's bans were not loaded in time");
            }
        }
        #[cfg(feature = "redis")]
        return Ok(Self { fleet, ..stack });
        #[cfg(not(feature = "redis"))]
        Ok(stack)
    }

    /// Stops the helpers and closes the pool; the fleet's queue is flushed (bounded).
    pub async fn stop(&self) {
        self.health.stop().await;
        self.dns.stop().await;
        self.pool.close().await;
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet
            && !fleet.flush(FLEET_WAIT).await
        {
            tracing::warn!(wait = ?FLEET_WAIT, "fleet: events not published in time");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let s = |t: &str| split_host_port(t).unwrap();
        assert_eq!(s("a.test"), ("a.test".to_owned(), None));
        assert_eq!(s("a.test:8443"), ("a.test".to_owned(), Some(8443)));
        assert_eq!(s("127.0.0.2"), ("127.0.0.2".to_owned(), None));
        assert_eq!(s("::1"), ("::1".to_owned(), None));
        assert_eq!(s("[::1]:443"), ("::1".to_owned(), Some(443)));
        assert!(split_host_port("a.test:x").is_err());
        assert!(split_host_port(":443").is_err());
        assert!(split_host_port("").is_err());
    }

    #[test]
    fn hosts_entry_fills_port_and_transport() {
        let cfg = Config::from_str_named(
            "[[hosts]]\nname = \"q.test\"\nport = 8443\ntransport = \"h3\"\n",
            "t.toml",
        )
        .unwrap();
        let h = HostSpec::parse("Q.test", &cfg).unwrap();
        assert_eq!((h.port, h.transport), (8443, Transport::H3));
        let h = HostSpec::parse("q.test:9000", &cfg).unwrap();
        assert_eq!(h.port, 9000);
        let h = HostSpec::parse("other.test", &cfg).unwrap();
        assert_eq!((h.port, h.transport), (443, Transport::H2));
    }
}
