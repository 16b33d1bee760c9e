//! What the pool shares with its tasks (the locked state, the waiters, and the [`Signals`]
//! its background tasks hold), and the one step every operation ends with: decide under
//! the lock ([`Inner::after`] drains the state machine's actions), act after releasing it
//! (deliver grants, spawn dials, drop closed handles).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tracing::Instrument;

use super::lane::{Lane, LaneEntry, Lease};
use super::proto::{Action, ConnId, DialId, DialPurpose, DialRequest, Opened, PoolState, WaiterId};
use super::rt::{self, AbortHandle, AtomicBool, AtomicUsize, Mutex, MutexGuard};
use crate::fleet::{FleetEvent, SharedState};
use crate::metrics::PoolMetrics;
use crate::types::Outcome;
use crate::{Connection, DialError, Dialer, Error, PoolOptions, Target};

/// The sender a waiting `get` receives its lease (or error) on.
pub(super) type Grant<D> = oneshot::Sender<Result<Lease<D>, Error>>;

pub(super) struct Inner<D: Dialer> {
    pub(super) dialer: D,
    shared: Mutex<Shared<D>>,
    /// Leases and returns that need no decision of the state machine (see `lane`).
    pub(super) lane: Lane<D>,
    pub(super) signals: Arc<Signals>,
    /// Wakes `probes_due()` callers (one permit is stored when nobody waits).
    pub(super) probes_due: Notify,
    /// Wakes `close()` when the last connection or dial is gone.
    pub(super) emptied: Notify,
    /// [`Inner::after`] calls that released the lock and are still carrying out their
    /// effects (e.g. dropping the handle of a connection closed by a late dial): `close()`
    /// completes only when there are none, so every pooled transport handle is dropped by
    /// then. Incremented under the lock, so a check under the lock sees it.
    acting: AtomicUsize,
    /// Becomes true when `close()` is called; watched by `closed()` (background tasks
    /// built on the pool, such as DNS refresh and health checks, stop on it).
    pub(super) closing: tokio::sync::watch::Sender<bool>,
    pub(super) checkout_timeout: Duration,
    pub(super) warm_concurrency: usize,
    pub(super) metrics: PoolMetrics,
    /// The fleet backend, if the pool shares its blacklist (`Pool::with_shared_state`).
    fleet: Option<Arc<dyn SharedState>>,
    /// `blacklist_check_interval`: how long a re-test lease of the fleet lasts.
    retest_interval: Duration,
    /// Requests the request layer sent again ([`crate::Pool::count_resend`]): refused
    /// (certainly not processed) and lost (a reused connection failed under them).
    pub(super) resent_refused: AtomicUsize,
    pub(super) resent_lost: AtomicUsize,
}

pub(super) struct Shared<D: Dialer> {
    pub(super) core: PoolState<Pooled<D>>,
    /// Callers waiting in `get`, by the id the core gave them.
    pub(super) waiters: HashMap<WaiterId, Grant<D>>,
}

/// The handle the core keeps per connection.
pub(super) struct Pooled<D: Dialer> {
    pub(super) conn: Arc<D::Conn>,
    /// The host it was dialed for (its lane entry is found by it when it closes).
    host: Arc<str>,
    /// What its leases hold (set when the core admits it).
    pub(super) entry: Option<Arc<LaneEntry<D>>>,
    /// The task watching `Connection::closed`; aborted when the connection leaves.
    watcher: Option<AbortHandle>,
}

impl<D: Dialer> Drop for Pooled<D> {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// What the pool's background tasks (the driver, the memory-pressure task) hold of it: the
/// driver's wake-up and the stop flag, without keeping the pool alive.
pub(super) struct Signals {
    wake: Notify,
    /// Set when the pool is closed (the driver and the memory-pressure task end).
    pub(super) stopped: AtomicBool,
}

impl Signals {
    pub(super) fn new() -> Self {
        Self {
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Resolves at the next [`Signals::wake`] or [`Signals::stop`] (the driver's wait).
    pub(super) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// Makes the driver re-read the deadline (it moved).
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Ends the driver (the pool is closed).
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Work decided under the lock and carried out after it is released.
enum Effect<D: Dialer> {
    Deliver(Grant<D>, Result<Lease<D>, Error>),
    Dial(DialRequest),
    Close(Pooled<D>),
    /// A grant nobody waits for any more: dropping the lease returns it (outside the lock).
    Return(Lease<D>),
    ProbesDue,
    Publish(FleetEvent),
}

impl<D: Dialer> Inner<D> {
    pub(super) fn new(
        dialer: D,
        options: PoolOptions,
        fleet: Option<Arc<dyn SharedState>>,
    ) -> Arc<Self> {
        let mut core = PoolState::new(options.clone());
        core.share_blacklist(fleet.is_some());
        core.set_closed_check(|pooled: &Pooled<D>| pooled.conn.is_closed());
        let epoch = core.set_epoch(rt::now());
        Arc::new(Inner {
            dialer,
            lane: Lane::new(options.max_idle_conns, options.placement, epoch),
            checkout_timeout: options.checkout_timeout,
            warm_concurrency: options.warm_concurrency,
            retest_interval: options.blacklist_check_interval,
            fleet,
            shared: Mutex::new(Shared {
                core,
                waiters: HashMap::new(),
            }),
            signals: Arc::new(Signals::new()),
            probes_due: Notify::new(),
            emptied: Notify::new(),
            acting: AtomicUsize::new(0),
            resent_refused: AtomicUsize::new(0),
            resent_lost: AtomicUsize::new(0),
            closing: tokio::sync::watch::Sender::new(false),
            metrics: PoolMetrics::new(),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Shared<D>> {
        // No user code runs under this lock, so a poisoned lock still holds consistent state.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn lease_for(self: &Arc<Self>, shared: &Shared<D>, id: ConnId) -> Option<Lease<D>> {
        let entry = shared.core.handle(id)?.entry.clone()?;
        Some(Lease::new(entry))
    }

    /// Carries out the core's actions: decided under the lock, performed after it.
    pub(super) fn after(self: &Arc<Self>, mut shared: MutexGuard<'_, Shared<D>>) {
        if !shared.core.has_actions() && !shared.core.is_closing() {
            // The common case of a lease and a release: nothing to carry out.
            let wake_driver = shared.core.take_deadline_moved();
            drop(shared);
            if wake_driver {
                self.signals.wake();
            }
            return;
        }
        let mut effects: Vec<Effect<D>> = Vec::new();
        while let Some(action) = shared.core.poll_action() {
            match action {
                Action::Dial(request) => effects.push(Effect::Dial(request)),
                Action::Grant { waiter, conn } => {
                    let lease = self.lease_for(&shared, conn);
                    match (shared.waiters.remove(&waiter), lease) {
                        (Some(tx), Some(lease)) => effects.push(Effect::Deliver(tx, Ok(lease))),
                        (None, Some(lease)) => effects.push(Effect::Return(lease)),
                        (Some(tx), None) => effects.push(Effect::Deliver(tx, Err(Error::Closed))),
                        (None, None) => {}
                    }
                }
                Action::Fail { waiter, error } => {
                    if let Some(tx) = shared.waiters.remove(&waiter) {
                        effects.push(Effect::Deliver(tx, Err(error)));
                    }
                }
                Action::Close {
                    conn,
                    handle,
                    reason,
                } => {
                    self.lane.remove(&handle.host, conn);
                    self.metrics.closed(reason);
                    effects.push(Effect::Close(handle));
                }
                Action::ProbesDue => effects.push(Effect::ProbesDue),
                Action::Rewarmed { after, .. } => {
                    self.metrics.rewarm_seconds.record(after.as_secs_f64());
                }
                Action::Publish(event) => effects.push(Effect::Publish(event)),
            }
        }
        let wake_driver = shared.core.take_deadline_moved();
        let emptied = shared.core.is_closing() && shared.core.is_empty();
        let _acting = (!effects.is_empty()).then(|| Acting::start(self, emptied));
        drop(shared);
        if wake_driver {
            self.signals.wake();
        }
        if effects.is_empty() {
            if emptied {
                self.emptied.notify_waiters();
            }
            return;
        }
        for effect in effects {
            match effect {
                Effect::Deliver(tx, result) => {
                    // A receiver that gave up drops the lease, which returns it.
                    let _ = tx.send(result);
                }
                Effect::Dial(request) => {
                    let inner = self.clone();
                    let _detached = rt::spawn(async move {
                        let _ = inner.dial(request).await;
                    });
                }
                Effect::Close(handle) => drop(handle),
                Effect::Return(lease) => drop(lease),
                Effect::ProbesDue => self.probes_due.notify_one(),
                Effect::Publish(event) => {
                    if let Some(fleet) = &self.fleet {
                        fleet.publish(event);
                    }
                }
            }
        }
        // `_acting` ends here (also when a transport's drop panics), waking `close()`.
    }

    /// Whether a closing pool is done: no connection or dial left, and no effects (handle
    /// drops) still being carried out.
    pub(super) fn is_emptied(&self) -> bool {
        let shared = self.lock();
        shared.core.is_empty() && self.acting.load(Ordering::SeqCst) == 0
    }

    /// Runs one dial the core asked for and reports the result to it. If the dial never
    /// finishes (its task is aborted, or the dialer panics), the reservation is cancelled.
    pub(super) async fn dial(self: Arc<Self>, request: DialRequest) -> Result<(), DialError> {
        let mut unreported = UnreportedDial {
            inner: self.clone(),
            dial: Some(request.id),
        };
        if request.purpose == DialPurpose::Retest {
            if let Some(fleet) = &self.fleet {
                if !fleet.retest_lease(request.addr, self.retest_interval).await {
                    // Another pool of the fleet re-tests it this interval: the dial is
                    // cancelled (on drop of `unreported`), the next re-test is due later.
                    return Ok(());
                }
            }
        }
        let target = Target {
            host: request.host.clone(),
            addr: request.addr,
        };
        let span = tracing::debug_span!(
            "hotpool.dial",
            host = %request.host,
            addr = %request.addr,
            purpose = ?request.purpose,
        );
        let started = rt::now();
        let result = self.dialer.dial(&target).instrument(span).await;
        self.metrics
            .dial_seconds
            .record(rt::elapsed(started).as_secs_f64());
        self.metrics.dials.increment(1);
        let (core_result, outcome) = match result {
            Ok(conn) => {
                let opened = Opened {
                    capacity: conn.capacity(),
                    protocol: conn.protocol(),
                };
                let pooled = Pooled {
                    conn: Arc::new(conn),
                    host: request.host.clone(),
                    entry: None,
                    watcher: None,
                };
                (Ok((pooled, opened)), Ok(()))
            }
            Err(error) => {
                self.metrics.dial_failed(error.kind());
                (Err(error.clone()), Err(error))
            }
        };
        unreported.dial = None;
        let mut shared = self.lock();
        let admitted = shared
            .core
            .handle_dial_result(request.id, core_result, rt::now());
        if let Some(id) = admitted {
            self.watch(&mut shared, id);
            if let Some(gauge) = shared.core.gauge(id) {
                if let Some(pooled) = shared.core.handle_mut(id) {
                    let conn = pooled.conn.clone();
                    let entry = self.lane.entry(&self, id, request.addr, conn, gauge);
                    pooled.entry = Some(entry.clone());
                    self.lane.admit(&request.host, entry);
                }
            }
        }
        self.after(shared);
        outcome
    }

    /// Spawns the task that removes `id` as soon as its transport reports it closed.
    fn watch(self: &Arc<Self>, shared: &mut Shared<D>, id: ConnId) {
        let Some(pooled) = shared.core.handle_mut(id) else {
            return;
        };
        let closed = pooled.conn.closed();
        let conn = Arc::downgrade(&pooled.conn);
        let pool = Arc::downgrade(self);
        let task = rt::spawn(async move {
            closed.await;
            let reason = conn
                .upgrade()
                .map_or(crate::CloseReason::Broken, |c| c.close_reason());
            if let Some(inner) = pool.upgrade() {
                let now = rt::now();
                let mut shared = inner.lock();
                shared.core.handle_conn_closed(id, reason, now);
                inner.after(shared);
            }
        });
        pooled.watcher = Some(task);
    }

    /// Returns a lease under the lock (the lane's return could not: see `LaneEntry::release`).
    pub(super) fn release(self: &Arc<Self>, id: ConnId, outcome: Outcome, capacity: usize) {
        let now = rt::now(); // read before the lock: the clock is not the lock's to hold
        let mut shared = self.lock();
        shared.core.release(id, outcome, capacity, now);
        self.after(shared);
    }

    /// Cancels dial reservations that will never be run (under one lock).
    pub(super) fn cancel_dials(self: &Arc<Self>, dials: impl IntoIterator<Item = DialId>) {
        let mut shared = self.lock();
        for dial in dials {
            shared.core.cancel_dial(dial, rt::now());
        }
        self.after(shared);
    }
}

/// One [`Inner::after`] carrying out its effects; started under the lock. When it ends
/// (also by unwinding), `close()` is woken if the pool emptied or this was the last one.
struct Acting<'a, D: Dialer> {
    inner: &'a Inner<D>,
    emptied: bool,
}

impl<'a, D: Dialer> Acting<'a, D> {
    fn start(inner: &'a Inner<D>, emptied: bool) -> Self {
        inner.acting.fetch_add(1, Ordering::SeqCst);
        Self { inner, emptied }
    }
}

impl<D: Dialer> Drop for Acting<'_, D> {
    fn drop(&mut self) {
        let last = self.inner.acting.fetch_sub(1, Ordering::SeqCst) == 1;
        if self.emptied || (last && *self.inner.closing.borrow()) {
            self.inner.emptied.notify_waiters();
        }
    }
}

/// Cancels, on drop, a dial that never reported its result.
struct UnreportedDial<D: Dialer> {
    inner: Arc<Inner<D>>,
    dial: Option<DialId>,
}

impl<D: Dialer> Drop for UnreportedDial<D> {
    fn drop(&mut self) {
        if let Some(dial) = self.dial.take() {
            self.inner.cancel_dials([dial]);
        }
    }
}
