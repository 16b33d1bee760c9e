//! Concurrency model checking of the lease / release / close paths with shuttle.
//!
//! The async `Pool` runs on tokio (tasks, timers, oneshot channels), which a model checker
//! cannot drive. What can go wrong concurrently is the *protocol* the shell uses around the
//! one mutex: decide under the lock (`PoolState` calls, then draining `poll_action`), act
//! after releasing it (deliver grants on channels, run dials, drop closed handles), and the
//! waiter's timeout path (`cancel_waiter`, and when that says "already served", take the
//! grant that raced in). This file re-states that protocol step for step with shuttle's
//! mutex, channels and threads around the **real** `PoolState`, and lets shuttle explore
//! the interleavings (random and PCT schedulers, seeded, bounded iterations).
//!
//! Checked in every explored schedule:
//! - a lease is never granted beyond a connection's capacity (no double grant), and every
//!   lease the core counted is either delivered to its caller or returned (none lost);
//! - every `get` ends exactly once: a lease, a timeout, a dial error, or `Closed` — and
//!   `Closed` only once `close()` has started;
//! - no waiter waits forever while leases are returned (shuttle reports a deadlock);
//! - `close()` completes (its wake-up is never lost) with no connection, dial, lease or
//!   waiter left, and every transport handle is dropped, including those of dials that
//!   finished after the close.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pool_core::proto::{Action, Checkout, ConnId, DialRequest, PoolState, WaiterId};
use pool_core::{DialError, DialErrorKind, Outcome, PoolOptions};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use shuttle::sync::{Arc, Condvar, Mutex};
use shuttle::thread;
use shuttle::{Config, MaxSteps, Runner};

const HOST: &str = "model.test";

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], 443))
}

/// A transport handle: counts itself open until dropped (a stand-in for a socket).
struct Handle {
    open: StdArc<AtomicUsize>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a waiter whose timeout fired after `cancel_waiter` said "already served" gets its
/// grant.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TimeoutPath {
    /// Wait for the grant: it is sent right after the serving thread releases the lock.
    Await,
    /// Read the channel once (what the shell did before the fix: the grant may not be
    /// sent yet, and the caller got `Closed` from an open pool).
    TryOnce,
}

/// What the dial tasks report, by the order the dials were started in.
#[derive(Clone, Copy, Debug)]
enum DialPlan {
    /// Every dial succeeds.
    AllOk,
    /// The first dial fails (a validation rejection), the rest succeed.
    FirstFails,
    /// The first dial never reports (its task was aborted): the reservation is cancelled.
    FirstCancelled,
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    addrs: u8,
    capacity: usize,
    max_conns_per_ip: usize,
    /// Callers of `get`; each holds its lease for a moment and returns it.
    users: usize,
    /// Of those, how many give up after a few scheduling steps (the others wait).
    impatient: usize,
    /// Whether users report their connection broken when returning it.
    break_on_return: bool,
    /// Whether a thread calls `close()` while the users run.
    close_during_load: bool,
    dials: DialPlan,
    timeout_path: TimeoutPath,
}

/// What a `get` ended with.
#[derive(Debug)]
enum GetResult {
    Lease(Lease),
    Timeout,
    DialFailed,
    Closed,
}

/// What the core decided that is carried out after the lock (as in `pool.rs`).
enum Effect {
    Deliver(Sender<GetResult>, GetResult),
    Dial(DialRequest),
    Close(Handle),
    Return(Lease),
}

struct Shared {
    core: PoolState<Handle>,
    waiters: HashMap<WaiterId, Sender<GetResult>>,
}

/// The shell's state, as in `pool.rs`: one mutex around the core and the waiters' senders.
struct Shell {
    scenario: Scenario,
    shared: Mutex<Shared>,
    /// `Notify` for `close()`: an epoch bumped (and broadcast) whenever an `after` sees the
    /// pool closing and empty; `close()` reads it before checking emptiness (`enable()`).
    emptied: Mutex<u64>,
    emptied_cv: Condvar,
    dial_tasks: Mutex<Vec<thread::JoinHandle<()>>>,
    dials_started: AtomicUsize,
    closing: AtomicBool,
    /// Transport handles created and not dropped yet.
    open_handles: StdArc<AtomicUsize>,
    /// Leases out, per connection, as the lease holders see them.
    held: std::sync::Mutex<HashMap<ConnId, usize>>,
    /// Grants nobody waited for any more, returned by the shell.
    returned: AtomicU64,
    epoch: Instant,
}

/// A lease held by a user thread; returns itself on drop.
struct Lease {
    shell: Arc<Shell>,
    id: ConnId,
    outcome: Outcome,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({:?})", self.id)
    }
}

impl Lease {
    fn new(shell: &Arc<Shell>, id: ConnId) -> Self {
        let mut held = shell.held.lock().unwrap();
        let n = held.entry(id).or_default();
        *n += 1;
        assert!(
            *n <= shell.scenario.capacity,
            "{id:?} leased {n} times at once, capacity {}",
            shell.scenario.capacity
        );
        Lease {
            shell: shell.clone(),
            id,
            outcome: Outcome::Success,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *self.shell.held.lock().unwrap().get_mut(&self.id).unwrap() -= 1;
        let mut shared = self.shell.shared.lock().unwrap();
        let now = self.shell.now();
        shared
            .core
            .release(self.id, self.outcome, self.shell.scenario.capacity, now);
        self.shell.after(shared);
    }
}

impl Shell {
    fn new(scenario: Scenario) -> Arc<Self> {
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
            ..PoolOptions::default()
        };
        let mut core = PoolState::new(options);
        let _ = core.set_addrs(HOST, (1..=scenario.addrs).map(addr));
        Arc::new(Shell {
            scenario,
            shared: Mutex::new(Shared {
                core,
                waiters: HashMap::new(),
            }),
            emptied: Mutex::new(0),
            emptied_cv: Condvar::new(),
            dial_tasks: Mutex::new(Vec::new()),
            dials_started: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            open_handles: StdArc::new(AtomicUsize::new(0)),
            held: std::sync::Mutex::new(HashMap::new()),
            returned: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn now(&self) -> Instant {
        self.epoch
    }

    /// `Inner::after`: drain the core's actions under the lock, carry them out after it.
    fn after(self: &Arc<Self>, mut shared: shuttle::sync::MutexGuard<'_, Shared>) {
        let mut effects = Vec::new();
        while let Some(action) = shared.core.poll_action() {
            match action {
                Action::Dial(request) => effects.push(Effect::Dial(request)),
                Action::Grant { waiter, conn } => {
                    assert!(shared.core.handle(conn).is_some(), "grant of a closed conn");
                    let lease = Lease::new(self, conn);
                    match shared.waiters.remove(&waiter) {
                        Some(tx) => effects.push(Effect::Deliver(tx, GetResult::Lease(lease))),
                        None => effects.push(Effect::Return(lease)),
                    }
                }
                Action::Fail { waiter, error } => {
                    if let Some(tx) = shared.waiters.remove(&waiter) {
                        let result = match error {
                            pool_core::Error::Closed => GetResult::Closed,
                            pool_core::Error::Dial { .. } => GetResult::DialFailed,
                            other => panic!("unexpected failure {other:?}"),
                        };
                        effects.push(Effect::Deliver(tx, result));
                    }
                }
                Action::Close { handle, .. } => effects.push(Effect::Close(handle)),
                Action::ProbesDue => {}
            }
        }
        let emptied = shared.core.is_closing() && shared.core.is_empty();
        drop(shared);
        for effect in effects {
            match effect {
                Effect::Deliver(tx, result) => {
                    // A receiver that gave up drops the result (a lease returns itself).
                    let _ = tx.send(result);
                }
                Effect::Dial(request) => self.spawn_dial(request),
                Effect::Close(handle) => drop(handle),
                Effect::Return(lease) => {
                    self.returned.fetch_add(1, Ordering::SeqCst);
                    drop(lease);
                }
            }
        }
        if emptied {
            *self.emptied.lock().unwrap() += 1;
            self.emptied_cv.notify_all();
        }
    }

    /// `Inner::dial` as a thread: dial, then report under the lock (or cancel).
    fn spawn_dial(self: &Arc<Self>, request: DialRequest) {
        let nth = self.dials_started.fetch_add(1, Ordering::SeqCst);
        let shell = self.clone();
        let task = thread::spawn(move || {
            thread::yield_now(); // the handshake
            let mut shared = shell.shared.lock().unwrap();
            let now = shell.now();
            match (shell.scenario.dials, nth) {
                (DialPlan::FirstCancelled, 0) => shared.core.cancel_dial(request.id, now),
                (DialPlan::FirstFails, 0) => {
                    let error = DialError::new(DialErrorKind::Rejected, "validation failed");
                    let admitted = shared.core.handle_dial_result(request.id, Err(error), now);
                    assert!(admitted.is_none());
                }
                _ => {
                    shell.open_handles.fetch_add(1, Ordering::SeqCst);
                    let handle = Handle {
                        open: shell.open_handles.clone(),
                    };
                    let cap = shell.scenario.capacity;
                    let _ = shared
                        .core
                        .handle_dial_result(request.id, Ok((handle, cap)), now);
                }
            }
            shell.after(shared);
        });
        self.dial_tasks.lock().unwrap().push(task);
    }

    /// `Pool::get`, with the timeout modelled as "nothing arrived within `patience`
    /// scheduling steps" (None: wait until served or failed).
    fn get(self: &Arc<Self>, patience: Option<usize>) -> GetResult {
        let (waiter, rx): (WaiterId, Receiver<GetResult>) = {
            let mut shared = self.shared.lock().unwrap();
            match shared.core.checkout(HOST) {
                Ok(Checkout::Ready(id)) => {
                    let lease = Lease::new(self, id);
                    self.after(shared);
                    return GetResult::Lease(lease);
                }
                Ok(Checkout::Wait(waiter)) => {
                    let (tx, rx) = channel();
                    shared.waiters.insert(waiter, tx);
                    self.after(shared);
                    (waiter, rx)
                }
                Err(pool_core::Error::Closed) => {
                    drop(shared);
                    return GetResult::Closed;
                }
                Err(other) => panic!("unexpected checkout error {other:?}"),
            }
        };
        let Some(patience) = patience else {
            return rx.recv().unwrap_or(GetResult::Closed);
        };
        for _ in 0..patience {
            match rx.try_recv() {
                Ok(result) => return result,
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => return GetResult::Closed,
            }
        }
        // The timeout fired.
        let cancelled = {
            let mut shared = self.shared.lock().unwrap();
            shared.waiters.remove(&waiter);
            shared.core.cancel_waiter(waiter)
        };
        if cancelled {
            return GetResult::Timeout;
        }
        // Served (or failed) at the instant the timeout fired.
        match self.scenario.timeout_path {
            TimeoutPath::Await => rx.recv().unwrap_or(GetResult::Closed),
            TimeoutPath::TryOnce => rx.try_recv().unwrap_or(GetResult::Closed),
        }
    }

    /// `Pool::close`: close the core, then wait (without losing a wake-up) until empty.
    fn close(self: &Arc<Self>) {
        self.closing.store(true, Ordering::SeqCst);
        {
            let mut shared = self.shared.lock().unwrap();
            shared.core.close();
            self.after(shared);
        }
        loop {
            let seen = *self.emptied.lock().unwrap(); // `enable()`
            if self.shared.lock().unwrap().core.is_empty() {
                break;
            }
            let mut epoch = self.emptied.lock().unwrap();
            while *epoch == seen {
                epoch = self.emptied_cv.wait(epoch).unwrap();
            }
        }
    }

    fn join_dials(&self) {
        loop {
            let task = self.dial_tasks.lock().unwrap().pop();
            match task {
                Some(task) => task.join().unwrap(),
                None => break,
            }
        }
    }
}

/// One execution: users (and maybe a closer) race; then the pool is closed and checked.
fn run(scenario: Scenario) {
    let shell = Shell::new(scenario);
    let leases_ok = StdArc::new(AtomicU64::new(0));
    let mut users = Vec::new();
    for i in 0..scenario.users {
        let shell = shell.clone();
        let leases_ok = leases_ok.clone();
        users.push(thread::spawn(move || {
            let patience = (i < scenario.impatient).then_some(2);
            let result = shell.get(patience);
            match result {
                GetResult::Lease(mut lease) => {
                    leases_ok.fetch_add(1, Ordering::SeqCst);
                    thread::yield_now(); // the request
                    if scenario.break_on_return {
                        lease.outcome = Outcome::Broken;
                    }
                    drop(lease);
                }
                GetResult::Closed => assert!(
                    shell.closing.load(Ordering::SeqCst),
                    "get failed with Closed on a pool that is not closing"
                ),
                GetResult::Timeout => assert!(i < scenario.impatient, "a patient get timed out"),
                GetResult::DialFailed => {
                    assert!(!matches!(scenario.dials, DialPlan::AllOk), "no dial failed")
                }
            }
        }));
    }
    let closer = scenario.close_during_load.then(|| {
        let shell = shell.clone();
        thread::spawn(move || {
            thread::yield_now();
            shell.close();
        })
    });
    for user in users {
        user.join().unwrap();
    }
    if let Some(closer) = closer {
        closer.join().unwrap();
    }
    shell.close();
    shell.join_dials();

    let shared = shell.shared.lock().unwrap();
    let stats = shared.core.stats();
    assert!(shared.core.is_empty(), "closed pool not empty: {stats:?}");
    assert_eq!(stats.connections, 0);
    assert_eq!(stats.leases_out, 0, "leases still counted out");
    assert_eq!(stats.waiters, 0);
    assert!(shared.waiters.is_empty(), "a waiter's sender was kept");
    assert_eq!(
        stats.leases_total,
        leases_ok.load(Ordering::SeqCst) + shell.returned.load(Ordering::SeqCst),
        "a lease the core counted was neither delivered nor returned"
    );
    drop(shared);
    assert!(shell.held.lock().unwrap().values().all(|n| *n == 0));
    assert_eq!(
        shell.open_handles.load(Ordering::SeqCst),
        0,
        "a transport handle was never dropped"
    );
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

const BASE: Scenario = Scenario {
    addrs: 1,
    capacity: 1,
    max_conns_per_ip: 1,
    users: 3,
    impatient: 1,
    break_on_return: false,
    close_during_load: false,
    dials: DialPlan::AllOk,
    timeout_path: TimeoutPath::Await,
};

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
        impatient: 0,
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
        impatient: 0,
        dials: DialPlan::FirstFails,
        ..BASE
    });
    explore(Scenario {
        impatient: 0,
        dials: DialPlan::FirstCancelled,
        ..BASE
    });
    explore(Scenario {
        dials: DialPlan::FirstCancelled,
        close_during_load: true,
        ..BASE
    });
}

/// The checker has teeth: the shell's former timeout path (read the channel once after
/// `cancel_waiter` reported the waiter served) hands a caller `Closed` from an open pool
/// when the grant is decided but not yet sent. Shuttle finds that schedule.
#[test]
fn former_timeout_path_is_caught() {
    let scenario = Scenario {
        impatient: 2,
        timeout_path: TimeoutPath::TryOnce,
        ..BASE
    };
    let found = std::panic::catch_unwind(|| {
        let random = RandomScheduler::new_from_seed(0x5eed, 2_000);
        let mut config = config();
        config.failure_persistence = shuttle::FailurePersistence::None;
        Runner::new(random, config).run(move || run(scenario));
    });
    let message = found.expect_err("shuttle did not find the lost-grant schedule");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        text.contains("not closing"),
        "unexpected failure found: {text}"
    );
}
