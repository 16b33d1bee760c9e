//! The async shell: [`Pool`] drives the sans-IO [`PoolState`] on tokio.
//!
//! One mutex guards the state; nothing awaits while holding it and no user code runs under
//! it, so a panic in user code can never poison it. Dials, watchers and the driver are
//! tokio tasks; handles of closed connections are dropped outside the lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use crate::OptionsError;
use crate::metrics::PoolMetrics;
use crate::proto::{Action, AddrChange, Checkout, ConnId, DialRequest, PoolState, WaiterId};
use crate::types::{ConnInfo, Outcome, ProbeVerdict, Stats};
use crate::{Connection, DialError, Dialer, Error, PoolOptions, Target};

/// How often the driver refreshes the gauges even when nothing is due.
const GAUGE_REFRESH: Duration = Duration::from_secs(1);

/// A hot connection pool over any [`Dialer`]. Cheap to clone: clones share one pool.
///
/// Must be created inside a tokio runtime (it spawns its driver task).
pub struct Pool<D: Dialer> {
    inner: Arc<Inner<D>>,
}

impl<D: Dialer> Clone for Pool<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<D: Dialer> {
    dialer: D,
    shared: Mutex<Shared<D>>,
    signals: Arc<Signals>,
    /// Wakes `probes_due()` callers (one permit is stored when nobody waits).
    probes_due: Notify,
    /// Wakes `close()` when the last connection or dial is gone.
    emptied: Notify,
    /// Becomes true when `close()` is called; watched by `closed()` (background tasks
    /// built on the pool, such as DNS refresh and health checks, stop on it).
    closing: tokio::sync::watch::Sender<bool>,
    checkout_timeout: Duration,
    warm_concurrency: usize,
    metrics: PoolMetrics,
}

/// What the driver task shares with the pool without keeping it alive.
struct Signals {
    wake: Notify,
    stop: std::sync::atomic::AtomicBool,
}

struct Shared<D: Dialer> {
    core: PoolState<Pooled<D::Conn>>,
    /// Callers waiting in `get`, by the id the core gave them.
    waiters: HashMap<WaiterId, oneshot::Sender<Result<Lease<D>, Error>>>,
}

/// The handle the core keeps per connection.
struct Pooled<C> {
    conn: Arc<C>,
    /// The task watching `Connection::closed`; aborted when the connection leaves.
    watcher: Option<AbortHandle>,
}

impl<C> Drop for Pooled<C> {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// Work decided under the lock and carried out after it is released.
enum Effect<D: Dialer> {
    Deliver(
        oneshot::Sender<Result<Lease<D>, Error>>,
        Result<Lease<D>, Error>,
    ),
    Dial(DialRequest),
    Close(Pooled<D::Conn>),
    /// A grant nobody waits for any more: dropping the lease returns it (outside the lock).
    Return(Lease<D>),
    ProbesDue,
}

impl<D: Dialer> Pool<D> {
    /// A pool dialing with `dialer`. Fails when the options are inconsistent.
    pub fn new(dialer: D, options: PoolOptions) -> Result<Self, OptionsError> {
        options.validate()?;
        let signals = Arc::new(Signals {
            wake: Notify::new(),
            stop: std::sync::atomic::AtomicBool::new(false),
        });
        let inner = Arc::new(Inner {
            dialer,
            checkout_timeout: options.checkout_timeout,
            warm_concurrency: options.warm_concurrency,
            shared: Mutex::new(Shared {
                core: PoolState::new(options),
                waiters: HashMap::new(),
            }),
            signals: signals.clone(),
            probes_due: Notify::new(),
            emptied: Notify::new(),
            closing: tokio::sync::watch::Sender::new(false),
            metrics: PoolMetrics::new(),
        });
        tokio::spawn(drive(Arc::downgrade(&inner), signals));
        Ok(Self { inner })
    }

    /// The dialer this pool uses.
    pub fn dialer(&self) -> &D {
        &self.inner.dialer
    }

    /// A lease on a connection to `host`: a warm one with spare capacity when there is one
    /// (least loaded, then least recently used), else waits for one — dialing within the
    /// limits — for at most `checkout_timeout`.
    pub async fn get(&self, host: &str) -> Result<Lease<D>, Error> {
        let waiter = {
            let mut shared = self.inner.lock();
            match shared.core.checkout(host) {
                Ok(Checkout::Ready(id)) => {
                    let lease = self.inner.lease_for(&shared, id);
                    self.inner.after(shared);
                    self.inner.metrics.leases.increment(1);
                    return lease.ok_or_else(|| Error::Closed);
                }
                Ok(Checkout::Wait(waiter)) => {
                    let (tx, rx) = oneshot::channel();
                    shared.waiters.insert(waiter, tx);
                    self.inner.after(shared);
                    (waiter, rx)
                }
                Err(error) => {
                    self.inner.after(shared);
                    return Err(error);
                }
            }
        };
        let (waiter, mut rx) = waiter;
        let started = Instant::now();
        let result = match tokio::time::timeout(self.inner.checkout_timeout, &mut rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => {
                let cancelled = {
                    let mut shared = self.inner.lock();
                    shared.waiters.remove(&waiter);
                    shared.core.cancel_waiter(waiter)
                };
                if cancelled {
                    Err(Error::Timeout {
                        host: host.into(),
                        waited: self.inner.checkout_timeout,
                    })
                } else {
                    // Served (or failed) in the same instant the timeout fired. The grant
                    // is decided under the lock but sent just after it is released, so it
                    // may not be in the channel yet: wait for it (the sender never awaits
                    // in between; reading once would fail an open pool with `Closed`).
                    rx.await.unwrap_or(Err(Error::Closed))
                }
            }
        };
        self.inner
            .metrics
            .checkout_wait
            .record(started.elapsed().as_secs_f64());
        if result.is_ok() {
            self.inner.metrics.leases.increment(1);
        }
        result
    }

    /// Sets the addresses of `host` — the one entry point for DNS, static config and the
    /// user's own address source. Connections to removed addresses drain.
    pub fn set_addrs(&self, host: &str, addrs: impl IntoIterator<Item = SocketAddr>) -> AddrChange {
        let mut shared = self.inner.lock();
        let change = shared.core.set_addrs(host, addrs);
        self.inner.after(shared);
        change
    }

    /// The addresses currently known for `host`.
    pub fn addrs(&self, host: &str) -> Vec<SocketAddr> {
        self.inner.lock().core.addrs(host)
    }

    /// Dials every allowed address of `host` that has no connection yet (within the
    /// limits), `warm_concurrency` at a time, and reports a summary.
    pub async fn warm(&self, host: &str) -> WarmReport {
        self.warm_with_progress(host, |_| {}).await
    }

    /// Like [`Pool::warm`], calling `progress` after every finished dial.
    pub async fn warm_with_progress(
        &self,
        host: &str,
        mut progress: impl FnMut(&WarmProgress),
    ) -> WarmReport {
        let started = Instant::now();
        let plan = {
            let mut shared = self.inner.lock();
            let plan = shared.core.plan_warm(host);
            self.inner.after(shared);
            plan
        };
        let mut report = WarmReport {
            host: host.into(),
            planned: plan.len(),
            ..WarmReport::default()
        };
        // Dropping this future part-way must not leak the reservations: planned dials not
        // started yet are cancelled by `pending`'s drop, running ones by their own guard.
        let mut pending = PlannedDials {
            inner: self.inner.clone(),
            requests: plan.into_iter(),
        };
        let mut running = JoinSet::new();
        let mut done = 0;
        loop {
            while running.len() < self.inner.warm_concurrency {
                let Some(request) = pending.requests.next() else {
                    break;
                };
                let inner = self.inner.clone();
                running.spawn(async move {
                    let addr = request.addr;
                    (addr, inner.dial(request).await)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            done += 1;
            let (addr, outcome) = match joined {
                Ok((addr, Ok(_))) => {
                    report.ok += 1;
                    (Some(addr), WarmOutcome::Connected)
                }
                Ok((addr, Err(error))) => {
                    report.failed += 1;
                    let blacklisted = self.inner.lock().core.blacklisted(addr.ip()).is_some();
                    report.blacklisted += usize::from(blacklisted);
                    (Some(addr), WarmOutcome::Failed(error))
                }
                Err(join_error) => {
                    report.failed += 1;
                    (None, WarmOutcome::Panicked(join_error.to_string()))
                }
            };
            progress(&WarmProgress {
                done,
                total: report.planned,
                addr,
                outcome,
            });
        }
        report.elapsed = started.elapsed();
        report
    }

    /// A snapshot of the pool's counts and counters (also published as gauges).
    pub fn stats(&self) -> Stats {
        let stats = self.inner.lock().core.stats();
        self.inner.metrics.publish(&stats);
        stats
    }

    /// Details of every pooled connection.
    pub fn connections(&self) -> Vec<ConnInfo> {
        let shared = self.inner.lock();
        shared
            .core
            .conn_ids()
            .into_iter()
            .filter_map(|id| shared.core.conn_info(id))
            .collect()
    }

    /// Closes `fraction` (0.0–1.0) of the idle connections, least recently used first.
    pub fn shed(&self, fraction: f64) -> usize {
        let mut shared = self.inner.lock();
        let closed = shared.core.shed(fraction);
        self.inner.after(shared);
        closed
    }

    /// Takes up to `max` idle connections due for a health probe; each is held out of
    /// checkout until its ticket is reported or dropped. Leased connections are never taken.
    pub fn take_probes(&self, max: usize) -> Vec<ProbeTicket<D>> {
        let mut shared = self.inner.lock();
        let ids = shared.core.take_probes(max);
        let tickets = ids
            .into_iter()
            .filter_map(|id| {
                let conn = shared.core.handle(id)?.conn.clone();
                let info = shared.core.conn_info(id)?;
                Some(ProbeTicket {
                    inner: self.inner.clone(),
                    id,
                    conn,
                    host: info.host,
                    addr: info.addr,
                    verdict: None,
                })
            })
            .collect();
        self.inner.after(shared);
        tickets
    }

    /// Completes when connections are due for a probe (see [`Pool::take_probes`]).
    pub async fn probes_due(&self) {
        self.inner.probes_due.notified().await;
    }

    /// Completes once [`Pool::close`] has been called (at once if it already was).
    /// Background tasks that hold a clone of the pool stop on it.
    pub async fn closed(&self) {
        let mut closing = self.inner.closing.subscribe();
        // The sender lives in the pool, which `self` keeps alive: this cannot fail.
        let _ = closing.wait_for(|closing| *closing).await;
    }

    /// Whether the pool is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().core.is_closing()
    }

    /// Closes the pool gracefully: new `get`s fail, waiters fail, idle connections close
    /// now, leased ones when their lease returns; completes when every connection and dial
    /// is gone.
    pub async fn close(&self) {
        self.inner.closing.send_replace(true);
        {
            let mut shared = self.inner.lock();
            shared.core.close();
            self.inner.after(shared);
        }
        loop {
            let mut emptied = pin!(self.inner.emptied.notified());
            emptied.as_mut().enable();
            if self.inner.lock().core.is_empty() {
                break;
            }
            emptied.await;
        }
        self.inner
            .signals
            .stop
            .store(true, std::sync::atomic::Ordering::Release);
        self.inner.signals.wake.notify_one();
        self.inner.metrics.publish(&self.stats());
    }
}

impl<D: Dialer> Inner<D> {
    fn lock(&self) -> MutexGuard<'_, Shared<D>> {
        // No user code runs under this lock, so a poisoned lock still holds consistent state.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lease_for(self: &Arc<Self>, shared: &Shared<D>, id: ConnId) -> Option<Lease<D>> {
        let pooled = shared.core.handle(id)?;
        Some(Lease {
            inner: self.clone(),
            id,
            conn: pooled.conn.clone(),
            addr: shared.core.conn_addr(id)?,
            outcome: None,
        })
    }

    /// Carries out the core's actions: decided under the lock, performed after it.
    fn after(self: &Arc<Self>, mut shared: MutexGuard<'_, Shared<D>>) {
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
                Action::Close { handle, reason, .. } => {
                    self.metrics.closed(reason);
                    effects.push(Effect::Close(handle));
                }
                Action::ProbesDue => effects.push(Effect::ProbesDue),
            }
        }
        let wake_driver = shared.core.take_deadline_moved();
        let emptied = shared.core.is_closing() && shared.core.is_empty();
        drop(shared);
        if wake_driver {
            self.signals.wake.notify_one();
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
                    tokio::spawn(async move {
                        let _ = inner.dial(request).await;
                    });
                }
                Effect::Close(handle) => drop(handle),
                Effect::Return(lease) => drop(lease),
                Effect::ProbesDue => self.probes_due.notify_one(),
            }
        }
        if emptied {
            self.emptied.notify_waiters();
        }
    }

    /// Runs one dial the core asked for and reports the result to it. If the dial never
    /// finishes (its task is aborted, or the dialer panics), the reservation is cancelled.
    async fn dial(self: Arc<Self>, request: DialRequest) -> Result<(), DialError> {
        let mut unreported = UnreportedDial {
            inner: self.clone(),
            dial: Some(request.id),
        };
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
        let started = Instant::now();
        let result = self.dialer.dial(&target).instrument(span).await;
        self.metrics
            .dial_seconds
            .record(started.elapsed().as_secs_f64());
        self.metrics.dials.increment(1);
        let (core_result, outcome) = match result {
            Ok(conn) => {
                let capacity = conn.capacity();
                let pooled = Pooled {
                    conn: Arc::new(conn),
                    watcher: None,
                };
                (Ok((pooled, capacity)), Ok(()))
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
            .handle_dial_result(request.id, core_result, now());
        if let Some(id) = admitted {
            self.watch(&mut shared, id);
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
        let pool = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            closed.await;
            if let Some(inner) = pool.upgrade() {
                let mut shared = inner.lock();
                shared.core.handle_conn_closed(id);
                inner.after(shared);
            }
        });
        pooled.watcher = Some(task.abort_handle());
    }

    fn release(self: &Arc<Self>, id: ConnId, outcome: Outcome, capacity: usize) {
        let mut shared = self.lock();
        shared.core.release(id, outcome, capacity, now());
        self.after(shared);
    }
}

/// Cancels, on drop, a dial that never reported its result.
struct UnreportedDial<D: Dialer> {
    inner: Arc<Inner<D>>,
    dial: Option<crate::DialId>,
}

impl<D: Dialer> Drop for UnreportedDial<D> {
    fn drop(&mut self) {
        if let Some(dial) = self.dial.take() {
            let mut shared = self.inner.lock();
            shared.core.cancel_dial(dial, now());
            self.inner.after(shared);
        }
    }
}

/// Warm-up dials planned but not started yet; cancelled if `warm` is dropped part-way.
struct PlannedDials<D: Dialer> {
    inner: Arc<Inner<D>>,
    requests: std::vec::IntoIter<DialRequest>,
}

impl<D: Dialer> Drop for PlannedDials<D> {
    fn drop(&mut self) {
        if self.requests.len() == 0 {
            return;
        }
        let mut shared = self.inner.lock();
        for request in self.requests.by_ref() {
            shared.core.cancel_dial(request.id, now());
        }
        self.inner.after(shared);
    }
}

/// The driver: sleeps until the core's next deadline (or a wake-up), then runs what is due.
async fn drive<D: Dialer>(pool: Weak<Inner<D>>, signals: Arc<Signals>) {
    loop {
        if signals.stop.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let deadline = {
            let Some(inner) = pool.upgrade() else { return };
            inner.lock().core.poll_timeout()
        };
        let refresh = Instant::now() + GAUGE_REFRESH;
        let wake_at = deadline.map_or(refresh, |d| Instant::from_std(d).min(refresh));
        tokio::select! {
            () = tokio::time::sleep_until(wake_at) => {}
            () = signals.wake.notified() => {}
        }
        let Some(inner) = pool.upgrade() else { return };
        let span = tracing::trace_span!("hotpool.cleanup");
        let _entered = span.enter();
        let mut shared = inner.lock();
        shared.core.handle_timeout(now());
        let stats = shared.core.stats();
        inner.after(shared);
        inner.metrics.publish(&stats);
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// A lease on a pooled connection: dereferences to the connection, and returns it to the
/// pool when dropped — also when dropped while unwinding from a panic.
///
/// The outcome reported decides what the pool does with the connection: success (the
/// default) counts as a health check, an error counts toward `max_errors`, broken removes
/// it. A lease dropped while panicking counts as an error.
pub struct Lease<D: Dialer> {
    inner: Arc<Inner<D>>,
    id: ConnId,
    conn: Arc<D::Conn>,
    addr: SocketAddr,
    outcome: Option<Outcome>,
}

impl<D: Dialer> Lease<D> {
    /// The leased connection.
    pub fn conn(&self) -> &D::Conn {
        &self.conn
    }

    /// A shared handle to the leased connection (outliving the lease is allowed, but the
    /// pool may close it once the lease is returned).
    pub fn conn_arc(&self) -> Arc<D::Conn> {
        self.conn.clone()
    }

    /// The address the connection is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The pool's id of the connection.
    pub fn conn_id(&self) -> ConnId {
        self.id
    }

    /// Reports that the work done on the lease succeeded (the default).
    pub fn report_success(&mut self) {
        self.outcome = Some(Outcome::Success);
    }

    /// Reports that the work failed; counts toward the connection's `max_errors`.
    pub fn report_error(&mut self) {
        self.outcome = Some(Outcome::Error);
    }

    /// Reports that the connection is unusable: the pool removes it.
    pub fn mark_broken(&mut self) {
        self.outcome = Some(Outcome::Broken);
    }

    /// Reports that no work was done on the lease.
    pub fn report_unused(&mut self) {
        self.outcome = Some(Outcome::Unused);
    }
}

impl<D: Dialer> Deref for Lease<D> {
    type Target = D::Conn;

    fn deref(&self) -> &D::Conn {
        &self.conn
    }
}

impl<D: Dialer> Drop for Lease<D> {
    fn drop(&mut self) {
        let outcome = match self.outcome {
            _ if self.conn.is_closed() => Outcome::Broken,
            Some(outcome) => outcome,
            None if std::thread::panicking() => Outcome::Error,
            None => Outcome::Success,
        };
        self.inner.release(self.id, outcome, self.conn.capacity());
    }
}

impl<D: Dialer> std::fmt::Debug for Lease<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("conn", &self.id)
            .field("addr", &self.addr)
            .finish()
    }
}

/// A connection held out of checkout for a health probe. Report the verdict with
/// [`ProbeTicket::report`]; dropping it unreported returns the connection unchecked.
pub struct ProbeTicket<D: Dialer> {
    inner: Arc<Inner<D>>,
    id: ConnId,
    conn: Arc<D::Conn>,
    host: Arc<str>,
    addr: SocketAddr,
    verdict: Option<ProbeVerdict>,
}

impl<D: Dialer> ProbeTicket<D> {
    /// The connection to probe.
    pub fn conn(&self) -> &D::Conn {
        &self.conn
    }

    /// The host the connection was made for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The pool's id of the connection (stable for its lifetime, never reused).
    pub fn conn_id(&self) -> ConnId {
        self.id
    }

    /// The address the connection is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reports the probe's verdict and returns the connection to the pool (or closes it).
    pub fn report(mut self, verdict: ProbeVerdict) {
        self.verdict = Some(verdict);
    }
}

impl<D: Dialer> Drop for ProbeTicket<D> {
    fn drop(&mut self) {
        let verdict = self.verdict.unwrap_or(ProbeVerdict::Skipped);
        let mut shared = self.inner.lock();
        shared.core.handle_probe_result(self.id, verdict, now());
        self.inner.after(shared);
    }
}

/// Progress of `warm`, reported after every finished dial.
#[derive(Debug)]
#[non_exhaustive]
pub struct WarmProgress {
    /// Dials finished so far.
    pub done: usize,
    /// Dials planned.
    pub total: usize,
    /// The address just dialed (none if the dial task panicked).
    pub addr: Option<SocketAddr>,
    /// How it went.
    pub outcome: WarmOutcome,
}

/// How one warm-up dial went.
#[derive(Debug)]
#[non_exhaustive]
pub enum WarmOutcome {
    /// Connected, validated and offered to the pool.
    Connected,
    /// The dial failed.
    Failed(DialError),
    /// The dial task panicked (a bug in the dialer).
    Panicked(String),
}

/// The summary of `warm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WarmReport {
    /// The host warmed.
    pub host: String,
    /// Dials planned (allowed addresses without a connection, within the limits).
    pub planned: usize,
    /// Dials that succeeded.
    pub ok: usize,
    /// Dials that failed.
    pub failed: usize,
    /// Failed addresses that ended up blacklisted.
    pub blacklisted: usize,
    /// Time the whole warm-up took.
    pub elapsed: Duration,
}
