//! Intrusive doubly linked lists threaded through the connection slab: O(1) push to the
//! back and unlink from anywhere, no allocation. Used for the idle LRU list and for the
//! per-host ready index (one list per load level).

use super::conns::{ConnEntry, Slot};

/// The "no entry" index.
pub(super) const NIL: u32 = u32::MAX;

/// One entry's links in one list.
#[derive(Clone, Copy, Debug)]
pub(super) struct Links {
    pub(super) prev: u32,
    pub(super) next: u32,
    pub(super) linked: bool,
}

impl Default for Links {
    fn default() -> Self {
        Self {
            prev: NIL,
            next: NIL,
            linked: false,
        }
    }
}

/// The ends of one list.
#[derive(Clone, Copy, Debug)]
pub(super) struct List {
    pub(super) head: u32,
    pub(super) tail: u32,
    pub(super) len: usize,
}

impl Default for List {
    fn default() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

/// Which links of an entry a list uses (a closure, so each list's code is inlined).
pub(super) trait LinksOf<T>: Fn(&mut ConnEntry<T>) -> &mut Links + Copy {}

impl<T, F: Fn(&mut ConnEntry<T>) -> &mut Links + Copy> LinksOf<T> for F {}

fn links<T>(slots: &mut [Slot<T>], index: u32, of: impl LinksOf<T>) -> Option<&mut Links> {
    slots
        .get_mut(index as usize)
        .and_then(|s| s.entry.as_mut())
        .map(of)
}

impl List {
    /// Appends `index` (not yet linked in this list) at the back.
    pub(super) fn push_back<T>(&mut self, slots: &mut [Slot<T>], index: u32, of: impl LinksOf<T>) {
        let tail = self.tail;
        let Some(l) = links(slots, index, of) else {
            return;
        };
        if l.linked {
            return;
        }
        *l = Links {
            prev: tail,
            next: NIL,
            linked: true,
        };
        match links(slots, tail, of) {
            Some(t) => t.next = index,
            None => self.head = index,
        }
        self.tail = index;
        self.len += 1;
    }

    /// Removes `index` from the list if it is linked.
    pub(super) fn unlink<T>(&mut self, slots: &mut [Slot<T>], index: u32, of: impl LinksOf<T>) {
        let Some(l) = links(slots, index, of) else {
            return;
        };
        if !l.linked {
            return;
        }
        let (prev, next) = (l.prev, l.next);
        *l = Links::default();
        match links(slots, prev, of) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match links(slots, next, of) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.len -= 1;
    }
}

/// A host's connections with spare capacity: one list per load level (active leases), each
/// in least-recently-used order, plus a bitmap of the non-empty levels. The best connection
/// — least loaded, then least recently used — is the head of the lowest non-empty level:
/// O(1) to find (a scan of the bitmap's words) and O(1) to move.
#[derive(Default)]
pub(super) struct ReadyIndex {
    levels: Vec<List>,
    nonempty: Vec<u64>,
}

impl ReadyIndex {
    /// The slab index of the best connection, if any.
    pub(super) fn first(&self) -> Option<u32> {
        self.nonempty.iter().enumerate().find_map(|(word, bits)| {
            (*bits != 0).then(|| self.levels[word * 64 + bits.trailing_zeros() as usize].head)
        })
    }

    /// The slab index of the most loaded connection below `limit` leases (the least
    /// recently used of its level), if any: where [`Placement::Fill`](crate::Placement)
    /// puts the next lease. O(levels / 64).
    pub(super) fn fullest_below(&self, limit: usize) -> Option<u32> {
        let limit = limit.min(self.levels.len());
        (0..limit.div_ceil(64)).rev().find_map(|word| {
            let below = limit - word * 64;
            let mask = if below >= 64 {
                u64::MAX
            } else {
                (1 << below) - 1
            };
            let bits = self.nonempty[word] & mask;
            (bits != 0).then(|| self.levels[word * 64 + 63 - bits.leading_zeros() as usize].head)
        })
    }

    /// Whether no connection has spare capacity.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.nonempty.iter().all(|bits| *bits == 0)
    }

    /// Adds `index` at the back of load level `level`.
    pub(super) fn push<T>(
        &mut self,
        slots: &mut [Slot<T>],
        level: u32,
        index: u32,
        of: impl LinksOf<T>,
    ) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize(level + 1, List::default());
            self.nonempty.resize(level / 64 + 1, 0);
        }
        self.levels[level].push_back(slots, index, of);
        self.nonempty[level / 64] |= 1 << (level % 64);
    }

    /// Removes `index` from load level `level`.
    pub(super) fn remove<T>(
        &mut self,
        slots: &mut [Slot<T>],
        level: u32,
        index: u32,
        of: impl LinksOf<T>,
    ) {
        let level = level as usize;
        let Some(list) = self.levels.get_mut(level) else {
            return;
        };
        list.unlink(slots, index, of);
        if list.len == 0 {
            self.nonempty[level / 64] &= !(1 << (level % 64));
        }
    }

    /// The number of connections in the index (walks every level: for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.levels.iter().map(|l| l.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::proto::conns::{ConnEntry, Conns, ready_links};
    use crate::proto::hosts::HostId;
    use crate::proto::timers::Tick;
    use crate::types::Protocol;

    fn slab(n: u32) -> Conns<u32> {
        let mut conns = Conns::default();
        let addr = SocketAddr::from(([127, 0, 0, 1], 443));
        for tag in 0..n {
            conns.insert(ConnEntry::new(
                tag,
                HostId(0),
                addr,
                1,
                Protocol::Stream,
                Tick::default(),
            ));
        }
        conns
    }

    #[test]
    fn unlink_from_the_middle_keeps_the_order() {
        let mut conns = slab(3);
        let mut list = List::default();
        for index in 0..3 {
            list.push_back(conns.slots_mut(), index, ready_links);
        }
        list.unlink(conns.slots_mut(), 1, ready_links);
        list.unlink(conns.slots_mut(), 1, ready_links); // not linked: no-op
        assert_eq!((list.head, list.tail, list.len), (0, 2, 2));
        list.unlink(conns.slots_mut(), 0, ready_links);
        list.unlink(conns.slots_mut(), 2, ready_links);
        assert_eq!((list.head, list.tail, list.len), (NIL, NIL, 0));
    }

    #[test]
    fn ready_index_gives_the_least_loaded_level_first() {
        let mut conns = slab(3);
        let mut ready = ReadyIndex::default();
        assert_eq!(ready.first(), None);
        ready.push(conns.slots_mut(), 70, 0, ready_links);
        ready.push(conns.slots_mut(), 2, 1, ready_links);
        ready.push(conns.slots_mut(), 2, 2, ready_links);
        assert_eq!(
            ready.first(),
            Some(1),
            "level 2 before level 70, oldest first"
        );
        ready.remove(conns.slots_mut(), 2, 1, ready_links);
        assert_eq!(ready.first(), Some(2));
        ready.remove(conns.slots_mut(), 2, 2, ready_links);
        assert_eq!(ready.first(), Some(0), "a level past the first bitmap word");
        assert_eq!(ready.len(), 1);
        ready.remove(conns.slots_mut(), 70, 0, ready_links);
        assert!(ready.is_empty());
    }

    #[test]
    fn ready_index_finds_the_fullest_level_below_a_limit() {
        let mut conns = slab(3);
        let mut ready = ReadyIndex::default();
        assert_eq!(ready.fullest_below(usize::MAX), None);
        ready.push(conns.slots_mut(), 70, 0, ready_links);
        ready.push(conns.slots_mut(), 2, 1, ready_links);
        ready.push(conns.slots_mut(), 2, 2, ready_links);
        assert_eq!(
            ready.fullest_below(usize::MAX),
            Some(0),
            "level 70 is the fullest"
        );
        assert_eq!(ready.fullest_below(71), Some(0));
        assert_eq!(
            ready.fullest_below(70),
            Some(1),
            "70 is not below 70: level 2, oldest"
        );
        assert_eq!(
            ready.fullest_below(64),
            Some(1),
            "a limit on a word boundary"
        );
        assert_eq!(ready.fullest_below(2), None, "nothing below level 2");
        ready.remove(conns.slots_mut(), 70, 0, ready_links);
        assert_eq!(ready.fullest_below(usize::MAX), Some(1));
    }
}
