//! The hosts (the *by_host* map): each host's name, its known addresses (together the
//! *by_ip* map), the round-robin dial cursor, its usable connections' lease gauges (where a
//! lease is chosen), its waiters and its per-host counts.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Bound;
use std::sync::Arc;

use super::gauge::{Gauge, HostAtomics};
use super::ids::{ConnId, HostId, WaiterId};
use super::list::List;

/// One address of one host.
#[derive(Default)]
pub(super) struct AddrEntry {
    /// Live connections of this host to this address (counted toward `max_conns_per_ip`).
    pub(super) conns: usize,
    /// Dials in flight of this host to this address.
    pub(super) dialing: usize,
    /// Every connection of this host to this address (a list threaded through the slab).
    pub(super) list: List,
    /// Re-warm state of a hot host's address (`stay_hot`).
    pub(super) rewarm: Rewarm,
}

/// An address of a hot host that lost its last connection, on its way back.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Rewarm {
    /// When it lost its last connection (the start of its time to re-warm).
    pub(super) lost_at: Option<std::time::Instant>,
    /// Failed re-warm dials in a row (the backoff's exponent).
    pub(super) failures: u32,
    /// When its next re-warm try is scheduled, if one is.
    pub(super) retry_at: Option<std::time::Instant>,
}

/// A host whose addresses fail at once: not banned one by one, re-tested as a whole.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outage {
    /// When it began.
    pub(super) since: std::time::Instant,
    /// Failed re-tests so far (the backoff's exponent).
    pub(super) retests: u32,
    /// Whether a re-test dial is in flight.
    pub(super) retesting: bool,
}

/// One host.
pub(super) struct HostEntry {
    pub(super) name: Arc<str>,
    pub(super) addrs: BTreeMap<SocketAddr, AddrEntry>,
    /// Round-robin cursor over `addrs` for the next dial.
    cursor: Option<SocketAddr>,
    /// Its connections in the slab, with their gauges: where a lease is chosen (in no
    /// order; a connection knows its position, so it leaves in O(1)).
    pub(super) members: Vec<Member>,
    /// Live connections (counted toward `max_conns_per_host`).
    pub(super) conns: usize,
    /// Usable connections (Live or Retiring); zero means nothing can serve a waiter.
    pub(super) usable: usize,
    /// Counted dials in flight.
    pub(super) dialing: usize,
    /// Callers waiting, first come first served.
    pub(super) waiters: WaitQueue,
    /// Capacity of the last connection admitted, to size how many dials a queue needs.
    pub(super) last_capacity: u32,
    /// Failed dials since the last success, to fail waiters instead of dialing forever.
    pub(super) failures_since_success: u32,
    /// This pool's share of a fleet-wide connection budget (`None`: no fleet budget).
    pub(super) fleet_cap: Option<usize>,
    /// Warmed, so kept hot (with `stay_hot`; see `docs/stay-hot.md`).
    pub(super) hot: bool,
    /// The outage it is in, if its addresses fail at once.
    pub(super) outage: Option<Outage>,
}

/// One connection of a host, as the lease choice sees it.
pub(super) struct Member {
    pub(super) id: ConnId,
    pub(super) gauge: Arc<Gauge>,
}

impl super::choice::HasGauge for Member {
    fn gauge(&self) -> &Gauge {
        &self.gauge
    }
}

/// A host's waiters, first come first served, and their number shared with the shell's
/// fast lane: a lane return that sees it above zero takes the locked path to serve them
/// (see [`WaitQueue::push_back`] for why no wake-up is lost).
pub(super) struct WaitQueue {
    queue: VecDeque<WaiterId>,
    atomics: Arc<HostAtomics>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            atomics: Arc::new(HostAtomics::new()),
        }
    }
}

impl WaitQueue {
    /// Queues `waiter`. The count is raised (`SeqCst`) *before* the caller re-scans the
    /// host's gauges, and a lane return lowers its gauge before it reads the count (also
    /// `SeqCst`): so either the return sees the waiter and serves it under the lock, or the
    /// re-scan sees the freed lease.
    pub(super) fn push_back(&mut self, waiter: WaiterId) {
        self.queue.push_back(waiter);
        self.publish();
    }

    pub(super) fn pop_front(&mut self) -> Option<WaiterId> {
        let waiter = self.queue.pop_front();
        self.publish();
        waiter
    }

    /// Removes `waiter` if it is queued.
    pub(super) fn remove(&mut self, waiter: WaiterId) {
        if let Some(pos) = self.queue.iter().position(|w| *w == waiter) {
            self.queue.remove(pos);
            self.publish();
        }
    }

    /// Takes every waiter out, in order.
    pub(super) fn take_all(&mut self) -> Vec<WaiterId> {
        let all = self.queue.drain(..).collect();
        self.publish();
        all
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &WaiterId> {
        self.queue.iter()
    }

    /// The host's atomics the shell's fast lane shares (the waiter count among them).
    pub(super) fn atomics(&self) -> Arc<HostAtomics> {
        self.atomics.clone()
    }

    /// The shared count, as the lane reads it.
    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.atomics
            .waiting
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn publish(&self) {
        let waiting = &self.atomics.waiting;
        waiting.store(self.queue.len(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl HostEntry {
    fn new(name: Arc<str>) -> Self {
        Self {
            name,
            addrs: BTreeMap::new(),
            cursor: None,
            members: Vec::new(),
            conns: 0,
            usable: 0,
            dialing: 0,
            waiters: WaitQueue::default(),
            last_capacity: 1,
            failures_since_success: 0,
            fleet_cap: None,
            hot: false,
            outage: None,
        }
    }

    /// Whether one more connection fits `max_conns_per_host` (and the pool's share of a
    /// fleet budget, when there is one).
    pub(super) fn has_room(&self, per_host: usize) -> bool {
        self.conns + self.dialing < self.fleet_cap.map_or(per_host, |cap| cap.min(per_host))
    }

    /// Whether one more connection to `addr` fits both per-host and per-address limits
    /// (false when the address is unknown).
    pub(super) fn has_room_at(&self, addr: SocketAddr, per_host: usize, per_ip: usize) -> bool {
        self.has_room(per_host)
            && self
                .addrs
                .get(&addr)
                .is_some_and(|a| a.conns + a.dialing < per_ip)
    }

    /// The next address after the cursor (round robin) with room under `per_ip` and
    /// `allowed`; does not move the cursor (see [`HostEntry::dialed`]).
    pub(super) fn next_addr(
        &self,
        per_ip: usize,
        allowed: impl Fn(IpAddr) -> bool,
    ) -> Option<SocketAddr> {
        let after = self
            .cursor
            .map(|c| self.addrs.range((Bound::Excluded(c), Bound::Unbounded)));
        after
            .into_iter()
            .flatten()
            .chain(self.addrs.iter())
            .take(self.addrs.len())
            .find(|(addr, a)| a.conns + a.dialing < per_ip && allowed(addr.ip()))
            .map(|(addr, _)| *addr)
    }

    /// Moves the round-robin cursor to `addr`, the address just chosen.
    pub(super) fn dialed(&mut self, addr: SocketAddr) {
        self.cursor = Some(addr);
    }

    /// Counts a dial of `addr` in flight: one more when it `starts`, one less when it ends.
    pub(super) fn count_dial(&mut self, addr: SocketAddr, starts: bool) {
        let step = |n: &mut usize| {
            if starts {
                *n += 1;
            } else {
                *n -= 1;
            }
        };
        step(&mut self.dialing);
        if let Some(a) = self.addrs.get_mut(&addr) {
            step(&mut a.dialing);
        }
    }

    /// Counts a connection to `addr` in (or out of) the per-host and per-address limits.
    pub(super) fn count_conn(&mut self, addr: SocketAddr, counted: bool) {
        if counted {
            self.conns += 1;
        } else {
            self.conns -= 1;
        }
        if let Some(a) = self.addrs.get_mut(&addr) {
            if counted {
                a.conns += 1;
            } else {
                a.conns -= 1;
            }
        }
    }
}

/// Every host, by id and by name.
#[derive(Default)]
pub(super) struct Hosts {
    entries: Vec<HostEntry>,
    ids: HashMap<Arc<str>, HostId, BuildHostHasher>,
    /// (host, address) pairs with at least one connection.
    pub(super) connected_pairs: usize,
    /// The host found by the last lookup: compared first, so a pool serving one host (or a
    /// run of `get`s for one) skips hashing the name on every lease.
    recent: Cell<Option<HostId>>,
}

impl Hosts {
    /// The id of a known host.
    pub(super) fn lookup(&self, name: &str) -> Option<HostId> {
        if let Some(h) = self.recent.get() {
            if *self.get(h).name == *name {
                return Some(h);
            }
        }
        let h = self.ids.get(name).copied()?;
        self.recent.set(Some(h));
        Some(h)
    }

    /// The id of `name`, adding the host when it is new.
    pub(super) fn id_or_insert(&mut self, name: &str) -> HostId {
        if let Some(h) = self.lookup(name) {
            return h;
        }
        let name: Arc<str> = name.into();
        let h = HostId(self.entries.len() as u32);
        self.entries.push(HostEntry::new(name.clone()));
        self.ids.insert(name, h);
        h
    }

    /// The host `h` (ids are only made here, so it exists).
    pub(super) fn get(&self, h: HostId) -> &HostEntry {
        &self.entries[h.0 as usize]
    }

    /// Mutable access to the host `h`.
    pub(super) fn get_mut(&mut self, h: HostId) -> &mut HostEntry {
        &mut self.entries[h.0 as usize]
    }

    /// Every host with its id.
    pub(super) fn iter(&self) -> impl Iterator<Item = (HostId, &HostEntry)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (HostId(i as u32), e))
    }

    /// Hosts known.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Addresses known, over all hosts.
    pub(super) fn addr_count(&self) -> usize {
        self.entries.iter().map(|h| h.addrs.len()).sum()
    }
}

/// FNV-1a for host names: the host lookup is on every `get`, and SipHash's DoS resistance
/// buys nothing here (host names come from the application's own configuration and calls).
#[derive(Clone, Copy, Default)]
struct BuildHostHasher;

struct HostHasher(u64);

impl std::hash::BuildHasher for BuildHostHasher {
    type Hasher = HostHasher;

    fn build_hasher(&self) -> HostHasher {
        HostHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for HostHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 443))
    }

    #[test]
    fn ids_are_stable_per_name() {
        let mut hosts = Hosts::default();
        let a = hosts.id_or_insert("a.test");
        let b = hosts.id_or_insert("b.test");
        assert_ne!(a, b);
        assert_eq!(hosts.id_or_insert("a.test"), a);
        assert_eq!(hosts.lookup("b.test"), Some(b));
        assert_eq!(hosts.lookup("c.test"), None);
        assert_eq!(hosts.get(b).name.as_ref(), "b.test");
        assert_eq!(hosts.len(), 2);
    }

    #[test]
    fn the_recent_host_is_found_first_and_others_still_by_name() {
        let mut hosts = Hosts::default();
        let a = hosts.id_or_insert("a.test");
        let b = hosts.id_or_insert("b.test");
        for _ in 0..2 {
            assert_eq!(hosts.lookup("a.test"), Some(a));
            assert_eq!(hosts.lookup("a.test"), Some(a), "from the recent entry");
            assert_eq!(hosts.lookup("b.test"), Some(b));
            assert_eq!(hosts.lookup("a.tesT"), None, "names compare exactly");
            assert_eq!(hosts.lookup("b.test"), Some(b));
        }
    }

    #[test]
    fn fnv_hash_matches_the_reference_value() {
        use std::hash::Hasher;
        let mut h = HostHasher(0xcbf2_9ce4_8422_2325);
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn next_addr_rotates_and_skips_full_or_disallowed_addresses() {
        let mut hosts = Hosts::default();
        let h = hosts.id_or_insert("a.test");
        let host = hosts.get_mut(h);
        for last in 2..5 {
            host.addrs.insert(addr(last), AddrEntry::default());
        }
        let mut order = Vec::new();
        for _ in 0..4 {
            let next = host.next_addr(1, |_| true).unwrap();
            host.dialed(next);
            order.push(next);
        }
        assert_eq!(order, vec![addr(2), addr(3), addr(4), addr(2)]);
        host.count_dial(addr(3), true);
        assert_eq!(host.next_addr(1, |_| true), Some(addr(4)), "3 is full");
        assert_eq!(
            host.next_addr(1, |ip| ip != addr(4).ip()),
            Some(addr(2)),
            "4 is not allowed"
        );
        assert!(host.has_room_at(addr(2), 2, 1));
        assert!(!host.has_room_at(addr(3), 2, 1), "per-ip limit");
        assert!(!host.has_room_at(addr(9), 2, 1), "unknown address");
        host.count_conn(addr(2), true);
        assert!(!host.has_room(2), "one connection and one dial of two");
        host.count_dial(addr(3), false);
        assert_eq!((host.dialing, host.addrs[&addr(3)].dialing), (0, 0));
    }
}
