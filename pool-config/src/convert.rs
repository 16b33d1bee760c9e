//! Conversions from the configuration into the option structs of the pool crates, each
//! target crate behind its feature. Keys no crate reads are documented as such.

use std::time::Duration;

use pool_core::{Placement, PoolOptions};

#[cfg(feature = "dns")]
use std::net::SocketAddr;

#[cfg(feature = "quic")]
use crate::CongestionKind;
#[cfg(feature = "fleet")]
use crate::FleetShare;
use crate::{Config, PlacementKind, PoolConfig, Transport};
#[cfg(any(feature = "tls", feature = "quic"))]
use crate::{ConfigError, HostConfig};
#[cfg(feature = "dns")]
use crate::{DnsProtocol, IpPreference};
#[cfg(feature = "tls")]
use pool_dial_rustls::{H2Options, H2Windows, HttpsOptions, TlsOptions, TlsProfile};
#[cfg(feature = "dns")]
use pool_dns::NameServer;

/// The longest lead with which `keep_warm` dials a replacement before `max_lifetime` runs
/// out (pool-core's default lead).
const KEEP_WARM_LEAD: Duration = Duration::from_secs(30);

impl crate::SourceAddrsConfig {
    /// The source addresses of dials (pool-dial's [`SourceAddrs`](pool_dial::SourceAddrs)):
    /// `addrs` and `ipv6_prefix` (only an IPv6 prefix, as validation requires).
    #[must_use]
    pub fn source_addrs(&self) -> pool_dial::SourceAddrs {
        let prefix = self.ipv6_prefix.filter(pool_core::IpRange::is_ipv6);
        pool_dial::SourceAddrs::new(self.addrs.clone(), prefix)
    }
}

impl PoolConfig {
    /// The lead with which `keep_warm` dials a replacement: 30 s, or a quarter of
    /// `max_lifetime` when that is shorter (so short lifetimes still get a replacement
    /// before expiry without replacing connections as soon as they are made).
    #[must_use]
    pub fn keep_warm_lead(&self) -> Duration {
        KEEP_WARM_LEAD.min(self.max_lifetime / 4)
    }
}

impl Config {
    /// The `pool-core` options: `[pool]`, `[whitelist]`, `[blacklist]` (an absent
    /// `max_conns_per_ip` resolved for `h2`). Keys of other crates (`conn_timeout`,
    /// `dns_update_interval`, …) are not carried; `cleanup_interval` has no effect at all
    /// (`docs/cleanup-deadlines.md`).
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        self.pool_options_for(Transport::default())
    }

    /// [`Config::pool_options`] for a pool of `transport` ([`PoolConfig::conns_per_ip`]).
    #[must_use]
    pub fn pool_options_for(&self, transport: Transport) -> PoolOptions {
        let p = &self.pool;
        PoolOptions {
            max_connections: p.max_connections,
            max_conns_per_host: p.max_conns_per_host,
            max_idle_conns: p.max_idle_conns,
            max_conns_per_ip: p.conns_per_ip(transport),
            idle_timeout: p.idle_timeout,
            max_lifetime: p.max_lifetime,
            keep_warm: p.keep_warm,
            keep_warm_lead: p.keep_warm_lead(),
            max_errors: p.max_errors,
            max_retries: p.max_retries,
            blacklist_check_interval: p.blacklist_check_interval,
            blacklist_timeout: p.blacklist_timeout,
            health_check_interval: Some(p.health_check_interval),
            checkout_timeout: p.checkout_timeout,
            warm_concurrency: p.warm_concurrency,
            whitelist: self.whitelist.ips.clone(),
            blacklist: self.blacklist.ips.clone(),
            placement: match p.placement {
                PlacementKind::Spread => Placement::Spread,
                PlacementKind::Fill => Placement::Fill {
                    streams: p.fill_streams.unwrap_or(usize::MAX),
                },
            },
            memory_limit: p.memory_limit.map(|b| b.0),
            memory_low_water: p.memory_low_water.map(|b| b.0),
            shed_fraction: p.shed_fraction.get(),
            memory_check_interval: p.memory_check_interval,
            stay_hot: p.stay_hot,
            rewarm_backoff: p.rewarm_backoff,
            rewarm_backoff_max: p.rewarm_backoff_max,
            host_outage_threshold: p.host_outage.then(|| p.host_outage_threshold.get()),
            outage_retest: p.outage_retest,
            outage_retest_max: p.outage_retest_max,
        }
    }
}

impl From<&Config> for PoolOptions {
    fn from(cfg: &Config) -> Self {
        cfg.pool_options()
    }
}

#[cfg(any(feature = "tls", feature = "quic"))]
impl Config {
    /// The request layer's options: `pool.request_timeout` → `timeout`,
    /// `pool.body_idle_timeout` → `body_idle_timeout` (zero: none), `pool.wait_for_host`.
    #[must_use]
    pub fn request_options(&self) -> pool_http::RequestOptions {
        pool_http::RequestOptions::default()
            .with_timeout(self.pool.request_timeout)
            .with_body_idle_timeout(self.pool.body_idle_timeout.filter(|d| !d.is_zero()))
            .with_wait_for_host(self.pool.wait_for_host)
    }

    /// The `[validation]` request (with `enabled = true`), its banned status being
    /// `pool.banned_status`: the same for the TLS and the QUIC dialers.
    pub(crate) fn validation(&self) -> Result<Option<pool_http::Validation>, ConfigError> {
        if !self.validation.enabled {
            return Ok(None);
        }
        let method = http::Method::from_bytes(self.validation.method.as_bytes())
            .map_err(|e| ConfigError::at_key("validation.method", e.to_string()))?;
        let (path, body) = (self.validation.path.clone(), self.validation.body.clone());
        let banned_statuses = vec![self.pool.banned_status];
        Ok(Some(pool_http::Validation {
            method,
            path,
            body: body.map(Into::into),
            banned_statuses,
        }))
    }
}

/// The `[tls]` trust settings (`ca_files`, `use_webpki_roots`, `insecure_skip_verify`), for
/// the TLS and the QUIC dialers and the encrypted name servers alike; the dialers' also
/// carry the client certificate (`client_cert`, `client_key`), the name servers' do not.
#[cfg(any(feature = "tls", feature = "quic", feature = "dns"))]
impl Config {
    pub(crate) fn server_trust(&self) -> pool_rustls::Trust {
        pool_rustls::Trust {
            webpki_roots: self.tls.use_webpki_roots,
            extra_ca_files: self.tls.ca_files.clone(),
            danger_accept_invalid_certs: self.tls.insecure_skip_verify,
            ..pool_rustls::Trust::default()
        }
    }

    #[cfg(any(feature = "tls", feature = "quic"))]
    pub(crate) fn trust(&self) -> Result<pool_rustls::Trust, ConfigError> {
        let client_cert = match (&self.tls.client_cert, &self.tls.client_key) {
            (Some(cert), Some(key)) => Some(
                pool_rustls::ClientCert::from_files(cert, key)
                    .map_err(|e| ConfigError::at_key("tls.client_cert", e.to_string()))?,
            ),
            _ => None,
        };
        Ok(pool_rustls::Trust {
            client_cert,
            ..self.server_trust()
        })
    }
}

#[cfg(feature = "tls")]
pub(crate) fn rotation(r: crate::ProfileRotation) -> pool_dial_rustls::Rotation {
    match r {
        crate::ProfileRotation::Random => pool_dial_rustls::Rotation::Random,
        crate::ProfileRotation::RoundRobin => pool_dial_rustls::Rotation::RoundRobin,
    }
}

/// The pool-dial-rustls profile behind a `tls.profiles` name (see
/// [`KNOWN_TLS_PROFILES`](crate::KNOWN_TLS_PROFILES)).
#[cfg(feature = "tls")]
fn profile(name: &str) -> Option<TlsProfile> {
    Some(match name {
        "default" => TlsProfile::named("default"),
        "chrome-like" => TlsProfile::chrome_like(),
        "firefox-like" => TlsProfile::firefox_like(),
        "safari-like" => TlsProfile::safari_like(),
        "tls13-only" => {
            let versions = vec![pool_dial_rustls::TlsVersion::Tls13];
            TlsProfile {
                versions,
                ..TlsProfile::named("tls13-only")
            }
        }
        _ => return None,
    })
}

#[cfg(feature = "tls")]
impl crate::TcpConfig {
    /// The socket options of every TCP dial (pool-dial-rustls' and pool-dial-boring's
    /// [`TcpOptions`](pool_dial_rustls::TcpOptions)): `keepalive_idle = 0` turns keepalive
    /// off, `user_timeout = 0` leaves the kernel's default.
    #[must_use]
    pub fn tcp_options(&self) -> pool_dial_rustls::TcpOptions {
        let (idle, interval, retries) = (
            self.keepalive_idle,
            self.keepalive_interval,
            self.keepalive_retries,
        );
        pool_dial_rustls::TcpOptions {
            keepalive: (!idle.is_zero()).then_some(pool_dial_rustls::TcpKeepalive {
                idle,
                interval,
                retries,
            }),
            user_timeout: (!self.user_timeout.is_zero()).then_some(self.user_timeout),
        }
    }
}

#[cfg(feature = "tls")]
impl Config {
    /// `tls.profiles`, each through `by_name` (`what`: the error's word for a profile).
    pub(crate) fn profiles<P>(
        &self,
        by_name: impl Fn(&str) -> Option<P>,
        what: &str,
    ) -> Result<Vec<P>, ConfigError> {
        let named = self.tls.profiles.iter().enumerate().map(|(i, name)| {
            let reason = || format!("unknown {what} {name:?}");
            by_name(name)
                .ok_or_else(|| ConfigError::at_key(&format!("tls.profiles[{i}]"), reason()))
        });
        named.collect()
    }

    /// The `pool-dial-rustls` options of a [`TlsDialer`](pool_dial_rustls::TlsDialer):
    /// `pool.conn_timeout`, `pool.test_timeout`, `[tls]` (trust, profiles, rotation,
    /// `accept_languages`), `[source_addrs]`, `[tcp]`, `[validation]`. ALPN stays the
    /// dialer's default; [`Config::tls_options_for`] applies a host's `alpn`.
    ///
    /// # Errors
    /// A profile name or validation method [`Config::validate`] refuses; the same for every
    /// option builder below, which all start from these options.
    pub fn tls_options(&self) -> Result<TlsOptions, ConfigError> {
        self.tls_with_alpn(None, &TlsOptions::default().alpn)
    }

    /// [`Config::tls_options`] for `host` (its proxy: [`Config::proxy_for`]) offering the
    /// host's `alpn`, else `default`.
    fn tls_with_alpn(
        &self,
        host: Option<&HostConfig>,
        default: &[String],
    ) -> Result<TlsOptions, ConfigError> {
        let alpn = host.and_then(|h| h.alpn.clone());
        Ok(TlsOptions {
            conn_timeout: self.pool.conn_timeout,
            test_timeout: self.pool.test_timeout,
            alpn: alpn.unwrap_or_else(|| default.to_vec()),
            trust: self.trust()?,
            profiles: self.profiles(profile, "TLS profile")?,
            profile_rotation: rotation(self.tls.profile_rotation),
            accept_languages: self.tls.accept_languages.clone(),
            accept_language_rotation: rotation(self.tls.profile_rotation),
            source_addrs: self.source_addrs.source_addrs(),
            validation: self.validation()?,
            max_response_header_size: self.pool.max_response_header_size,
            tcp: self.tcp.tcp_options(),
            proxy: self.proxy_for(host)?,
        })
    }

    /// The proxy of TCP dials to `host`: `[egress] proxies` (with `connect_by`), else, with
    /// `from_env`, the environment as curl reads it (`pool_dial::proxy_from_env`: `NO_PROXY`
    /// is matched against the host's name); `None`: direct.
    ///
    /// # Errors
    /// A proxy URL in the environment that does not parse (at the key `egress.from_env`).
    pub fn proxy_for(
        &self,
        host: Option<&HostConfig>,
    ) -> Result<Option<pool_dial::Proxy>, ConfigError> {
        let by_name = |p: pool_dial::Proxy| match self.egress.connect_by {
            crate::ConnectBy::Name => p.with_connect_by(pool_dial::ConnectBy::Name),
            crate::ConnectBy::Ip => p,
        };
        if let Some(first) = self.egress.proxies.first() {
            return Ok(Some(by_name(first.0.clone())));
        }
        if !self.egress.from_env {
            return Ok(None);
        }
        let name = host.map_or("", |h| h.name.as_str());
        pool_dial::proxy_from_env(|v| std::env::var(v).ok(), true, name)
            .map(|p| p.map(by_name))
            .map_err(|e| ConfigError::at_key("egress.from_env", format!("a proxy variable: {e}")))
    }

    /// [`Config::tls_options`] with `host`'s `alpn` list, when it has one (errors as
    /// [`Config::tls_options`]).
    pub fn tls_options_for(&self, host: &HostConfig) -> Result<TlsOptions, ConfigError> {
        self.tls_with_alpn(Some(host), &TlsOptions::default().alpn)
    }

    /// The options of an [`H1Dialer`](pool_dial_rustls::H1Dialer): [`Config::tls_options`]
    /// with the host's `alpn`, if any (errors as [`Config::tls_options`]).
    pub fn h1_options(&self, host: Option<&HostConfig>) -> Result<TlsOptions, ConfigError> {
        self.tls_with_alpn(host, &TlsOptions::default().alpn)
    }

    /// The options of an [`H2Dialer`](pool_dial_rustls::H2Dialer): [`Config::tls_options`]
    /// with ALPN `h2` (or the host's `alpn`) and the `[h2]` windows (errors as
    /// [`Config::tls_options`]).
    pub fn h2_options(&self, host: Option<&HostConfig>) -> Result<H2Options, ConfigError> {
        let defaults = H2Options::default();
        let tls = self.tls_with_alpn(host, &defaults.tls.alpn)?;
        Ok(H2Options {
            tls,
            windows: self.h2_windows(),
            ..defaults
        })
    }

    /// The options of an [`HttpsDialer`](pool_dial_rustls::HttpsDialer): [`Config::tls_options`]
    /// offering `h2, http/1.1` (or the host's `alpn`) and the `[h2]` windows (errors as
    /// [`Config::tls_options`]).
    pub fn https_options(&self, host: Option<&HostConfig>) -> Result<HttpsOptions, ConfigError> {
        let defaults = HttpsOptions::default();
        let tls = self.tls_with_alpn(host, &defaults.tls.alpn)?;
        Ok(HttpsOptions {
            tls,
            h2_windows: self.h2_windows(),
            ..defaults
        })
    }

    /// `[h2]` as pool-dial-rustls' windows (clamped into HTTP/2's limits).
    #[must_use]
    pub fn h2_windows(&self) -> H2Windows {
        let window = |size: crate::ByteSize| {
            u32::try_from(size.0)
                .unwrap_or(H2Windows::MAX)
                .clamp(H2Windows::MIN, H2Windows::MAX)
        };
        H2Windows {
            stream: window(self.h2.stream_window),
            connection: window(self.h2.connection_window),
            adaptive: self.h2.adaptive_window,
        }
    }
}

/// One name server. An encrypted one without a TLS name (which validation refuses)
/// checks the certificate against its IP address.
#[cfg(feature = "dns")]
fn name_server(addr: SocketAddr, protocol: DnsProtocol, tls_name: Option<&str>) -> NameServer {
    let tls_name = || tls_name.map_or_else(|| addr.ip().to_string(), str::to_owned);
    match protocol {
        DnsProtocol::Udp => NameServer::udp(addr),
        DnsProtocol::Tcp => NameServer::tcp(addr),
        DnsProtocol::Tls => NameServer::tls(addr, tls_name()),
        DnsProtocol::Https => NameServer::https(addr, tls_name()),
    }
}

#[cfg(feature = "dns")]
impl Config {
    /// The `pool-dns` options: `[dns]` (`name_servers`, then `[[dns.servers]]`),
    /// `pool.dns_update_interval`, and the `[tls]` trust for encrypted servers.
    #[must_use]
    pub fn dns_options(&self) -> pool_dns::DnsOptions {
        let (dns, plain) = (&self.dns, |addr: &SocketAddr| {
            name_server(*addr, self.dns.protocol, None)
        });
        let servers = dns
            .servers
            .iter()
            .map(|s| name_server(s.addr, s.protocol, s.tls_name.as_deref()));
        pool_dns::DnsOptions {
            name_servers: dns.name_servers.iter().map(plain).chain(servers).collect(),
            resolv_conf: dns.resolv_conf.clone(),
            tls: self.server_trust(),
            prefer: match dns.prefer {
                IpPreference::Ipv4 => pool_dns::IpPreference::Ipv4,
                IpPreference::Ipv6 => pool_dns::IpPreference::Ipv6,
                IpPreference::Both => pool_dns::IpPreference::Both,
            },
            dns_update_interval: self.pool.dns_update_interval,
            min_ttl: dns.min_ttl,
            query_timeout: dns.timeout,
            stale_after: dns.stale_after,
            nxdomain_confirmations: dns.nxdomain_confirmations,
            ..pool_dns::DnsOptions::default()
        }
    }
}

/// `[health]` → `pool_health::HealthOptions`.
#[cfg(feature = "health")]
impl Config {
    /// The `pool-health` options of this configuration: `pool.test_timeout` and
    /// `health.concurrency` (when probes are due is the pool's `health_check_interval`,
    /// see [`Config::pool_options`]). Which probe runs (`health.probe`, `path`,
    /// `method`, with `pool.banned_status`) is up to the caller, who owns the transport.
    #[must_use]
    pub fn health_options(&self) -> pool_health::HealthOptions {
        let (test_timeout, concurrency) = (self.pool.test_timeout, self.health.concurrency);
        pool_health::HealthOptions {
            test_timeout,
            concurrency,
            ..Default::default()
        }
    }
}

#[cfg(feature = "quic")]
impl Config {
    /// The `pool-dial-quic` (HTTP/3) options: as [`Config::tls_options`] without profiles
    /// and languages, plus `[h3]` and the host's `alpn` (default `h3`).
    ///
    /// # Errors
    /// A validation method or window [`Config::validate`] refuses.
    pub fn quic_options(
        &self,
        host: Option<&HostConfig>,
    ) -> Result<pool_dial_quic::QuicOptions, ConfigError> {
        use pool_dial_quic::Congestion;
        let defaults = pool_dial_quic::QuicOptions::default();
        let too_large = |_| ConfigError::at_key("h3.stream_receive_window", "above 4 GiB".into());
        Ok(pool_dial_quic::QuicOptions {
            conn_timeout: self.pool.conn_timeout,
            test_timeout: self.pool.test_timeout,
            alpn: host
                .and_then(|h| h.alpn.clone())
                .unwrap_or_else(|| defaults.alpn.clone()),
            trust: self.trust()?,
            source_addrs: self.source_addrs.source_addrs(),
            validation: self.validation()?,
            max_response_header_size: self.pool.max_response_header_size,
            stream_receive_window: u32::try_from(self.h3.stream_receive_window.0)
                .map_err(too_large)?,
            receive_window: self.h3.receive_window.0,
            send_window: self.h3.send_window.0,
            initial_rtt: self.h3.initial_rtt,
            congestion: match self.h3.congestion {
                CongestionKind::Cubic => Congestion::Cubic,
                CongestionKind::NewReno => Congestion::NewReno,
                CongestionKind::Bbr => Congestion::Bbr,
            },
            ..defaults
        })
    }
}

/// `[fleet]` → `pool_redis::FleetConfig`. The URL and prefix rules are pool-redis's own
/// (`checks.rs`); the URL is written without its password (`values.rs`).
#[cfg(feature = "fleet")]
impl Config {
    /// The `pool-redis` configuration of `[fleet]`, `None` when `backend = "none"`
    /// (`url`, `prefix`; `share` turns the blacklist, the budget — with
    /// `fleet_max_conns_per_host` — and the heartbeat on or off). A checked config
    /// always converts.
    pub fn fleet_config(&self) -> Option<Result<pool_redis::FleetConfig, pool_redis::UrlError>> {
        if self.fleet.backend != crate::FleetBackend::Redis {
            return None;
        }
        let shares = |s| self.fleet.share.contains(&s);
        Some(pool_redis::RedisUrl::parse(&self.fleet.url).map(|url| {
            let mut cfg = pool_redis::FleetConfig::new(url);
            cfg.prefix = self.fleet.prefix.clone();
            cfg.share_blacklist = shares(FleetShare::Blacklist);
            cfg.share_stats = shares(FleetShare::Stats);
            let budget = self.fleet.fleet_max_conns_per_host;
            cfg.max_conns_per_host = budget.filter(|_| shares(FleetShare::Budgets));
            cfg
        }))
    }
}
