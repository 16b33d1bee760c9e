//! The pool's counters (everything counted since it started), and how they fill the
//! [`Stats`] snapshot.

use crate::types::{CloseReason, Stats};

/// Totals since the pool started.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct Counters {
    pub(super) leases: u64,
    pub(super) dials_started: u64,
    pub(super) dials_ok: u64,
    pub(super) dial_failures: u64,
    pub(super) admitted: u64,
    /// Connections that entered the maps (admitted or closed at once as not admitted).
    pub(super) inserted: u64,
    closed: [u64; CloseReason::ALL.len()],
    pub(super) blacklisted: u64,
    pub(super) restored: u64,
    pub(super) probes: u64,
    pub(super) probe_failures: u64,
    pub(super) fleet_applied: u64,
    pub(super) fleet_ignored: u64,
    /// Connections closed by memory-pressure shedding.
    pub(super) memory_shed: u64,
    /// Memory-pressure episodes started.
    pub(super) shed_episodes: u64,
    /// Re-warm dials started, connected, failed; addresses re-warmed.
    pub(super) rewarm_started: u64,
    pub(super) rewarm_ok: u64,
    pub(super) rewarm_failed: u64,
    pub(super) rewarmed: u64,
    /// Time to re-warm, summed over `rewarmed`, and the longest one.
    pub(super) rewarm_time: std::time::Duration,
    pub(super) rewarm_time_max: std::time::Duration,
    /// Host outages begun.
    pub(super) host_outages: u64,
}

impl Counters {
    /// Counts a connection closed for `reason`.
    pub(super) fn closed(&mut self, reason: CloseReason) {
        self.closed[reason.index()] += 1;
    }

    /// Connections closed for any reason.
    #[cfg(test)]
    pub(super) fn closed_total(&self) -> u64 {
        self.closed.iter().sum()
    }

    /// Counts a probe that ran: `failed` when its verdict removed the connection.
    pub(super) fn probed(&mut self, failed: bool) {
        self.probes += 1;
        self.probe_failures += u64::from(failed);
    }

    /// Copies the counters into a snapshot.
    pub(super) fn fill(&self, stats: &mut Stats) {
        stats.leases_total = self.leases;
        stats.dials_total = self.dials_started;
        stats.dials_ok = self.dials_ok;
        stats.dial_failures = self.dial_failures;
        stats.admitted = self.admitted;
        stats.closed = CloseReason::ALL
            .iter()
            .map(|r| (*r, self.closed[r.index()]))
            .collect();
        stats.blacklisted_total = self.blacklisted;
        stats.restored_total = self.restored;
        stats.probes_total = self.probes;
        stats.probe_failures = self.probe_failures;
        stats.fleet_applied = self.fleet_applied;
        stats.fleet_ignored = self.fleet_ignored;
        stats.memory_shed_total = self.memory_shed;
        stats.shed_episodes = self.shed_episodes;
        stats.rewarm_dials_total = self.rewarm_started;
        stats.rewarm_dials_ok = self.rewarm_ok;
        stats.rewarm_dials_failed = self.rewarm_failed;
        stats.rewarmed_total = self.rewarmed;
        stats.rewarm_time_total = self.rewarm_time;
        stats.rewarm_time_max = self.rewarm_time_max;
        stats.host_outages_total = self.host_outages;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_counted_per_reason_in_order() {
        let mut c = Counters::default();
        c.closed(CloseReason::Idle);
        c.closed(CloseReason::Idle);
        c.closed(CloseReason::NotAdmitted);
        c.probed(false);
        c.probed(true);
        let mut stats = Stats::default();
        c.fill(&mut stats);
        assert_eq!(c.closed_total(), 3);
        assert_eq!(stats.closed_for(CloseReason::Idle), 2);
        assert_eq!(stats.closed_for(CloseReason::NotAdmitted), 1);
        assert_eq!(stats.closed.len(), CloseReason::ALL.len());
        assert_eq!(stats.closed[0].0, CloseReason::ALL[0]);
        assert_eq!((stats.probes_total, stats.probe_failures), (2, 1));
    }
}
