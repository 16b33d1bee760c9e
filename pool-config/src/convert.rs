//! Conversions from the configuration into the option structs of the pool crates.
//!
//! Only what the pool crates read is converted; keys that no crate implements (see
//! [`PoolConfig::cleanup_interval`]) are documented as such.

use std::time::Duration;

use pool_core::{IpRange, PoolOptions};

use crate::{Config, IpNet, PoolConfig};

/// The longest lead with which `keep_warm` dials a replacement before `max_lifetime` runs
/// out (pool-core's default lead).
const KEEP_WARM_LEAD: Duration = Duration::from_secs(30);

impl From<IpNet> for IpRange {
    fn from(net: IpNet) -> Self {
        // An `IpNet` is always a valid range: its prefix length fits its family.
        match IpRange::new(net.addr(), net.prefix_len()) {
            Ok(range) => range,
            Err(_) => IpRange::from(net.addr()),
        }
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
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        let p = &self.pool;
        PoolOptions {
            max_connections: p.max_connections,
            max_conns_per_host: p.max_conns_per_host,
            max_idle_conns: p.max_idle_conns,
            max_conns_per_ip: p.max_conns_per_ip,
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
            whitelist: self
                .whitelist
                .ips
                .iter()
                .copied()
                .map(IpRange::from)
                .collect(),
            blacklist: self
                .blacklist
                .ips
                .iter()
                .copied()
                .map(IpRange::from)
                .collect(),
        }
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
