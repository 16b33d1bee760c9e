//! The connection slab: every pooled connection's entry, addressed by a generational
//! [`ConnId`], and the counts that follow each connection's lifecycle (open, draining,
//! probing, per protocol). Its leases are counted in its [`Gauge`], which the shell's fast
//! lane shares: the counts of leases (in use, idle, leases out) are summed from the gauges
//! when asked for, never kept on the lease path.

use std::net::SocketAddr;
use std::sync::Arc;

use super::gauge::Gauge;
use super::ids::{ConnId, HostId};
use super::list::{Links, LinksOf, List};
use super::timers::Tick;
use crate::types::{CloseReason, Protocol};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Usable and counted toward the host and per-address limits.
    Live,
    /// Usable, but its `keep_warm` replacement owns its place under the limits (the
    /// replacement is dialed, dialed already, or due for another try at `Replacement`).
    Retiring(Replacement),
    /// Not usable: closes when its last lease (or probe) returns.
    Draining(CloseReason),
}

impl Phase {
    /// Live or retiring: it may serve leases.
    pub(super) fn is_usable(self) -> bool {
        !matches!(self, Phase::Draining(_))
    }
}

/// The state of a retiring connection's `keep_warm` replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Replacement {
    /// Its dial is in flight.
    Dialing,
    /// The last dial failed (or found no room): try number `n` is due next, at
    /// [`Spans::replace_try`](super::timers::Spans::replace_try) (a count, not a time,
    /// keeps the phase, and so every slab slot, small; past 255 tries expiry comes first).
    RetryAt(u8),
    /// A replacement connection was made.
    Done,
}

/// One pooled connection.
pub(super) struct ConnEntry<T> {
    pub(super) handle: T,
    pub(super) host: HostId,
    pub(super) addr: SocketAddr,
    pub(super) created: Tick,
    /// When a probe last found it healthy (a successful lease counts too: see
    /// [`ConnEntry::last_checked`]).
    pub(super) probed: Tick,
    /// When its timer last found it busy: its idle and probe deadlines count from no
    /// earlier than this (the lane returns it without telling the core, so the core
    /// re-checks a busy connection one span later instead).
    pub(super) busy_seen: Tick,
    /// Its leases, capacity and use times, shared with the shell's fast lane.
    pub(super) gauge: Arc<Gauge>,
    pub(super) protocol: Protocol,
    pub(super) phase: Phase,
    /// Held by a health probe (mirrors the gauge's `PROBING` flag, which only the core sets).
    pub(super) probing: bool,
    pub(super) error_count: u32,
    /// Its index in its host's `members`.
    pub(super) member_pos: u32,
    /// Links of its address's list (`AddrEntry::list`).
    pub(super) addr_links: Links,
    /// When its entry in the connection timers fires: never later than its next real
    /// deadline (it may be earlier; an early firing re-arms it).
    pub(super) timer_at: Option<Tick>,
    /// Whether it waits in the probe queue.
    pub(super) probe_queued: bool,
}

impl<T> ConnEntry<T> {
    /// A new live connection with no lease, made at `now`, with its gauge.
    pub(super) fn new(
        handle: T,
        host: HostId,
        addr: SocketAddr,
        gauge: Arc<Gauge>,
        protocol: Protocol,
        now: Tick,
    ) -> Self {
        Self {
            handle,
            host,
            addr,
            created: now,
            probed: now,
            busy_seen: now,
            gauge,
            protocol,
            phase: Phase::Live,
            probing: false,
            error_count: 0,
            member_pos: 0,
            addr_links: Links::default(),
            timer_at: None,
            probe_queued: false,
        }
    }

    /// Usable and not held by a probe: it may take a lease.
    pub(super) fn is_available(&self) -> bool {
        self.phase.is_usable() && !self.probing
    }

    /// Usable, not probed and without a lease (a lane lease may take it a moment later).
    pub(super) fn is_idle(&self) -> bool {
        self.is_available() && self.gauge.leases() == 0
    }

    /// When it was last returned (or made).
    pub(super) fn last_used(&self) -> Tick {
        Tick::from_nanos(self.gauge.last_used())
    }

    /// When it was last known healthy: a probe's verdict or a lease that succeeded.
    pub(super) fn last_checked(&self) -> Tick {
        self.probed.max(Tick::from_nanos(self.gauge.last_success()))
    }
}

/// One slot of the slab.
pub(super) struct Slot<T> {
    pub(super) generation: u32,
    pub(super) entry: Option<ConnEntry<T>>,
}

/// The slab of connections and the counts over them.
pub(super) struct Conns<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    /// Connections in the slab.
    open: usize,
    /// Connections draining (closing once their leases return).
    pub(super) draining: usize,
    /// Connections held by a health probe.
    pub(super) probing: usize,
    /// Connections in the slab per protocol, indexed as [`Protocol::ALL`].
    by_protocol: [usize; Protocol::ALL.len()],
}

impl<T> Default for Conns<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            draining: 0,
            probing: 0,
            by_protocol: [0; Protocol::ALL.len()],
        }
    }
}

impl<T> Conns<T> {
    /// The entry of a connection still in the slab.
    pub(super) fn get(&self, id: ConnId) -> Option<&ConnEntry<T>> {
        let slot = self.slots.get(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.entry.as_ref()
    }

    /// Mutable access to the entry of a connection still in the slab.
    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut ConnEntry<T>> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.entry.as_mut()
    }

    /// The id of the entry in slot `index`.
    pub(super) fn id_at(&self, index: u32) -> ConnId {
        ConnId::new(
            index,
            self.slots.get(index as usize).map_or(0, |s| s.generation),
        )
    }

    /// The slots, for the intrusive lists threaded through them.
    pub(super) fn slots_mut(&mut self) -> &mut [Slot<T>] {
        &mut self.slots
    }

    /// Every entry with its id.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ConnId, &ConnEntry<T>)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let id = ConnId::new(index as u32, slot.generation);
            slot.entry.as_ref().map(|e| (id, e))
        })
    }

    /// The ids of every connection.
    pub(super) fn ids(&self) -> Vec<ConnId> {
        self.iter().map(|(id, _)| id).collect()
    }

    /// Connections in the slab.
    pub(super) fn open(&self) -> usize {
        self.open
    }

    /// Connections in the slab per protocol, in [`Protocol::ALL`] order.
    pub(super) fn by_protocol(&self) -> Vec<(Protocol, usize)> {
        Protocol::ALL.into_iter().zip(self.by_protocol).collect()
    }

    /// Puts a new entry in a free slot (or a new one).
    pub(super) fn insert(&mut self, entry: ConnEntry<T>) -> ConnId {
        self.open += 1;
        self.by_protocol[entry.protocol.index()] += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.entry = Some(entry);
            return ConnId::new(index, slot.generation);
        }
        if self.slots.len() == self.slots.capacity() {
            // Grow by a quarter, not double: the slab is most of the memory a connection
            // costs, and amortized O(1) holds for any fixed factor.
            self.slots.reserve_exact((self.slots.len() / 4).max(16));
        }
        self.slots.push(Slot {
            generation: 0,
            entry: Some(entry),
        });
        ConnId::new((self.slots.len() - 1) as u32, 0)
    }

    /// Takes an entry (already unlinked from every list) out of the slab; its id goes
    /// stale. Updates the counts its state was part of.
    pub(super) fn remove(&mut self, id: ConnId) -> Option<ConnEntry<T>> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        let e = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index());
        self.open -= 1;
        self.by_protocol[e.protocol.index()] -= 1;
        if e.probing {
            self.probing -= 1;
        }
        if let Phase::Draining(_) = e.phase {
            self.draining -= 1;
        }
        Some(e)
    }

    /// The idle connections (usable, unprobed, no lease) matching `pred`, least recently
    /// used first. A scan: only memory-pressure shedding, `max_idle_conns` and eviction
    /// ask, off the lease path.
    pub(super) fn idle_by_age(&self, pred: impl Fn(&ConnEntry<T>) -> bool) -> Vec<ConnId> {
        let mut idle: Vec<(Tick, ConnId)> = self
            .iter()
            .filter(|(_, e)| e.is_idle() && pred(e))
            .map(|(id, e)| (e.last_used(), id))
            .collect();
        idle.sort_unstable();
        idle.into_iter().map(|(_, id)| id).collect()
    }

    /// Idle connections now (a scan).
    pub(super) fn idle_count(&self) -> usize {
        self.iter().filter(|(_, e)| e.is_idle()).count()
    }

    /// The ids of a list threaded through the slab by `of`, from its head.
    pub(super) fn list_ids(&self, list: &List, next: impl Fn(&ConnEntry<T>) -> u32) -> Vec<ConnId> {
        let mut ids = Vec::with_capacity(list.len);
        let mut cursor = list.head;
        while let Some(e) = self.entry_at(cursor) {
            ids.push(self.id_at(cursor));
            cursor = next(e);
        }
        ids
    }

    /// Unlinks every entry of a list that is being dropped; returns their ids.
    pub(super) fn detach_list(&mut self, list: &List, of: impl LinksOf<Slot<T>>) -> Vec<ConnId> {
        let mut indexes = Vec::with_capacity(list.len);
        let mut cursor = list.head;
        while let Some(links) = self.slots.get_mut(cursor as usize).and_then(of) {
            let next = links.next;
            *links = Links::default();
            indexes.push(cursor);
            cursor = next;
        }
        indexes.into_iter().map(|i| self.id_at(i)).collect()
    }

    fn entry_at(&self, index: u32) -> Option<&ConnEntry<T>> {
        self.slots
            .get(index as usize)
            .and_then(|s| s.entry.as_ref())
    }
}

/// The links of a connection's address list (`None` for an empty slot).
pub(super) fn addr_links<T>(slot: &mut Slot<T>) -> Option<&mut Links> {
    slot.entry.as_mut().map(|e| &mut e.addr_links)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: u32) -> ConnEntry<u32> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 443));
        let gauge = Arc::new(Gauge::new(
            1,
            u64::from(tag),
            Arc::new(crate::proto::gauge::HostAtomics::new()),
        ));
        ConnEntry::new(
            tag,
            HostId(0),
            addr,
            gauge,
            Protocol::Stream,
            Tick::default(),
        )
    }

    #[test]
    fn a_stale_id_never_reaches_a_reused_slot() {
        let mut conns = Conns::default();
        let a = conns.insert(entry(1));
        assert_eq!(conns.remove(a).map(|e| e.handle), Some(1));
        let b = conns.insert(entry(2));
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert!(conns.get(a).is_none(), "the old id is stale");
        assert_eq!(conns.get(b).map(|e| e.handle), Some(2));
        assert!(conns.remove(a).is_none());
        assert_eq!((conns.open(), conns.ids()), (1, vec![b]));
    }

    #[test]
    fn idle_connections_are_listed_least_recently_used_first() {
        let mut conns = Conns::default();
        let ids: Vec<_> = [3, 1, 2]
            .into_iter()
            .map(|t| conns.insert(entry(t)))
            .collect();
        assert!(conns.get(ids[2]).unwrap().gauge.try_acquire(u32::MAX));
        assert_eq!(conns.idle_by_age(|_| true), vec![ids[1], ids[0]]);
        assert_eq!(conns.idle_by_age(|e| e.handle == 3), vec![ids[0]]);
        assert_eq!(conns.idle_count(), 2);
    }

    #[test]
    fn protocol_counts_follow_insert_and_remove() {
        let mut conns = Conns::default();
        let mut h2 = entry(1);
        h2.protocol = Protocol::Http2;
        let a = conns.insert(h2);
        let b = conns.insert(entry(2));
        let count = |conns: &Conns<u32>, p| {
            conns
                .by_protocol()
                .into_iter()
                .find(|(q, _)| *q == p)
                .map(|(_, n)| n)
        };
        assert_eq!(count(&conns, Protocol::Http2), Some(1));
        assert_eq!(count(&conns, Protocol::Stream), Some(1));
        assert_eq!(count(&conns, Protocol::Http1), Some(0));
        conns.remove(a);
        assert_eq!(count(&conns, Protocol::Http2), Some(0));
        conns.remove(b);
        assert!(conns.by_protocol().iter().all(|(_, n)| *n == 0));
        assert_eq!(conns.by_protocol().len(), Protocol::ALL.len());
    }

    #[test]
    fn detach_list_unlinks_every_member() {
        let mut conns = Conns::default();
        let mut list = List::default();
        let ids: Vec<_> = (0..3).map(|t| conns.insert(entry(t))).collect();
        for id in &ids {
            list.push_back(conns.slots_mut(), id.index(), addr_links);
        }
        assert_eq!(conns.list_ids(&list, |e| e.addr_links.next), ids);
        assert_eq!(conns.detach_list(&list, addr_links), ids);
        assert!(
            ids.iter()
                .all(|id| !conns.get(*id).unwrap().addr_links.linked)
        );
    }
}
