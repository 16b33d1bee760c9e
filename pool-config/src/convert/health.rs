//! `[health]` → `pool_health::HealthOptions` (feature `health`).

use pool_health::HealthOptions;

use crate::Config;

impl Config {
    /// The `pool-health` options of this configuration: `pool.test_timeout` and
    /// `health.concurrency` (when probes are due is the pool's `health_check_interval`,
    /// see [`Config::pool_options`]). Which probe runs (`health.probe`, `path`,
    /// `method`, with `pool.banned_status`) is up to the caller, who owns the transport.
    #[must_use]
    pub fn health_options(&self) -> HealthOptions {
        HealthOptions {
            test_timeout: self.pool.test_timeout,
            concurrency: self.health.concurrency,
            ..HealthOptions::default()
        }
    }
}
