//! Metric names of the DNS refresher (all under `hotpool_dns_`), recorded through the
//! `metrics` facade: install a recorder (the CLI installs the Prometheus exporter) to see
//! them.

use metrics::{counter, gauge, histogram};

use crate::{FailureKind, IpFamily};

/// Counter, label `family` (`ipv4`, `ipv6`): lookups finished (successful or not).
pub const RESOLUTIONS_TOTAL: &str = "hotpool_dns_resolutions_total";
/// Counter, labels `family` and `kind` (`nxdomain`, `nodata`, `servfail`, `refused`,
/// `timeout`, `network`, `tls`, `other`): lookups that gave no addresses.
pub const FAILURES_TOTAL: &str = "hotpool_dns_failures_total";
/// Counter, labels `family` and `reason` (`nxdomain`, `stale`): a family's addresses
/// removed (their connections drain).
pub const FAMILY_DROPPED_TOTAL: &str = "hotpool_dns_family_dropped_total";
/// Counter: addresses that appeared in a host's answer.
pub const ADDRS_ADDED_TOTAL: &str = "hotpool_dns_addresses_added_total";
/// Counter: addresses that left a host's answer (their connections drain).
pub const ADDRS_REMOVED_TOTAL: &str = "hotpool_dns_addresses_removed_total";
/// Counter: warm-ups started for new addresses.
pub const WARMS_TOTAL: &str = "hotpool_dns_warms_total";
/// Gauge: hosts refreshed (DNS and static).
pub const HOSTS: &str = "hotpool_dns_hosts";
/// Histogram (seconds), label `family`: how long a lookup took.
pub const RESOLVE_SECONDS: &str = "hotpool_dns_resolve_seconds";

/// Every metric name the refresher records.
pub const ALL: [&str; 8] = [
    RESOLUTIONS_TOTAL,
    FAILURES_TOTAL,
    FAMILY_DROPPED_TOTAL,
    ADDRS_ADDED_TOTAL,
    ADDRS_REMOVED_TOTAL,
    WARMS_TOTAL,
    HOSTS,
    RESOLVE_SECONDS,
];

pub(crate) fn resolved(family: IpFamily, seconds: f64, failure: Option<FailureKind>) {
    let f = family.as_str();
    counter!(RESOLUTIONS_TOTAL, "family" => f).increment(1);
    histogram!(RESOLVE_SECONDS, "family" => f).record(seconds);
    if let Some(kind) = failure {
        counter!(FAILURES_TOTAL, "family" => f, "kind" => kind.as_str()).increment(1);
    }
}

pub(crate) fn dropped(family: IpFamily, reason: &'static str) {
    counter!(FAMILY_DROPPED_TOTAL, "family" => family.as_str(), "reason" => reason).increment(1);
}

pub(crate) fn changed(added: usize, removed: usize) {
    counter!(ADDRS_ADDED_TOTAL).increment(added as u64);
    counter!(ADDRS_REMOVED_TOTAL).increment(removed as u64);
}

pub(crate) fn warmed() {
    counter!(WARMS_TOTAL).increment(1);
}

pub(crate) fn hosts(n: usize) {
    gauge!(HOSTS).set(n as f64);
}
