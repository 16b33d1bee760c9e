//! The fleet's events in the state machine: what is published (only while sharing), what
//! an applied ban and unban do, the fleet's expiry, unknown hosts.

use super::*;
use crate::fleet::{FleetApplied, FleetBan, FleetDemand, FleetEvent};

fn fleet_opts() -> PoolOptions {
    PoolOptions {
        max_retries: 1,
        blacklist_check_interval: Duration::from_secs(300),
        blacklist_timeout: Duration::from_secs(3600),
        ..opts()
    }
}

fn ban(addr: SocketAddr, ttl: Duration) -> FleetEvent {
    FleetEvent::Ban(FleetBan {
        host: HOST.into(),
        addr,
        reason: BlacklistReason::Banned,
        retestable: true,
        ttl,
    })
}

#[test]
fn a_lone_pool_publishes_nothing() {
    let mut h = Harness::new(fleet_opts());
    h.set_addrs(HOST, &[addr(2)]);
    h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Banned);
    assert_eq!(h.s.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    assert!(h.published.is_empty());
}

#[test]
fn a_sharing_pool_publishes_its_bans_and_passing_retests() {
    let mut h = Harness::new(fleet_opts());
    h.s.share_blacklist(true);
    h.set_addrs(HOST, &[addr(2)]);
    h.waits(HOST);
    let d = h.next_dial();
    h.dial_err(&d, DialErrorKind::Banned);
    assert_eq!(h.published, vec![ban(addr(2), Duration::from_secs(3600))]);
    h.advance(Duration::from_secs(300));
    let retest = h.next_dial();
    assert_eq!(retest.purpose, DialPurpose::Retest);
    h.dial_ok(&retest, 1);
    assert_eq!(h.s.blacklisted(addr(2).ip()), None);
    assert_eq!(
        h.published[1],
        FleetEvent::Unban {
            host: HOST.into(),
            addr: addr(2)
        }
    );
    assert_eq!(h.published.len(), 2);
}

#[test]
fn a_fleet_ban_applies_drains_and_is_not_published_again() {
    let mut h = Harness::new(fleet_opts());
    h.s.share_blacklist(true);
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    let applied =
        h.s.handle_fleet_event(ban(addr(2), Duration::from_secs(60)), h.now);
    h.pump();
    assert_eq!(applied, FleetApplied::Applied);
    assert_eq!(h.s.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    assert!(h.closed.iter().any(|(_, r)| *r == CloseReason::Blacklisted));
    assert!(h.s.conn_info(ids[0]).is_none() || h.s.conn_info(ids[1]).is_none());
    assert!(h.published.is_empty(), "the fleet's own ban is not echoed");
    let again =
        h.s.handle_fleet_event(ban(addr(2), Duration::from_secs(60)), h.now);
    assert_eq!(again, FleetApplied::Unchanged);
    assert_eq!(h.s.stats().fleet_applied, 1);
}

#[test]
fn a_fleet_ban_ends_at_its_own_expiry() {
    let mut h = Harness::new(fleet_opts());
    h.set_addrs(HOST, &[addr(2)]);
    h.s.handle_fleet_event(ban(addr(2), Duration::from_secs(60)), h.now);
    h.pump();
    h.advance(Duration::from_secs(59));
    assert!(h.s.blacklisted(addr(2).ip()).is_some());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.s.blacklisted(addr(2).ip()),
        None,
        "60 s, not blacklist_timeout"
    );
}

#[test]
fn an_unban_lifts_a_retestable_entry_and_serves_waiters() {
    let mut h = Harness::new(fleet_opts());
    h.set_addrs(HOST, &[addr(2)]);
    h.s.handle_fleet_event(ban(addr(2), Duration::from_secs(600)), h.now);
    h.pump();
    assert!(h.checkout(HOST).is_err(), "no usable address");
    let unban = FleetEvent::Unban {
        host: HOST.into(),
        addr: addr(2),
    };
    assert_eq!(
        h.s.handle_fleet_event(unban.clone(), h.now),
        FleetApplied::Applied
    );
    h.pump();
    assert_eq!(h.s.blacklisted(addr(2).ip()), None);
    assert_eq!(
        h.s.handle_fleet_event(unban, h.now),
        FleetApplied::Unchanged
    );
    h.waits(HOST);
    assert_eq!(h.next_dial().addr, addr(2));
}

#[test]
fn an_unban_does_not_lift_a_probe_ban() {
    let mut h = Harness::new(fleet_opts());
    h.set_addrs(HOST, &[addr(2)]);
    let probe_ban = FleetEvent::Ban(FleetBan {
        retestable: false,
        ..match ban(addr(2), Duration::from_secs(600)) {
            FleetEvent::Ban(b) => b,
            FleetEvent::Unban { .. } => unreachable!(),
        }
    });
    h.s.handle_fleet_event(probe_ban, h.now);
    let unban = FleetEvent::Unban {
        host: HOST.into(),
        addr: addr(2),
    };
    assert_eq!(
        h.s.handle_fleet_event(unban, h.now),
        FleetApplied::Unchanged
    );
    assert!(h.s.blacklisted(addr(2).ip()).is_some());
    h.advance(Duration::from_secs(300));
    assert!(
        h.dials.is_empty(),
        "no dial lifts a probe's ban: no re-test"
    );
}

#[test]
fn events_for_unknown_hosts_are_ignored_and_counted() {
    let mut h = Harness::new(fleet_opts());
    h.set_addrs(HOST, &[addr(2)]);
    let mut foreign = ban(addr(2), Duration::from_secs(60));
    if let FleetEvent::Ban(b) = &mut foreign {
        b.host = "other.test".into();
    }
    assert_eq!(
        h.s.handle_fleet_event(foreign, h.now),
        FleetApplied::UnknownHost
    );
    assert_eq!(h.s.blacklisted(addr(2).ip()), None);
    let stats = h.s.stats();
    assert_eq!((stats.fleet_ignored, stats.fleet_applied), (1, 0));
}

#[test]
fn a_fleet_cap_holds_back_dials_and_raising_it_serves_waiters() {
    let mut h = Harness::new(fleet_opts());
    h.set_addrs(HOST, &[addr(2), addr(3), addr(4)]);
    h.s.set_fleet_cap(HOST, Some(1));
    let first = h.waits(HOST);
    let second = h.waits(HOST);
    assert_eq!(h.dials.len(), 1, "a share of one: one dial for two waiters");
    assert_eq!(
        h.s.fleet_demand(HOST),
        Some(FleetDemand { held: 1, wanted: 2 })
    );
    let d = h.next_dial();
    h.dial_ok(&d, 1);
    assert_eq!(h.grants.len(), 1);
    assert_eq!(h.grants[0].0, first);
    h.s.set_fleet_cap(HOST, Some(2));
    h.pump();
    let d = h.next_dial();
    h.dial_ok(&d, 1);
    assert_eq!(h.grants[1].0, second);
    assert_eq!(
        h.s.fleet_demand(HOST),
        Some(FleetDemand { held: 2, wanted: 2 })
    );
    h.s.set_fleet_cap(HOST, Some(0));
    assert_eq!(h.s.stats().connections, 2, "a smaller share closes nothing");
    h.s.set_fleet_cap(HOST, None);
    h.pump();
    assert!(h.dials.is_empty(), "nobody waits: nothing to dial");
    assert_eq!(h.s.fleet_demand("other.test"), None);
}
