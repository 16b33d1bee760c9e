//! Concurrency model check of the **real** async `Pool` with shuttle.
//!
//! Run it (it is one step of `cargo xtask ci`; its own target dir keeps the main build):
//!
//! ```text
//! RUSTFLAGS="--cfg hotpool_shuttle" CARGO_TARGET_DIR=target/shuttle \
//!     cargo test -p pool-core --test shuttle
//! ```
//!
//! Built with `--cfg hotpool_shuttle`, the shell's primitives (`src/shell/rt.rs`) are
//! shuttle's: its mutex, atomics, tasks and executor. This file builds a real
//! `Pool<FakeDialer>` — the real `get`, lease drop, dial tasks, timeout path, `warm` and
//! `close` — and lets shuttle explore the interleavings under a seeded random scheduler and
//! a seeded PCT scheduler (bounded schedules and steps, so the run is deterministic). Time
//! stands still; the checkout timeout fires after 0, 1 or 2 scheduling steps or never, as
//! shuttle's seeded rng chooses, so "timer fired" races "grant sent" in every order. tokio's
//! `Notify`/`oneshot`/`watch` stay (they are executor-agnostic): shuttle interleaves around
//! them, not inside them. Without the cfg this file is empty.
//!
//! Checked in every explored schedule:
//! - a connection is never leased beyond its capacity (no double grant: lease holders
//!   overlap while they hold, and count themselves per connection);
//! - every `get` ends exactly once — a lease, a timeout, a dial error, or `Closed` — and
//!   `Closed` only once `close()` has started; nothing else;
//! - no `get` waits forever while leases are returned, and `close()` completes (a lost
//!   wake-up leaves a task blocked: shuttle reports the deadlock);
//! - the lease fast lane keeps the counts exact: while users hold leases, the pool's
//!   `leases_out` (summed from the connections' gauges) is at least what the holders count
//!   (a lease on a connection the pool closed is counted nowhere and fails it), and no
//!   connection's gauge is above its capacity;
//! - no lease is ever on a connection drained (its address removed) or shed before its
//!   `get` began: the lane takes a lease only on an unflagged gauge, the core retires a
//!   connection before it drains or closes it;
//! - no lease is ever on a connection whose transport was closed before its `get` began
//!   (`Connection::is_closed()`: the pool checks it at checkout, it does not wait for the
//!   transport's close notification — the fake transport here never sends one);
//! - once `close()` returns: no connection, dial, lease or waiter is left, and every
//!   transport handle is dropped — including those of dials that finished after the close.
//!   (This found that `close()` could return while a late dial was still dropping its
//!   handle outside the lock; `close()` now also waits for effects in progress.)
#![cfg(hotpool_shuttle)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use pool_core::proto::ConnId;
use pool_core::{
    Connection, DialError, DialErrorKind, Dialer, Error, Lease, Pool, PoolOptions, Target,
};
use shuttle::future::{block_on, spawn, yield_now};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::sync::Mutex;
use shuttle::{Config, MaxSteps, Runner};

const HOST: &str = "model.test";

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], 443))
}

/// A transport handle: counts itself open until dropped (a stand-in for a socket).
struct FakeConn {
    capacity: usize,
    open: Arc<AtomicUsize>,
    /// Its dial's number: it is closed once `dead_below` passes it.
    nth: usize,
    dead_below: Arc<AtomicUsize>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connection for FakeConn {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn is_closed(&self) -> bool {
        self.nth < self.dead_below.load(Ordering::SeqCst)
    }
}

/// What the dials do, by the order they were started in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DialPlan {
    /// Every dial succeeds.
    AllOk,
    /// The first dial fails (a validation rejection), the rest succeed.
    FirstFails,
}

/// An in-memory dialer: a handshake is one scheduling step.
struct FakeDialer {
    plan: DialPlan,
    capacity: usize,
    started: AtomicUsize,
    open: Arc<AtomicUsize>,
    /// Transports of dials numbered below this are closed (set by the killer task).
    dead_below: Arc<AtomicUsize>,
}

impl Dialer for FakeDialer {
    type Conn = FakeConn;

    async fn dial(&self, _target: &Target) -> Result<FakeConn, DialError> {
        let nth = self.started.fetch_add(1, Ordering::SeqCst);
        yield_now().await; // the handshake
        if self.plan == DialPlan::FirstFails && nth == 0 {
            return Err(DialError::new(DialErrorKind::Rejected, "validation failed"));
        }
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(FakeConn {
            capacity: self.capacity,
            open: self.open.clone(),
            nth,
            dead_below: self.dead_below.clone(),
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    addrs: u8,
    capacity: usize,
    max_conns_per_ip: usize,
    /// Callers of `get`; each holds its lease for a moment and returns it, `rounds` times.
    users: usize,
    rounds: usize,
    /// Whether users report their connection broken when returning it.
    break_on_return: bool,
    /// Whether a task calls `close()` while the users run.
    close_during_load: bool,
    /// Whether a task starts `warm` (one dial at a time) and drops it after one poll, so
    /// the planned dials not started yet are cancelled.
    dropped_warm: bool,
    /// Whether a task closes every transport dialed so far while the users run.
    kill_during_load: bool,
    /// Whether a task removes the first address while the users run (its connections
    /// drain) — the scenario then has a second address to move to.
    drain_during_load: bool,
    /// Whether a task sheds every idle connection while the users run.
    shed_during_load: bool,
    dials: DialPlan,
}

const BASE: Scenario = Scenario {
    addrs: 1,
    capacity: 1,
    max_conns_per_ip: 1,
    users: 3,
    rounds: 1,
    break_on_return: false,
    close_during_load: false,
    dropped_warm: false,
    kill_during_load: false,
    drain_during_load: false,
    shed_during_load: false,
    dials: DialPlan::AllOk,
};

/// What the users see, shared by their tasks.
#[derive(Default)]
struct Observed {
    /// Leases held right now, per connection, as the holders count them.
    held: Mutex<HashMap<ConnId, usize>>,
    /// Set just before `close()` is called.
    closing: AtomicBool,
    /// Set once `set_addrs` removed the first address (`drain_during_load`).
    drained: AtomicBool,
}

async fn user(pool: Pool<FakeDialer>, scenario: Scenario, seen: Arc<Observed>) {
    for _ in 0..scenario.rounds {
        one_get(&pool, scenario, &seen).await;
    }
}

async fn one_get(pool: &Pool<FakeDialer>, scenario: Scenario, seen: &Observed) {
    let dead_before = pool.dialer().dead_below.load(Ordering::SeqCst);
    let drained_before = seen.drained.load(Ordering::SeqCst);
    match pool.get(HOST).await {
        Ok(lease) => {
            assert!(
                lease.nth >= dead_before,
                "leased dial #{} whose transport closed before the get began",
                lease.nth
            );
            assert!(
                !(drained_before && lease.addr() == addr(1)),
                "leased a connection drained before the get began"
            );
            hold(pool, lease, scenario, seen).await
        }
        Err(Error::Closed) => assert!(
            seen.closing.load(Ordering::SeqCst),
            "get failed with Closed on a pool that is not closing"
        ),
        Err(Error::Timeout { .. }) => {}
        Err(Error::Dial { .. }) => {
            assert_ne!(scenario.dials, DialPlan::AllOk, "no dial failed")
        }
        Err(other) => panic!("unexpected get error {other:?}"),
    }
}

async fn hold(
    pool: &Pool<FakeDialer>,
    mut lease: Lease<FakeDialer>,
    scenario: Scenario,
    seen: &Observed,
) {
    let id = lease.conn_id();
    {
        let mut held = seen.held.lock().unwrap();
        let n = held.entry(id).or_default();
        *n += 1;
        assert!(
            *n <= scenario.capacity,
            "{id:?} leased {n} times at once, capacity {}",
            scenario.capacity
        );
        // With the holders' counts fixed (their lock), every held lease is in the gauge of
        // a connection still in the pool.
        let holding: usize = held.values().sum();
        let stats = pool.stats();
        assert!(
            stats.leases_out as usize >= holding,
            "{holding} leases held but the pool counts {}",
            stats.leases_out
        );
        for c in pool.connections() {
            assert!(c.leases <= c.capacity, "a gauge above its capacity: {c:?}");
        }
    }
    yield_now().await; // the request
    *seen.held.lock().unwrap().get_mut(&id).unwrap() -= 1;
    if scenario.break_on_return {
        lease.mark_broken();
    }
    drop(lease);
}

/// One execution: users (and maybe a closer and a dropped warm-up) race on a real pool;
/// then the pool is closed and checked.
fn run(scenario: Scenario) {
    block_on(async move {
        let open = Arc::new(AtomicUsize::new(0));
        let dialer = FakeDialer {
            plan: scenario.dials,
            capacity: scenario.capacity,
            started: AtomicUsize::new(0),
            open: open.clone(),
            dead_below: Arc::default(),
        };
        let options = PoolOptions {
            max_connections: 8,
            max_conns_per_host: 8,
            max_idle_conns: 8,
            max_conns_per_ip: scenario.max_conns_per_ip,
            // Nothing is time-driven here: the paths under test are lease, release, close.
            idle_timeout: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(7200),
            keep_warm: false,
            health_check_interval: None,
            warm_concurrency: 1,
            ..PoolOptions::default()
        };
        let pool = Pool::new(dialer, options).unwrap();
        pool.set_addrs(HOST, (1..=scenario.addrs).map(addr));
        let seen = Arc::new(Observed::default());

        let mut tasks = Vec::new();
        for _ in 0..scenario.users {
            tasks.push(spawn(user(pool.clone(), scenario, seen.clone())));
        }
        if scenario.close_during_load {
            let (pool, seen) = (pool.clone(), seen.clone());
            tasks.push(spawn(async move {
                yield_now().await;
                seen.closing.store(true, Ordering::SeqCst);
                pool.close().await;
            }));
        }
        if scenario.kill_during_load {
            let pool = pool.clone();
            tasks.push(spawn(async move {
                yield_now().await;
                let dialer = pool.dialer();
                let dialed = dialer.started.load(Ordering::SeqCst);
                dialer.dead_below.store(dialed, Ordering::SeqCst);
            }));
        }
        if scenario.drain_during_load {
            let (pool, seen) = (pool.clone(), seen.clone());
            tasks.push(spawn(async move {
                yield_now().await;
                pool.set_addrs(HOST, [addr(2)]);
                seen.drained.store(true, Ordering::SeqCst);
            }));
        }
        if scenario.shed_during_load {
            let pool = pool.clone();
            tasks.push(spawn(async move {
                yield_now().await;
                pool.shed(1.0);
            }));
        }
        if scenario.dropped_warm {
            let pool = pool.clone();
            tasks.push(spawn(async move {
                let mut warm = pin!(pool.warm(HOST));
                let first = std::future::poll_fn(|cx| Poll::Ready(warm.as_mut().poll(cx))).await;
                drop(first); // a finished warm-up, or one dropped part-way
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        seen.closing.store(true, Ordering::SeqCst);
        pool.close().await;

        let stats = pool.stats();
        assert_eq!(stats.connections, 0, "closed pool not empty: {stats:?}");
        assert_eq!(stats.dialing, 0, "dials left: {stats:?}");
        assert_eq!(stats.leases_out, 0, "leases still counted out: {stats:?}");
        assert_eq!(stats.waiters, 0, "waiters left: {stats:?}");
        assert!(seen.held.lock().unwrap().values().all(|n| *n == 0));
        assert_eq!(
            open.load(Ordering::SeqCst),
            0,
            "a transport handle outlived close()"
        );
        drop(pool);
    });
}

const ITERATIONS: usize = 300;

fn config() -> Config {
    let mut config = Config::new();
    config.max_steps = MaxSteps::FailAfter(20_000);
    config.failure_persistence = shuttle::FailurePersistence::Print;
    config
}

/// Explores `scenario` with a seeded random scheduler and a seeded PCT scheduler.
fn explore(scenario: Scenario) {
    let random = RandomScheduler::new_from_seed(0x5eed, ITERATIONS);
    Runner::new(random, config()).run(move || run(scenario));
    let pct = PctScheduler::new_from_seed(0x9c7, 3, ITERATIONS);
    Runner::new(pct, config()).run(move || run(scenario));
}

#[test]
fn exclusive_connection_contended_with_a_timeout_race() {
    explore(BASE);
}

#[test]
fn multiplexed_connections_on_two_addresses() {
    explore(Scenario {
        addrs: 2,
        capacity: 2,
        users: 4,
        ..BASE
    });
}

#[test]
fn close_during_load_with_dials_in_flight() {
    explore(Scenario {
        addrs: 2,
        close_during_load: true,
        ..BASE
    });
    explore(Scenario {
        capacity: 2,
        users: 3,
        close_during_load: true,
        ..BASE
    });
}

#[test]
fn broken_connections_are_replaced_for_waiters() {
    explore(Scenario {
        break_on_return: true,
        ..BASE
    });
}

#[test]
fn failed_and_cancelled_dials_neither_hang_nor_leak() {
    explore(Scenario {
        dials: DialPlan::FirstFails,
        ..BASE
    });
    explore(Scenario {
        addrs: 3,
        dropped_warm: true,
        ..BASE
    });
    explore(Scenario {
        addrs: 3,
        dropped_warm: true,
        close_during_load: true,
        dials: DialPlan::FirstFails,
        ..BASE
    });
}

#[test]
fn closed_transports_are_never_leased() {
    explore(Scenario {
        addrs: 2,
        users: 4,
        kill_during_load: true,
        ..BASE
    });
    explore(Scenario {
        capacity: 2,
        users: 4,
        kill_during_load: true,
        ..BASE
    });
}

#[test]
fn the_fast_lane_never_leases_a_drained_or_shed_connection() {
    explore(Scenario {
        addrs: 2,
        capacity: 2,
        users: 3,
        rounds: 2,
        drain_during_load: true,
        ..BASE
    });
    explore(Scenario {
        addrs: 2,
        users: 3,
        rounds: 2,
        shed_during_load: true,
        ..BASE
    });
    explore(Scenario {
        capacity: 2,
        users: 3,
        rounds: 2,
        shed_during_load: true,
        close_during_load: true,
        ..BASE
    });
}

/// The checker has teeth on the real pool: a lease that is never returned keeps `close()`
/// waiting forever, and shuttle reports the blocked task as a deadlock.
#[test]
fn a_lease_never_returned_is_caught() {
    let found = std::panic::catch_unwind(|| {
        let random = RandomScheduler::new_from_seed(0x5eed, 20);
        let mut config = config();
        config.failure_persistence = shuttle::FailurePersistence::None;
        Runner::new(random, config).run(|| {
            block_on(async {
                let dialer = FakeDialer {
                    plan: DialPlan::AllOk,
                    capacity: 1,
                    started: AtomicUsize::new(0),
                    open: Arc::new(AtomicUsize::new(0)),
                    dead_below: Arc::default(),
                };
                let pool = Pool::new(dialer, PoolOptions::default()).unwrap();
                pool.set_addrs(HOST, [addr(1)]);
                let lease = pool.get(HOST).await;
                std::mem::forget(lease);
                pool.close().await;
            })
        });
    });
    let message = found.expect_err("shuttle did not find the blocked close()");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        text.contains("deadlock"),
        "unexpected failure found: {text}"
    );
}
