//! Dials in flight and callers waiting: the two tables of requests the shell carries out
//! for the core, each keyed by an id the core hands out.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use super::ids::{ConnId, DialId, HostId, WaiterId};
use crate::types::Protocol;

/// Why a dial was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialPurpose {
    /// A caller is waiting and no connection has spare capacity.
    Checkout,
    /// `warm(host)` asked for it.
    Warm,
    /// `keep_warm`: replaces a connection that is about to reach `max_lifetime`.
    Replace,
    /// Re-test of a blacklisted address.
    Retest,
    /// An address of a hot host lost its last connection: the background replacement
    /// (`stay_hot`, see `docs/stay-hot.md`).
    Rewarm,
    /// The re-test of a host in an outage (one address at a time, short backoff).
    OutageRetest,
}

/// A dial the pool wants made. Report its outcome with
/// [`PoolState::handle_dial_result`](super::PoolState::handle_dial_result).
#[derive(Clone, Debug)]
pub struct DialRequest {
    /// Pass back to `handle_dial_result`.
    pub id: DialId,
    /// The host name to connect (and verify) for.
    pub host: Arc<str>,
    /// The address to connect to.
    pub addr: SocketAddr,
    /// Why the dial is made.
    pub purpose: DialPurpose,
}

/// One dial in flight.
#[derive(Clone, Copy, Debug)]
pub(super) struct DialEntry {
    pub(super) host: HostId,
    pub(super) addr: SocketAddr,
    pub(super) purpose: DialPurpose,
    /// Whether it counts in the host and address `dialing` numbers.
    pub(super) counted: bool,
    /// The retiring connection a `Replace` dial replaces.
    pub(super) replaces: Option<ConnId>,
}

/// The dials in flight.
#[derive(Default)]
pub(super) struct Dials {
    map: HashMap<DialId, DialEntry>,
    next: u64,
}

impl Dials {
    /// Records a new dial; returns its id.
    pub(super) fn start(&mut self, entry: DialEntry) -> DialId {
        let id = DialId(self.next);
        self.next += 1;
        self.map.insert(id, entry);
        id
    }

    /// Takes a dial that ended; `None` for an unknown (or already reported) id.
    pub(super) fn finish(&mut self, id: DialId) -> Option<DialEntry> {
        let entry = self.map.remove(&id)?;
        if self.map.is_empty() && self.map.capacity() > 64 {
            self.map.shrink_to_fit(); // after a warm-up of thousands of addresses
        }
        Some(entry)
    }

    /// Dials in flight.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no dial is in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Counted dials of host `h` to `addr` in flight.
    pub(super) fn counted_to(&self, h: HostId, addr: SocketAddr) -> usize {
        self.map
            .values()
            .filter(|d| d.counted && d.host == h && d.addr == addr)
            .count()
    }

    /// Every dial in flight.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &DialEntry> {
        self.map.values()
    }
}

/// The callers waiting, with the host each waits for (the order is each host's queue).
#[derive(Default)]
pub(super) struct Waiters {
    map: HashMap<WaiterId, HostId>,
    /// Waiters that asked to wait through a host outage (`wait_for_host`).
    patient: HashSet<WaiterId>,
    next: u64,
}

impl Waiters {
    /// A new waiter for host `h`; a `patient` one waits through a host outage.
    pub(super) fn add(&mut self, h: HostId, patient: bool) -> WaiterId {
        let id = WaiterId(self.next);
        self.next += 1;
        self.map.insert(id, h);
        if patient {
            self.patient.insert(id);
        }
        id
    }

    /// Whether the waiter asked to wait through a host outage.
    pub(super) fn is_patient(&self, id: WaiterId) -> bool {
        self.patient.contains(&id)
    }

    /// Forgets a waiter (served, failed or cancelled); returns its host if it was waiting.
    pub(super) fn remove(&mut self, id: WaiterId) -> Option<HostId> {
        self.patient.remove(&id);
        self.map.remove(&id)
    }

    /// Callers waiting.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Every waiter.
    pub(super) fn ids(&self) -> Vec<WaiterId> {
        self.map.keys().copied().collect()
    }

    /// The host a waiter waits for.
    #[cfg(test)]
    pub(super) fn host_of(&self, id: WaiterId) -> Option<HostId> {
        self.map.get(&id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(host: u32, last: u8, counted: bool) -> DialEntry {
        DialEntry {
            host: HostId(host),
            addr: SocketAddr::from(([127, 0, 0, last], 443)),
            purpose: DialPurpose::Checkout,
            counted,
            replaces: None,
        }
    }

    #[test]
    fn dials_are_reported_once() {
        let mut dials = Dials::default();
        let a = dials.start(entry(0, 2, true));
        let b = dials.start(entry(0, 2, false));
        dials.start(entry(1, 2, true));
        assert_ne!(a, b);
        assert_eq!(dials.len(), 3);
        let e = entry(0, 2, true);
        assert_eq!(
            dials.counted_to(e.host, e.addr),
            1,
            "uncounted and other hosts excluded"
        );
        assert!(dials.finish(a).is_some());
        assert!(dials.finish(a).is_none(), "a second report is a no-op");
        assert_eq!(dials.iter().count(), 2);
    }

    #[test]
    fn waiters_know_their_host() {
        let mut waiters = Waiters::default();
        let a = waiters.add(HostId(3), true);
        let b = waiters.add(HostId(4), false);
        assert!(waiters.is_patient(a) && !waiters.is_patient(b));
        assert_eq!(waiters.host_of(b), Some(HostId(4)));
        assert_eq!(waiters.remove(a), Some(HostId(3)));
        assert_eq!(waiters.remove(a), None);
        assert_eq!((waiters.len(), waiters.ids()), (1, vec![b]));
    }
}

/// What a successful dial reports about its connection, with
/// [`PoolState::handle_dial_result`](super::PoolState::handle_dial_result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// How many leases it may carry at once ([`Connection::capacity`](crate::Connection::capacity)).
    pub capacity: usize,
    /// The protocol it speaks ([`Connection::protocol`](crate::Connection::protocol)).
    pub protocol: Protocol,
}

impl Opened {
    /// A connection of `capacity` speaking an opaque stream ([`Protocol::Stream`]).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            protocol: Protocol::Stream,
        }
    }
}
