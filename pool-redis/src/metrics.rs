//! The fleet backend's metric names (the `metrics` facade, `hotpool_` prefix) and the
//! in-process counters behind [`RedisFleet::stats`](crate::RedisFleet::stats).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::Rejected;

/// Counter, label `op` (`connect`, `subscribe`, `publish`, `sync`, `lease`, `heartbeat`,
/// `budget`):
/// Redis calls that failed or ran out of their deadline.
pub const ERRORS_TOTAL: &str = "hotpool_fleet_errors_total";
/// Counter, label `reason` (`oversized`, `malformed`, `unknown_host`, `queue_full`):
/// messages dropped (received ones never trusted; `queue_full`: one not published).
pub const DROPPED_TOTAL: &str = "hotpool_fleet_dropped_total";
/// Counter: events of other workers applied to the pool.
pub const APPLIED_TOTAL: &str = "hotpool_fleet_applied_total";
/// Counter: events published.
pub const PUBLISHED_TOTAL: &str = "hotpool_fleet_published_total";
/// Counter: full loads of the ban set (at start and after every reconnect).
pub const SYNCS_TOTAL: &str = "hotpool_fleet_syncs_total";

/// A snapshot of the backend's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStats {
    /// Redis calls that failed or timed out.
    pub errors: u64,
    /// Messages dropped as longer than the cap.
    pub dropped_oversized: u64,
    /// Messages dropped as malformed.
    pub dropped_malformed: u64,
    /// Well-formed messages for hosts the pool does not know.
    pub dropped_unknown_host: u64,
    /// Events not published because the queue was full.
    pub dropped_queue_full: u64,
    /// Events of other workers applied (or already known).
    pub received: u64,
    /// Events published.
    pub published: u64,
    /// Full loads of the ban set completed.
    pub syncs: u64,
    /// Re-test leases refused (another worker holds one).
    pub leases_refused: u64,
    /// Subscriber connections lost after they were subscribed (closed, or a `PING`
    /// unanswered in time).
    pub disconnects: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    errors: AtomicU64,
    oversized: AtomicU64,
    malformed: AtomicU64,
    unknown_host: AtomicU64,
    queue_full: AtomicU64,
    received: AtomicU64,
    published: AtomicU64,
    syncs: AtomicU64,
    leases_refused: AtomicU64,
    disconnects: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn error(&self, op: &'static str) {
        bump(&self.errors);
        metrics::counter!(ERRORS_TOTAL, "op" => op).increment(1);
    }

    pub(crate) fn rejected(&self, why: Rejected) {
        bump(match why {
            Rejected::Oversized => &self.oversized,
            Rejected::Malformed => &self.malformed,
            Rejected::UnknownHost => &self.unknown_host,
        });
        metrics::counter!(DROPPED_TOTAL, "reason" => why.as_str()).increment(1);
    }

    pub(crate) fn queue_full(&self) {
        bump(&self.queue_full);
        metrics::counter!(DROPPED_TOTAL, "reason" => "queue_full").increment(1);
    }

    pub(crate) fn received(&self) {
        bump(&self.received);
        metrics::counter!(APPLIED_TOTAL).increment(1);
    }

    pub(crate) fn published(&self) {
        bump(&self.published);
        metrics::counter!(PUBLISHED_TOTAL).increment(1);
    }

    pub(crate) fn synced(&self) {
        bump(&self.syncs);
        metrics::counter!(SYNCS_TOTAL).increment(1);
    }

    pub(crate) fn lease_refused(&self) {
        bump(&self.leases_refused);
    }

    pub(crate) fn disconnected(&self) {
        bump(&self.disconnects);
        self.error("subscribe");
    }

    pub(crate) fn snapshot(&self) -> FleetStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FleetStats {
            errors: get(&self.errors),
            dropped_oversized: get(&self.oversized),
            dropped_malformed: get(&self.malformed),
            dropped_unknown_host: get(&self.unknown_host),
            dropped_queue_full: get(&self.queue_full),
            received: get(&self.received),
            published: get(&self.published),
            syncs: get(&self.syncs),
            leases_refused: get(&self.leases_refused),
            disconnects: get(&self.disconnects),
        }
    }
}
