//! The option structs of the pool crates, built from a [`Config`]: [`ConfigOptions`].
//!
//! pool-config reads and checks the file; this module is where its keys meet the crates
//! that use them (`docs/config-reader.md`). Keys no crate reads are documented as such.

#[cfg(feature = "dns")]
use std::net::SocketAddr;

use pool_config::{Config, ConfigError, HostConfig};
#[cfg(feature = "dns")]
use pool_config::{DnsProtocol, IpPreference};
use pool_dial_rustls::{H2Options, H2Windows, HttpsOptions, TlsOptions, TlsProfile};
#[cfg(feature = "dns")]
use pool_dns::NameServer;

/// The options of each pool crate, built from a [`Config`] (implemented for `Config`
/// only): `use hotpool::ConfigOptions;` then `cfg.h2_options(None)`. pool-core's own
/// options are pool-config's ([`Config::pool_options`]): its checks run pool-core's rules.
///
/// A checked config always converts, except for files the conversion reads (a client
/// certificate) and, on a config changed in code, values [`Config::validate`] refuses.
pub trait ConfigOptions {
    /// The configuration read.
    fn config(&self) -> &Config;

    /// The request layer's options: `pool.request_timeout` → `timeout`,
    /// `pool.body_idle_timeout` → `body_idle_timeout` (zero: none), `pool.wait_for_host`.
    fn request_options(&self) -> pool_http::RequestOptions {
        let p = &self.config().pool;
        pool_http::RequestOptions::default()
            .with_timeout(p.request_timeout)
            .with_body_idle_timeout(p.body_idle_timeout.filter(|d| !d.is_zero()))
            .with_wait_for_host(p.wait_for_host)
    }

    /// The `pool-dial-rustls` options of a [`TlsDialer`](pool_dial_rustls::TlsDialer):
    /// `pool.conn_timeout`, `pool.test_timeout`, `[tls]` (trust, profiles, rotation,
    /// `accept_languages`), `[source_addrs]`, `[tcp]`, `[validation]`, `[egress]`. ALPN stays
    /// the dialer's default; [`ConfigOptions::tls_options_for`] applies a host's `alpn`.
    ///
    /// # Errors
    /// A profile name or validation method [`Config::validate`] refuses, an unreadable
    /// client certificate; the same for every TCP option builder below.
    fn tls_options(&self) -> Result<TlsOptions, ConfigError> {
        tls_with_alpn(self.config(), None, &TlsOptions::default().alpn)
    }

    /// [`ConfigOptions::tls_options`] with `host`'s `alpn` list, when it has one.
    ///
    /// # Errors
    /// As [`ConfigOptions::tls_options`].
    fn tls_options_for(&self, host: &HostConfig) -> Result<TlsOptions, ConfigError> {
        tls_with_alpn(self.config(), Some(host), &TlsOptions::default().alpn)
    }

    /// The proxies of TCP dials to `host`, each an egress with its own pool (empty:
    /// direct): the host's own `proxies` when it has the key (`[]`: direct), else
    /// `[egress] proxies`, else, with `from_env`, the environment as curl reads it
    /// (`pool_dial::proxy_from_env`: `NO_PROXY` is matched against the host's name); each
    /// with `[egress] connect_by`.
    ///
    /// # Errors
    /// A proxy URL in the environment that does not parse (at the key `egress.from_env`).
    fn proxies_for(&self, host: Option<&HostConfig>) -> Result<Vec<pool_dial::Proxy>, ConfigError> {
        let egress = &self.config().egress;
        let by_name = |p: pool_dial::Proxy| p.with_connect_by(egress.connect_by);
        let own = host.and_then(|h| h.proxies.as_ref());
        let listed = own.unwrap_or(&egress.proxies);
        if own.is_some() || !listed.is_empty() {
            return Ok(listed.iter().map(|p| by_name(p.0.clone())).collect());
        }
        if !egress.from_env {
            return Ok(Vec::new());
        }
        let name = host.map_or("", |h| h.name.as_str());
        pool_dial::proxy_from_env(|v| std::env::var(v).ok(), true, name)
            .map(|p| p.into_iter().map(by_name).collect())
            .map_err(|e| ConfigError::at_key("egress.from_env", format!("a proxy variable: {e}")))
    }

    /// The first of [`ConfigOptions::proxies_for`]: the proxy of a single dialer (the
    /// option builders below); [`HostStack`](crate::HostStack) makes one pool per proxy.
    ///
    /// # Errors
    /// As [`ConfigOptions::proxies_for`].
    fn proxy_for(
        &self,
        host: Option<&HostConfig>,
    ) -> Result<Option<pool_dial::Proxy>, ConfigError> {
        Ok(self.proxies_for(host)?.into_iter().next())
    }

    /// `[egress] rotation`: how a request picks its proxy.
    fn egress_rotation(&self) -> pool_core::EgressRotation {
        self.config().egress.rotation
    }

    /// The options of an [`H1Dialer`](pool_dial_rustls::H1Dialer): the TLS options with the
    /// host's `alpn`, if any.
    ///
    /// # Errors
    /// As [`ConfigOptions::tls_options`].
    fn h1_options(&self, host: Option<&HostConfig>) -> Result<TlsOptions, ConfigError> {
        tls_with_alpn(self.config(), host, &TlsOptions::default().alpn)
    }

    /// The options of an [`H2Dialer`](pool_dial_rustls::H2Dialer): the TLS options with
    /// ALPN `h2` (or the host's `alpn`) and the `[h2]` windows.
    ///
    /// # Errors
    /// As [`ConfigOptions::tls_options`].
    fn h2_options(&self, host: Option<&HostConfig>) -> Result<H2Options, ConfigError> {
        let defaults = H2Options::default();
        let tls = tls_with_alpn(self.config(), host, &defaults.tls.alpn)?;
        Ok(H2Options {
            tls,
            windows: self.h2_windows(),
            ..defaults
        })
    }

    /// The options of an [`HttpsDialer`](pool_dial_rustls::HttpsDialer): the TLS options
    /// offering `h2, http/1.1` (or the host's `alpn`) and the `[h2]` windows.
    ///
    /// # Errors
    /// As [`ConfigOptions::tls_options`].
    fn https_options(&self, host: Option<&HostConfig>) -> Result<HttpsOptions, ConfigError> {
        let defaults = HttpsOptions::default();
        let tls = tls_with_alpn(self.config(), host, &defaults.tls.alpn)?;
        Ok(HttpsOptions {
            tls,
            h2_windows: self.h2_windows(),
            ..defaults
        })
    }

    /// `[h2]` as pool-dial-rustls' windows (clamped into HTTP/2's limits).
    fn h2_windows(&self) -> H2Windows {
        let window = |size: pool_config::ByteSize| {
            u32::try_from(size.0)
                .unwrap_or(H2Windows::MAX)
                .clamp(H2Windows::MIN, H2Windows::MAX)
        };
        let h2 = &self.config().h2;
        H2Windows {
            stream: window(h2.stream_window),
            connection: window(h2.connection_window),
            adaptive: h2.adaptive_window,
        }
    }

    /// The options of the plain `http://` dialer ([`PlainDialer`](pool_dial::PlainDialer)):
    /// as [`ConfigOptions::tls_options`] without TLS; HTTP/2 with prior knowledge when the
    /// host's transport is `h2c`, else HTTP/1.1; the `[h2]` windows for h2c.
    ///
    /// # Errors
    /// As [`ConfigOptions::tls_options`].
    fn plain_options(
        &self,
        host: Option<&HostConfig>,
    ) -> Result<pool_dial::PlainOptions, ConfigError> {
        let cfg = self.config();
        Ok(pool_dial::PlainOptions {
            conn_timeout: cfg.pool.conn_timeout,
            test_timeout: cfg.pool.test_timeout,
            source_addrs: source_addrs(cfg),
            tcp: tcp_options(cfg),
            proxy: self.proxy_for(host)?,
            validation: validation(cfg)?,
            max_response_header_size: cfg.pool.max_response_header_size,
            h2_prior_knowledge: host.is_some_and(|h| h.transport == pool_config::Transport::H2c),
            h2_windows: self.h2_windows(),
            ..pool_dial::PlainOptions::default()
        })
    }

    /// The request layer's politeness (`docs/rate-limits.md`): `pool.rate_limit` for every
    /// host without its own `[[hosts]] rate_limit`, adapted on 429/503 when
    /// `pool.adaptive_rate`, throttled idempotent requests sent again when
    /// `pool.status_retries`. A host's `fleet_rate_limit` holds for the whole `[fleet]`
    /// (tokens leased from Redis, `pool_redis::RedisRates`); without a fleet backend it
    /// is not enforced (a warning says so).
    fn polite(&self) -> pool_http::Polite {
        let cfg = self.config();
        let adaptation = cfg.pool.adaptive_rate.then(pool_core::Adaptation::default);
        let default = cfg.pool.rate_limit.map(|r| r.0);
        let own = cfg
            .hosts
            .iter()
            .filter_map(|h| Some((&h.name, h.rate_limit?.0)));
        let fleet_own = cfg
            .hosts
            .iter()
            .filter_map(|h| Some((&h.name, h.fleet_rate_limit?.0)));
        let paced = default.is_some()
            || adaptation.is_some()
            || own.clone().next().is_some()
            || fleet_own.clone().next().is_some();
        let rates = paced.then(|| {
            let mut rates = pool_http::HostRates::new(default, adaptation);
            if fleet_own.clone().next().is_some() {
                match self.fleet_rates() {
                    Some(tokens) => rates = rates.with_fleet(tokens),
                    None => tracing::warn!(
                        "[[hosts]] fleet_rate_limit needs a [fleet] backend: not enforced"
                    ),
                }
            }
            for (host, rate) in own {
                rates.set_host(host, Some(rate));
            }
            for (host, rate) in fleet_own {
                rates.set_fleet_host(host, Some(rate));
            }
            std::sync::Arc::new(rates)
        });
        let retry = if cfg.pool.status_retries {
            pool_http::StatusRetry::default()
        } else {
            pool_http::StatusRetry::off()
        };
        pool_http::Polite::new(rates, retry)
    }

    /// The `pool-dns` options: `[dns]` (`name_servers`, then `[[dns.servers]]`),
    /// `pool.dns_update_interval`, and the `[tls]` trust for encrypted servers.
    #[cfg(feature = "dns")]
    fn dns_options(&self) -> pool_dns::DnsOptions {
        let cfg = self.config();
        let dns = &cfg.dns;
        let plain = |addr: &SocketAddr| name_server(*addr, dns.protocol, None);
        let servers = dns
            .servers
            .iter()
            .map(|s| name_server(s.addr, s.protocol, s.tls_name.as_deref()));
        pool_dns::DnsOptions {
            name_servers: dns.name_servers.iter().map(plain).chain(servers).collect(),
            resolv_conf: dns.resolv_conf.clone(),
            tls: server_trust(cfg),
            prefer: match dns.prefer {
                IpPreference::Ipv4 => pool_dns::IpPreference::Ipv4,
                IpPreference::Ipv6 => pool_dns::IpPreference::Ipv6,
                IpPreference::Both => pool_dns::IpPreference::Both,
            },
            dns_update_interval: cfg.pool.dns_update_interval,
            min_ttl: dns.min_ttl,
            query_timeout: dns.timeout,
            stale_after: dns.stale_after,
            nxdomain_confirmations: dns.nxdomain_confirmations,
            ..pool_dns::DnsOptions::default()
        }
    }

    /// The `pool-health` options: `pool.test_timeout` and `health.concurrency` (when probes
    /// are due is the pool's `health_check_interval`). Which probe runs (`health.probe`,
    /// `path`, `method`, with `pool.banned_status`) is up to the caller, who owns the
    /// transport.
    #[cfg(feature = "health")]
    fn health_options(&self) -> pool_health::HealthOptions {
        let cfg = self.config();
        pool_health::HealthOptions {
            test_timeout: cfg.pool.test_timeout,
            concurrency: cfg.health.concurrency,
            ..Default::default()
        }
    }

    /// The `pool-dial-quic` (HTTP/3) options: as [`ConfigOptions::tls_options`] without
    /// profiles and languages, plus `[h3]` and the host's `alpn` (default `h3`).
    ///
    /// # Errors
    /// A validation method or window [`Config::validate`] refuses.
    #[cfg(feature = "h3")]
    fn quic_options(
        &self,
        host: Option<&HostConfig>,
    ) -> Result<pool_dial_quic::QuicOptions, ConfigError> {
        use pool_config::CongestionKind;
        use pool_dial_quic::Congestion;
        let cfg = self.config();
        let defaults = pool_dial_quic::QuicOptions::default();
        let too_large = |_| ConfigError::at_key("h3.stream_receive_window", "above 4 GiB".into());
        Ok(pool_dial_quic::QuicOptions {
            conn_timeout: cfg.pool.conn_timeout,
            test_timeout: cfg.pool.test_timeout,
            alpn: host
                .and_then(|h| h.alpn.clone())
                .unwrap_or_else(|| defaults.alpn.clone()),
            trust: trust(cfg)?,
            source_addrs: source_addrs(cfg),
            validation: validation(cfg)?,
            max_response_header_size: cfg.pool.max_response_header_size,
            stream_receive_window: u32::try_from(cfg.h3.stream_receive_window.0)
                .map_err(too_large)?,
            receive_window: cfg.h3.receive_window.0,
            send_window: cfg.h3.send_window.0,
            initial_rtt: cfg.h3.initial_rtt,
            congestion: match cfg.h3.congestion {
                CongestionKind::Cubic => Congestion::Cubic,
                CongestionKind::NewReno => Congestion::NewReno,
                CongestionKind::Bbr => Congestion::Bbr,
            },
            ..defaults
        })
    }

    /// The fleet-wide rates' backend (`[[hosts]] fleet_rate_limit`): `[fleet]`'s Redis,
    /// under its prefix; `None` without one (or without the `redis` feature).
    fn fleet_rates(&self) -> Option<std::sync::Arc<dyn pool_core::FleetTokens>> {
        #[cfg(feature = "redis")]
        match self
            .fleet_config()?
            .map(|cfg| pool_redis::RedisRates::new(&cfg))
        {
            Ok(Ok(rates)) => return Some(rates),
            Ok(Err(e)) => tracing::warn!("fleet rates: {e}"),
            Err(e) => tracing::warn!("fleet rates: {e}"),
        }
        None
    }

    /// The `pool-redis` configuration of `[fleet]`, `None` when `backend = "none"`
    /// (`mode`, `url` — one server, or comma-separated seed nodes or sentinels —,
    /// `sentinel_master`, `prefix`; `share` turns the blacklist, the budget — with
    /// `fleet_max_conns_per_host` — and the heartbeat on or off). A checked config
    /// always converts (a list of URLs with `mode = "single"` is refused by the check).
    #[cfg(feature = "redis")]
    fn fleet_config(&self) -> Option<Result<pool_redis::FleetConfig, pool_redis::UrlError>> {
        use pool_config::{FleetBackend, FleetModeKind, FleetShare};
        let fleet = &self.config().fleet;
        if fleet.backend != FleetBackend::Redis {
            return None;
        }
        let shares = |s| fleet.share.contains(&s);
        let urls = match fleet.mode {
            // One URL, refused if it is a list (`RedisUrl::parse` says why).
            FleetModeKind::Single => pool_redis::RedisUrl::parse(&fleet.url).map(|u| vec![u]),
            FleetModeKind::Cluster | FleetModeKind::Sentinel => {
                pool_redis::RedisUrl::parse_list(&fleet.url)
            }
        };
        Some(urls.map(|urls| {
            let mut cfg = match fleet.mode {
                FleetModeKind::Single => pool_redis::FleetConfig::new(urls[0].clone()),
                FleetModeKind::Cluster => pool_redis::FleetConfig::cluster(urls),
                FleetModeKind::Sentinel => {
                    pool_redis::FleetConfig::sentinel(urls, &fleet.sentinel_master)
                }
            };
            cfg.prefix = fleet.prefix.clone();
            cfg.share_blacklist = shares(FleetShare::Blacklist);
            cfg.share_stats = shares(FleetShare::Stats);
            let budget = fleet.fleet_max_conns_per_host;
            cfg.max_conns_per_host = budget.filter(|_| shares(FleetShare::Budgets));
            cfg
        }))
    }

    /// The `pool-dial-boring` options for `host` (`[tls] engine = "boring"`): browser
    /// profiles by name, `mode` from the host's transport (`h2`, `h1`, `auto`; none:
    /// HTTP/2), and the rest as [`ConfigOptions::tls_options`]. A host's `alpn` and
    /// `accept_languages` are not applied (they would change the browser's fingerprint).
    ///
    /// # Errors
    /// A profile name [`Config::validate`] refuses, or a transport other than those.
    #[cfg(feature = "boring")]
    fn boring_options(
        &self,
        host: Option<&HostConfig>,
    ) -> Result<pool_dial_boring::BoringOptions, ConfigError> {
        boring_options(self.config(), host)
    }
}

impl ConfigOptions for Config {
    fn config(&self) -> &Config {
        self
    }
}

/// The `[validation]` request (with `enabled = true`), its banned status being
/// `pool.banned_status`: the same for the TLS and the QUIC dialers.
pub(crate) fn validation(cfg: &Config) -> Result<Option<pool_http::Validation>, ConfigError> {
    let v = &cfg.validation;
    if !v.enabled {
        return Ok(None);
    }
    let method = http::Method::from_bytes(v.method.as_bytes())
        .map_err(|e| ConfigError::at_key("validation.method", e.to_string()))?;
    Ok(Some(pool_http::Validation {
        method,
        path: v.path.clone(),
        body: v.body.clone().map(Into::into),
        banned_statuses: vec![cfg.pool.banned_status],
    }))
}

/// The `[tls]` trust settings (`ca_files`, `use_webpki_roots`, `insecure_skip_verify`), for
/// the dialers and the encrypted name servers alike.
fn server_trust(cfg: &Config) -> pool_dial::Trust {
    pool_dial::Trust {
        webpki_roots: cfg.tls.use_webpki_roots,
        extra_ca_files: cfg.tls.ca_files.clone(),
        danger_accept_invalid_certs: cfg.tls.insecure_skip_verify,
        ..pool_dial::Trust::default()
    }
}

/// The dialers' trust: [`server_trust`] with the client certificate (`client_cert`,
/// `client_key`), which the name servers do not get.
pub(crate) fn trust(cfg: &Config) -> Result<pool_dial::Trust, ConfigError> {
    let client_cert = match (&cfg.tls.client_cert, &cfg.tls.client_key) {
        (Some(cert), Some(key)) => Some(
            pool_dial::ClientCert::from_files(cert, key)
                .map_err(|e| ConfigError::at_key("tls.client_cert", e.to_string()))?,
        ),
        _ => None,
    };
    Ok(pool_dial::Trust {
        client_cert,
        ..server_trust(cfg)
    })
}

/// The source addresses of dials: `addrs` and `ipv6_prefix` (only an IPv6 prefix, as
/// validation requires).
pub(crate) fn source_addrs(cfg: &Config) -> pool_dial::SourceAddrs {
    let s = &cfg.source_addrs;
    let prefix = s.ipv6_prefix.filter(pool_core::IpRange::is_ipv6);
    pool_dial::SourceAddrs::new(s.addrs.clone(), prefix)
}

/// The socket options of every TCP dial: `keepalive_idle = 0` turns keepalive off,
/// `user_timeout = 0` leaves the kernel's default.
pub(crate) fn tcp_options(cfg: &Config) -> pool_dial::TcpOptions {
    let t = &cfg.tcp;
    let (idle, interval, retries) = (t.keepalive_idle, t.keepalive_interval, t.keepalive_retries);
    pool_dial::TcpOptions {
        keepalive: (!idle.is_zero()).then_some(pool_dial::TcpKeepalive {
            idle,
            interval,
            retries,
        }),
        user_timeout: (!t.user_timeout.is_zero()).then_some(t.user_timeout),
    }
}

/// `tls.profiles`, each through `by_name` (`what`: the error's word for a profile).
pub(crate) fn profiles<P>(
    cfg: &Config,
    by_name: impl Fn(&str) -> Option<P>,
    what: &str,
) -> Result<Vec<P>, ConfigError> {
    let named = cfg.tls.profiles.iter().enumerate().map(|(i, name)| {
        let reason = || format!("unknown {what} {name:?}");
        by_name(name).ok_or_else(|| ConfigError::at_key(&format!("tls.profiles[{i}]"), reason()))
    });
    named.collect()
}

/// The pool-dial-rustls profile behind a `tls.profiles` name (see
/// [`KNOWN_TLS_PROFILES`](pool_config::KNOWN_TLS_PROFILES)).
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

/// The TLS options for `host` (its proxy: [`ConfigOptions::proxy_for`]) offering the
/// host's `alpn`, else `default`.
fn tls_with_alpn(
    cfg: &Config,
    host: Option<&HostConfig>,
    default: &[String],
) -> Result<TlsOptions, ConfigError> {
    let alpn = host.and_then(|h| h.alpn.clone());
    Ok(TlsOptions {
        conn_timeout: cfg.pool.conn_timeout,
        test_timeout: cfg.pool.test_timeout,
        alpn: alpn.unwrap_or_else(|| default.to_vec()),
        trust: trust(cfg)?,
        profiles: profiles(cfg, profile, "TLS profile")?,
        profile_rotation: cfg.tls.profile_rotation,
        accept_languages: cfg.tls.accept_languages.clone(),
        accept_language_rotation: cfg.tls.profile_rotation,
        source_addrs: source_addrs(cfg),
        validation: validation(cfg)?,
        max_response_header_size: cfg.pool.max_response_header_size,
        tcp: tcp_options(cfg),
        proxy: cfg.proxy_for(host)?,
    })
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

/// `[tls] engine = "boring"` (feature `boring`): pool-config checks the profile names
/// against [`KNOWN_BORING_PROFILES`](pool_config::KNOWN_BORING_PROFILES) and, without its
/// own `boring` feature (which this crate's turns on), refuses the engine.
#[cfg(feature = "boring")]
mod boring {
    use pool_config::{Config, ConfigError, HostConfig, Transport};
    use pool_dial_boring::{BoringOptions, BrowserProfile, Mode};

    use super::{ConfigOptions, profiles, source_addrs, tcp_options, trust, validation};

    /// The browser profile behind a `tls.profiles` name with engine boring (`"default"`:
    /// Chrome, the engine's default).
    fn browser_profile(name: &str) -> Option<BrowserProfile> {
        match name {
            "default" => Some(BrowserProfile::chrome()),
            other => BrowserProfile::by_name(other).ok(),
        }
    }

    /// [`ConfigOptions::boring_options`].
    pub(crate) fn boring_options(
        cfg: &Config,
        host: Option<&HostConfig>,
    ) -> Result<BoringOptions, ConfigError> {
        let mode = match host.map_or(Transport::H2, |h| h.transport) {
            Transport::H2 | Transport::H2c => Mode::H2,
            Transport::H1 => Mode::H1,
            Transport::Auto => Mode::Auto,
            other => {
                let reason = format!(
                    "engine \"boring\" dials h2, h1 or auto, not transport {:?}",
                    other.as_str()
                );
                return Err(ConfigError::at_key("tls.engine", reason));
            }
        };
        Ok(BoringOptions {
            profiles: profiles(cfg, browser_profile, "browser profile")?,
            profile_rotation: cfg.tls.profile_rotation,
            mode,
            trust: trust(cfg)?,
            conn_timeout: cfg.pool.conn_timeout,
            test_timeout: cfg.pool.test_timeout,
            source_addrs: source_addrs(cfg),
            validation: validation(cfg)?,
            max_response_header_size: cfg.pool.max_response_header_size,
            tcp: tcp_options(cfg),
            proxy: cfg.proxy_for(host)?,
            ..BoringOptions::default()
        })
    }
}
#[cfg(feature = "boring")]
use boring::boring_options;
