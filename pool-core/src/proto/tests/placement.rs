//! Placement (`spread` / `fill`) and the closed-transport check at checkout.

use std::cell::RefCell;
use std::collections::HashSet;

use super::*;
use crate::options::Placement;

thread_local! {
    /// Handles (tags) whose transport the test has closed; each test runs on its own thread.
    static DEAD: RefCell<HashSet<u32>> = RefCell::new(HashSet::new());
}

fn kill(tag: u32) {
    DEAD.with(|dead| dead.borrow_mut().insert(tag));
}

fn is_dead(tag: &u32) -> bool {
    DEAD.with(|dead| dead.borrow().contains(tag))
}

/// Two connections of capacity 4; `leases` checkouts; returns the connection of each.
fn place(placement: Placement, leases: usize) -> (Vec<ConnId>, Vec<ConnId>) {
    let mut h = Harness::new(PoolOptions {
        placement,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 4);
    let got = (0..leases).map(|_| h.ready(HOST)).collect();
    (ids, got)
}

#[test]
fn spread_alternates_between_connections() {
    let (ids, got) = place(Placement::Spread, 4);
    assert_eq!(got, vec![ids[0], ids[1], ids[0], ids[1]]);
}

#[test]
fn fill_puts_streams_leases_on_one_connection_before_the_next() {
    let (ids, got) = place(Placement::Fill { streams: 2 }, 6);
    assert_eq!(
        got,
        vec![ids[0], ids[0], ids[1], ids[1], ids[0], ids[1]],
        "two each, then the rest of the capacity is spread"
    );
    let (ids, got) = place(
        Placement::Fill {
            streams: usize::MAX,
        },
        6,
    );
    assert_eq!(
        got,
        vec![ids[0], ids[0], ids[0], ids[0], ids[1], ids[1]],
        "filled to capacity"
    );
}

#[test]
fn fill_streams_of_zero_is_a_problem() {
    let opts = PoolOptions {
        placement: Placement::Fill { streams: 0 },
        ..opts()
    };
    assert_eq!(
        opts.validate(),
        Err(crate::OptionsError::Zero {
            key: "fill_streams"
        })
    );
    assert_eq!(Placement::Spread.fill_streams(), None);
}

#[test]
fn a_closed_transport_is_never_leased() {
    let mut h = Harness::new(opts());
    h.s.set_closed_check(is_dead);
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    let first = h.ready(HOST);
    h.release(first, Outcome::Success);
    // The one a lease would go to next (both idle: the first of the host's members).
    let dead = h.s.handle(first).copied().unwrap();
    kill(dead);
    let other = ids.iter().copied().find(|id| *id != first).unwrap();
    assert_eq!(h.ready(HOST), other, "the closed one is skipped");
    assert_eq!(h.closed, vec![(dead, CloseReason::Broken)]);
    assert!(h.s.handle(first).is_none(), "and removed at once");
    assert_eq!(h.s.stats().leases_total, 2, "no lease counted on it");
}

#[test]
fn a_waiter_is_not_granted_a_closed_transport() {
    let mut h = Harness::new(opts());
    h.s.set_closed_check(is_dead);
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    assert_eq!(h.ready(HOST), id);
    let w = h.waits(HOST);
    kill(h.s.handle(id).copied().unwrap());
    // Returned as if its holder had not noticed: the waiter must not get it.
    h.release(id, Outcome::Success);
    assert!(h.grants.is_empty(), "{:?}", h.grants);
    assert_eq!(h.closed, vec![(1, CloseReason::Broken)]);
    let d = h.next_dial();
    assert_eq!(d.addr, addr(2), "a replacement is dialed for the waiter");
    let new = h.dial_ok(&d, 1).unwrap();
    assert_eq!(h.grants, vec![(w, new)]);
}
