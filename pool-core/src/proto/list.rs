//! Intrusive doubly linked lists threaded through the connection slab: O(1) push to the
//! back and unlink from anywhere, no allocation. Used for each address's connections.

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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;
    use crate::proto::conns::{ConnEntry, Conns, addr_links};
    use crate::proto::gauge::Gauge;
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
                Arc::new(Gauge::new(
                    1,
                    0,
                    Arc::new(crate::proto::gauge::HostAtomics::new()),
                )),
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
            list.push_back(conns.slots_mut(), index, addr_links);
        }
        list.unlink(conns.slots_mut(), 1, addr_links);
        list.unlink(conns.slots_mut(), 1, addr_links); // not linked: no-op
        assert_eq!((list.head, list.tail, list.len), (0, 2, 2));
        list.unlink(conns.slots_mut(), 0, addr_links);
        list.unlink(conns.slots_mut(), 2, addr_links);
        assert_eq!((list.head, list.tail, list.len), (NIL, NIL, 0));
    }
}
