//! Metric names (all under the `hotpool_` prefix) and the handles the pool records with.
//!
//! Recorded through the `metrics` facade: install any recorder (the CLI installs the
//! Prometheus exporter) to see them. Handles are resolved once when the pool is built, so
//! the recorder must be installed before the pool is created.

use metrics::{Counter, Histogram, counter, gauge, histogram};

use crate::transport::DialErrorKind;
use crate::types::{CloseReason, Stats};

/// Counter: leases handed out.
pub const LEASES_TOTAL: &str = "hotpool_leases_total";
/// Counter: dials finished (successful or not).
pub const DIALS_TOTAL: &str = "hotpool_dials_total";
/// Counter, label `kind` (`connect`, `timeout`, `handshake`, `protocol`, `banned`,
/// `rejected`, `local`): failed dials by [`DialErrorKind`].
pub const DIAL_FAILURES_TOTAL: &str = "hotpool_dial_failures_total";
/// Counter, label `reason`: connections closed by [`CloseReason`].
pub const CLOSED_TOTAL: &str = "hotpool_connections_closed_total";
/// Gauge, label `state` (`idle`, `in_use`, `draining`, `probing`, `dialing`): connections.
pub const CONNECTIONS: &str = "hotpool_connections";
/// Gauge, label `protocol` (`h1`, `h2`, `h3`, `stream`): open connections per protocol.
pub const CONNECTIONS_BY_PROTOCOL: &str = "hotpool_connections_by_protocol";
/// Gauge: addresses on the dynamic blacklist.
pub const BLACKLISTED: &str = "hotpool_blacklisted_addresses";
/// Gauge: callers waiting for a connection.
pub const WAITERS: &str = "hotpool_waiters";
/// Counter, label `egress`: leases handed out by an `EgressSet` through that egress.
pub const EGRESS_LEASES_TOTAL: &str = "hotpool_egress_leases_total";
/// Counter, label `egress`: times an egress was benched (its proxy failed).
pub const EGRESS_BENCHED_TOTAL: &str = "hotpool_egress_benched_total";
/// Gauge, labels `egress` and `what` (`connections`, `blacklisted`, `dials`,
/// `dial_failures`): an egress's pool, as of `EgressSet::record_metrics`.
pub const EGRESS: &str = "hotpool_egress";
/// Gauge: (leases − dials) / leases since the pool started.
pub const REUSE_RATE: &str = "hotpool_reuse_rate";
/// Counter: health probes completed.
pub const PROBES_TOTAL: &str = "hotpool_probes_total";
/// Counter: health probes that failed.
pub const PROBE_FAILURES_TOTAL: &str = "hotpool_probe_failures_total";
/// Counter: connections closed by memory-pressure shedding (`memory_limit`); the same
/// count as `Stats::memory_shed_total`.
pub const SHED_TOTAL: &str = "hotpool_shed_total";
/// Histogram (seconds): how long `get` waited, for calls that had to wait.
pub const CHECKOUT_WAIT_SECONDS: &str = "hotpool_checkout_wait_seconds";
/// Histogram (seconds): how long dials took (connect + handshake + validation).
pub const DIAL_SECONDS: &str = "hotpool_dial_seconds";

/// Counter, label `result` (`started`, `ok`, `failed`): re-warm dials of hot hosts'
/// addresses (`docs/stay-hot.md`).
pub const REWARM_DIALS_TOTAL: &str = "hotpool_rewarm_dials_total";
/// Histogram (seconds): time to re-warm, from an address of a hot host losing its last
/// connection to its next connection's admission.
pub const REWARM_SECONDS: &str = "hotpool_rewarm_seconds";
/// Counter: host outages begun (addresses failing at once: re-tested, not banned).
pub const HOST_OUTAGES_TOTAL: &str = "hotpool_host_outages_total";
/// Gauge: hosts in an outage now.
pub const HOSTS_DOWN: &str = "hotpool_hosts_down";
/// Gauge: hosts kept hot now.
pub const HOT_HOSTS: &str = "hotpool_hot_hosts";

/// Every metric name the pool core records.
pub const ALL: [&str; 19] = [
    LEASES_TOTAL,
    DIALS_TOTAL,
    DIAL_FAILURES_TOTAL,
    CLOSED_TOTAL,
    CONNECTIONS,
    CONNECTIONS_BY_PROTOCOL,
    BLACKLISTED,
    WAITERS,
    REUSE_RATE,
    PROBES_TOTAL,
    PROBE_FAILURES_TOTAL,
    SHED_TOTAL,
    CHECKOUT_WAIT_SECONDS,
    DIAL_SECONDS,
    REWARM_DIALS_TOTAL,
    REWARM_SECONDS,
    HOST_OUTAGES_TOTAL,
    HOSTS_DOWN,
    HOT_HOSTS,
];

/// Handles resolved once, so the hot path does no lookups.
pub(crate) struct PoolMetrics {
    pub(crate) leases: Counter,
    pub(crate) dials: Counter,
    pub(crate) checkout_wait: Histogram,
    pub(crate) dial_seconds: Histogram,
    pub(crate) rewarm_seconds: Histogram,
    probes: Counter,
    probe_failures: Counter,
    last_probes: std::sync::atomic::AtomicU64,
    last_probe_failures: std::sync::atomic::AtomicU64,
    /// The core's counters last published, for the counters published as deltas:
    /// re-warm dials started, ok, failed, and host outages.
    last_hot: std::sync::Mutex<[u64; 4]>,
}

impl PoolMetrics {
    pub(crate) fn new() -> Self {
        Self {
            leases: counter!(LEASES_TOTAL),
            dials: counter!(DIALS_TOTAL),
            checkout_wait: histogram!(CHECKOUT_WAIT_SECONDS),
            dial_seconds: histogram!(DIAL_SECONDS),
            rewarm_seconds: histogram!(REWARM_SECONDS),
            probes: counter!(PROBES_TOTAL),
            probe_failures: counter!(PROBE_FAILURES_TOTAL),
            last_probes: Default::default(),
            last_probe_failures: Default::default(),
            last_hot: Default::default(),
        }
    }

    pub(crate) fn dial_failed(&self, kind: DialErrorKind) {
        counter!(DIAL_FAILURES_TOTAL, "kind" => kind.as_str()).increment(1);
    }

    pub(crate) fn closed(&self, reason: CloseReason) {
        counter!(CLOSED_TOTAL, "reason" => reason.as_str()).increment(1);
    }

    /// Publishes the gauges (and counters kept by the core) from a snapshot.
    pub(crate) fn publish(&self, stats: &Stats) {
        use std::sync::atomic::Ordering::Relaxed;
        for (state, value) in [
            ("idle", stats.idle),
            ("in_use", stats.in_use),
            ("draining", stats.draining),
            ("probing", stats.probing),
            ("dialing", stats.dialing),
        ] {
            gauge!(CONNECTIONS, "state" => state).set(value as f64);
        }
        for (protocol, value) in &stats.connections_by_protocol {
            gauge!(CONNECTIONS_BY_PROTOCOL, "protocol" => protocol.as_str()).set(*value as f64);
        }
        gauge!(BLACKLISTED).set(stats.blacklisted as f64);
        gauge!(WAITERS).set(stats.waiters as f64);
        gauge!(REUSE_RATE).set(stats.reuse_rate());
        let before = self.last_probes.swap(stats.probes_total, Relaxed);
        self.probes
            .increment(stats.probes_total.saturating_sub(before));
        let before = self.last_probe_failures.swap(stats.probe_failures, Relaxed);
        self.probe_failures
            .increment(stats.probe_failures.saturating_sub(before));
        gauge!(HOSTS_DOWN).set(stats.hosts_down as f64);
        gauge!(HOT_HOSTS).set(stats.hot_hosts as f64);
        let now = [
            stats.rewarm_dials_total,
            stats.rewarm_dials_ok,
            stats.rewarm_dials_failed,
            stats.host_outages_total,
        ];
        let before = {
            let mut last = self
                .last_hot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *last, now)
        };
        let delta = |i: usize| now[i].saturating_sub(before[i]);
        for (i, result) in ["started", "ok", "failed"].into_iter().enumerate() {
            counter!(REWARM_DIALS_TOTAL, "result" => result).increment(delta(i));
        }
        counter!(HOST_OUTAGES_TOTAL).increment(delta(3));
    }
}
