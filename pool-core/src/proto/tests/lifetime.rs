//! A connection's lifetime: expiry and the `keep_warm` replacement (its retries and
//! their limits).

use super::*;

#[test]
fn expiry_never_cuts_a_lease() {
    let mut h = Harness::new(PoolOptions {
        max_lifetime: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(1000),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 2)[0];
    assert_eq!(h.ready(HOST), id);
    h.advance(Duration::from_secs(301));
    assert!(h.closed.is_empty(), "leased: drained, not closed");
    assert!(!h.s.conn_info(id).unwrap().healthy);
    assert_eq!(h.s.stats().draining, 1);
    // A draining connection is not handed out again: the next get dials.
    h.waits(HOST);
    assert_eq!(h.dials.len(), 1);
    h.release(id, Outcome::Success);
    assert_eq!(h.closed, vec![(1, CloseReason::Expired)]);
}

#[test]
fn keep_warm_dials_a_replacement_before_expiry() {
    let mut h = Harness::new(PoolOptions {
        keep_warm: true,
        keep_warm_lead: Duration::from_secs(30),
        max_lifetime: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(1000),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let old = h.warm(HOST, 1)[0];
    h.advance(Duration::from_secs(270));
    let d = h.next_dial();
    assert_eq!((d.addr, d.purpose), (addr(2), DialPurpose::Replace));
    assert!(h.closed.is_empty(), "the old one serves until expiry");
    let new = h.dial_ok(&d, 1).unwrap();
    h.advance(Duration::from_secs(30));
    assert_eq!(h.closed, vec![(1, CloseReason::Expired)]);
    assert!(h.s.conn_info(old).is_none());
    assert_eq!(h.ready(HOST), new, "the host stayed hot");
}

/// Regression: a failed `keep_warm` replacement dial was never retried, so the host went
/// cold at the old connection's expiry.
#[test]
fn failed_keep_warm_replacement_is_retried_before_expiry() {
    for cancelled in [false, true] {
        let mut h = Harness::new(PoolOptions {
            keep_warm: true,
            keep_warm_lead: Duration::from_secs(40), // retries every 10 s
            max_lifetime: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(1000),
            max_retries: 10,
            ..opts()
        });
        h.set_addrs(HOST, &[addr(2)]);
        let old = h.warm(HOST, 1)[0];
        h.advance(Duration::from_secs(260));
        let d = h.next_dial();
        assert_eq!(d.purpose, DialPurpose::Replace);
        if cancelled {
            h.s.cancel_dial(d.id, h.now);
            h.pump();
        } else {
            h.dial_err(&d, DialErrorKind::Connect);
        }
        h.advance(Duration::from_secs(9));
        assert!(h.dials.is_empty(), "the retry waits its backoff");
        h.advance(Duration::from_secs(1));
        let retry = h.next_dial();
        assert_eq!((retry.addr, retry.purpose), (addr(2), DialPurpose::Replace));
        let new = h.dial_ok(&retry, 1).unwrap();
        h.advance(Duration::from_secs(29));
        assert!(h.dials.is_empty(), "replaced: no more tries");
        h.advance(Duration::from_secs(1));
        assert_eq!(h.closed, vec![(1, CloseReason::Expired)]);
        assert!(h.s.conn_info(old).is_none());
        assert_eq!(h.ready(HOST), new, "the host stayed hot");
    }
}

#[test]
fn keep_warm_replacement_retries_stay_within_the_limits() {
    let mut h = Harness::new(PoolOptions {
        // The keep_warm tries alone: a hot host would re-warm after expiry (`tests/hot.rs`).
        stay_hot: false,
        keep_warm: true,
        keep_warm_lead: Duration::from_secs(40),
        max_lifetime: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(1000),
        max_connections: 2,
        max_conns_per_host: 2,
        max_idle_conns: 2,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    h.set_addrs(OTHER, &[addr(3)]);
    h.warm(HOST, 1);
    let other = h.warm(OTHER, 1)[0];
    // Both connections fill max_connections: no replacement fits, and none is forced in
    // (no eviction for a replacement), try after try, until expiry.
    for _ in 0..30 {
        h.advance(Duration::from_secs(10));
        assert!(h.dials.is_empty(), "no room, no dial");
    }
    assert!(h.s.conn_info(other).is_none(), "expired");
    assert_eq!(h.s.stats().closed_for(CloseReason::Expired), 2);
}

#[test]
fn keep_warm_replacement_of_a_blacklisted_address_is_not_dialed() {
    let mut h = Harness::new(PoolOptions {
        keep_warm: true,
        keep_warm_lead: Duration::from_secs(40),
        max_lifetime: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(1000),
        max_conns_per_ip: 2,
        max_retries: 1,
        blacklist_check_interval: Duration::from_secs(1000),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let old = h.warm(HOST, 1)[0];
    // A second dial to the same address fails: the address is blacklisted (for failures,
    // which leaves the live connection alone).
    assert_eq!(h.ready(HOST), old);
    h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Connect);
    assert!(h.s.blacklisted(addr(2).ip()).is_some());
    h.release(old, Outcome::Success);
    assert_eq!(
        h.grants.len(),
        1,
        "the waiter is served by the live connection"
    );
    h.release(old, Outcome::Success);
    h.advance(Duration::from_secs(270));
    assert!(
        h.dials.is_empty(),
        "a blacklisted address gets no replacement"
    );
    h.advance(Duration::from_secs(30));
    assert!(h.s.conn_info(old).is_none(), "expired on time");
}
