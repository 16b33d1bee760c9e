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
    /// Memory-pressure shedding: when the process's resident memory goes above this many
    /// bytes, the pool sheds idle connections (`None`, the default: never). See
    /// `docs/memory-shedding.md`.
    pub memory_limit: Option<u64>,
    /// Shedding stops once resident memory is back below this many bytes (`None`: 90 % of
    /// `memory_limit`). At most `memory_limit`.
    pub memory_low_water: Option<u64>,
    /// The share of idle connections (oldest first) closed at each reading above the
    /// limit or, once shedding, above the low-water mark; in (0, 1].
    pub shed_fraction: f64,
    /// How often resident memory is read while `memory_limit` is set.
    pub memory_check_interval: Duration,
    /// Which connection with spare capacity a lease goes to (`[pool] placement`).
    pub placement: Placement,
    /// Keep warmed hosts hot (`docs/stay-hot.md`): a host warmed by `Pool::warm` keeps a
    /// connection to every allowed address — one drained (GOAWAY, peer closed, lost,
    /// broken, expired, unhealthy, errors) is replaced in the background at once, and the
    /// idle timeout never closes the last connection to an address (it is probed instead).
    pub stay_hot: bool,
    /// The wait before re-trying a failed re-warm dial of an address; it doubles with each
    /// failure in a row, up to `rewarm_backoff_max`.
    pub rewarm_backoff: Duration,
    /// The longest wait between re-warm dials of an address that keeps failing.
    pub rewarm_backoff_max: Duration,
    /// The share of a host's addresses failing at once (each with failed dials since its
    /// last success, or blacklisted for failures) above which an address reaching
    /// `max_retries` is not blacklisted: the host is down (a restart, not a bad IP), and
    /// is re-tested every `outage_retest` … `outage_retest_max` instead. In (0, 1];
    /// `None`: off (every failing address is blacklisted). Hosts with one address are
    /// never in an outage (a bad IP and a down server look the same).
    pub host_outage_threshold: Option<f64>,
    /// The first re-test of a host in an outage is this long after it began; each failed
    /// re-test doubles the wait, up to `outage_retest_max`.
    pub outage_retest: Duration,
    /// The longest wait between re-tests of a host in an outage: how long after the
    /// origin comes back the pool notices at worst.
    pub outage_retest_max: Duration,
}

/// Which of a host's connections with spare capacity a lease goes to
/// (`docs/lease-fast-lane.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// The least loaded connection, then the least recently used (`"spread"`, the default):
    /// load is spread over every open connection.
    #[default]
    Spread,
    /// The most loaded connection below `streams` leases (`"fill"`): a connection is filled
    /// to `streams` before the next one is used; once every connection holds `streams`, the
    /// rest of their capacity is spread. `usize::MAX` fills each to its capacity.
    Fill {
        /// Leases a connection takes before the next one is used; at least 1.
        streams: usize,
    },
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
            placement: Placement::Spread,
            memory_limit: None,
            memory_low_water: None,
            shed_fraction: 0.2,
            memory_check_interval: Duration::from_secs(1),
            stay_hot: true,
            rewarm_backoff: Duration::from_millis(100),
            rewarm_backoff_max: Duration::from_secs(30),
            host_outage_threshold: Some(0.5),
            outage_retest: Duration::from_millis(100),
            outage_retest_max: Duration::from_secs(1),
        }
    }
}

/// One problem with a [`PoolOptions`] value. The rules are declared here once; pool-config
/// renders the same problems with the file, line and key they came from.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A limit that must be at least 1 is 0.
    #[error("{key} must not be zero")]
    Zero {
        /// The option's name (the `[pool]` key).
        key: &'static str,
    },
    /// A limit is larger than the limit it must fit in.
    #[error("{key} ({value}) must not exceed {limit_key} ({limit})")]
    Exceeds {
        /// The option's name.
        key: &'static str,
        /// Its value.
        value: u64,
        /// The option it must not exceed.
        limit_key: &'static str,
        /// That option's value.
        limit: u64,
    },
    /// A share that must lie in (0, 1] does not.
    #[error("{key} must be above 0 and at most 1, got {value}")]
    Fraction {
        /// The option's name.
        key: &'static str,
        /// Its value.
        value: f64,
    },
}

impl OptionsError {
    /// The option (the `[pool]` key) the problem is reported at.
    pub fn key(&self) -> &'static str {
        match self {
            OptionsError::Zero { key }
            | OptionsError::Exceeds { key, .. }
            | OptionsError::Fraction { key, .. } => key,
        }
    }
}

fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Placement {
    /// The `streams` of [`Placement::Fill`], `None` for [`Placement::Spread`].
    pub fn fill_streams(self) -> Option<usize> {
        match self {
            Placement::Fill { streams } => Some(streams),
            Placement::Spread => None,
        }
    }
}

impl PoolOptions {
    /// Every problem with these options, in a fixed order: limits that are zero, then limits
    /// that do not fit inside each other (`max_idle_conns` and `max_conns_per_host` within
    /// `max_connections`, `max_conns_per_ip` within `max_conns_per_host`).
    pub fn problems(&self) -> Vec<OptionsError> {
        let mut out = Vec::new();
        let at_least_one = [
            ("max_connections", wide(self.max_connections)),
            ("max_conns_per_host", wide(self.max_conns_per_host)),
            ("max_idle_conns", wide(self.max_idle_conns)),
            ("max_conns_per_ip", wide(self.max_conns_per_ip)),
            ("max_retries", u64::from(self.max_retries)),
            ("warm_concurrency", wide(self.warm_concurrency)),
            (
                "fill_streams",
                self.placement.fill_streams().map_or(1, wide),
            ),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                out.push(OptionsError::Zero { key });
            }
        }
        let nested = [
            (
                "max_idle_conns",
                self.max_idle_conns,
                "max_connections",
                self.max_connections,
            ),
            (
                "max_conns_per_host",
                self.max_conns_per_host,
                "max_connections",
                self.max_connections,
            ),
            (
                "max_conns_per_ip",
                self.max_conns_per_ip,
                "max_conns_per_host",
                self.max_conns_per_host,
            ),
        ];
        for (key, value, limit_key, limit) in nested {
            if value > limit {
                out.push(OptionsError::Exceeds {
                    key,
                    value: wide(value),
                    limit_key,
                    limit: wide(limit),
                });
            }
        }
        out.extend(self.shed_problems());
        out.extend(self.hot_problems());
        out
    }

    /// The stay-hot options' problems: a zero backoff or re-test wait, a maximum below its
    /// first wait, a `host_outage_threshold` outside (0, 1].
    fn hot_problems(&self) -> Vec<OptionsError> {
        let mut out = Vec::new();
        for (key, value) in [
            ("rewarm_backoff", self.rewarm_backoff),
            ("outage_retest", self.outage_retest),
        ] {
            if value.is_zero() {
                out.push(OptionsError::Zero { key });
            }
        }
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        for (key, first, max_key, max) in [
            (
                "rewarm_backoff",
                self.rewarm_backoff,
                "rewarm_backoff_max",
                self.rewarm_backoff_max,
            ),
            (
                "outage_retest",
                self.outage_retest,
                "outage_retest_max",
                self.outage_retest_max,
            ),
        ] {
            if first > max {
                out.push(OptionsError::Exceeds {
                    key,
                    value: millis(first),
                    limit_key: max_key,
                    limit: millis(max),
                });
            }
        }
        if let Some(share) = self.host_outage_threshold
            && !(share > 0.0 && share <= 1.0)
        {
            out.push(OptionsError::Fraction {
                key: "host_outage_threshold",
                value: share,
            });
        }
        out
    }

    /// The memory-shedding options' problems: a zero limit or check interval, a
    /// `shed_fraction` outside (0, 1], a low-water mark above the limit.
    fn shed_problems(&self) -> Vec<OptionsError> {
        let mut out = Vec::new();
        let Some(limit) = self.memory_limit else {
            return out;
        };
        if limit == 0 {
            out.push(OptionsError::Zero {
                key: "memory_limit",
            });
        }
        if self.memory_check_interval.is_zero() {
            out.push(OptionsError::Zero {
                key: "memory_check_interval",
            });
        }
        if !(self.shed_fraction > 0.0 && self.shed_fraction <= 1.0) {
            out.push(OptionsError::Fraction {
                key: "shed_fraction",
                value: self.shed_fraction,
            });
        }
        if let Some(low) = self.memory_low_water
            && low > limit
        {
            out.push(OptionsError::Exceeds {
                key: "memory_low_water",
                value: low,
                limit_key: "memory_limit",
                limit,
            });
        }
        out
    }

    /// The resident-memory level below which shedding stops: `memory_low_water`, or 90 %
    /// of `memory_limit`. `None` when shedding is off.
    pub fn memory_low_water_or_default(&self) -> Option<u64> {
        let limit = self.memory_limit?;
        Some(self.memory_low_water.unwrap_or(limit / 10 * 9))
    }

    /// Checks that the limits are usable: none is zero and they are consistent. Returns the
    /// first of [`PoolOptions::problems`].
    pub fn validate(&self) -> Result<(), OptionsError> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}
