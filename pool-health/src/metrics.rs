//! Metric names of the health checker (all under `hotpool_health_`), recorded through the
//! `metrics` facade: install a recorder (the CLI installs the Prometheus exporter) to see
//! them.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

/// Counter, label `result` (`healthy`, `unhealthy`, `timeout`, `banned`, `panic`,
/// `tolerated`): probes finished.
pub const PROBES_TOTAL: &str = "hotpool_health_probes_total";
/// Histogram (seconds): how long probes took.
pub const PROBE_SECONDS: &str = "hotpool_health_probe_seconds";
/// Gauge: probes running.
pub const IN_FLIGHT: &str = "hotpool_health_probes_in_flight";
/// Counter: addresses the pool put on its dynamic blacklist.
pub const BLACKLISTED_TOTAL: &str = "hotpool_health_ips_blacklisted_total";
/// Counter: addresses the pool restored from its blacklist (re-test passed or timeout).
pub const RESTORED_TOTAL: &str = "hotpool_health_ips_restored_total";

/// Every metric name the health checker records.
pub const ALL: [&str; 5] = [
    PROBES_TOTAL,
    PROBE_SECONDS,
    IN_FLIGHT,
    BLACKLISTED_TOTAL,
    RESTORED_TOTAL,
];

pub(crate) fn probed(result: &'static str, elapsed: Option<Duration>) {
    counter!(PROBES_TOTAL, "result" => result).increment(1);
    if let Some(elapsed) = elapsed {
        histogram!(PROBE_SECONDS).record(elapsed.as_secs_f64());
    }
}

pub(crate) fn in_flight(delta: f64) {
    gauge!(IN_FLIGHT).increment(delta);
}

pub(crate) fn blacklist(blacklisted: u64, restored: u64) {
    if blacklisted > 0 {
        counter!(BLACKLISTED_TOTAL).increment(blacklisted);
    }
    if restored > 0 {
        counter!(RESTORED_TOTAL).increment(restored);
    }
}
