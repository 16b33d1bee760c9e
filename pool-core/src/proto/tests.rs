//! State-machine tests with a fake clock: every policy, limit and error path, plus
//! property tests of the invariants over random operation sequences.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::ip_range::IpRange;
use crate::transport::{DialError, DialErrorKind};
use crate::types::{Outcome, ProbeVerdict};

mod fleet;
mod health;
mod hot;
mod lifetime;
mod placement;
mod shed;

const HOST: &str = "example.test";
const OTHER: &str = "other.test";

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], 443))
}

/// The state machine plus a virtual clock and everything it asked the shell to do.
struct Harness {
    s: PoolState<u32>,
    now: Instant,
    next_tag: u32,
    dials: VecDeque<DialRequest>,
    grants: Vec<(WaiterId, ConnId)>,
    fails: Vec<(WaiterId, Error)>,
    closed: Vec<(u32, CloseReason)>,
    probes_due: usize,
    published: Vec<crate::fleet::FleetEvent>,
    rewarmed: Vec<(SocketAddr, Duration)>,
}

impl Harness {
    fn new(opts: PoolOptions) -> Self {
        Self {
            s: PoolState::new(opts),
            now: Instant::now(),
            next_tag: 0,
            dials: VecDeque::new(),
            grants: Vec::new(),
            fails: Vec::new(),
            closed: Vec::new(),
            probes_due: 0,
            published: Vec::new(),
            rewarmed: Vec::new(),
        }
    }

    fn pump(&mut self) {
        while let Some(action) = self.s.poll_action() {
            match action {
                Action::Dial(d) => self.dials.push_back(d),
                Action::Grant { waiter, conn } => self.grants.push((waiter, conn)),
                Action::Fail { waiter, error } => self.fails.push((waiter, error)),
                Action::Close { handle, reason, .. } => self.closed.push((handle, reason)),
                Action::ProbesDue => self.probes_due += 1,
                Action::Publish(event) => self.published.push(event),
                Action::Rewarmed { addr, after } => self.rewarmed.push((addr, after)),
            }
        }
        self.s.check_invariants();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.s.handle_timeout(self.now);
        self.pump();
    }

    fn set_addrs(&mut self, host: &str, addrs: &[SocketAddr]) -> AddrChange {
        let change = self.s.set_addrs(host, addrs.iter().copied());
        self.pump();
        change
    }

    fn checkout(&mut self, host: &str) -> Result<Checkout, Error> {
        let r = self.s.checkout(host);
        self.pump();
        r
    }

    fn ready(&mut self, host: &str) -> ConnId {
        match self.checkout(host) {
            Ok(Checkout::Ready(id)) => id,
            other => panic!("expected a ready lease, got {other:?}"),
        }
    }

    fn waits(&mut self, host: &str) -> WaiterId {
        match self.checkout(host) {
            Ok(Checkout::Wait(w)) => w,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    fn release(&mut self, id: ConnId, outcome: Outcome) {
        let cap = self.s.conn_info(id).map_or(1, |i| i.capacity as usize);
        self.s.release(id, outcome, cap, self.now);
        self.pump();
    }

    fn next_dial(&mut self) -> DialRequest {
        self.dials.pop_front().expect("a dial was requested")
    }

    fn dial_ok(&mut self, d: &DialRequest, capacity: usize) -> Option<ConnId> {
        self.next_tag += 1;
        let id = self.s.handle_dial_result(
            d.id,
            Ok((self.next_tag, Opened::with_capacity(capacity))),
            self.now,
        );
        self.pump();
        id
    }

    fn dial_err(&mut self, d: &DialRequest, kind: DialErrorKind) {
        let r =
            self.s
                .handle_dial_result(d.id, Err(DialError::new(kind, "test failure")), self.now);
        assert!(r.is_none());
        self.pump();
    }

    /// Dials `n` connections for `host` through warm-up, all successful.
    fn warm(&mut self, host: &str, capacity: usize) -> Vec<ConnId> {
        let plan = self.s.plan_warm(host).dials;
        self.pump();
        plan.iter()
            .map(|d| self.dial_ok(d, capacity).expect("admitted"))
            .collect()
    }
}

fn opts() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        ..PoolOptions::default()
    }
}

#[test]
fn checkout_dials_then_reuses() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let w = h.waits(HOST);
    let d = h.next_dial();
    assert_eq!((d.addr, d.purpose), (addr(2), DialPurpose::Checkout));
    let id = h.dial_ok(&d, 1).unwrap();
    assert_eq!(h.grants, vec![(w, id)]);
    h.release(id, Outcome::Success);
    assert_eq!(h.ready(HOST), id, "the warm connection is reused");
    assert!(h.dials.is_empty());
    let stats = h.s.stats();
    assert_eq!((stats.leases_total, stats.dials_ok), (2, 1));
    assert_eq!(stats.reuse_rate(), 0.5);
}

#[test]
fn unknown_host_and_empty_addrs_fail_fast() {
    let mut h = Harness::new(opts());
    assert!(matches!(h.checkout(HOST), Err(Error::NoAddresses { .. })));
    h.set_addrs(HOST, &[]);
    assert!(matches!(h.checkout(HOST), Err(Error::NoAddresses { .. })));
}

#[test]
fn multiplexed_capacity_is_shared_and_least_loaded_first() {
    let mut h = Harness::new(PoolOptions {
        max_idle_conns: 20,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 3);
    assert_eq!(ids.len(), 2);
    let mut leased = Vec::new();
    for _ in 0..6 {
        leased.push(h.ready(HOST));
    }
    for id in &ids {
        assert_eq!(h.s.conn_info(*id).unwrap().leases, 3, "load spread evenly");
    }
    let w = h.waits(HOST);
    assert!(h.dials.is_empty(), "per-ip limit 1: no more dials");
    h.release(leased[0], Outcome::Success);
    assert_eq!(
        h.grants,
        vec![(w, leased[0])],
        "the waiter gets the freed slot"
    );
}

#[test]
fn waiters_are_served_in_order() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    assert_eq!(h.ready(HOST), id);
    let w1 = h.waits(HOST);
    let w2 = h.waits(HOST);
    h.release(id, Outcome::Success);
    assert_eq!(h.grants, vec![(w1, id)]);
    h.release(id, Outcome::Success);
    assert_eq!(h.grants, vec![(w1, id), (w2, id)]);
}

#[test]
fn cancelled_waiter_is_skipped() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    assert_eq!(h.ready(HOST), id);
    let w1 = h.waits(HOST);
    let w2 = h.waits(HOST);
    assert!(h.s.cancel_waiter(w1));
    assert!(!h.s.cancel_waiter(w1), "a second cancel is a no-op");
    h.release(id, Outcome::Success);
    assert_eq!(h.grants, vec![(w2, id)]);
}

#[test]
fn per_host_and_total_limits_hold() {
    let mut h = Harness::new(PoolOptions {
        max_connections: 3,
        max_conns_per_host: 2,
        max_idle_conns: 3,
        ..opts()
    });
    let addrs: Vec<_> = (2..8).map(addr).collect();
    h.set_addrs(HOST, &addrs);
    for _ in 0..5 {
        h.waits(HOST);
    }
    assert_eq!(h.dials.len(), 2, "max_conns_per_host caps dials");
    h.set_addrs(OTHER, &[addr(20), addr(21)]);
    h.waits(OTHER);
    h.waits(OTHER);
    assert_eq!(h.dials.len(), 3, "max_connections caps the total");
}

#[test]
fn total_limit_evicts_another_hosts_idle_connection() {
    let mut h = Harness::new(PoolOptions {
        max_connections: 2,
        max_conns_per_host: 2,
        max_idle_conns: 2,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    assert_eq!(ids.len(), 2);
    h.set_addrs(OTHER, &[addr(9)]);
    h.waits(OTHER);
    let d = h.next_dial();
    assert_eq!(d.host.as_ref(), OTHER);
    assert_eq!(
        h.closed,
        vec![(1, CloseReason::Evicted)],
        "least recently used first"
    );
    assert_eq!(h.s.stats().closed_for(CloseReason::Evicted), 1);
}

#[test]
fn idle_beyond_max_idle_closes_lru_first() {
    let mut h = Harness::new(PoolOptions {
        max_idle_conns: 2,
        max_conns_per_ip: 3,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let mut leased = Vec::new();
    for _ in 0..3 {
        h.waits(HOST);
        let d = h.next_dial();
        leased.push(h.dial_ok(&d, 1).unwrap());
    }
    for id in &leased {
        h.release(*id, Outcome::Success);
    }
    assert_eq!(h.closed, vec![(1, CloseReason::IdleLimit)]);
    assert_eq!(h.s.stats().idle, 2);
}

#[test]
fn idle_timeout_closes_unused_connections_only() {
    let mut h = Harness::new(PoolOptions {
        // Warmed only to make connections: a hot host's last one per address stays.
        stay_hot: false,
        idle_timeout: Duration::from_secs(60),
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    h.advance(Duration::from_secs(30));
    let used = h.ready(HOST);
    h.release(used, Outcome::Success);
    h.advance(Duration::from_secs(31));
    assert_eq!(h.closed.len(), 1, "only the unused one is idle for 61s");
    assert!(h.s.conn_info(used).is_some());
    let unused = ids.iter().find(|id| **id != used).unwrap();
    assert!(h.s.conn_info(*unused).is_none());
    h.advance(Duration::from_secs(30));
    assert_eq!(h.closed.len(), 2);
    assert_eq!(h.s.stats().closed_for(CloseReason::Idle), 2);
}

#[test]
fn leased_connection_is_not_idle_closed() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    assert_eq!(h.ready(HOST), id);
    h.advance(Duration::from_secs(600));
    assert!(h.closed.is_empty() || h.closed.iter().all(|(_, r)| *r != CloseReason::Idle));
}

#[test]
fn error_threshold_removes_connection() {
    let mut h = Harness::new(PoolOptions {
        max_errors: 2,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    for _ in 0..2 {
        assert_eq!(h.ready(HOST), id);
        h.release(id, Outcome::Error);
    }
    assert!(h.closed.is_empty());
    assert_eq!(h.ready(HOST), id);
    h.release(id, Outcome::Error);
    assert_eq!(h.closed, vec![(1, CloseReason::Errors)]);
}

#[test]
fn broken_connection_is_removed_even_when_shared() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 4)[0];
    assert_eq!(h.ready(HOST), id);
    assert_eq!(h.ready(HOST), id);
    h.release(id, Outcome::Broken);
    assert!(h.closed.is_empty(), "the other lease still holds it");
    h.waits(HOST);
    h.release(id, Outcome::Success);
    assert_eq!(h.closed, vec![(1, CloseReason::Broken)]);
}

#[test]
fn transport_closed_connection_is_removed() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    h.s.handle_conn_closed(id, CloseReason::Broken, h.now);
    h.pump();
    assert_eq!(h.closed, vec![(1, CloseReason::Broken)]);
}

#[test]
fn whitelist_and_static_blacklist_exclude_addresses() {
    let mut h = Harness::new(PoolOptions {
        whitelist: vec!["127.0.0.0/30".parse().unwrap()],
        blacklist: vec![IpRange::from(addr(3).ip())],
        max_idle_conns: 10,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2), addr(3), addr(9)]);
    let plan = h.s.plan_warm(HOST).dials;
    let addrs: Vec<_> = plan.iter().map(|d| d.addr).collect();
    assert_eq!(
        addrs,
        vec![addr(2)],
        "3 is blacklisted, 9 is outside the whitelist"
    );
    h.set_addrs(OTHER, &[addr(9)]);
    assert!(matches!(
        h.checkout(OTHER),
        Err(Error::NoUsableAddress { .. })
    ));
}

#[test]
fn shed_closes_the_oldest_idle_share() {
    let mut h = Harness::new(PoolOptions {
        max_idle_conns: 10,
        ..opts()
    });
    let addrs: Vec<_> = (2..6).map(addr).collect();
    h.set_addrs(HOST, &addrs);
    h.warm(HOST, 1);
    assert_eq!(h.s.shed(0.5), 2);
    h.pump();
    assert_eq!(
        h.closed,
        vec![(1, CloseReason::Shed), (2, CloseReason::Shed)]
    );
    assert_eq!(h.s.stats().idle, 2);
}

#[test]
fn warm_respects_idle_limit_and_existing_connections() {
    let mut h = Harness::new(PoolOptions {
        max_idle_conns: 3,
        ..opts()
    });
    let addrs: Vec<_> = (2..8).map(addr).collect();
    h.set_addrs(HOST, &addrs);
    assert_eq!(h.warm(HOST, 1).len(), 3);
    assert!(h.s.plan_warm(HOST).dials.is_empty(), "idle budget used up");
}

#[test]
fn close_fails_waiters_and_drains_leases() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2), addr(3)]);
    let ids = h.warm(HOST, 1);
    let leased = h.ready(HOST);
    let _ = h.ready(HOST);
    let w = h.waits(HOST);
    let extra = h.s.plan_warm(HOST).dials;
    assert!(extra.is_empty());
    h.s.close();
    h.pump();
    assert_eq!(h.fails.len(), 1);
    assert_eq!(h.fails[0].0, w);
    assert!(matches!(h.checkout(HOST), Err(Error::Closed)));
    assert!(!h.s.is_empty());
    for id in ids {
        h.release(id, Outcome::Success);
    }
    let _ = leased;
    assert!(h.s.is_empty());
    assert_eq!(h.s.stats().closed_for(CloseReason::PoolClosed), 2);
}

#[test]
fn dial_finishing_after_close_is_closed_not_leaked() {
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    h.waits(HOST);
    let d = h.next_dial();
    h.s.close();
    h.pump();
    assert!(h.dial_ok(&d, 1).is_none());
    assert_eq!(h.closed, vec![(1, CloseReason::NotAdmitted)]);
    assert!(h.s.is_empty());
}

#[test]
fn a_connection_serves_only_the_host_it_was_made_for() {
    let mut h = Harness::new(PoolOptions {
        max_idle_conns: 10,
        ..opts()
    });
    h.set_addrs(HOST, &[addr(2)]);
    h.set_addrs(OTHER, &[addr(2)]);
    let a = h.warm(HOST, 10)[0];
    h.waits(OTHER);
    let d = h.next_dial();
    assert_eq!(
        d.host.as_ref(),
        OTHER,
        "a shared IP still gets its own connection per host"
    );
    let b = h.dial_ok(&d, 10).unwrap();
    assert_ne!(a, b);
    h.release(b, Outcome::Success);
    for _ in 0..5 {
        let id = h.ready(OTHER);
        assert_eq!(h.s.conn_info(id).unwrap().host.as_ref(), OTHER);
    }
}

#[test]
fn timer_tick_with_nothing_due_does_nothing() {
    let mut h = Harness::new(opts());
    let addrs: Vec<_> = (2..200).map(addr).collect();
    h.set_addrs(HOST, &addrs);
    let before = h.s.poll_timeout();
    h.advance(Duration::from_millis(1));
    assert!(h.closed.is_empty() && h.dials.is_empty());
    assert_eq!(before, h.s.poll_timeout());
}

// ----- property tests -----------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Get(u8),
    Release(usize, u8),
    SetAddrs(u8, Vec<u8>),
    DialOk(usize, u8),
    DialErr(usize, u8),
    Warm(u8),
    Advance(u16),
    Shed(u8),
    Probe(usize, u8),
    Cancel(usize),
    TransportClosed(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Get),
        4 => (any::<usize>(), 0u8..4).prop_map(|(i, o)| Op::Release(i, o)),
        1 => (any::<u8>(), proptest::collection::vec(2u8..10, 0..5)).prop_map(|(h, a)| Op::SetAddrs(h, a)),
        4 => (any::<usize>(), 1u8..5).prop_map(|(i, c)| Op::DialOk(i, c)),
        2 => (any::<usize>(), 0u8..6).prop_map(|(i, k)| Op::DialErr(i, k)),
        1 => any::<u8>().prop_map(Op::Warm),
        2 => (0u16..400).prop_map(Op::Advance),
        1 => (0u8..=100).prop_map(Op::Shed),
        1 => (any::<usize>(), 0u8..4).prop_map(|(i, v)| Op::Probe(i, v)),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::TransportClosed),
    ]
}

fn pick<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

const KINDS: [DialErrorKind; 6] = [
    DialErrorKind::Connect,
    DialErrorKind::Timeout,
    DialErrorKind::Handshake,
    DialErrorKind::Protocol,
    DialErrorKind::Banned,
    DialErrorKind::Rejected,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_operations(
        ops in proptest::collection::vec(op(), 1..60),
        max_connections in 1usize..8,
        per_host in 1usize..4,
        per_ip in 1usize..3,
        idle in 0usize..6,
        keep_warm in any::<bool>(),
    ) {
        let per_host = per_host.min(max_connections);
        let mut h = Harness::new(PoolOptions {
            max_connections,
            max_conns_per_host: per_host,
            max_conns_per_ip: per_ip,
            max_idle_conns: idle.min(max_connections),
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(200),
            keep_warm,
            keep_warm_lead: Duration::from_secs(20),
            max_errors: 2,
            max_retries: 2,
            blacklist_check_interval: Duration::from_secs(100),
            blacklist_timeout: Duration::from_secs(300),
            health_check_interval: Some(Duration::from_secs(30)),
            ..PoolOptions::default()
        });
        let hosts = ["a.test", "b.test", "c.test"];
        let mut leases: Vec<ConnId> = Vec::new();
        let mut probes: Vec<ConnId> = Vec::new();
        let mut waiters: Vec<WaiterId> = Vec::new();
        for op in ops {
            match op {
                Op::Get(i) => match h.checkout(hosts[i as usize % 3]) {
                    Ok(Checkout::Ready(id)) => leases.push(id),
                    Ok(Checkout::Wait(w)) => waiters.push(w),
                    Err(_) => {}
                },
                Op::Release(i, o) => {
                    if let Some(id) = pick(&leases, i) {
                        leases.retain({ let mut done = false; move |x| { if *x == id && !done { done = true; false } else { true } } });
                        let outcome = [Outcome::Success, Outcome::Error, Outcome::Broken, Outcome::Unused][o as usize];
                        h.release(id, outcome);
                    }
                }
                Op::SetAddrs(i, addrs) => {
                    let addrs: Vec<_> = addrs.into_iter().map(addr).collect();
                    h.set_addrs(hosts[i as usize % 3], &addrs);
                }
                Op::DialOk(i, cap) => {
                    if !h.dials.is_empty() {
                        let d = h.dials.remove(i % h.dials.len()).unwrap();
                        h.dial_ok(&d, cap as usize);
                    }
                }
                Op::DialErr(i, k) => {
                    if !h.dials.is_empty() {
                        let d = h.dials.remove(i % h.dials.len()).unwrap();
                        h.dial_err(&d, KINDS[k as usize]);
                    }
                }
                Op::Warm(i) => {
                    let plan = h.s.plan_warm(hosts[i as usize % 3]).dials;
                    h.dials.extend(plan);
                    h.pump();
                }
                Op::Advance(secs) => h.advance(Duration::from_secs(u64::from(secs))),
                Op::Shed(pct) => {
                    h.s.shed(f64::from(pct) / 100.0);
                    h.pump();
                }
                Op::Probe(i, v) => {
                    probes.extend(h.s.take_probes(3));
                    h.pump();
                    if let Some(id) = pick(&probes, i) {
                        probes.retain(|p| *p != id);
                        let verdict = [ProbeVerdict::Healthy, ProbeVerdict::Unhealthy, ProbeVerdict::Banned, ProbeVerdict::Skipped][v as usize];
                        h.s.handle_probe_result(id, verdict, h.now);
                        h.pump();
                    }
                }
                Op::Cancel(i) => {
                    if let Some(w) = pick(&waiters, i) {
                        prop_assert!(h.s.cancel_waiter(w));
                        waiters.retain(|x| *x != w);
                        h.pump();
                    }
                }
                Op::TransportClosed(i) => {
                    let ids = h.s.conn_ids();
                    if let Some(id) = pick(&ids, i) {
                        h.s.handle_conn_closed(id, CloseReason::Broken, h.now);
                        h.pump();
                    }
                }
            }
            // Granted waiters now hold leases.
            for (w, id) in h.grants.drain(..) {
                waiters.retain(|x| *x != w);
                leases.push(id);
            }
            for (w, _) in h.fails.drain(..) {
                waiters.retain(|x| *x != w);
            }
            // A lease never outlives its connection.
            for id in &leases {
                prop_assert!(h.s.conn_info(*id).is_some(), "lease on a closed connection");
            }
            let stats = h.s.stats();
            prop_assert_eq!(stats.leases_out, leases.len() as u64);
            prop_assert_eq!(stats.waiters, waiters.len());
        }
        // Everything returns and closes: nothing leaks.
        h.s.close();
        h.pump();
        prop_assert!(h.grants.is_empty());
        for id in leases.drain(..) {
            h.release(id, Outcome::Success);
        }
        for id in probes.drain(..) {
            h.s.handle_probe_result(id, ProbeVerdict::Healthy, h.now);
            h.pump();
        }
        while let Some(d) = h.dials.pop_front() {
            h.dial_ok(&d, 1);
        }
        prop_assert!(h.s.is_empty(), "connections or dials left after close");
        let stats = h.s.stats();
        prop_assert_eq!(stats.connections, 0);
        prop_assert_eq!(h.closed.len() as u64, stats.closed_total());
    }
}
