//! Conversions from the configuration into the option structs of the pool crates.
//!
//! Only what the pool crates read is converted; keys that no crate implements (see
//! [`PoolConfig::cleanup_interval`]) are documented as such.

use std::time::Duration;

use pool_core::{Placement, PoolOptions};

use crate::{Config, PlacementKind, PoolConfig, Transport};

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
    /// The `pool-core` options of this configuration: the `[pool]` limits, timeouts and
    /// intervals plus `[whitelist]` and `[blacklist]`.
    ///
    /// Not carried over, because `pool-core` does not use them: `conn_timeout` and
    /// `test_timeout` (the dialers' and the health checker's), `dns_update_interval` (the
    /// DNS refresher's), `banned_status` (validation), and `cleanup_interval`, which has no
    /// effect at all: `pool-core` closes idle and expired connections at their own
    /// deadlines instead of on a periodic sweep (see `docs/cleanup-deadlines.md`).
    /// `keep_warm_lead` is derived, see [`PoolConfig::keep_warm_lead`].
    ///
    /// `max_conns_per_ip`, when absent, is resolved for the default transport (`h2`: 1);
    /// a pool of another transport takes [`Config::pool_options_for`].
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        self.pool_options_for(Transport::default())
    }

    /// [`Config::pool_options`] for a pool of `transport`: an absent
    /// `pool.max_conns_per_ip` is that transport's default ([`PoolConfig::conns_per_ip`]:
    /// 1 for h2 and h3, 6 for h1, auto and tls).
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

#[cfg(any(feature = "tls", feature = "quic"))]
impl Config {
    /// The request layer's options: `pool.request_timeout` → `timeout`,
    /// `pool.body_idle_timeout` → `body_idle_timeout` (zero: none).
    #[must_use]
    pub fn request_options(&self) -> pool_http::RequestOptions {
        pool_http::RequestOptions::default()
            .with_timeout(self.pool.request_timeout)
            .with_body_idle_timeout(self.pool.body_idle_timeout.filter(|d| !d.is_zero()))
            .with_wait_for_host(self.pool.wait_for_host)
    }
}

impl From<&Config> for PoolOptions {
    fn from(cfg: &Config) -> Self {
        cfg.pool_options()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_pool_core() {
        let opts = Config::default().pool_options();
        assert_eq!(opts, PoolOptions::default());
        assert!(opts.validate().is_ok());
    }

    /// `pool.banned_status`'s declared default is the request layer's one default.
    #[test]
    fn banned_status_default_is_pool_http_s() {
        assert_eq!(
            Config::default().pool.banned_status,
            pool_http::DEFAULT_BANNED_STATUS
        );
    }

    /// `pool.request_timeout`'s declared default is the request layer's one default; the
    /// two request keys are carried over.
    #[cfg(any(feature = "tls", feature = "quic"))]
    #[test]
    fn request_options_from_the_pool_section() {
        assert_eq!(
            Config::default().request_options(),
            pool_http::RequestOptions::default()
        );
        let cfg = Config::from_str_named(
            "[pool]\nrequest_timeout = \"2500ms\"\nbody_idle_timeout = 7\n",
            "t.toml",
        )
        .unwrap();
        let o = cfg.request_options();
        assert_eq!(o.timeout, std::time::Duration::from_millis(2500));
        assert_eq!(o.body_idle_timeout, Some(std::time::Duration::from_secs(7)));
        let zero = Config::from_str_named("[pool]\nbody_idle_timeout = 0\n", "t.toml").unwrap();
        assert_eq!(zero.request_options().body_idle_timeout, None);
    }

    /// `pool.max_response_header_size`: its declared default is pool-http's one default,
    /// and the one key reaches every transport (HTTP/1.1 + HTTP/2 through `TlsOptions`,
    /// HTTP/3 through `QuicOptions`).
    #[cfg(all(feature = "tls", feature = "quic"))]
    #[test]
    fn max_response_header_size_reaches_every_transport() {
        let default = Config::default();
        assert_eq!(
            default.pool.max_response_header_size,
            pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE
        );
        assert_eq!(
            default.tls_options().unwrap().max_response_header_size,
            pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE
        );
        let cfg =
            Config::from_str_named("[pool]\nmax_response_header_size = 9000\n", "t.toml").unwrap();
        assert_eq!(cfg.tls_options().unwrap().max_response_header_size, 9000);
        assert_eq!(
            cfg.h2_options(None).unwrap().tls.max_response_header_size,
            9000
        );
        assert_eq!(
            cfg.quic_options(None).unwrap().max_response_header_size,
            9000
        );
        assert!(
            Config::from_str_named("[pool]\nmax_response_header_size = 0\n", "t.toml").is_err()
        );
    }

    /// An absent `max_conns_per_ip` resolves per transport: 1 for the multiplexed ones, 6
    /// where connections may be exclusive HTTP/1.1, capped by `max_conns_per_host`; a value
    /// written wins for every transport; the resolved options always validate.
    #[test]
    fn conns_per_ip_default_depends_on_the_transport() {
        let per_ip = |cfg: &Config, t| cfg.pool_options_for(t).max_conns_per_ip;
        let default = Config::default();
        assert_eq!(default.pool.max_conns_per_ip, None);
        for (t, want) in [
            (Transport::H2, 1),
            (Transport::H3, 1),
            (Transport::H1, 6),
            (Transport::Auto, 6),
            (Transport::Tls, 6),
        ] {
            assert_eq!(per_ip(&default, t), want, "{t:?}");
            assert!(default.pool_options_for(t).validate().is_ok(), "{t:?}");
        }
        assert_eq!(
            default.pool_options(),
            default.pool_options_for(Transport::H2)
        );

        let small = Config::from_str_named("[pool]\nmax_conns_per_host = 4\n", "t.toml").unwrap();
        assert_eq!(per_ip(&small, Transport::H1), 4);
        assert!(small.pool_options_for(Transport::H1).validate().is_ok());
        assert_eq!(per_ip(&small, Transport::H2), 1);

        let explicit = Config::from_str_named("[pool]\nmax_conns_per_ip = 3\n", "t.toml").unwrap();
        for t in [Transport::H1, Transport::H2, Transport::H3, Transport::Auto] {
            assert_eq!(per_ip(&explicit, t), 3, "{t:?}");
        }
        let one = Config::from_str_named("[pool]\nmax_conns_per_ip = 1\n", "t.toml").unwrap();
        assert_eq!(per_ip(&one, Transport::H1), 1);
        // An explicit value is still checked against max_conns_per_host.
        assert!(Config::from_str_named("[pool]\nmax_conns_per_ip = 11\n", "t.toml").is_err());
    }

    #[test]
    fn every_pool_key_is_carried_over() {
        let cfg = Config::from_str_named(
            r#"
[pool]
max_connections = 50
max_conns_per_host = 8
max_idle_conns = 7
max_conns_per_ip = 2
idle_timeout = "90s"
max_lifetime = 40
max_errors = 4
max_retries = 5
blacklist_check_interval = 11
blacklist_timeout = 12
health_check_interval = 13
checkout_timeout = "250ms"
keep_warm = false
warm_concurrency = 3

[whitelist]
ips = ["10.1.2.3/8", "192.0.2.1"]

[blacklist]
ips = ["2001:db8::/32"]
"#,
            "t.toml",
        )
        .unwrap();
        let o = cfg.pool_options();
        assert_eq!(
            (o.max_connections, o.max_conns_per_host, o.max_idle_conns),
            (50, 8, 7)
        );
        assert_eq!(o.max_conns_per_ip, 2);
        assert_eq!(o.idle_timeout, Duration::from_secs(90));
        assert_eq!(o.max_lifetime, Duration::from_secs(40));
        assert_eq!(o.keep_warm_lead, Duration::from_secs(10));
        assert_eq!((o.max_errors, o.max_retries), (4, 5));
        assert_eq!(o.blacklist_check_interval, Duration::from_secs(11));
        assert_eq!(o.blacklist_timeout, Duration::from_secs(12));
        assert_eq!(o.health_check_interval, Some(Duration::from_secs(13)));
        assert_eq!(o.checkout_timeout, Duration::from_millis(250));
        assert!(!o.keep_warm);
        assert_eq!(o.warm_concurrency, 3);
        let w: Vec<String> = o.whitelist.iter().map(ToString::to_string).collect();
        assert_eq!(w, ["10.0.0.0/8", "192.0.2.1"]);
        assert!(o.blacklist[0].contains("2001:db8::1".parse().unwrap()));
        assert!(o.validate().is_ok());
    }
}

/// The `[tls]` trust settings (`ca_files`, `use_webpki_roots`, `insecure_skip_verify`), for
/// the TLS and the QUIC dialers and the encrypted name servers alike.
#[cfg(any(feature = "tls", feature = "quic", feature = "dns"))]
impl Config {
    pub(crate) fn trust(&self) -> pool_rustls::Trust {
        pool_rustls::Trust {
            webpki_roots: self.tls.use_webpki_roots,
            extra_ca_files: self.tls.ca_files.clone(),
            danger_accept_invalid_certs: self.tls.insecure_skip_verify,
            ..pool_rustls::Trust::default()
        }
    }
}

/// The `[validation]` request (with `enabled = true`), its banned status being
/// `pool.banned_status`: the same for the TLS and the QUIC dialers.
#[cfg(any(feature = "tls", feature = "quic"))]
impl Config {
    pub(crate) fn validation(&self) -> Result<Option<pool_http::Validation>, crate::ConfigError> {
        if !self.validation.enabled {
            return Ok(None);
        }
        let method = http::Method::from_bytes(self.validation.method.as_bytes())
            .map_err(|e| convert_error("validation.method", e.to_string()))?;
        Ok(Some(pool_http::Validation {
            method,
            path: self.validation.path.clone(),
            body: self.validation.body.clone().map(bytes::Bytes::from),
            banned_statuses: vec![self.pool.banned_status],
        }))
    }
}

/// A conversion problem: a value the loader accepted but the target crate cannot use.
#[cfg(any(feature = "tls", feature = "quic"))]
pub(crate) fn convert_error(key: &str, reason: String) -> crate::ConfigError {
    crate::ConfigError(Box::new(crate::error::Report {
        kind: crate::ErrorKind::Value,
        file: None,
        line: None,
        column: None,
        env_var: None,
        key: Some(key.to_owned()),
        reason,
    }))
}

#[cfg(feature = "tls")]
pub(crate) mod tls {
    use pool_dial_rustls::{
        H2Options, H2Windows, HttpsOptions, Rotation, TlsOptions, TlsProfile, TlsVersion,
    };

    use super::convert_error;
    use crate::{Config, ConfigError, HostConfig, ProfileRotation};

    impl crate::TcpConfig {
        /// The socket options of every TCP dial (pool-dial-rustls' [`TcpOptions`](pool_dial_rustls::TcpOptions),
        /// also pool-dial-boring's): `keepalive_idle = 0` turns keepalive off, `user_timeout = 0`
        /// leaves the kernel's default.
        #[must_use]
        pub fn tcp_options(&self) -> pool_dial_rustls::TcpOptions {
            pool_dial_rustls::TcpOptions {
                keepalive: (!self.keepalive_idle.is_zero()).then_some(
                    pool_dial_rustls::TcpKeepalive {
                        idle: self.keepalive_idle,
                        interval: self.keepalive_interval,
                        retries: self.keepalive_retries,
                    },
                ),
                user_timeout: (!self.user_timeout.is_zero()).then_some(self.user_timeout),
            }
        }
    }

    pub(crate) fn rotation(r: ProfileRotation) -> Rotation {
        match r {
            ProfileRotation::Random => Rotation::Random,
            ProfileRotation::RoundRobin => Rotation::RoundRobin,
        }
    }

    /// The pool-dial-rustls profile behind a `tls.profiles` name (see
    /// [`KNOWN_TLS_PROFILES`](crate::KNOWN_TLS_PROFILES)).
    fn profile(name: &str) -> Option<TlsProfile> {
        Some(match name {
            "default" => TlsProfile::named("default"),
            "chrome-like" => TlsProfile::chrome_like(),
            "firefox-like" => TlsProfile::firefox_like(),
            "safari-like" => TlsProfile::safari_like(),
            "tls13-only" => TlsProfile {
                versions: vec![TlsVersion::Tls13],
                ..TlsProfile::named("tls13-only")
            },
            _ => return None,
        })
    }

    impl Config {
        /// The `pool-dial-rustls` options of this configuration (for a
        /// [`TlsDialer`](pool_dial_rustls::TlsDialer); see [`Config::h2_options`] for HTTP/2).
        ///
        /// - `pool.conn_timeout`, `pool.test_timeout` → `conn_timeout`, `test_timeout`;
        /// - `[tls]`: `ca_files` → `extra_ca_files`, `use_webpki_roots` → `webpki_roots`,
        ///   `insecure_skip_verify` → `danger_accept_invalid_certs`, `profiles` (by name),
        ///   `profile_rotation` (also used for `accept_languages`);
        /// - `[source_addrs]` → `source_addrs`;
        /// - `[tcp]` → `tcp` (see [`TcpConfig::tcp_options`](crate::TcpConfig::tcp_options));
        /// - `[validation]` with `enabled = true` → `validation`, its banned status being
        ///   `pool.banned_status`.
        ///
        /// ALPN stays pool-dial-rustls' default (`http/1.1`); [`Config::tls_options_for`] applies a
        /// host's `alpn`.
        ///
        /// # Errors
        /// A profile name or validation method the loader would have rejected (only possible
        /// for a `Config` changed in code without [`Config::validate`]).
        pub fn tls_options(&self) -> Result<TlsOptions, ConfigError> {
            let mut profiles = Vec::with_capacity(self.tls.profiles.len());
            for (i, name) in self.tls.profiles.iter().enumerate() {
                profiles.push(profile(name).ok_or_else(|| {
                    convert_error(
                        &format!("tls.profiles[{i}]"),
                        format!("unknown TLS profile {name:?}"),
                    )
                })?);
            }
            let validation = self.validation()?;
            let defaults = TlsOptions::default();
            Ok(TlsOptions {
                conn_timeout: self.pool.conn_timeout,
                test_timeout: self.pool.test_timeout,
                alpn: defaults.alpn,
                trust: self.trust(),
                profiles,
                profile_rotation: rotation(self.tls.profile_rotation),
                accept_languages: self.tls.accept_languages.clone(),
                accept_language_rotation: rotation(self.tls.profile_rotation),
                source_addrs: self.source_addrs.source_addrs(),
                validation,
                max_response_header_size: self.pool.max_response_header_size,
                tcp: self.tcp.tcp_options(),
            })
        }

        /// [`Config::tls_options`] with `host`'s `alpn` list, when it has one.
        ///
        /// # Errors
        /// As [`Config::tls_options`].
        pub fn tls_options_for(&self, host: &HostConfig) -> Result<TlsOptions, ConfigError> {
            let mut opts = self.tls_options()?;
            if let Some(alpn) = &host.alpn {
                opts.alpn = alpn.clone();
            }
            Ok(opts)
        }

        /// The `pool-dial-rustls` options of an [`H2Dialer`](pool_dial_rustls::H2Dialer):
        /// [`Config::tls_options`] with ALPN `h2` (or the host's `alpn`, which the loader
        /// requires to contain `h2` for `transport = "h2"`).
        ///
        /// # Errors
        /// As [`Config::tls_options`].
        pub fn h2_options(&self, host: Option<&HostConfig>) -> Result<H2Options, ConfigError> {
            let defaults = H2Options::default();
            let mut tls = self.tls_options()?;
            tls.alpn = match host.and_then(|h| h.alpn.clone()) {
                Some(alpn) => alpn,
                None => defaults.tls.alpn.clone(),
            };
            Ok(H2Options {
                tls,
                windows: self.h2_windows(),
                ..defaults
            })
        }

        /// `[h2]` as pool-dial-rustls' windows: `stream_window`, `connection_window` (clamped into
        /// HTTP/2's limits, which [`Config::validate`] enforces) and `adaptive_window`.
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

        /// The `pool-dial-rustls` options of an [`H1Dialer`](pool_dial_rustls::H1Dialer):
        /// [`Config::tls_options`] (ALPN `http/1.1`) with the host's `alpn`, if any (the
        /// loader requires it to contain `http/1.1` for `transport = "h1"`).
        ///
        /// # Errors
        /// As [`Config::tls_options`].
        pub fn h1_options(&self, host: Option<&HostConfig>) -> Result<TlsOptions, ConfigError> {
            match host {
                Some(h) => self.tls_options_for(h),
                None => self.tls_options(),
            }
        }

        /// The `pool-dial-rustls` options of an [`HttpsDialer`](pool_dial_rustls::HttpsDialer) (auto ALPN):
        /// [`Config::tls_options`] offering `h2, http/1.1` (or the host's `alpn`, which the
        /// loader requires to contain `http/1.1` for `transport = "auto"`).
        ///
        /// # Errors
        /// As [`Config::tls_options`].
        pub fn https_options(
            &self,
            host: Option<&HostConfig>,
        ) -> Result<HttpsOptions, ConfigError> {
            let defaults = HttpsOptions::default();
            let mut tls = self.tls_options()?;
            tls.alpn = match host.and_then(|h| h.alpn.clone()) {
                Some(alpn) => alpn,
                None => defaults.tls.alpn.clone(),
            };
            Ok(HttpsOptions {
                tls,
                h2_windows: self.h2_windows(),
                ..defaults
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use std::time::Duration;

        use super::*;

        /// `[tcp]` reaches the TLS options (h1, h2, auto share `tls_options`); zeros turn
        /// keepalive and the user timeout off; the defaults are pool-dial-rustls' own.
        #[test]
        fn tcp_keys_are_carried_over() {
            assert_eq!(
                Config::default().tls_options().unwrap().tcp,
                pool_dial_rustls::TcpOptions::default()
            );
            let cfg = Config::from_str_named(
                "[tcp]\nkeepalive_idle = 30\nkeepalive_interval = 7\nkeepalive_retries = 4\n\
                 user_timeout = \"45s\"\n",
                "t.toml",
            )
            .unwrap();
            let tcp = cfg.h2_options(None).unwrap().tls.tcp;
            assert_eq!(
                tcp.keepalive,
                Some(pool_dial_rustls::TcpKeepalive {
                    idle: Duration::from_secs(30),
                    interval: Duration::from_secs(7),
                    retries: 4,
                })
            );
            assert_eq!(tcp.user_timeout, Some(Duration::from_secs(45)));
            let off =
                Config::from_str_named("[tcp]\nkeepalive_idle = 0\nuser_timeout = 0\n", "t.toml")
                    .unwrap();
            assert_eq!(
                off.tls_options().unwrap().tcp,
                pool_dial_rustls::TcpOptions::off()
            );
            for bad in [
                "keepalive_retries = 0",
                "keepalive_retries = 128",
                "keepalive_interval = 0",
            ] {
                assert!(
                    Config::from_str_named(&format!("[tcp]\n{bad}\n"), "t.toml").is_err(),
                    "{bad}"
                );
            }
        }

        #[test]
        fn tls_keys_are_carried_over() {
            let cfg = Config::from_str_named(
                r#"
[pool]
conn_timeout = 7
test_timeout = "1500ms"
banned_status = 451

[tls]
ca_files = ["/etc/extra-ca.pem"]
use_webpki_roots = false
profiles = ["chrome-like", "tls13-only"]
profile_rotation = "random"
accept_languages = ["de-DE", "fr-FR"]

[validation]
enabled = true
method = "HEAD"
path = "/check"

[source_addrs]
addrs = ["127.0.0.9"]
ipv6_prefix = "2001:db8::/64"

[[hosts]]
name = "a.test"
alpn = ["h2", "http/1.1"]
"#,
                "t.toml",
            )
            .unwrap();
            let t = cfg.tls_options().unwrap();
            assert_eq!(t.conn_timeout, Duration::from_secs(7));
            assert_eq!(t.test_timeout, Duration::from_millis(1500));
            assert!(!t.trust.webpki_roots);
            assert_eq!(t.trust.extra_ca_files.len(), 1);
            let names: Vec<&str> = t.profiles.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["chrome-like", "tls13-only"]);
            assert_eq!(t.profiles[1].versions, [TlsVersion::Tls13]);
            assert_eq!(t.profile_rotation, Rotation::Random);
            assert_eq!(t.accept_languages, ["de-DE", "fr-FR"]);
            let v = t.validation.unwrap();
            assert_eq!(v.method, http::Method::HEAD);
            assert_eq!(v.path, "/check");
            assert_eq!(v.banned_statuses, [451]);
            assert_eq!(t.source_addrs.addrs().len(), 1);
            assert_eq!(t.source_addrs.prefix().map(|p| p.prefix_len()), Some(64));
            assert!(!t.trust.danger_accept_invalid_certs);

            let h2 = cfg.h2_options(None).unwrap();
            assert_eq!(h2.tls.alpn, ["h2"]);
            let h2 = cfg.h2_options(Some(&cfg.hosts[0])).unwrap();
            assert_eq!(h2.tls.alpn, ["h2", "http/1.1"]);
        }

        #[test]
        fn h1_and_auto_transports_convert_and_check_alpn() {
            let cfg = Config::from_str_named(
                "[[hosts]]\nname = \"a.test\"\ntransport = \"h1\"\n\n\
                 [[hosts]]\nname = \"b.test\"\ntransport = \"auto\"\n\n\
                 [[hosts]]\nname = \"c.test\"\ntransport = \"auto\"\nalpn = [\"http/1.1\"]\n",
                "t.toml",
            )
            .unwrap();
            assert_eq!(cfg.hosts[0].transport, crate::Transport::H1);
            assert_eq!(cfg.hosts[1].transport, crate::Transport::Auto);
            assert_eq!(
                cfg.h1_options(Some(&cfg.hosts[0])).unwrap().alpn,
                ["http/1.1"]
            );
            assert_eq!(
                cfg.https_options(Some(&cfg.hosts[1])).unwrap().tls.alpn,
                ["h2", "http/1.1"]
            );
            assert_eq!(
                cfg.https_options(Some(&cfg.hosts[2])).unwrap().tls.alpn,
                ["http/1.1"]
            );
            for transport in ["h1", "auto"] {
                let err = Config::from_str_named(
                    &format!(
                        "[[hosts]]\nname = \"a.test\"\ntransport = \"{transport}\"\nalpn = [\"h2\"]\n"
                    ),
                    "t.toml",
                )
                .unwrap_err()
                .to_string();
                assert!(
                    err.contains("needs \"http/1.1\" in alpn"),
                    "{transport}: {err}"
                );
            }
        }

        #[test]
        fn h2_windows_are_carried_to_both_http2_dialers() {
            assert_eq!(Config::default().h2_windows(), H2Windows::default());
            let cfg = Config::from_str_named(
                "[h2]\nstream_window = \"6MiB\"\nconnection_window = 16777216\n\
                 adaptive_window = false\n",
                "t.toml",
            )
            .unwrap();
            let windows = H2Windows {
                stream: 6 << 20,
                connection: 16 << 20,
                adaptive: false,
            };
            assert_eq!(cfg.h2_options(None).unwrap().windows, windows);
            assert_eq!(cfg.https_options(None).unwrap().h2_windows, windows);
        }

        #[cfg(feature = "boring")]
        #[test]
        fn the_boring_engine_is_told_h2_windows_do_not_apply() {
            let text = "[tls]\nengine = \"boring\"\nprofiles = [\"chrome\"]\n\n\
                        [h2]\nadaptive_window = false\n";
            let cfg = Config::from_str_named(text, "t.toml").unwrap();
            let warned = cfg.warnings().iter().any(|w| {
                w.to_string()
                    .contains("[h2] applies to the rustls engine only")
            });
            assert!(warned, "{:?}", cfg.warnings());
            let cfg = Config::from_str_named(
                &text
                    .replace("[h2]", "[dns]")
                    .replace("adaptive_window = false", ""),
                "t.toml",
            );
            assert!(cfg.unwrap().warnings().is_empty());
        }

        #[test]
        fn h2_windows_outside_http2_limits_are_refused() {
            for (key, value) in [
                ("stream_window", "65534"),
                ("connection_window", "\"2GiB\""),
                ("stream_window", "0"),
            ] {
                let err = Config::from_str_named(&format!("[h2]\n{key} = {value}\n"), "t.toml")
                    .unwrap_err();
                assert_eq!(err.key(), Some(format!("h2.{key}").as_str()), "{err}");
                assert!(
                    err.to_string().contains("must be an HTTP/2 window"),
                    "{err}"
                );
            }
            // The limits themselves are fine.
            Config::from_str_named(
                "[h2]\nstream_window = 65535\nconnection_window = 2147483647\n",
                "t.toml",
            )
            .unwrap();
        }

        #[test]
        fn defaults() {
            let t = Config::default().tls_options().unwrap();
            assert!(t.trust.webpki_roots);
            assert!(t.validation.is_none());
            assert!(t.source_addrs.is_empty());
            assert_eq!(t.profiles.len(), 1);
            assert_eq!(t.profiles[0].name, "default");
            assert!(t.profiles[0].versions.is_empty());
        }

        #[test]
        fn every_known_profile_converts() {
            for name in crate::KNOWN_TLS_PROFILES {
                assert!(profile(name).is_some(), "{name}");
            }
        }
    }
}

#[cfg(feature = "dns")]
mod dns;

#[cfg(feature = "health")]
mod health;

#[cfg(feature = "quic")]
mod quic;
