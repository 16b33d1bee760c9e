//! One host's running pool: the pool with its DNS refresh (pool-dns) and health checks
//! (pool-health), built from a [`Config`] — what the [`Client`](crate::Client) starts for
//! each host on first use, and what the `hotpool` CLI's commands run on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(all(feature = "dns", feature = "health")))]
use crate::parts::PartOptions;
use crate::parts::{DnsRefresher, HealthChecker, RequestProbe, TransportProbe};
use pool_config::{Config, HostConfig, Transport};
use pool_core::{Dialer, EgressSet, GetOptions, Lease, LeaseSource, Pool, PoolOptions};
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

/// One dialer per egress of a host, labelled by its proxy (`scheme://host:port`, never
/// its credentials) or `direct`: [`HostStack::start`] makes a pool of each.
pub type Dialers<D> = Vec<(String, D)>;

/// A dialer of `options` for each of `host`'s proxies ([`ConfigOptions::proxies_for`]), or
/// one direct dialer; `set_proxy` puts a proxy into the options, `build` makes the dialer.
fn per_egress<O: Clone, D, E: std::fmt::Display>(
    cfg: &Config,
    host: &HostSpec,
    options: O,
    set_proxy: impl Fn(&mut O, Option<pool_dial::Proxy>),
    build: impl Fn(O) -> Result<D, E>,
    what: &str,
) -> Result<Dialers<D>, Error> {
    // A host without an entry is still matched against NO_PROXY by its name.
    let entry = host
        .entry
        .clone()
        .unwrap_or_else(|| HostConfig::new(&host.name));
    let proxies = cfg.proxies_for(Some(&entry))?;
    let egresses: Vec<(String, Option<pool_dial::Proxy>)> = if proxies.is_empty() {
        vec![("direct".to_owned(), None)]
    } else {
        let label = |p: &pool_dial::Proxy| format!("{}://{}", p.scheme().as_str(), p.endpoint());
        proxies.into_iter().map(|p| (label(&p), Some(p))).collect()
    };
    egresses
        .into_iter()
        .map(|(label, proxy)| {
            let mut options = options.clone();
            set_proxy(&mut options, proxy);
            let dialer = build(options)
                .map_err(|e| Error::setup(&host.name, format!("{what} setup: {e}")))?;
            Ok((label, dialer))
        })
        .collect()
}

/// The HTTP/2 dialers for `host` from the config (one per egress).
///
/// # Errors
/// The options do not convert, or TLS setup fails ([`Error::Config`], [`Error::Setup`]).
pub fn h2_dialers(
    cfg: &Config,
    host: &HostSpec,
) -> Result<Dialers<pool_dial_rustls::H2Dialer>, Error> {
    let options = cfg.h2_options(host.entry.as_ref())?;
    let set = |o: &mut pool_dial_rustls::H2Options, p| o.tls.proxy = p;
    per_egress(
        cfg,
        host,
        options,
        set,
        pool_dial_rustls::H2Dialer::new,
        "TLS",
    )
}

/// The HTTP/1.1 dialers for `host` from the config (`transport = "h1"`).
///
/// # Errors
/// As [`h2_dialers`].
pub fn h1_dialers(
    cfg: &Config,
    host: &HostSpec,
) -> Result<Dialers<pool_dial_rustls::H1Dialer>, Error> {
    let options = cfg.h1_options(host.entry.as_ref())?;
    let set = |o: &mut pool_dial_rustls::TlsOptions, p| o.proxy = p;
    per_egress(
        cfg,
        host,
        options,
        set,
        pool_dial_rustls::H1Dialer::new,
        "TLS",
    )
}

/// The auto-ALPN HTTPS dialers for `host` from the config (`transport = "auto"`).
///
/// # Errors
/// As [`h2_dialers`].
pub fn https_dialers(
    cfg: &Config,
    host: &HostSpec,
) -> Result<Dialers<pool_dial_rustls::HttpsDialer>, Error> {
    let options = cfg.https_options(host.entry.as_ref())?;
    let set = |o: &mut pool_dial_rustls::HttpsOptions, p| o.tls.proxy = p;
    per_egress(
        cfg,
        host,
        options,
        set,
        pool_dial_rustls::HttpsDialer::new,
        "TLS",
    )
}

/// The plain `http://` dialers for `host` from the config (one per egress): HTTP/1.1, or
/// h2c with prior knowledge when the host's transport is `h2`.
///
/// # Errors
/// As [`h2_dialers`].
pub fn plain_dialers(
    cfg: &Config,
    host: &HostSpec,
) -> Result<Dialers<pool_dial::PlainDialer>, Error> {
    let options = cfg.plain_options(host.entry.as_ref())?;
    let set = |o: &mut pool_dial::PlainOptions, p| o.proxy = p;
    per_egress(
        cfg,
        host,
        options,
        set,
        pool_dial::PlainDialer::new,
        "http://",
    )
}

/// The HTTP/3 (QUIC) dialer for `host` from the config (HTTP/3 never goes through a
/// proxy: the config refuses one for an h3 host).
///
/// # Errors
/// As [`h2_dialers`].
#[cfg(feature = "h3")]
pub fn quic_dialers(
    cfg: &Config,
    host: &HostSpec,
) -> Result<Dialers<pool_dial_quic::QuicDialer>, Error> {
    let options = cfg.quic_options(host.entry.as_ref())?;
    let dialer = pool_dial_quic::QuicDialer::new(options)
        .map_err(|e| Error::setup(&host.name, format!("QUIC setup: {e}")))?;
    Ok(vec![("direct".to_owned(), dialer)])
}

/// Whether the TCP transports dial with BoringSSL (`[tls] engine = "boring"`).
#[cfg(feature = "boring")]
#[must_use]
pub fn uses_boring(cfg: &Config) -> bool {
    cfg.tls.engine == pool_config::TlsEngine::Boring
}

/// The BoringSSL dialers for `host` from the config (`[tls] engine = "boring"`; the mode
/// follows the host's transport).
///
/// # Errors
/// As [`h2_dialers`].
#[cfg(feature = "boring")]
pub fn boring_dialers(
    cfg: &Config,
    host: &HostSpec,
) -> Result<Dialers<pool_dial_boring::BoringDialer>, Error> {
    let options = cfg.boring_options(host.entry.as_ref())?;
    let set = |o: &mut pool_dial_boring::BoringOptions, p| o.proxy = p;
    per_egress(
        cfg,
        host,
        options,
        set,
        pool_dial_boring::BoringDialer::new,
        "BoringSSL",
    )
}

/// Where a host's requests take their leases: its one pool, or, with several proxies,
/// the [`EgressSet`] of one pool per proxy (`[egress] rotation` picks per request). Cheap
/// to clone; a `pool_http::send` source.
pub enum Pools<D: Dialer> {
    /// One egress (direct, or one proxy).
    One(Pool<D>),
    /// Several proxies, each its own pool.
    Egresses(Arc<EgressSet<D>>),
}

impl<D: Dialer> Clone for Pools<D> {
    fn clone(&self) -> Self {
        match self {
            Pools::One(pool) => Pools::One(pool.clone()),
            Pools::Egresses(set) => Pools::Egresses(set.clone()),
        }
    }
}

impl<D: Dialer> LeaseSource for Pools<D> {
    type Dialer = D;

    async fn lease(&self, host: &str, options: GetOptions) -> Result<Lease<D>, pool_core::Error> {
        match self {
            Pools::One(pool) => pool.lease(host, options).await,
            Pools::Egresses(set) => set.lease(host, options).await,
        }
    }

    fn count_resend(&self, refused: bool) {
        match self {
            Pools::One(pool) => LeaseSource::count_resend(pool, refused),
            Pools::Egresses(set) => set.count_resend(refused),
        }
    }
}

/// A running host: its pools (one per egress) and their helpers.
pub struct HostStack<D: Dialer> {
    /// The transport's name in the config (`h2`, `h3`, ...), for reports.
    pub transport: &'static str,
    /// The pool of the first egress (the only one unless the host has several proxies).
    pub pool: Pool<D>,
    /// Where requests take their leases (every egress).
    pub pools: Pools<D>,
    /// Each egress's label and pool, in the config's order.
    pub egresses: Vec<(String, Pool<D>)>,
    /// The options the pools run with (limits resolved for the transport).
    pub options: PoolOptions,
    /// DNS refresh feeding every pool.
    pub dns: DnsRefresher,
    /// Health checks of idle connections, one per pool.
    health: Vec<HealthChecker>,
    /// The deadlines requests are sent under (`pool.request_timeout`,
    /// `pool.body_idle_timeout`).
    pub request: RequestOptions,
    /// The fleet backend of each egress's pool, with a `[fleet]` backend.
    #[cfg(feature = "redis")]
    fleets: Vec<Arc<pool_redis::RedisFleet>>,
}

/// How often a host with several egresses records their gauges (`hotpool_egress`).
const EGRESS_METRICS_EVERY: Duration = Duration::from_secs(5);

/// How long [`HostStack::stop`] waits for responses still held (each owns its lease).
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long a start waits for the fleet's bans, and a stop for its events.
#[cfg(feature = "redis")]
const FLEET_WAIT: Duration = Duration::from_secs(1);

impl<D: Dialer<Conn: HttpConnection>> HostStack<D> {
    /// Builds a pool per egress (`dialers`: [`h2_dialers`] and the like) with the config's
    /// options, starts DNS refresh (feeding every pool) and health checks, and registers
    /// `host`: a static address list (IP literal or the host's `addrs`) or DNS resolution
    /// (waiting for the first answer). New addresses are warmed by the DNS refresh when
    /// `warm` (the client), not when the caller warms them itself (the CLI's commands,
    /// with a progress bar).
    ///
    /// With a `[fleet]` backend the pools share their blacklist (and budgets) with the
    /// fleet (one fleet connection, bans keyed by egress: `docs/egress.md`); the
    /// subscriber is attached once the host is registered, so its first load of the
    /// fleet's bans already knows the host.
    ///
    /// # Errors
    /// Pool options, fleet or DNS setup refused ([`Error::Setup`]); the host does not
    /// resolve ([`Error::Resolve`]).
    ///
    /// # Panics
    /// With no dialer.
    pub async fn start(
        cfg: &Config,
        dialers: Dialers<D>,
        host: &HostSpec,
        warm: bool,
    ) -> Result<Self, Error> {
        assert!(!dialers.is_empty(), "a host needs a dialer");
        #[cfg(feature = "redis")]
        let fleet = match cfg.fleet_config() {
            None => None,
            Some(Ok(fleet)) => Some(fleet),
            Some(Err(e)) => return Err(Error::setup(&host.name, format!("fleet: {e}"))),
        };
        #[cfg(feature = "redis")]
        let mut fleets = Vec::new();
        // An absent `pool.max_conns_per_ip` resolves for this host's transport: 1 for h2
        // and h3, 6 where connections may be exclusive HTTP/1.1 (h1, auto).
        let options = cfg.pool_options_for(host.transport);
        let setup =
            |e: pool_core::OptionsError| Error::setup(&host.name, format!("pool options: {e}"));
        let several = dialers.len() > 1;
        let mut egresses = Vec::with_capacity(dialers.len());
        for (label, dialer) in dialers {
            #[cfg(feature = "redis")]
            let pool = match &fleet {
                Some(fleet) => {
                    let mut fleet = fleet.clone();
                    if several {
                        // Each egress's bans under its own keys (`docs/egress.md`).
                        let safe = label.replace("://", "_").replace([':', '[', ']'], "_");
                        fleet.prefix = format!("{}egress:{safe}:", fleet.prefix);
                    }
                    let fleet = pool_redis::RedisFleet::start(fleet)
                        .map_err(|e| Error::setup(&host.name, format!("fleet: {e}")))?;
                    fleets.push(fleet.clone());
                    Pool::with_shared_state(dialer, options.clone(), fleet)
                }
                None => Pool::new(dialer, options.clone()),
            }
            .map_err(setup)?;
            #[cfg(not(feature = "redis"))]
            let pool = Pool::new(dialer, options.clone()).map_err(setup)?;
            egresses.push((label, pool));
        }
        let pools: Vec<Pool<D>> = egresses.iter().map(|(_, p)| p.clone()).collect();
        let mut dns_options = cfg.dns_options();
        dns_options.warm_new_addrs = warm;
        let dns = DnsRefresher::start_for_pools(&pools, dns_options)
            .map_err(|e| Error::setup(&host.name, format!("DNS: {e}")))?;
        let mut health = Vec::with_capacity(pools.len());
        for pool in &pools {
            health.push(if cfg.health.probe == pool_config::ProbeKind::Http {
                let method = http::Method::from_bytes(cfg.health.method.as_bytes())
                    .map_err(|e| Error::setup(&host.name, format!("health.method: {e}")))?;
                let probe = RequestProbe::new(Validation {
                    method,
                    path: cfg.health.path.clone(),
                    body: None,
                    banned_statuses: vec![cfg.pool.banned_status],
                });
                HealthChecker::start(pool, probe, cfg.health_options())
            } else {
                HealthChecker::start(pool, TransportProbe, cfg.health_options())
            });
        }
        let requests = if several {
            let set = Arc::new(EgressSet::new(
                egresses
                    .iter()
                    .map(|(label, pool)| (label.as_str(), pool.clone())),
                cfg.egress_rotation(),
            ));
            // The per-egress gauges (connections, dials, failures, bans; labelled by the
            // proxy's endpoint, never its credentials), until the pools close.
            let (weak, closed) = (Arc::downgrade(&set), pools[0].clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(EGRESS_METRICS_EVERY);
                loop {
                    tokio::select! {
                        _ = every.tick() => match weak.upgrade() {
                            Some(set) => set.record_metrics(),
                            None => break,
                        },
                        () = closed.closed() => break,
                    }
                }
            });
            Pools::Egresses(set)
        } else {
            Pools::One(pools[0].clone())
        };
        let stack = Self {
            transport: host.transport.as_str(),
            pool: pools[0].clone(),
            pools: requests,
            egresses,
            options,
            dns,
            health,
            request: cfg.request_options(),
            #[cfg(feature = "redis")]
            fleets,
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
        for (fleet, (_, pool)) in stack.fleets.iter().zip(&stack.egresses) {
            fleet.attach(pool);
            // The fleet's bans before the first dial, bounded: a slow Redis delays the
            // start by at most this, and an unreachable one does not stop it.
            if !fleet.wait_synced(FLEET_WAIT).await {
                tracing::warn!(wait = ?FLEET_WAIT, "fleet: the fleet's bans were not loaded in time");
            }
        }
        Ok(stack)
    }

    /// Warms `host` through every egress, one after the other, `progress` told of each
    /// egress's dials; the reports summed (addresses counted once per egress).
    pub async fn warm_with_progress(
        &self,
        host: &str,
        mut progress: impl FnMut(&pool_core::WarmProgress),
    ) -> pool_core::WarmReport {
        let mut total: Option<pool_core::WarmReport> = None;
        for (_, pool) in &self.egresses {
            let r = pool.warm_with_progress(host, &mut progress).await;
            total = Some(match total {
                None => r,
                Some(mut t) => {
                    t.planned += r.planned;
                    t.addresses += r.addresses;
                    t.capped_by = t.capped_by.or(r.capped_by);
                    t.ok += r.ok;
                    t.failed += r.failed;
                    t.blacklisted += r.blacklisted;
                    t.elapsed += r.elapsed;
                    t
                }
            });
        }
        total.expect("at least one egress")
    }

    /// Stops the helpers and closes the pools; the fleet's queue is flushed (bounded). A
    /// response whose body is still held keeps its connection: the close waits for it at
    /// most [`CLOSE_WAIT`], then returns (that connection closes when the body is dropped).
    pub async fn stop(&self) {
        for health in &self.health {
            health.stop().await;
        }
        self.dns.stop().await;
        for (label, pool) in &self.egresses {
            // A response still held owns its lease, and a lease is never cut: wait for it
            // a bounded time, then leave (its connection closes when it is dropped).
            if tokio::time::timeout(CLOSE_WAIT, pool.close())
                .await
                .is_err()
            {
                let leased = pool.stats().leases_out;
                tracing::warn!(egress = %label, leased, wait = ?CLOSE_WAIT, "pool closed with responses still held");
            }
        }
        #[cfg(feature = "redis")]
        for fleet in &self.fleets {
            if !fleet.flush(FLEET_WAIT).await {
                tracing::warn!(wait = ?FLEET_WAIT, "fleet: events not published in time");
            }
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
