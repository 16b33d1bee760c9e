//! The fleet's events as inputs of the state machine (see [`crate::fleet`]): a ban another
//! pool published is applied like a local one (with the fleet's expiry, and without being
//! published again); an unban lifts the local entry when a re-test could have lifted it.
//! The outputs are [`Action::Publish`](super::Action::Publish), pushed where the pool bans
//! an address or a re-test lifts one, only while [`PoolState::share_blacklist`] is on.

use std::time::Instant;

use super::PoolState;
use super::blacklist::BanSource;
use crate::fleet::{FleetApplied, FleetBan, FleetEvent};
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
}
