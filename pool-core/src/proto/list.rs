//! Intrusive doubly linked lists threaded through a slab (a slice of slots, each of which
//! may carry [`Links`]): O(1) push to the back and unlink from anywhere, no allocation.
//! Used for each address's connections, threaded through the connection slab.

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

/// Which links of a slot a list uses, `None` for an empty slot (a closure, so each list's
/// code is inlined).
pub(super) trait LinksOf<S>: Fn(&mut S) -> Option<&mut Links> + Copy {}

impl<S, F: Fn(&mut S) -> Option<&mut Links> + Copy> LinksOf<S> for F {}

fn links<S>(slots: &mut [S], index: u32, of: impl LinksOf<S>) -> Option<&mut Links> {
    slots.get_mut(index as usize).and_then(of)
}

impl List {
    /// Appends `index` (not yet linked in this list) at the back.
    pub(super) fn push_back<S>(&mut self, slots: &mut [S], index: u32, of: impl LinksOf<S>) {
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
    pub(super) fn unlink<S>(&mut self, slots: &mut [S], index: u32, of: impl LinksOf<S>) {
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
    use super::*;

    /// A slab of bare links (every slot full).
    fn bare(slot: &mut Links) -> Option<&mut Links> {
        Some(slot)
    }

    #[test]
    fn unlink_from_the_middle_keeps_the_order() {
        let mut slots = vec![Links::default(); 3];
        let mut list = List::default();
        for index in 0..3 {
            list.push_back(&mut slots, index, bare);
        }
        list.unlink(&mut slots, 1, bare);
        list.unlink(&mut slots, 1, bare); // not linked: no-op
        assert_eq!((list.head, list.tail, list.len), (0, 2, 2));
        assert_eq!(
            (slots[0].next, slots[2].prev),
            (2, 0),
            "the ends are joined"
        );
        list.unlink(&mut slots, 0, bare);
        list.unlink(&mut slots, 2, bare);
        assert_eq!((list.head, list.tail, list.len), (NIL, NIL, 0));
    }

    #[test]
    fn an_empty_slot_is_never_linked() {
        let mut slots: Vec<Option<Links>> = vec![None, Some(Links::default())];
        let mut list = List::default();
        list.push_back(&mut slots, 0, Option::as_mut);
        list.push_back(&mut slots, 1, Option::as_mut);
        assert_eq!((list.head, list.tail, list.len), (1, 1, 1));
    }
}
