//! `[fleet]` → `pool_redis::FleetConfig` (feature `fleet`). The URL and prefix rules are
//! pool-redis's own (`checks.rs`); the URL is written without its password (`values.rs`).

#[cfg(feature = "fleet")]
mod redis {
    use pool_redis::RedisUrl;

    use crate::{Config, FleetBackend, FleetShare};

    impl Config {
        /// The `pool-redis` configuration of `[fleet]`, `None` when `backend = "none"`
        /// (`url`, `prefix`; `share` turns the blacklist, the budget — with
        /// `fleet_max_conns_per_host` — and the heartbeat on or off). A checked config
        /// always converts.
        pub fn fleet_config(
            &self,
        ) -> Option<Result<pool_redis::FleetConfig, pool_redis::UrlError>> {
            if self.fleet.backend != FleetBackend::Redis {
                return None;
            }
            let url = match RedisUrl::parse(&self.fleet.url) {
                Ok(url) => url,
                Err(e) => return Some(Err(e)),
            };
            let shares = |s| self.fleet.share.contains(&s);
            let mut cfg = pool_redis::FleetConfig::new(url);
            cfg.prefix = self.fleet.prefix.clone();
            cfg.share_blacklist = shares(FleetShare::Blacklist);
            cfg.share_stats = shares(FleetShare::Stats);
            cfg.max_conns_per_host = self
                .fleet
                .fleet_max_conns_per_host
                .filter(|_| shares(FleetShare::Budgets));
            Some(Ok(cfg))
        }
    }
}
