//! Model-based test: the real `PoolState` against a simple reference model, step by step
//! (proptest-state-machine, with shrinking to a minimal failing sequence).
//!
//! The reference model keeps plain vectors and scans them: no intrusive lists, no load
//! levels, no cached counters. It states the observable semantics of lease, release,
//! dial, warm, address change, shed and close:
//! - which `get`s are served at once and on which connection (least loaded, then the first
//!   in the host's member order: admission order, a closed one's place taken by the last),
//!   which wait, and which fail with what;
//! - which dials are started, for which address (round robin), within `max_connections`,
//!   `max_conns_per_host`, `max_conns_per_ip` — evicting another host's least recently
//!   used idle connection (by its last return, or creation) when the total is full;
//! - which waiters are granted which connection (FIFO), and which fail (dial give-up,
//!   no addresses, close);
//! - which connections close, and why (broken, error threshold, idle limit, eviction,
//!   address removed, shed, pool closed, not admitted).
//!
//! After every step the real state's actions and counts must equal the model's. The
//! invariant checks of `state/tests.rs` (structure, limits, no leak) are not repeated: this
//! test checks *which* decisions are made, not only that they are consistent.
//! Time-driven policies (idle timeout, expiry, probes, blacklist) are out of scope here and
//! covered by the fake-clock tests; timeouts are set far away.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pool_core::proto::{Action, Checkout, ConnId, DialId, Opened, PoolState, WaiterId};
use pool_core::{CloseReason, DialError, DialErrorKind, Error, Outcome, PoolOptions};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

const HOSTS: [&str; 2] = ["a.test", "b.test"];
const ADDRS: u8 = 3;

fn addr(octet: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, octet], 443))
}

// ----- the reference model -------------------------------------------------------------

#[derive(Clone, Debug)]
struct Limits {
    max_connections: usize,
    max_conns_per_host: usize,
    max_conns_per_ip: usize,
    max_idle_conns: usize,
    max_errors: u32,
    max_retries: u32,
}

#[derive(Clone, Debug)]
struct MConn {
    id: usize,
    host: usize,
    addr: u8,
    leases: u32,
    cap: u32,
    errors: u32,
    draining: Option<CloseReason>,
    /// Whether it is idle.
    idle: bool,
    /// The step it was last returned (or made) at: each step is one microsecond.
    last_used: u64,
}

#[derive(Clone, Debug)]
struct MHost {
    known: bool,
    addrs: BTreeSet<u8>,
    cursor: Option<u8>,
    waiters: VecDeque<usize>,
    last_cap: u32,
    failures: u32,
    /// Its connections in the order a lease looks at them.
    members: Vec<usize>,
}

#[derive(Clone, Debug)]
struct MDial {
    id: usize,
    host: usize,
    addr: u8,
}

/// What one `get` returned, in model terms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Ready(usize),
    Wait(usize),
    Closed,
    NoAddresses,
    Other(String),
}

/// Why a waiter failed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Failed {
    Closed,
    NoAddresses,
    Dial,
    Other(String),
}

/// Everything one step is expected to produce.
#[derive(Clone, Debug, Default, PartialEq)]
struct Out {
    got: Option<Got>,
    /// Dials started, in order: (host, address).
    dials: Vec<(usize, u8)>,
    /// Dials planned by `warm`, in order.
    planned: Vec<(usize, u8)>,
    grants: Vec<(usize, usize)>,
    /// Sorted.
    fails: Vec<(usize, Failed)>,
    /// Sorted: (connection, reason label).
    closes: Vec<(usize, &'static str)>,
    cancelled: Option<bool>,
    /// For a successful dial: the connection admitted (and still open), if any.
    admitted: Option<Option<usize>>,
    shed: Option<usize>,
}

#[derive(Clone, Debug)]
struct Model {
    limits: Limits,
    hosts: Vec<MHost>,
    conns: Vec<MConn>,
    dials: Vec<MDial>,
    next_conn: usize,
    next_dial: usize,
    next_waiter: usize,
    /// Steps taken (the real pool's clock moves one microsecond per step).
    step: u64,
    closing: bool,
    out: Out,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    SetAddrs {
        host: usize,
        mask: u8,
    },
    Get {
        host: usize,
    },
    Release {
        conn: usize,
        outcome: Outcome,
        cap: u32,
    },
    DialOk {
        dial: usize,
        cap: u32,
    },
    DialFail {
        dial: usize,
    },
    CancelDial {
        dial: usize,
    },
    CancelWaiter {
        waiter: usize,
    },
    Warm {
        host: usize,
    },
    Shed {
        percent: u8,
    },
    Close,
}

impl Model {
    fn conn(&self, id: usize) -> Option<&MConn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn pos(&self, id: usize) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    fn live(&self, h: usize) -> usize {
        self.conns
            .iter()
            .filter(|c| c.host == h && c.draining.is_none())
            .count()
    }

    fn live_at(&self, h: usize, a: u8) -> usize {
        self.conns
            .iter()
            .filter(|c| c.host == h && c.addr == a && c.draining.is_none())
            .count()
    }

    fn dialing(&self, h: usize) -> usize {
        self.dials.iter().filter(|d| d.host == h).count()
    }

    fn dialing_at(&self, h: usize, a: u8) -> usize {
        self.dials
            .iter()
            .filter(|d| d.host == h && d.addr == a)
            .count()
    }

    fn idle_count(&self) -> usize {
        self.conns.iter().filter(|c| c.idle).count()
    }

    /// The least recently idle connection (optionally of another host than `not`).
    fn lru_idle(&self, not: Option<usize>) -> Option<usize> {
        self.conns
            .iter()
            .filter(|c| c.idle && Some(c.host) != not)
            .min_by_key(|c| c.last_used)
            .map(|c| c.id)
    }

    /// The connection `get(h)` takes: least loaded, then the first in member order.
    fn best_ready(&self, h: usize) -> Option<usize> {
        self.hosts[h]
            .members
            .iter()
            .filter_map(|id| self.conn(*id))
            .filter(|c| c.draining.is_none() && c.leases < c.cap)
            .min_by_key(|c| c.leases)
            .map(|c| c.id)
    }

    /// Recomputes where a connection stands after its leases, capacity or phase changed.
    fn place(&mut self, id: usize) {
        let Some(i) = self.pos(id) else { return };
        let c = &self.conns[i];
        self.conns[i].idle = c.draining.is_none() && c.leases == 0;
    }

    fn close_conn(&mut self, id: usize, reason: CloseReason) {
        if let Some(i) = self.pos(id) {
            let c = self.conns.remove(i);
            let members = &mut self.hosts[c.host].members;
            if let Some(p) = members.iter().position(|m| *m == id) {
                members.swap_remove(p);
            }
            self.out.closes.push((id, reason.as_str()));
        }
    }

    fn drain(&mut self, id: usize, reason: CloseReason) {
        let Some(c) = self.conn(id) else { return };
        if c.draining.is_some() {
            return;
        }
        if c.leases == 0 {
            self.close_conn(id, reason);
        } else {
            let i = self.pos(id).unwrap();
            self.conns[i].draining = Some(reason);
            self.place(id);
        }
    }

    fn lease(&mut self, id: usize) {
        let i = self.pos(id).unwrap();
        self.conns[i].leases += 1;
        self.place(id);
    }

    fn trim_idle(&mut self) {
        while self.idle_count() > self.limits.max_idle_conns {
            let id = self.lru_idle(None).unwrap();
            self.close_conn(id, CloseReason::IdleLimit);
        }
    }

    fn serve_waiters(&mut self, h: usize) {
        while !self.hosts[h].waiters.is_empty() {
            let Some(id) = self.best_ready(h) else { return };
            let waiter = self.hosts[h].waiters.pop_front().unwrap();
            self.lease(id);
            self.out.grants.push((waiter, id));
        }
    }

    fn room_in_total(&mut self, h: usize, evict: bool) -> bool {
        if self.conns.len() + self.dials.len() < self.limits.max_connections {
            return true;
        }
        if !evict {
            return false;
        }
        match self.lru_idle(Some(h)) {
            Some(victim) => {
                self.close_conn(victim, CloseReason::Evicted);
                true
            }
            None => false,
        }
    }

    fn room_for_dial(&mut self, h: usize, a: u8) -> bool {
        self.live(h) + self.dialing(h) < self.limits.max_conns_per_host
            && self.hosts[h].addrs.contains(&a)
            && self.live_at(h, a) + self.dialing_at(h, a) < self.limits.max_conns_per_ip
            && self.room_in_total(h, false)
    }

    /// Round robin over the host's addresses, after the last one dialed.
    fn pick_dial_addr(&mut self, h: usize) -> Option<u8> {
        if self.live(h) + self.dialing(h) >= self.limits.max_conns_per_host {
            return None;
        }
        let addrs: Vec<u8> = self.hosts[h].addrs.iter().copied().collect();
        let cursor = self.hosts[h].cursor;
        let order = addrs
            .iter()
            .filter(|a| cursor.is_some_and(|c| **a > c))
            .chain(addrs.iter())
            .take(addrs.len());
        let chosen = order.copied().find(|a| {
            self.live_at(h, *a) + self.dialing_at(h, *a) < self.limits.max_conns_per_ip
        })?;
        if !self.room_in_total(h, true) {
            return None;
        }
        self.hosts[h].cursor = Some(chosen);
        Some(chosen)
    }

    fn start_dial(&mut self, h: usize, a: u8) {
        self.dials.push(MDial {
            id: self.next_dial,
            host: h,
            addr: a,
        });
        self.next_dial += 1;
    }

    fn dial_for_waiters(&mut self, h: usize) {
        if self.closing {
            return;
        }
        loop {
            let wanted = self.hosts[h].waiters.len();
            let covered = self.dialing(h) * self.hosts[h].last_cap as usize;
            if covered >= wanted {
                return;
            }
            let Some(a) = self.pick_dial_addr(h) else {
                return;
            };
            self.start_dial(h, a);
            self.out.dials.push((h, a));
        }
    }

    fn usable(&self, h: usize) -> usize {
        self.live(h)
    }

    fn fail_all(&mut self, h: usize, why: Failed) {
        for waiter in std::mem::take(&mut self.hosts[h].waiters) {
            self.out.fails.push((waiter, why.clone()));
        }
    }

    fn fail_without_addrs(&mut self, h: usize) {
        if self.hosts[h].waiters.is_empty() || self.usable(h) > 0 || self.dialing(h) > 0 {
            return;
        }
        if self.hosts[h].addrs.is_empty() {
            self.fail_all(h, Failed::NoAddresses);
        }
    }

    fn refill(&mut self, h: usize) {
        self.dial_for_waiters(h);
        self.fail_without_addrs(h);
    }

    fn apply(&mut self, op: Op) {
        self.out = Out::default();
        self.step += 1;
        match op {
            Op::SetAddrs { host: h, mask } => {
                let new: BTreeSet<u8> =
                    (1..=ADDRS).filter(|a| mask & (1 << (a - 1)) != 0).collect();
                self.hosts[h].known = true;
                let removed: Vec<u8> = self.hosts[h].addrs.difference(&new).copied().collect();
                let gone: Vec<usize> = self
                    .conns
                    .iter()
                    .filter(|c| c.host == h && removed.contains(&c.addr))
                    .map(|c| c.id)
                    .collect();
                self.hosts[h].addrs = new;
                for id in gone {
                    self.drain(id, CloseReason::AddressRemoved);
                }
                self.refill(h);
            }
            Op::Get { host: h } => {
                let got = if self.closing {
                    Got::Closed
                } else if !self.hosts[h].known {
                    Got::NoAddresses
                } else if let Some(id) = self
                    .best_ready(h)
                    .filter(|_| self.hosts[h].waiters.is_empty())
                {
                    self.lease(id);
                    Got::Ready(id)
                } else if self.hosts[h].addrs.is_empty() {
                    Got::NoAddresses
                } else {
                    let waiter = self.next_waiter;
                    self.next_waiter += 1;
                    self.hosts[h].waiters.push_back(waiter);
                    self.dial_for_waiters(h);
                    Got::Wait(waiter)
                };
                self.out.got = Some(got);
            }
            Op::Release { conn, outcome, cap } => {
                let i = self.pos(conn).unwrap();
                let h = self.conns[i].host;
                self.conns[i].leases -= 1;
                self.conns[i].cap = cap;
                self.conns[i].last_used = self.step;
                let verdict = match outcome {
                    Outcome::Error => {
                        self.conns[i].errors += 1;
                        (self.conns[i].errors > self.limits.max_errors)
                            .then_some(CloseReason::Errors)
                    }
                    Outcome::Broken => Some(CloseReason::Broken),
                    _ => None,
                };
                if let Some(reason) = verdict {
                    self.drain(conn, reason);
                }
                match self.conn(conn).map(|c| (c.draining, c.leases)) {
                    None => self.refill(h),
                    Some((Some(reason), leases)) => {
                        if leases == 0 {
                            self.close_conn(conn, reason);
                        }
                        self.refill(h);
                    }
                    Some((None, _)) => {
                        self.place(conn);
                        self.serve_waiters(h);
                        self.trim_idle();
                    }
                }
            }
            Op::DialOk { dial, cap } => {
                let d = self.take_dial(dial);
                let h = d.host;
                self.hosts[h].failures = 0;
                let id = self.next_conn;
                self.next_conn += 1;
                self.conns.push(MConn {
                    id,
                    host: h,
                    addr: d.addr,
                    leases: 0,
                    cap,
                    errors: 0,
                    draining: None,
                    idle: false,
                    last_used: self.step,
                });
                self.hosts[h].members.push(id);
                self.place(id);
                if self.closing || !self.hosts[h].addrs.contains(&d.addr) {
                    self.close_conn(id, CloseReason::NotAdmitted);
                    self.dial_for_waiters(h);
                    self.out.admitted = Some(None);
                } else {
                    self.hosts[h].last_cap = cap;
                    self.serve_waiters(h);
                    self.trim_idle();
                    self.dial_for_waiters(h);
                    self.out.admitted = Some(self.conn(id).map(|_| id));
                }
            }
            Op::DialFail { dial } => {
                let d = self.take_dial(dial);
                let h = d.host;
                self.hosts[h].failures += 1;
                if self.hosts[h].waiters.is_empty() {
                    return;
                }
                let allowed = self.hosts[h].addrs.len();
                let give_up = (allowed.max(1) as u32) * self.limits.max_retries;
                if allowed > 0 && self.hosts[h].failures < give_up {
                    self.dial_for_waiters(h);
                } else if self.usable(h) == 0 && self.dialing(h) == 0 {
                    self.hosts[h].failures = 0;
                    self.fail_all(h, Failed::Dial);
                }
            }
            Op::CancelDial { dial } => {
                let d = self.take_dial(dial);
                self.refill(d.host);
            }
            Op::CancelWaiter { waiter } => {
                let mut found = false;
                for host in &mut self.hosts {
                    if let Some(p) = host.waiters.iter().position(|w| *w == waiter) {
                        host.waiters.remove(p);
                        found = true;
                    }
                }
                self.out.cancelled = Some(found);
            }
            Op::Warm { host: h } => {
                if self.closing || !self.hosts[h].known {
                    return;
                }
                let targets: Vec<u8> = self.hosts[h]
                    .addrs
                    .iter()
                    .copied()
                    .filter(|a| self.live_at(h, *a) == 0 && self.dialing_at(h, *a) == 0)
                    .collect();
                for a in targets {
                    if self.idle_count() + self.out.planned.len() >= self.limits.max_idle_conns
                        || !self.room_for_dial(h, a)
                    {
                        break;
                    }
                    self.start_dial(h, a);
                    self.out.planned.push((h, a));
                }
            }
            Op::Shed { percent } => {
                let count = (self.idle_count() as f64 * f64::from(percent) / 100.0).ceil() as usize;
                for _ in 0..count {
                    let Some(id) = self.lru_idle(None) else { break };
                    self.close_conn(id, CloseReason::Shed);
                }
                self.out.shed = Some(count);
            }
            Op::Close => {
                if self.closing {
                    return;
                }
                self.closing = true;
                for h in 0..self.hosts.len() {
                    self.fail_all(h, Failed::Closed);
                }
                let ids: Vec<usize> = self.conns.iter().map(|c| c.id).collect();
                for id in ids {
                    self.drain(id, CloseReason::PoolClosed);
                }
            }
        }
        self.out.fails.sort();
        self.out.closes.sort();
    }

    fn take_dial(&mut self, id: usize) -> MDial {
        let i = self.dials.iter().position(|d| d.id == id).unwrap();
        self.dials.remove(i)
    }
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        (
            1usize..=5,
            0usize..=5,
            1usize..=2,
            1usize..=5,
            0u32..=2,
            1u32..=3,
        )
            .prop_map(
                |(max_connections, per_host, per_ip, idle, max_errors, max_retries)| {
                    let max_conns_per_host = per_host.clamp(1, max_connections);
                    let limits = Limits {
                        max_connections,
                        max_conns_per_host,
                        // `PoolOptions::validate` requires per_ip <= per_host, idle >= 1.
                        max_conns_per_ip: per_ip.min(max_conns_per_host),
                        max_idle_conns: idle.min(max_connections),
                        max_errors,
                        max_retries,
                    };
                    let host = MHost {
                        known: false,
                        addrs: BTreeSet::new(),
                        cursor: None,
                        waiters: VecDeque::new(),
                        last_cap: 1,
                        failures: 0,
                        members: Vec::new(),
                    };
                    Model {
                        limits,
                        hosts: vec![host; HOSTS.len()],
                        conns: Vec::new(),
                        dials: Vec::new(),
                        next_conn: 0,
                        next_dial: 0,
                        next_waiter: 0,
                        step: 0,
                        closing: false,
                        out: Out::default(),
                    }
                },
            )
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        let host = 0..HOSTS.len();
        let mut options: Vec<(u32, BoxedStrategy<Op>)> = vec![
            (
                3,
                (host.clone(), 0u8..8)
                    .prop_map(|(host, mask)| Op::SetAddrs { host, mask })
                    .boxed(),
            ),
            (8, host.clone().prop_map(|host| Op::Get { host }).boxed()),
            (1, host.prop_map(|host| Op::Warm { host }).boxed()),
            (
                1,
                prop_oneof![Just(0u8), Just(25), Just(50), Just(100)]
                    .prop_map(|percent| Op::Shed { percent })
                    .boxed(),
            ),
            (1, Just(Op::Close).boxed()),
        ];
        let leased: Vec<usize> = state
            .conns
            .iter()
            .filter(|c| c.leases > 0)
            .map(|c| c.id)
            .collect();
        if !leased.is_empty() {
            let outcome = prop_oneof![
                4 => Just(Outcome::Success),
                2 => Just(Outcome::Error),
                1 => Just(Outcome::Broken),
                1 => Just(Outcome::Unused),
            ];
            options.push((
                8,
                (proptest::sample::select(leased), outcome, 1u32..=3)
                    .prop_map(|(conn, outcome, cap)| Op::Release { conn, outcome, cap })
                    .boxed(),
            ));
        }
        let dials: Vec<usize> = state.dials.iter().map(|d| d.id).collect();
        if !dials.is_empty() {
            let pick = proptest::sample::select(dials);
            options.push((
                8,
                (
                    pick.clone(),
                    prop_oneof![3 => Just(1u32), 1 => Just(2), 1 => Just(3)],
                )
                    .prop_map(|(dial, cap)| Op::DialOk { dial, cap })
                    .boxed(),
            ));
            options.push((
                2,
                pick.clone().prop_map(|dial| Op::DialFail { dial }).boxed(),
            ));
            options.push((1, pick.prop_map(|dial| Op::CancelDial { dial }).boxed()));
        }
        if state.next_waiter > 0 {
            options.push((
                2,
                (0..state.next_waiter)
                    .prop_map(|waiter| Op::CancelWaiter { waiter })
                    .boxed(),
            ));
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        match *op {
            Op::Release { conn, .. } => state.conn(conn).is_some_and(|c| c.leases > 0),
            Op::DialOk { dial, .. } | Op::DialFail { dial } | Op::CancelDial { dial } => {
                state.dials.iter().any(|d| d.id == dial)
            }
            Op::CancelWaiter { waiter } => waiter < state.next_waiter,
            _ => true,
        }
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.apply(*op);
        state
    }
}

// ----- the system under test -----------------------------------------------------------

struct Real {
    core: PoolState<usize>,
    now: Instant,
    /// Model dial id -> the real dial, in the order both start them.
    dials: Vec<DialId>,
    /// Model waiter id -> real waiter, and back.
    waiters: Vec<WaiterId>,
    waiter_ids: HashMap<WaiterId, usize>,
    /// Model connection id -> real connection id (the handle is the model id).
    conns: HashMap<usize, ConnId>,
    next_conn: usize,
}

impl Real {
    fn model_conn(&self, id: ConnId) -> usize {
        *self.core.handle(id).expect("a live connection")
    }

    fn observe(&mut self, out: &mut Out) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Dial(request) => {
                    self.dials.push(request.id);
                    out.dials
                        .push((host_index(&request.host), octet(request.addr)));
                }
                Action::Grant { waiter, conn } => {
                    out.grants
                        .push((self.waiter_ids[&waiter], self.model_conn(conn)));
                }
                Action::Fail { waiter, error } => {
                    out.fails.push((self.waiter_ids[&waiter], failed(&error)));
                }
                Action::Close { handle, reason, .. } => out.closes.push((handle, reason.as_str())),
                Action::ProbesDue => panic!("no probes are scheduled in this test"),
                Action::Publish(_) => panic!("the model shares nothing"),
                Action::Rewarmed { .. } => panic!("no host is kept hot in the model"),
            }
        }
        out.fails.sort();
        out.closes.sort();
    }
}

fn host_index(host: &str) -> usize {
    HOSTS.iter().position(|h| *h == host).expect("a test host")
}

fn octet(addr: SocketAddr) -> u8 {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.octets()[3],
        std::net::IpAddr::V6(_) => unreachable!(),
    }
}

fn failed(error: &Error) -> Failed {
    match error {
        Error::Closed => Failed::Closed,
        Error::NoAddresses { .. } => Failed::NoAddresses,
        Error::Dial { .. } => Failed::Dial,
        other => Failed::Other(other.to_string()),
    }
}

struct PoolMatchesModel;

impl StateMachineTest for PoolMatchesModel {
    type SystemUnderTest = Real;
    type Reference = Reference;

    fn init_test(model: &Model) -> Real {
        let l = &model.limits;
        let options = PoolOptions {
            max_connections: l.max_connections,
            max_conns_per_host: l.max_conns_per_host,
            max_conns_per_ip: l.max_conns_per_ip,
            max_idle_conns: l.max_idle_conns,
            max_errors: l.max_errors,
            max_retries: l.max_retries,
            idle_timeout: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(7200),
            keep_warm: false,
            health_check_interval: None,
            // The model states the decisions of never-warmed hosts (replaced on demand) and
            // per-address bans; keeping warmed hosts hot and host outages are time-driven
            // policies, tested with the fake clock in `proto/tests/hot.rs`.
            stay_hot: false,
            host_outage_threshold: None,
            ..PoolOptions::default()
        };
        options.validate().expect("generated options are valid");
        Real {
            core: PoolState::new(options),
            now: Instant::now(),
            dials: Vec::new(),
            waiters: Vec::new(),
            waiter_ids: HashMap::new(),
            conns: HashMap::new(),
            next_conn: 0,
        }
    }

    fn apply(mut real: Real, model: &Model, op: Op) -> Real {
        let mut out = Out::default();
        real.now += Duration::from_micros(1);
        let now = real.now;
        match op {
            Op::SetAddrs { host, mask } => {
                let addrs = (1..=ADDRS).filter(|a| mask & (1 << (a - 1)) != 0).map(addr);
                let _ = real.core.set_addrs(HOSTS[host], addrs);
            }
            Op::Get { host } => {
                out.got = Some(match real.core.checkout(HOSTS[host]) {
                    Ok(Checkout::Ready(id)) => Got::Ready(real.model_conn(id)),
                    Ok(Checkout::Wait(waiter)) => {
                        let id = real.waiters.len();
                        real.waiters.push(waiter);
                        real.waiter_ids.insert(waiter, id);
                        Got::Wait(id)
                    }
                    Err(Error::Closed) => Got::Closed,
                    Err(Error::NoAddresses { .. }) => Got::NoAddresses,
                    Err(other) => Got::Other(other.to_string()),
                });
            }
            Op::Release { conn, outcome, cap } => {
                let id = real.conns[&conn];
                real.core.release(id, outcome, cap as usize, now);
            }
            Op::DialOk { dial, cap } => {
                let handle = real.next_conn;
                real.next_conn += 1;
                let admitted = real.core.handle_dial_result(
                    real.dials[dial],
                    Ok((handle, Opened::with_capacity(cap as usize))),
                    now,
                );
                if let Some(id) = admitted {
                    real.conns.insert(handle, id);
                }
                out.admitted = Some(admitted.map(|id| real.model_conn(id)));
            }
            Op::DialFail { dial } => {
                let error = DialError::new(DialErrorKind::Rejected, "validation rejected");
                let admitted = real
                    .core
                    .handle_dial_result(real.dials[dial], Err(error), now);
                assert_eq!(admitted, None);
            }
            Op::CancelDial { dial } => real.core.cancel_dial(real.dials[dial], now),
            Op::CancelWaiter { waiter } => {
                out.cancelled = Some(real.core.cancel_waiter(real.waiters[waiter]));
            }
            Op::Warm { host } => {
                for request in real.core.plan_warm(HOSTS[host]).dials {
                    real.dials.push(request.id);
                    out.planned
                        .push((host_index(&request.host), octet(request.addr)));
                }
            }
            Op::Shed { percent } => {
                out.shed = Some(real.core.shed(f64::from(percent) / 100.0));
            }
            Op::Close => real.core.close(),
        }
        real.observe(&mut out);
        assert_eq!(out, model.out, "after {op:?}");
        real
    }

    fn check_invariants(real: &Real, model: &Model) {
        let stats = real.core.stats();
        assert_eq!(stats.connections, model.conns.len(), "open connections");
        assert_eq!(stats.dialing, model.dials.len(), "dials in flight");
        assert_eq!(stats.idle, model.idle_count(), "idle connections");
        let leases: u32 = model.conns.iter().map(|c| c.leases).sum();
        assert_eq!(stats.leases_out, u64::from(leases), "leases out");
        let draining = model.conns.iter().filter(|c| c.draining.is_some()).count();
        assert_eq!(stats.draining, draining, "draining connections");
        let waiting: usize = model.hosts.iter().map(|h| h.waiters.len()).sum();
        assert_eq!(stats.waiters, waiting, "waiters");
        assert_eq!(real.core.is_closing(), model.closing);
        for c in &model.conns {
            let info = real
                .core
                .conn_info(real.conns[&c.id])
                .expect("model conn is open");
            assert_eq!(info.leases, c.leases, "leases of conn {}", c.id);
            assert_eq!(info.addr, addr(c.addr));
            assert_eq!(&*info.host, HOSTS[c.host]);
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_shrink_iters: 20_000,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn pool_state_matches_reference_model(sequential 1..60 => PoolMatchesModel);
}

/// Regression (found by this test and the shuttle check): a waiter queued behind the only
/// connection an address may have was stranded when that connection closed at release
/// (broken, error threshold, draining): no dial was started for it, so it waited for its
/// full `checkout_timeout`. Now the freed place is dialed at once.
#[test]
fn waiter_behind_a_broken_exclusive_connection_gets_a_dial() {
    let mut core: PoolState<usize> = PoolState::new(PoolOptions {
        max_conns_per_ip: 1,
        health_check_interval: None,
        ..PoolOptions::default()
    });
    let now = Instant::now();
    let _ = core.set_addrs(HOSTS[0], [addr(1)]);
    let Ok(Checkout::Wait(first)) = core.checkout(HOSTS[0]) else {
        panic!("no connection yet: the first get waits")
    };
    let Some(Action::Dial(dial)) = core.poll_action() else {
        panic!("a dial for the first waiter")
    };
    let conn = core
        .handle_dial_result(dial.id, Ok((0, Opened::with_capacity(1))), now)
        .expect("admitted");
    assert!(matches!(core.poll_action(), Some(Action::Grant { waiter, .. }) if waiter == first));
    let Ok(Checkout::Wait(_second)) = core.checkout(HOSTS[0]) else {
        panic!("the only connection is leased: the second get waits")
    };
    assert!(
        core.poll_action().is_none(),
        "per-address limit: no dial yet"
    );
    core.release(conn, Outcome::Broken, 1, now);
    let actions: Vec<_> = std::iter::from_fn(|| core.poll_action()).collect();
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::Broken,
                ..
            }
        )),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Dial(d) if d.addr == addr(1))),
        "the waiter gets a dial: {actions:?}"
    );
}
