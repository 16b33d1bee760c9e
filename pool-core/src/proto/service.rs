//! The coordinator's connection lifecycle: admission into the slab, the host's members and
//! address list, the locked choice of a lease and the waiters, a connection's timer, and
//! draining and closing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::choice;
use super::conns::{ConnEntry, Phase, Replacement, addr_links};
use super::dials::Opened;
use super::gauge::Gauge;
use super::hosts::Member;
use super::ids::{ConnId, HostId};
use super::timers::Tick;
use super::{Action, PoolState, clamp_capacity};
use crate::types::CloseReason;

impl<T> PoolState<T> {
    /// Puts a dialed connection in the slab, its host's members and its address's list,
    /// counted as live.
    pub(super) fn insert_conn(
        &mut self,
        handle: T,
        h: HostId,
        addr: SocketAddr,
        opened: Opened,
        now: Instant,
    ) -> ConnId {
        let t = self.timers.tick(now);
        let atomics = self.hosts.get(h).waiters.atomics();
        let capacity = clamp_capacity(opened.capacity);
        let gauge = Arc::new(Gauge::new(capacity, t.nanos(), atomics));
        let entry = ConnEntry::new(handle, h, addr, gauge.clone(), opened.protocol, t);
        let id = self.conns.insert(entry);
        self.counters.inserted += 1;
        let host = self.hosts.get_mut(h);
        host.usable += 1;
        host.count_conn(addr, true);
        let pos = host.members.len() as u32;
        host.members.push(Member { id, gauge });
        if let Some(a) = host.addrs.get_mut(&addr) {
            a.list
                .push_back(self.conns.slots_mut(), id.index(), addr_links);
            if a.list.len == 1 {
                self.hosts.connected_pairs += 1;
            }
        }
        if let Some(e) = self.conns.get_mut(id) {
            e.member_pos = pos;
        }
        self.arm(id);
        id
    }

    /// Takes a lease for the next caller of `h`, by the placement option: on a usable
    /// connection with spare capacity whose transport is still open. One whose transport
    /// closed is taken out of service on the way (broken) and the host refilled for its
    /// waiters. A scan of the host's gauges: the shell's fast lane takes the common case
    /// without the lock, so this runs for the first lease, for waiters and when the lane
    /// found nothing.
    pub(super) fn take_ready(&mut self, h: HostId) -> Option<ConnId> {
        let mut removed = false;
        let found = loop {
            let members = &self.hosts.get(h).members;
            let Some((member, limit)) = choice::locked(members, self.opts.placement) else {
                break None;
            };
            let (id, gauge) = (member.id, member.gauge.clone());
            let Some(e) = self.conns.get(id) else {
                break None;
            };
            if (self.is_closed)(&e.handle) {
                self.drain(id, CloseReason::Broken);
                removed = true;
                continue;
            }
            if gauge.try_acquire(limit) {
                break Some(id);
            }
            // A lane lease took its last room in the meantime: choose again.
        };
        if removed {
            self.refill(h);
        }
        found
    }

    /// Hands ready connections of `h` to its waiters, first come first served.
    pub(super) fn serve_waiters(&mut self, h: HostId) {
        while !self.hosts.get(h).waiters.is_empty() {
            let Some(id) = self.take_ready(h) else {
                return;
            };
            let Some(waiter) = self.hosts.get_mut(h).waiters.pop_front() else {
                return;
            };
            self.waiters.remove(waiter);
            self.actions.push_back(Action::Grant { waiter, conn: id });
        }
    }

    /// After a lease or probe returned `id` (of host `host`): closes it if it drains and
    /// nothing holds it any more, else serves the host's waiters.
    pub(super) fn returned(&mut self, id: ConnId, host: HostId) {
        let Some(e) = self.conns.get(id) else {
            self.refill(host);
            return;
        };
        if let Phase::Draining(reason) = e.phase {
            if e.gauge.is_unheld() {
                self.close_conn(id, reason);
            }
            self.refill(host);
            return;
        }
        self.arm(id); // a probe's verdict moved its next probe (a return never moves it earlier)
        self.serve_waiters(host);
        self.trim_idle();
    }

    /// The connections of host `h` to `addr` (not those draining after it was removed).
    pub(super) fn conns_at(&self, h: HostId, addr: SocketAddr) -> Vec<ConnId> {
        match self.hosts.get(h).addrs.get(&addr) {
            Some(a) => self.conns.list_ids(&a.list, |e| e.addr_links.next),
            None => Vec::new(),
        }
    }

    /// Moves `id` to `phase`, keeping the host's and address's counts.
    pub(super) fn set_phase(&mut self, id: ConnId, phase: Phase) {
        let Some(e) = self.conns.get_mut(id) else {
            return;
        };
        let old = e.phase;
        if old == phase {
            return;
        }
        e.phase = phase;
        let (h, addr) = (e.host, e.addr);
        let host = self.hosts.get_mut(h);
        if (old == Phase::Live) != (phase == Phase::Live) {
            host.count_conn(addr, phase == Phase::Live);
        }
        if old.is_usable() && !phase.is_usable() {
            host.usable -= 1;
            self.conns.draining += 1;
        }
    }

    /// Takes a connection out of service: closed now when nothing holds it, otherwise
    /// marked draining and closed when its last lease or probe returns.
    ///
    /// A draining connection no longer counts toward `max_conns_per_host` or
    /// `max_conns_per_ip`, so when it was its address's last connection of a hot host, the
    /// re-warm dial starts now (`docs/stay-hot.md`).
    pub(super) fn drain(&mut self, id: ConnId, reason: CloseReason) {
        self.drain_as(id, reason, true);
    }

    /// [`PoolState::drain`]; without `rewarm`, the address is not re-warmed (the caller
    /// is about to ban it).
    pub(super) fn drain_as(&mut self, id: ConnId, reason: CloseReason, rewarm: bool) {
        let Some(e) = self.conns.get(id) else { return };
        if matches!(e.phase, Phase::Draining(_)) {
            return;
        }
        let (h, addr) = (e.host, e.addr);
        // Retired first: from here no lane lease can take it, and whoever returns its last
        // lease takes the locked path, which closes it.
        if e.gauge.retire() {
            self.close_conn(id, reason);
        } else {
            self.set_phase(id, Phase::Draining(reason));
        }
        if rewarm {
            self.lost_conn(h, addr, reason);
        }
    }

    /// Closes `id` if it is idle: by the gauge's `0 → RETIRED` (which a racing lane lease
    /// makes fail), and only if `due` still holds of it after that CAS (a return stamps its
    /// use before its count goes down, so a use that raced the CAS is seen here, and the
    /// connection is un-retired). Never while its host has waiters: a lane return can leave
    /// it idle just as a waiter is queued, and closing it would leave the waiter with
    /// nothing to be served by — it serves them instead. True if it closed.
    pub(super) fn close_if_idle(
        &mut self,
        id: ConnId,
        reason: CloseReason,
        due: impl Fn(&ConnEntry<T>) -> bool,
    ) -> bool {
        let Some(e) = self.conns.get(id) else {
            return false;
        };
        let h = e.host;
        if !self.hosts.get(h).waiters.is_empty() {
            self.serve_waiters(h);
            return false;
        }
        if !e.is_available() || !e.gauge.try_retire_idle() {
            return false;
        }
        if !due(e) {
            e.gauge.unretire();
            return false;
        }
        self.close_conn(id, reason);
        true
    }

    /// Removes a connection (retired, or nothing can lease it) from the pool now; its
    /// handle goes back in an [`Action::Close`]. Its gauge's totals move to the counters.
    pub(super) fn close_conn(&mut self, id: ConnId, reason: CloseReason) {
        let Some((h, addr, pos)) = self.conns.get(id).map(|e| (e.host, e.addr, e.member_pos))
        else {
            return;
        };
        if let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) {
            let was_linked = a.list.len;
            a.list
                .unlink(self.conns.slots_mut(), id.index(), addr_links);
            if was_linked == 1 && a.list.len == 0 {
                self.hosts.connected_pairs -= 1;
            }
        }
        self.disarm(id);
        self.remove_member(h, pos);
        let Some(e) = self.conns.remove(id) else {
            return;
        };
        e.gauge.retire();
        self.counters.leases += e.gauge.leases_total();
        let host = self.hosts.get_mut(e.host);
        match e.phase {
            Phase::Live => {
                host.usable -= 1;
                host.count_conn(e.addr, false);
            }
            Phase::Retiring(_) => host.usable -= 1,
            Phase::Draining(_) => {}
        }
        self.counters.closed(reason);
        tracing::debug!(addr = %e.addr, reason = reason.as_str(), "connection closed");
        self.actions.push_back(Action::Close {
            conn: id,
            handle: e.handle,
            reason,
        });
    }

    /// Takes member `pos` out of host `h`'s members (the last one moves into its place).
    fn remove_member(&mut self, h: HostId, pos: u32) {
        let members = &mut self.hosts.get_mut(h).members;
        let pos = pos as usize;
        if pos >= members.len() {
            return;
        }
        members.swap_remove(pos);
        if let Some(moved) = members.get(pos).map(|m| m.id) {
            if let Some(e) = self.conns.get_mut(moved) {
                e.member_pos = pos as u32;
            }
        }
    }

    /// Closes the least recently used idle connections beyond `max_idle_conns`. Only a
    /// pool with more connections than the limit can be over it, so no scan otherwise
    /// (and the lane returns a lease to idle without the lock only then).
    pub(super) fn trim_idle(&mut self) {
        let max = self.opts.max_idle_conns;
        if self.conns.open() <= max {
            return;
        }
        // Counted first (no allocation, no sort): under load it is rarely over.
        let excess = self.conns.idle_count().saturating_sub(max);
        if excess == 0 {
            return;
        }
        for id in self.conns.idle_by_age(|_| true).into_iter().take(excess) {
            self.close_if_idle(id, CloseReason::IdleLimit, |_| true);
        }
    }

    // ----- a connection's timer --------------------------------------------------------

    /// The connection's next deadline: expiry, keep-warm replacement (or its next try), the
    /// idle timeout and the next probe (these two from its last use, or from when its timer
    /// last found it busy: the core is not told when a lane return leaves it idle, so it
    /// looks again one span later). None while draining.
    fn next_deadline(&self, e: &ConnEntry<T>) -> Option<Tick> {
        let spans = &self.spans;
        let mut at = e.created.after(spans.lifetime);
        match (spans.replace, e.phase) {
            (_, Phase::Draining(_)) => return None,
            (Some(replace), Phase::Live) => at = at.min(e.created.after(replace)),
            (_, Phase::Retiring(Replacement::RetryAt(n))) => {
                if let Some(retry) = spans.replace_try(e.created, n) {
                    at = at.min(retry);
                }
            }
            _ => {}
        }
        at = at.min(e.last_used().max(e.busy_seen).after(spans.idle));
        if let (Some(probe), false) = (spans.probe, e.probe_queued) {
            at = at.min(e.last_checked().max(e.busy_seen).after(probe));
        }
        Some(at)
    }

    /// Makes sure the connection's timer fires no later than its next deadline. An entry
    /// that is already earlier stays (lazy): the hot path rarely touches the timer set.
    pub(super) fn arm(&mut self, id: ConnId) {
        let Some(e) = self.conns.get(id) else { return };
        let Some(due) = self.next_deadline(e) else {
            return;
        };
        let old = e.timer_at;
        if old.is_some_and(|at| at <= due) {
            return;
        }
        self.timers.arm_conn(id, old, due);
        if let Some(e) = self.conns.get_mut(id) {
            e.timer_at = Some(due);
        }
    }

    fn disarm(&mut self, id: ConnId) {
        if let Some(at) = self.conns.get_mut(id).and_then(|e| e.timer_at.take()) {
            self.timers.disarm_conn(id, at);
        }
    }
}
