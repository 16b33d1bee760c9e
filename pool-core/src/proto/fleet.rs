//! The fleet's events as inputs of the state machine (see [`crate::fleet`]): a ban another
//! pool published is applied like a local one (with the fleet's expiry, and without being
//! published again); an unban lifts the local entry when a re-test could have lifted it.
//! The outputs are [`Action::Publish`](super::Action::Publish), pushed where the pool bans
//! an address or a re-test lifts one, only while [`PoolState::share_blacklist`] is on.

use std::time::Instant;

use super::PoolState;
use super::blacklist::BanSource;
use crate::fleet::{FleetApplied, FleetBan, FleetDemand, FleetEvent};
use crate::types::BlacklistReason;

impl<T> PoolState<T> {
    /// Turns publishing on or off: while on, every new ban and every passing re-test
    /// emits an [`Action::Publish`](super::Action::Publish). Off by default (a lone pool).
    pub fn share_blacklist(&mut self, on: bool) {
        self.sharing = on;
    }

    /// Applies an event another pool of the fleet published. Events for hosts this pool
    /// does not know are ignored and counted ([`Stats::fleet_ignored`](crate::Stats)).
    pub fn handle_fleet_event(&mut self, event: FleetEvent, now: Instant) -> FleetApplied {
        let Some(h) = self.hosts.lookup(event.host()) else {
            self.counters.fleet_ignored += 1;
            return FleetApplied::UnknownHost;
        };
        let applied = match event {
            FleetEvent::Ban(FleetBan {
                addr,
                reason,
                retestable,
                ttl,
                ..
            }) => {
                let source = match (reason, retestable) {
                    (BlacklistReason::Failures, _) => BanSource::None,
                    (BlacklistReason::Banned, true) => BanSource::Dial,
                    (BlacklistReason::Banned, false) => BanSource::Probe,
                };
                let expires = now.checked_add(ttl).unwrap_or(now);
                self.ban(h, addr, reason, source, now, expires)
            }
            FleetEvent::Unban { addr, .. } => {
                let ip = addr.ip();
                let liftable = self.blacklist.get(ip).is_some_and(|b| b.lifted_by_dial());
                if liftable {
                    if let Some(h) = self.restore(ip) {
                        self.refill(h);
                    }
                }
                liftable
            }
        };
        if applied {
            self.counters.fleet_applied += 1;
            FleetApplied::Applied
        } else {
            FleetApplied::Unchanged
        }
    }

    /// Sets this pool's share of the fleet's connection budget for `host` (`None`: no
    /// fleet budget, only the local limits). A larger share serves waiting callers at
    /// once; a smaller one closes nothing, it only holds back new dials.
    pub fn set_fleet_cap(&mut self, host: &str, cap: Option<usize>) {
        let Some(h) = self.hosts.lookup(host) else {
            return;
        };
        let raised = {
            let entry = self.hosts.get_mut(h);
            let raised = match (entry.fleet_cap, cap) {
                (Some(old), Some(new)) => new > old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            entry.fleet_cap = cap;
            raised
        };
        if raised {
            self.refill(h);
        }
    }

    /// What this pool holds of `host` and would like to (for the fleet's budget).
    pub fn fleet_demand(&self, host: &str) -> Option<FleetDemand> {
        let h = self.hosts.lookup(host)?;
        let entry = self.hosts.get(h);
        let held = entry.conns + entry.dialing;
        let capacity = entry.last_capacity.max(1) as usize;
        let uncovered = entry.waiters.len().saturating_sub(entry.dialing * capacity);
        let wanted = (held + uncovered.div_ceil(capacity)).min(self.opts.max_conns_per_host);
        Some(FleetDemand {
            held,
            wanted: wanted.max(held),
        })
    }
}
