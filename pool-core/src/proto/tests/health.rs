//! Health, dial failures and the blacklist: probes, DNS removal, failure streaks,
//! validation bans, re-tests and expiry, local exhaustion.

use super::*;

#[test]
fn probes_take_only_idle_connections_and_failures_remove() {
    let mut h = Harness::new(PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    let leased = h.ready(HOST);
    h.advance(Duration::from_secs(31));
    assert_eq!(h.probes_due, 1);
    let probes = h.s.take_probes(10);
    h.pump();
    assert_eq!(probes.len(), 1, "the leased connection is not probed");
    assert_ne!(probes[0], leased);
    // While probed it is not handed out: the next get waits.
    h.waits(HOST);
    h.s.handle_probe_result(probes[0], ProbeVerdict::Unhealthy, h.now);
    h.pump();
    assert!(h.closed.contains(&(
        ids.iter().position(|i| *i == probes[0]).unwrap() as u32 + 1,
        CloseReason::Unhealthy
    )));
    assert_eq!(h.s.stats().probe_failures, 1);
}

#[test]
fn healthy_probe_returns_connection_and_resets_check_time() {
    let mut h = Harness::new(PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    h.advance(Duration::from_secs(31));
    let probes = h.s.take_probes(10);
    assert_eq!(probes, vec![id]);
    h.s.handle_probe_result(id, ProbeVerdict::Healthy, h.now);
    h.pump();
    assert_eq!(h.s.conn_info(id).unwrap().last_checked, h.now);
    assert_eq!(h.ready(HOST), id);
    h.release(id, Outcome::Unused);
    h.advance(Duration::from_secs(29));
    assert!(h.s.take_probes(10).is_empty(), "checked 29s ago: not due");
}

#[test]
fn an_untouched_connection_is_probed_every_interval() {
    let mut h = Harness::new(PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        idle_timeout: Duration::from_secs(3600),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    for round in 1..=3 {
        h.advance(Duration::from_secs(31));
        assert_eq!(h.s.take_probes(10), vec![id], "probe {round} due");
        h.s.handle_probe_result(id, ProbeVerdict::Healthy, h.now);
        h.pump();
    }
    assert_eq!(h.s.stats().probes_total, 3);
}

#[test]
fn banned_probe_blacklists_the_address() {
    let mut h = Harness::new(PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    h.advance(Duration::from_secs(31));
    assert_eq!(h.s.take_probes(1), vec![id]);
    h.s.handle_probe_result(id, ProbeVerdict::Banned, h.now);
    h.pump();
    assert_eq!(h.s.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    assert!(matches!(
        h.checkout(HOST),
        Err(Error::NoUsableAddress { .. })
    ));
}

#[test]
fn dns_removal_drains_connections_of_that_address() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    let leased = h.ready(HOST);
    let leased_addr = h.s.conn_addr(leased).unwrap();
    let idle_addr = if leased_addr == addr(2) {
        addr(3)
    } else {
        addr(2)
    };
    let change = h.set_addrs(HOST, &[addr(4)]);
    assert_eq!(change.added, vec![addr(4)]);
    assert_eq!(change.removed.len(), 2);
    assert_eq!(h.closed.len(), 1, "the idle one closes now");
    assert_eq!(h.closed[0].1, CloseReason::AddressRemoved);
    assert!(!h.s.conns_per_addr().contains_key(&idle_addr));
    h.release(leased, Outcome::Success);
    assert_eq!(h.closed.len(), 2, "the leased one closes at release");
    assert_eq!(ids.len(), 2);
    h.waits(HOST);
    assert_eq!(h.next_dial().addr, addr(4));
}

#[test]
fn dial_failures_retry_another_ip_then_blacklist() {
    let mut h = Harness::new(PoolOptions {
        // Per-address bans: with host outages on, both addresses failing is an outage
        // (`tests/hot.rs`).
        host_outage_threshold: None,
        max_retries: 2,
        blacklist_check_interval: Duration::from_secs(300),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let w = h.waits(HOST);
    let first = h.next_dial();
    h.dial_err(&first, DialErrorKind::Connect);
    let second = h.next_dial();
    assert_ne!(second.addr, first.addr, "the retry goes to another address");
    h.dial_err(&second, DialErrorKind::Connect);
    let third = h.next_dial();
    assert_eq!(third.addr, first.addr);
    h.dial_err(&third, DialErrorKind::Connect);
    assert_eq!(
        h.s.blacklisted(first.addr.ip()),
        Some(BlacklistReason::Failures)
    );
    let fourth = h.next_dial();
    assert_eq!(fourth.addr, second.addr);
    let id = h.dial_ok(&fourth, 1).unwrap();
    assert_eq!(
        h.grants,
        vec![(w, id)],
        "the waiter is served by the good address"
    );
    assert_eq!(
        h.s.blacklisted(second.addr.ip()),
        None,
        "success resets the streak"
    );
    assert_eq!(h.s.stats().blacklisted_total, 1);
}

#[test]
fn retest_restores_a_blacklisted_address() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 1,
        blacklist_check_interval: Duration::from_secs(300),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let w = h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Connect);
    assert_eq!(
        h.fails.len(),
        1,
        "no address left: the waiter fails with the dial error"
    );
    assert_eq!(h.fails[0].0, w);
    assert!(matches!(h.fails[0].1, Error::Dial { .. }));
    assert!(matches!(
        h.checkout(HOST),
        Err(Error::NoUsableAddress { .. })
    ));
    h.advance(Duration::from_secs(299));
    assert!(h.dials.is_empty());
    h.advance(Duration::from_secs(1));
    let retest = h.next_dial();
    assert_eq!(retest.purpose, DialPurpose::Retest);
    h.dial_err(&retest, DialErrorKind::Connect);
    assert!(h.s.blacklisted(addr(2).ip()).is_some(), "still failing");
    h.advance(Duration::from_secs(300));
    let retest = h.next_dial();
    let id = h.dial_ok(&retest, 1).unwrap();
    assert!(h.s.blacklisted(addr(2).ip()).is_none());
    assert_eq!(h.s.stats().restored_total, 1);
    assert_eq!(h.ready(HOST), id, "the re-test connection is admitted");
}

#[test]
fn blacklist_timeout_expires_entries() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 1,
        blacklist_check_interval: Duration::from_secs(1000),
        blacklist_timeout: Duration::from_secs(600),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Timeout);
    assert!(h.s.blacklisted(addr(2).ip()).is_some());
    h.advance(Duration::from_secs(600));
    assert!(h.s.blacklisted(addr(2).ip()).is_none());
}

#[test]
fn banned_validation_blacklists_at_once_and_rejected_does_not() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 3,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Banned);
    assert_eq!(h.s.blacklisted(d.addr.ip()), Some(BlacklistReason::Banned));
    // Five fresh dials to the other address, each rejected: more than `max_retries`.
    for _ in 0..5 {
        let d2 = h.next_dial();
        assert_ne!(d2.addr, d.addr, "the banned address is not dialed");
        assert!(h.s.blacklisted(d2.addr.ip()).is_none());
        h.dial_err(&d2, DialErrorKind::Rejected);
        assert!(
            h.s.blacklisted(d2.addr.ip()).is_none(),
            "rejected never blacklists"
        );
    }
    assert_eq!(
        h.s.stats().dial_failures,
        6,
        "every rejection was a real dial"
    );
}

#[test]
fn rejecting_address_fails_waiters_instead_of_dialing_forever() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 2,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    h.waits(HOST);
    let mut dials = 0;
    while let Some(d) = h.dials.pop_front() {
        dials += 1;
        assert!(dials < 10, "dialing forever");
        h.dial_err(&d, DialErrorKind::Rejected);
    }
    assert_eq!(dials, 2);
    assert_eq!(h.fails.len(), 1);
}

#[test]
fn local_exhaustion_fails_waiters_without_blaming_the_address() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 1,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let w = h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Local);
    assert!(h.dials.is_empty(), "no redial into the same local limit");
    assert_eq!(h.fails.len(), 1);
    assert_eq!(h.fails[0].0, w);
    assert!(
        matches!(&h.fails[0].1, Error::Dial { last, .. } if last.kind() == DialErrorKind::Local)
    );
    assert_eq!(
        h.s.blacklisted(d.addr.ip()),
        None,
        "the address is not blamed"
    );
    // When resources return, the next get dials normally.
    h.waits(HOST);
    let d = h.next_dial();
    assert!(h.dial_ok(&d, 1).is_some());
}

#[test]
fn unsupported_protocol_fails_waiters_without_blaming_the_address() {
    let mut h = Harness::new(PoolOptions {
        max_retries: 1,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    for round in 0..3 {
        let w = h.waits(HOST);
        let d = h.next_dial();
        h.dial_err(&d, DialErrorKind::Unsupported);
        assert!(
            h.dials.is_empty(),
            "round {round}: no redial into the same answer"
        );
        assert_eq!(h.fails.last().map(|f| f.0), Some(w));
        assert_eq!(
            h.s.blacklisted(d.addr.ip()),
            None,
            "round {round}: not blamed"
        );
    }
    assert!(!DialErrorKind::Unsupported.counts_toward_blacklist());
    assert_eq!(DialErrorKind::Unsupported.as_str(), "unsupported");
}

#[test]
fn emfile_is_classified_as_local() {
    let emfile = std::io::Error::from_raw_os_error(24);
    assert_eq!(DialError::connect(emfile).kind(), DialErrorKind::Local);
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(DialError::connect(refused).kind(), DialErrorKind::Connect);
}

/// Regression: the expiry fired while the re-test was in flight and was skipped, and
/// nothing re-armed it, so an address that kept failing its re-tests never expired.
#[test]
fn blacklist_entry_expiring_during_its_retest_expires_when_the_retest_ends() {
    for cancelled in [false, true] {
        let mut h = Harness::new(PoolOptions {
            max_retries: 1,
            blacklist_check_interval: Duration::from_secs(100),
            blacklist_timeout: Duration::from_secs(250),
            ..opts()
        });
        h.set_addrs(HOST, &[addr(2)]);
        h.waits(HOST);
        let d = h.next_dial();
        h.dial_err(&d, DialErrorKind::Connect);
        assert!(h.s.blacklisted(addr(2).ip()).is_some());
        h.advance(Duration::from_secs(200));
        let retest = h.next_dial();
        assert_eq!(retest.purpose, DialPurpose::Retest);
        h.advance(Duration::from_secs(60)); // the expiry (at 250) fires during the re-test
        if cancelled {
            h.s.cancel_dial(retest.id, h.now);
            h.pump();
        } else {
            h.dial_err(&retest, DialErrorKind::Connect);
        }
        assert_eq!(
            h.s.blacklisted(addr(2).ip()),
            None,
            "expired (cancelled: {cancelled})"
        );
        assert_eq!(h.s.stats().restored_total, 1);
        h.waits(HOST);
        assert_eq!(h.next_dial().addr, addr(2), "dialable again");
    }
}

/// Regression: a re-test of an IP banned by a health probe was a plain dial, and its
/// success (a handshake, which says nothing about the banned status) lifted the ban.
#[test]
fn a_probe_ban_is_not_lifted_by_a_retest_dial() {
    let mut h = Harness::new(PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        blacklist_check_interval: Duration::from_secs(100),
        blacklist_timeout: Duration::from_secs(1000),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    h.advance(Duration::from_secs(31));
    assert_eq!(h.s.take_probes(1), vec![id]);
    h.s.handle_probe_result(id, ProbeVerdict::Banned, h.now);
    h.pump();
    for _ in 0..9 {
        h.advance(Duration::from_secs(100));
        while let Some(d) = h.dials.pop_front() {
            h.dial_ok(&d, 1);
        }
        assert_eq!(
            h.s.blacklisted(addr(2).ip()),
            Some(BlacklistReason::Banned),
            "a connecting dial does not lift a probe's ban"
        );
    }
    h.advance(Duration::from_secs(100));
    assert_eq!(
        h.s.blacklisted(addr(2).ip()),
        None,
        "blacklist_timeout ends it"
    );
    assert_eq!(h.s.stats().restored_total, 1);
}

#[test]
fn a_validation_ban_is_lifted_only_by_a_retest_that_passes_validation() {
    let mut h = Harness::new(PoolOptions {
        blacklist_check_interval: Duration::from_secs(100),
        blacklist_timeout: Duration::from_secs(10_000),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Banned);
    assert_eq!(h.s.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    // The re-test goes through the same (validating) dialer: still banned, it stays.
    h.advance(Duration::from_secs(100));
    let retest = h.next_dial();
    assert_eq!(retest.purpose, DialPurpose::Retest);
    h.dial_err(&retest, DialErrorKind::Banned);
    assert_eq!(h.s.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    // Validation passes: the ban is lifted and the connection admitted.
    h.advance(Duration::from_secs(100));
    let retest = h.next_dial();
    let id = h.dial_ok(&retest, 1).expect("admitted");
    assert_eq!(h.s.blacklisted(addr(2).ip()), None);
    assert_eq!(h.ready(HOST), id);
}
