//! The coordinator's connection lifecycle: admission into the slab and the host's address
//! list, leases and waiters, where a connection is linked (ready index, idle list), its
//! timer, and draining and closing.

use std::net::SocketAddr;
use std::time::Instant;

use super::conns::{ConnEntry, ConnId, Phase, Replacement, addr_links, ready_links};
use super::dials::Opened;
use super::hosts::HostId;
use super::timers::Tick;
use super::{Action, PoolState, clamp_capacity};
use crate::options::Placement;
use crate::types::CloseReason;

impl<T> PoolState<T> {
    /// Puts a dialed connection in the slab and its address's list, counted as live.
    pub(super) fn insert_conn(
        &mut self,
        handle: T,
        h: HostId,
        addr: SocketAddr,
        opened: Opened,
        now: Instant,
    ) -> ConnId {
        let t = self.timers.tick(now);
        let capacity = clamp_capacity(opened.capacity);
        let entry = ConnEntry::new(handle, h, addr, capacity, opened.protocol, t);
        let id = self.conns.insert(entry);
        self.counters.inserted += 1;
        let host = self.hosts.get_mut(h);
        host.usable += 1;
        host.count_conn(addr, true);
        if let Some(a) = host.addrs.get_mut(&addr) {
            a.list
                .push_back(self.conns.slots_mut(), id.index(), addr_links);
            if a.list.len == 1 {
                self.hosts.connected_pairs += 1;
            }
        }
        self.place(id);
        self.arm(id);
        id
    }

    /// Counts a lease on `id` (which must be ready).
    pub(super) fn lease(&mut self, id: ConnId) {
        self.conns.add_lease(id);
        self.counters.leases += 1;
        self.place(id);
    }

    /// The connection of `h` the next lease goes to, by the placement option: a usable one
    /// with spare capacity whose transport is still open. One whose transport closed is
    /// taken out of service on the way (broken) and the host refilled for its waiters.
    pub(super) fn take_ready(&mut self, h: HostId) -> Option<ConnId> {
        let mut removed = false;
        let found = loop {
            let ready = &self.hosts.get(h).ready;
            let index = match self.opts.placement {
                Placement::Spread => ready.first(),
                Placement::Fill { streams } => {
                    ready.fullest_below(streams).or_else(|| ready.first())
                }
            };
            let Some((id, e)) = index.and_then(|index| self.conns.entry_at_index(index)) else {
                break None;
            };
            if !(self.is_closed)(&e.handle) {
                break Some(id);
            }
            self.drain(id, CloseReason::Broken);
            removed = true;
        };
        if removed {
            self.refill(h);
        }
        found
    }

    /// Hands ready connections of `h` to its waiters, first come first served.
    pub(super) fn serve_waiters(&mut self, h: HostId) {
        loop {
            if self.hosts.get(h).waiters.is_empty() {
                return;
            }
            let Some(id) = self.take_ready(h) else {
                return;
            };
            let Some(waiter) = self.hosts.get_mut(h).waiters.pop_front() else {
                return;
            };
            self.waiters.remove(waiter);
            self.lease(id);
            self.actions.push_back(Action::Grant { waiter, conn: id });
        }
    }

    /// After a lease or probe returned `id` (of host `host`): closes it if it drains and
    /// nothing holds it any more, else puts it back in service.
    pub(super) fn returned(&mut self, id: ConnId, host: HostId, now_idle: bool) {
        let Some(e) = self.conns.get(id) else {
            self.refill(host);
            return;
        };
        if let Phase::Draining(reason) = e.phase {
            if e.is_unheld() {
                self.close_conn(id, reason);
            }
            self.refill(host);
            return;
        }
        self.place(id);
        if now_idle {
            self.arm(id);
        }
        self.serve_waiters(host);
        self.trim_idle();
    }

    /// Puts a connection in the ready index and idle list it belongs in, given its state.
    /// A connection whose load level changes goes to the back of its new level, so each
    /// level stays in least-recently-used order.
    pub(super) fn place(&mut self, id: ConnId) {
        let Some(e) = self.conns.get(id) else { return };
        let usable = e.is_available();
        let level = (usable && e.leases < e.capacity).then_some(e.leases);
        let idle = usable && e.leases == 0;
        let (old_level, in_idle, h) = (e.ready_level, e.idle_links.linked, e.host);
        if old_level != level {
            let ready = &mut self.hosts.get_mut(h).ready;
            if let Some(old) = old_level {
                ready.remove(self.conns.slots_mut(), old, id.index(), ready_links);
            }
            if let Some(new) = level {
                ready.push(self.conns.slots_mut(), new, id.index(), ready_links);
            }
            if let Some(e) = self.conns.get_mut(id) {
                e.ready_level = level;
            }
        }
        match (idle, in_idle) {
            (true, false) => self.conns.idle_push(id),
            (false, true) => self.conns.idle_unlink(id),
            _ => {}
        }
    }

    /// Takes `id` out of its host's ready index.
    pub(super) fn unready(&mut self, id: ConnId) {
        let Some(e) = self.conns.get_mut(id) else {
            return;
        };
        let (level, h) = (e.ready_level.take(), e.host);
        if let Some(level) = level {
            self.hosts.get_mut(h).ready.remove(
                self.conns.slots_mut(),
                level,
                id.index(),
                ready_links,
            );
        }
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
        self.place(id);
    }

    /// Takes a connection out of service: closed now when nothing holds it, otherwise
    /// marked draining and closed when its last lease or probe returns.
    pub(super) fn drain(&mut self, id: ConnId, reason: CloseReason) {
        let Some(e) = self.conns.get(id) else { return };
        if matches!(e.phase, Phase::Draining(_)) {
            return;
        }
        if e.is_unheld() {
            self.close_conn(id, reason);
        } else {
            self.set_phase(id, Phase::Draining(reason));
        }
    }

    /// Removes a connection from the pool now; its handle goes back in an [`Action::Close`].
    pub(super) fn close_conn(&mut self, id: ConnId, reason: CloseReason) {
        let Some((h, addr)) = self.conns.get(id).map(|e| (e.host, e.addr)) else {
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
        self.unready(id);
        self.conns.idle_unlink(id);
        let Some(e) = self.conns.remove(id) else {
            return;
        };
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

    /// Closes the least recently used idle connections beyond `max_idle_conns`.
    pub(super) fn trim_idle(&mut self) {
        while self.conns.idle_len() > self.opts.max_idle_conns {
            let Some(id) = self.conns.idle_front() else {
                break;
            };
            self.close_conn(id, CloseReason::IdleLimit);
        }
    }

    // ----- a connection's timer --------------------------------------------------------

    /// The connection's next deadline: expiry, keep-warm replacement (or its next try), and
    /// while idle the idle timeout and the next probe. None while draining.
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
        if e.is_unheld() {
            at = at.min(e.last_used.after(spans.idle));
            if let (Some(probe), false) = (spans.probe, e.probe_queued) {
                at = at.min(e.last_checked.after(probe));
            }
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
