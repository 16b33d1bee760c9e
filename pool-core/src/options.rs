//! The pool's limits and policies. Field names match the config keys of `pool-config`.

use std::time::Duration;

use crate::IpRange;

/// Everything that shapes a pool's behaviour. `PoolOptions::default()` holds the defaults of
/// the original system's `[pool]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolOptions {
    /// Most connections open (and being dialed) at once, over all hosts.
    pub max_connections: usize,
    /// Most connections to one host (draining ones not counted).
    pub max_conns_per_host: usize,
    /// Most idle connections kept; beyond this the least recently used idle one is closed.
    pub max_idle_conns: usize,
    /// Most connections to one address of one host.
    pub max_conns_per_ip: usize,
    /// An idle connection unused for longer than this is closed.
    pub idle_timeout: Duration,
    /// A connection older than this is closed (at release if leased: a lease is never cut).
    pub max_lifetime: Duration,
    /// Dial a replacement before `max_lifetime` runs out, so the host stays hot.
    pub keep_warm: bool,
    /// How long before expiry the replacement is dialed.
    pub keep_warm_lead: Duration,
    /// A connection whose reported error count exceeds this is removed.
    pub max_errors: u32,
    /// Consecutive dial/handshake/validation failures of one IP before it is blacklisted.
    pub max_retries: u32,
    /// How often a dynamically blacklisted IP is re-tested.
    pub blacklist_check_interval: Duration,
    /// A dynamic blacklist entry ends after this long even without a passing re-test.
    pub blacklist_timeout: Duration,
    /// Idle connections not checked for this long are due for a health probe
    /// (`None`: no probes are scheduled).
    pub health_check_interval: Option<Duration>,
    /// How long `get` waits for a connection before failing.
    pub checkout_timeout: Duration,
    /// How many dials `warm` runs at once.
    pub warm_concurrency: usize,
    /// When not empty, only addresses inside these ranges are dialed.
    pub whitelist: Vec<IpRange>,
    /// Addresses inside these ranges are never dialed.
    pub blacklist: Vec<IpRange>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 100,
            max_conns_per_host: 10,
            max_idle_conns: 20,
            max_conns_per_ip: 1,
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(300),
            keep_warm: true,
            keep_warm_lead: Duration::from_secs(30),
            max_errors: 10,
            max_retries: 3,
            blacklist_check_interval: Duration::from_secs(300),
            blacklist_timeout: Duration::from_secs(3600),
            health_check_interval: Some(Duration::from_secs(30)),
            checkout_timeout: Duration::from_secs(10),
            warm_concurrency: 64,
            whitelist: Vec::new(),
            blacklist: Vec::new(),
        }
    }
}

impl PoolOptions {
    /// Checks that the limits are usable: none is zero and they are consistent.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("max_connections", self.max_connections),
            ("max_conns_per_host", self.max_conns_per_host),
            ("max_conns_per_ip", self.max_conns_per_ip),
            ("warm_concurrency", self.warm_concurrency),
        ];
        for (name, value) in nonzero {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.max_conns_per_host > self.max_connections {
            return Err(format!(
                "max_conns_per_host ({}) must not exceed max_connections ({})",
                self.max_conns_per_host, self.max_connections
            ));
        }
        if self.max_idle_conns > self.max_connections {
            return Err(format!(
                "max_idle_conns ({}) must not exceed max_connections ({})",
                self.max_idle_conns, self.max_connections
            ));
        }
        if self.max_retries == 0 {
            return Err("max_retries must be at least 1".into());
        }
        Ok(())
    }
}
