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
            .map_err(|e| crate::ConfigError::at_key("validation.method", e.to_string()))?;
        Ok(Some(pool_http::Validation {
            method,
            path: self.validation.path.clone(),
            body: self.validation.body.clone().map(bytes::Bytes::from),
            banned_statuses: vec![self.pool.banned_status],
        }))
    }
}

#[cfg(feature = "tls")]
pub(crate) mod tls {
    use pool_dial_rustls::{
        H2Options, H2Windows, HttpsOptions, Rotation, TlsOptions, TlsProfile, TlsVersion,
    };

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
        /// The `pool-dial-rustls` options of a [`TlsDialer`](pool_dial_rustls::TlsDialer):
        /// `pool.conn_timeout`, `pool.test_timeout`, `[tls]` (trust, profiles, rotation,
        /// `accept_languages`), `[source_addrs]`, `[tcp]`, `[validation]`. ALPN stays the
        /// dialer's default; [`Config::tls_options_for`] applies a host's `alpn`.
        ///
        /// # Errors
        /// A profile name or validation method [`Config::validate`] refuses.
        pub fn tls_options(&self) -> Result<TlsOptions, ConfigError> {
            let mut profiles = Vec::with_capacity(self.tls.profiles.len());
            for (i, name) in self.tls.profiles.iter().enumerate() {
                profiles.push(profile(name).ok_or_else(|| {
                    ConfigError::at_key(
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
                proxy: None,
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

        /// The options of an [`H2Dialer`](pool_dial_rustls::H2Dialer): [`Config::tls_options`]
        /// with ALPN `h2` (or the host's `alpn`) and the `[h2]` windows.
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

        /// The options of an [`H1Dialer`](pool_dial_rustls::H1Dialer): [`Config::tls_options`]
        /// with the host's `alpn`, if any.
        ///
        /// # Errors
        /// As [`Config::tls_options`].
        pub fn h1_options(&self, host: Option<&HostConfig>) -> Result<TlsOptions, ConfigError> {
            match host {
                Some(h) => self.tls_options_for(h),
                None => self.tls_options(),
            }
        }

        /// The options of an [`HttpsDialer`](pool_dial_rustls::HttpsDialer): [`Config::tls_options`]
        /// offering `h2, http/1.1` (or the host's `alpn`) and the `[h2]` windows.
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
}

#[cfg(feature = "dns")]
mod dns;

#[cfg(feature = "health")]
mod health;

#[cfg(feature = "quic")]
mod quic;
