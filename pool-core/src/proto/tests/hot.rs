//! Hot hosts stay hot, and host outages (`proto/hot.rs`, `docs/stay-hot.md`), with the fake
//! clock.

use std::collections::BTreeSet;

use super::*;

const ADDRS: [u8; 4] = [2, 3, 4, 5];

fn hot_opts() -> PoolOptions {
    PoolOptions {
        max_retries: 3,
        rewarm_backoff: Duration::from_millis(100),
        rewarm_backoff_max: Duration::from_secs(2),
        outage_retest: Duration::from_millis(100),
        outage_retest_max: Duration::from_secs(1),
        ..opts()
    }
}

fn all_addrs() -> Vec<SocketAddr> {
    ADDRS.iter().map(|a| addr(*a)).collect()
}

/// A harness with `HOST` warmed on every address (so hot).
fn warmed(opts: PoolOptions) -> (Harness, Vec<ConnId>) {
    let mut h = Harness::new(opts);
    h.set_addrs(HOST, &all_addrs());
    let ids = h.warm(HOST, 100);
    assert_eq!(ids.len(), ADDRS.len());
    assert_eq!(h.s.host_is_hot(HOST), h.s.options().stay_hot);
    (h, ids)
}

/// The dials requested so far, by address (sorted).
fn dialed(h: &mut Harness) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = h.dials.iter().map(|d| d.addr).collect();
    addrs.sort();
    addrs
}

#[test]
fn a_hot_host_whose_connections_all_drain_gets_one_replacement_per_address_at_once() {
    let (mut h, ids) = warmed(hot_opts());
    // One connection is busy finishing a stream when its GOAWAY comes: it drains, and
    // must not block its replacement.
    let busy = h.ready(HOST);
    h.advance(Duration::from_millis(5));
    for id in &ids {
        h.s.handle_conn_closed(*id, CloseReason::GoAway, h.now);
        h.pump();
    }
    assert_eq!(
        dialed(&mut h),
        all_addrs(),
        "one re-warm dial per address, now"
    );
    assert!(h.dials.iter().all(|d| d.purpose == DialPurpose::Rewarm));
    assert_eq!(h.s.stats().draining, 1, "the busy one finishes its stream");
    let stats = h.s.stats();
    assert_eq!(stats.closed_for(CloseReason::GoAway), 3, "counted by cause");
    assert_eq!(stats.rewarm_dials_total, 4);
    h.advance(Duration::from_millis(20));
    let dials: Vec<DialRequest> = h.dials.drain(..).collect();
    for d in &dials {
        assert!(
            h.dial_ok(d, 100).is_some(),
            "admitted next to the draining one"
        );
    }
    assert_eq!(h.s.stats().connected_addresses, ADDRS.len());
    assert_eq!(h.s.stats().rewarm_dials_ok, 4);
    assert_eq!(h.rewarmed.len(), 4, "time to re-warm reported per address");
    assert!(
        h.rewarmed
            .iter()
            .all(|(_, after)| *after == Duration::from_millis(20))
    );
    let stats = h.s.stats();
    assert_eq!(stats.rewarmed_total, 4);
    assert_eq!(
        stats.rewarm_time_total,
        Duration::from_millis(80),
        "in stats() too"
    );
    assert_eq!(stats.rewarm_time_max, Duration::from_millis(20));
    h.release(busy, Outcome::Success);
    assert_eq!(h.s.stats().closed_for(CloseReason::GoAway), 4);
    assert!(
        h.dials.is_empty(),
        "no more dials: every address has its connection"
    );
}

#[test]
fn every_loss_the_peer_or_time_causes_is_replaced_but_not_the_pools_own_closes() {
    let (mut h, ids) = warmed(PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        ..hot_opts()
    });
    let causes = [
        CloseReason::PeerClosed,
        CloseReason::Lost,
        CloseReason::Broken,
    ];
    for (id, cause) in ids.iter().zip(causes) {
        h.s.handle_conn_closed(*id, cause, h.now);
        h.pump();
    }
    assert_eq!(h.dials.len(), 3);
    for d in h.dials.drain(..).collect::<Vec<_>>() {
        h.dial_ok(&d, 100);
    }
    // Shedding is the pool's own choice (memory pressure): not fought by a re-warm.
    assert_eq!(h.s.shed(1.0), 4);
    h.pump();
    assert!(h.dials.is_empty(), "shed connections are not re-warmed");
}

#[test]
fn a_failing_address_backs_off_exponentially_up_to_the_cap() {
    let (mut h, ids) = warmed(PoolOptions {
        max_retries: 100, // this test is about the backoff, not the blacklist
        ..hot_opts()
    });
    h.s.handle_conn_closed(ids[0], CloseReason::PeerClosed, h.now);
    h.pump();
    let mut waits = Vec::new();
    let mut d = h.next_dial();
    let target = d.addr;
    for _ in 0..7 {
        h.dial_err(&d, DialErrorKind::Connect);
        assert!(h.dials.is_empty(), "not redialed at once");
        let mut waited = Duration::ZERO;
        while h.dials.is_empty() {
            h.advance(Duration::from_millis(50));
            waited += Duration::from_millis(50);
        }
        waits.push(waited.as_millis());
        d = h.next_dial();
        assert_eq!((d.addr, d.purpose), (target, DialPurpose::Rewarm));
    }
    assert_eq!(waits, vec![100, 200, 400, 800, 1600, 2000, 2000]);
    assert!(h.dial_ok(&d, 100).is_some());
    assert_eq!(h.s.stats().rewarm_dials_failed, 7);
    assert_eq!(h.s.blacklisted(target.ip()), None);
}

#[test]
fn an_address_that_alone_keeps_failing_is_still_blacklisted() {
    let (mut h, ids) = warmed(hot_opts());
    let target = h.s.conn_addr(ids[0]).unwrap();
    h.s.handle_conn_closed(ids[0], CloseReason::PeerClosed, h.now);
    h.pump();
    for _ in 0..3 {
        while h.dials.is_empty() {
            h.advance(Duration::from_millis(50));
        }
        let d = h.next_dial();
        h.dial_err(&d, DialErrorKind::Connect);
    }
    assert_eq!(
        h.s.blacklisted(target.ip()),
        Some(BlacklistReason::Failures)
    );
    assert_eq!(
        h.s.stats().hosts_down,
        0,
        "one address of four is not an outage"
    );
    h.advance(Duration::from_secs(10));
    assert!(
        h.dials.is_empty(),
        "a blacklisted address is left to its re-test"
    );
}

/// Every connection of `HOST` breaks and every dial fails until the host is down.
fn take_the_host_down(h: &mut Harness, ids: &[ConnId]) {
    for id in ids {
        h.s.handle_conn_closed(*id, CloseReason::PeerClosed, h.now);
        h.pump();
    }
    while h.s.host_down_since(HOST).is_none() {
        while h.dials.is_empty() {
            h.advance(Duration::from_millis(10));
        }
        for d in h.dials.drain(..).collect::<Vec<_>>() {
            h.dial_err(&d, DialErrorKind::Connect);
        }
    }
}

#[test]
fn a_host_whose_every_address_fails_is_an_outage_not_n_bans_and_is_rewarmed_when_it_answers() {
    let (mut h, ids) = warmed(hot_opts());
    take_the_host_down(&mut h, &ids);
    let stats = h.s.stats();
    assert_eq!(stats.blacklisted, 0, "no address stays banned");
    assert_eq!((stats.hosts_down, stats.host_outages_total), (1, 1));
    // Fail fast with a typed error, or wait when asked to.
    assert!(matches!(h.checkout(HOST), Err(Error::HostDown { .. })));
    let patient = match h.s.checkout_with(HOST, true) {
        Ok(Checkout::Wait(w)) => w,
        other => panic!("a patient caller waits, got {other:?}"),
    };
    h.pump();
    // Re-tested one address at a time, within the short backoff, the waits doubling.
    let mut retests = Vec::new();
    let mut retested = BTreeSet::new();
    for round in 0..6 {
        let mut waited = 0;
        while h.dials.is_empty() {
            h.advance(Duration::from_millis(50));
            waited += 50;
        }
        retests.push(waited);
        let d = h.next_dial();
        assert_eq!(d.purpose, DialPurpose::OutageRetest);
        assert!(h.dials.is_empty(), "no dial but the re-test");
        retested.insert(d.addr);
        if round < 5 {
            h.dial_err(&d, DialErrorKind::Connect);
        } else {
            h.dials.push_back(d);
        }
    }
    assert_eq!(retests, vec![100, 200, 400, 800, 1000, 1000], "capped");
    assert_eq!(
        retested.len(),
        ADDRS.len(),
        "round robin over the addresses"
    );
    assert_eq!(h.s.stats().blacklisted, 0, "re-tests ban nothing");
    // The origin is back: the re-test connects; every other address is re-warmed at once.
    let d = h.next_dial();
    let first = h.dial_ok(&d, 100).expect("admitted");
    assert_eq!(
        h.grants,
        vec![(patient, first)],
        "the patient caller is served"
    );
    assert_eq!(h.s.host_down_since(HOST), None);
    let rest: Vec<DialRequest> = h.dials.drain(..).collect();
    assert_eq!(rest.len(), ADDRS.len() - 1);
    assert!(rest.iter().all(|r| r.purpose == DialPurpose::Rewarm));
    for r in &rest {
        h.dial_ok(r, 100).expect("admitted");
    }
    assert_eq!(h.s.stats().connected_addresses, ADDRS.len());
    assert_eq!(h.s.stats().hosts_down, 0);
}

#[test]
fn failure_bans_made_before_the_outage_was_seen_are_lifted() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 1,
        ..hot_opts()
    });
    h.set_addrs(HOST, &all_addrs());
    let w = h.waits(HOST);
    let first = h.next_dial();
    h.dial_err(&first, DialErrorKind::Connect);
    assert_eq!(
        h.s.blacklisted(first.addr.ip()),
        Some(BlacklistReason::Failures),
        "one address of four failing: banned"
    );
    let second = h.next_dial();
    h.dial_err(&second, DialErrorKind::Connect);
    assert_eq!(
        h.s.stats().blacklisted,
        2,
        "two of four (50 %, not above): banned"
    );
    let third = h.next_dial();
    h.dial_err(&third, DialErrorKind::Connect);
    let stats = h.s.stats();
    assert_eq!(stats.hosts_down, 1, "three of four: the host is down");
    assert_eq!(stats.blacklisted_total, 2);
    assert_eq!(stats.blacklisted, 0, "the bans were lifted by the outage");
    assert_eq!(h.fails.len(), 1);
    assert_eq!(h.fails[0].0, w);
    assert!(h.fails[0].1.is_host_down());
}

#[test]
fn callers_waiting_when_the_host_goes_down_fail_fast_unless_patient() {
    let mut h = Harness::new(hot_opts());
    h.set_addrs(HOST, &all_addrs());
    let impatient = h.waits(HOST);
    let patient = match h.s.checkout_with(HOST, true) {
        Ok(Checkout::Wait(w)) => w,
        other => panic!("{other:?}"),
    };
    h.pump();
    // A never-warmed host: dials for its waiters fail until it is down.
    while h.s.host_down_since(HOST).is_none() {
        let d = h.next_dial();
        assert_eq!(d.purpose, DialPurpose::Checkout);
        h.dial_err(&d, DialErrorKind::Connect);
    }
    // Dials in flight when it went down fail too, without a ban.
    for d in h.dials.drain(..).collect::<Vec<_>>() {
        h.dial_err(&d, DialErrorKind::Connect);
    }
    assert_eq!(h.s.stats().blacklisted, 0);
    assert_eq!(h.fails.len(), 1);
    assert_eq!(h.fails[0].0, impatient);
    assert!(matches!(h.fails[0].1, Error::HostDown { .. }));
    assert_eq!(h.s.stats().waiters, 1, "the patient one still waits");
    assert!(h.dials.is_empty(), "no dial but the re-test");
    h.advance(Duration::from_millis(100));
    let d = h.next_dial();
    assert_eq!(d.purpose, DialPurpose::OutageRetest);
    let conn = h.dial_ok(&d, 1).unwrap();
    assert_eq!(h.grants, vec![(patient, conn)]);
    assert!(h.dials.is_empty(), "a never-warmed host is not re-warmed");
}

#[test]
fn the_idle_timer_never_closes_a_hot_hosts_last_connection_to_an_address() {
    let (mut h, ids) = warmed(PoolOptions {
        idle_timeout: Duration::from_secs(60),
        max_lifetime: Duration::from_secs(3600),
        health_check_interval: Some(Duration::from_secs(30)),
        ..hot_opts()
    });
    for _ in 0..10 {
        h.advance(Duration::from_secs(31));
        let probes = h.s.take_probes(10);
        for id in probes {
            h.s.handle_probe_result(id, ProbeVerdict::Healthy, h.now);
            h.pump();
        }
    }
    assert_eq!(h.s.stats().closed_for(CloseReason::Idle), 0);
    assert!(h.s.stats().probes_total >= 4, "probed instead");
    for id in &ids {
        assert!(h.s.conn_info(*id).is_some());
    }
    // No longer hot: the idle timeout applies again.
    h.s.set_hot(HOST, false);
    h.advance(Duration::from_secs(61));
    assert_eq!(
        h.s.stats().closed_for(CloseReason::Idle),
        4,
        "not hot: idle closes"
    );
}

#[test]
fn a_never_warmed_host_keeps_todays_behaviour() {
    let mut h = Harness::new(PoolOptions {
        idle_timeout: Duration::from_secs(60),
        ..hot_opts()
    });
    h.set_addrs(HOST, &all_addrs());
    let w = h.waits(HOST);
    let d = h.next_dial();
    let id = h.dial_ok(&d, 1).unwrap();
    assert_eq!(h.grants, vec![(w, id)]);
    h.release(id, Outcome::Success);
    assert!(!h.s.host_is_hot(HOST));
    h.s.handle_conn_closed(id, CloseReason::GoAway, h.now);
    h.pump();
    assert!(h.dials.is_empty(), "replaced on demand only");
    let w = h.waits(HOST);
    let d = h.next_dial();
    assert_eq!(d.purpose, DialPurpose::Checkout);
    let id = h.dial_ok(&d, 1).unwrap();
    assert_eq!(h.grants.last(), Some(&(w, id)));
    h.release(id, Outcome::Success);
    h.advance(Duration::from_secs(61));
    assert_eq!(h.s.stats().closed_for(CloseReason::Idle), 1, "idles out");
    assert!(h.dials.is_empty());
}

#[test]
fn stay_hot_off_turns_re_warming_off() {
    let (mut h, ids) = warmed(PoolOptions {
        stay_hot: false,
        ..hot_opts()
    });
    h.s.handle_conn_closed(ids[0], CloseReason::GoAway, h.now);
    h.pump();
    assert!(h.dials.is_empty());
    assert_eq!(h.s.stats().hot_hosts, 0);
}

#[test]
fn during_an_outage_a_connection_still_open_serves_callers_instead_of_host_down() {
    let (mut h, ids) = warmed(hot_opts());
    let mut h_ids = ids.clone();
    let kept = h_ids.pop().unwrap();
    take_the_host_down(&mut h, &h_ids);
    assert!(h.s.conn_info(kept).is_some(), "one connection still open");
    assert_eq!(h.s.stats().hosts_down, 1, "three of four addresses failing");
    // Leases of the open connection go on.
    assert_eq!(h.ready(HOST), kept);
}

#[test]
fn an_address_whose_warm_up_dial_failed_is_tried_again_after_the_backoff() {
    let mut h = Harness::new(hot_opts());
    h.set_addrs(HOST, &all_addrs());
    let plan = h.s.plan_warm(HOST).dials;
    h.pump();
    let (failed, rest) = plan.split_first().unwrap();
    h.dial_err(failed, DialErrorKind::Connect);
    for d in rest {
        h.dial_ok(d, 100).unwrap();
    }
    assert!(h.dials.is_empty());
    h.advance(Duration::from_millis(100));
    let d = h.next_dial();
    assert_eq!((d.addr, d.purpose), (failed.addr, DialPurpose::Rewarm));
    h.dial_ok(&d, 100).unwrap();
    assert_eq!(h.s.stats().connected_addresses, ADDRS.len());
}
