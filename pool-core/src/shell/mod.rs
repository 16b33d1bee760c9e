//! The async shell: [`Pool`] drives the sans-IO [`PoolState`](crate::PoolState) on tokio.
//!
//! One mutex guards the state; nothing awaits while holding it and no user code runs under
//! it, so a panic in user code can never poison it. Dials, watchers and the driver are
//! tasks; handles of closed connections are dropped outside the lock.
//!
//! - this file: [`Pool`] and its user-facing methods;
//! - `inner.rs`: what the pool shares with its tasks (the locked state, the waiters) and
//!   the decide-under-the-lock / act-after-it step every method ends with;
//! - `lane.rs`: the lease fast lane, and [`Lease`], the guard every `get` hands out (its
//!   drop returns the connection: by the lane, else under the pool lock);
//! - `probe.rs`: [`ProbeTicket`], the guard the health checker holds;
//! - `driver.rs`: the task that runs the state machine's timers (woken through `inner.rs`'s
//!   `Signals`);
//! - `pressure.rs`: the task that reads resident memory for memory-pressure shedding;
//! - `warm.rs`: [`Pool::warm`] and its report;
//! - `rt.rs`: the runtime and sync primitives (std/tokio, or shuttle's for model checks).

mod driver;
#[cfg(not(hotpool_shuttle))]
mod egress;
mod inner;
mod lane;
mod pressure;
mod probe;
mod rt;
mod warm;

use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;

use tokio::sync::oneshot;

#[cfg(not(hotpool_shuttle))]
pub use egress::{EgressLease, EgressRotation, EgressSet, EgressState};
pub use lane::Lease;
pub use probe::ProbeTicket;
pub use warm::{WarmOutcome, WarmProgress, WarmReport};

// The one line naming the state machine's module.
use crate::proto;

use crate::fleet::{FleetApplied, FleetDemand, FleetEvent, SharedState};
use crate::memory::{MemorySource, ProcessMemory};
use crate::types::{BlacklistReason, ConnInfo, Stats};
use crate::{Dialer, Error, OptionsError, PoolOptions};
use inner::Inner;
use proto::{AddrChange, Checkout};

/// Per-call options of [`Pool::get_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetOptions {
    /// While the host is down (a host outage, `docs/stay-hot.md`) and no connection to it
    /// is open: wait for it to come back, up to `checkout_timeout` (bound it further with
    /// your own deadline), instead of failing at once with [`Error::HostDown`].
    pub wait_for_host: bool,
}

impl GetOptions {
    /// The defaults: fail fast while the host is down.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `wait_for_host` field.
    #[must_use]
    pub fn wait_for_host(mut self, wait: bool) -> Self {
        self.wait_for_host = wait;
        self
    }
}

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

impl<D: Dialer> Pool<D> {
    /// A pool dialing with `dialer`. Fails when the options are inconsistent.
    pub fn new(dialer: D, options: PoolOptions) -> Result<Self, OptionsError> {
        Self::build(dialer, options, None, Arc::new(ProcessMemory))
    }

    /// A pool whose memory-pressure shedding (`memory_limit`) reads resident memory from
    /// `memory` instead of the OS ([`ProcessMemory`]): a test's injected reading, or an
    /// application's own figure (e.g. its cgroup's usage).
    pub fn with_memory_source(
        dialer: D,
        options: PoolOptions,
        memory: Arc<dyn MemorySource>,
    ) -> Result<Self, OptionsError> {
        Self::build(dialer, options, None, memory)
    }

    /// A pool that shares its blacklist with a fleet through `fleet` (see
    /// [`crate::fleet`]): its bans and passing re-tests are published, its re-tests ask
    /// the fleet for a lease first. Hand the fleet's events to
    /// [`Pool::apply_fleet_event`] (a backend's subscriber does).
    pub fn with_shared_state(
        dialer: D,
        options: PoolOptions,
        fleet: Arc<dyn SharedState>,
    ) -> Result<Self, OptionsError> {
        Self::build(dialer, options, Some(fleet), Arc::new(ProcessMemory))
    }

    fn build(
        dialer: D,
        options: PoolOptions,
        fleet: Option<Arc<dyn SharedState>>,
        memory: Arc<dyn MemorySource>,
    ) -> Result<Self, OptionsError> {
        options.validate()?;
        let check = options.memory_limit.map(|_| options.memory_check_interval);
        let inner = Inner::new(dialer, options, fleet);
        driver::start(&inner);
        pressure::start(&inner, check, memory);
        Ok(Self { inner })
    }

    /// Applies an event published by another pool of the fleet: a ban of an address of a
    /// host this pool knows is applied like its own (until the ban's expiry); an unban
    /// lifts the local entry. Events for unknown hosts are ignored and counted.
    pub fn apply_fleet_event(&self, event: FleetEvent) -> FleetApplied {
        let mut shared = self.inner.lock();
        let applied = shared.core.handle_fleet_event(event, rt::now());
        self.inner.after(shared);
        applied
    }

    /// Sets this pool's share of the fleet's connection budget for `host` (`None`: local
    /// limits only); a fleet budget backend calls it.
    pub fn set_fleet_cap(&self, host: &str, cap: Option<usize>) {
        let mut shared = self.inner.lock();
        shared.core.set_fleet_cap(host, cap);
        self.inner.after(shared);
    }

    /// What this pool holds of `host` and would like to (`None`: unknown host).
    pub fn fleet_demand(&self, host: &str) -> Option<FleetDemand> {
        self.inner.lock().core.fleet_demand(host)
    }

    /// Whether `ip` is on the dynamic blacklist, and why.
    pub fn blacklisted(&self, ip: IpAddr) -> Option<BlacklistReason> {
        self.inner.lock().core.blacklisted(ip)
    }

    /// The hosts this pool knows (has addresses for or was asked for).
    pub fn hosts(&self) -> Vec<String> {
        self.inner.lock().core.host_names()
    }

    /// The dialer this pool uses.
    pub fn dialer(&self) -> &D {
        &self.inner.dialer
    }

    /// A lease on a connection to `host`: a warm one with spare capacity when there is one
    /// (by the `placement` option; without the pool lock when it can, see `shell/lane.rs`),
    /// else waits for one — dialing within the limits — for at most `checkout_timeout`.
    ///
    /// While the host is down (its addresses fail at once: a host outage) and no
    /// connection to it is open, fails at once with [`Error::HostDown`]; see
    /// [`Pool::get_with`] to wait instead.
    pub async fn get(&self, host: &str) -> Result<Lease<D>, Error> {
        self.get_with(host, GetOptions::default()).await
    }

    /// [`Pool::get`] with per-call options ([`GetOptions`]).
    pub async fn get_with(&self, host: &str, options: GetOptions) -> Result<Lease<D>, Error> {
        if let Some(entry) = self.inner.lane.try_lease(host) {
            self.inner.metrics.leases.increment(1);
            return Ok(Lease::new(entry));
        }
        // Boxed: the fast path's future stays small (the waiting path is the big one).
        Box::pin(self.get_locked(host, options)).await
    }

    /// `get` when the fast lane found nothing: under the pool lock, maybe waiting.
    async fn get_locked(&self, host: &str, options: GetOptions) -> Result<Lease<D>, Error> {
        let waiter = {
            let mut shared = self.inner.lock();
            match shared.core.checkout_with(host, options.wait_for_host) {
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
        let started = rt::now();
        let result = match rt::timeout(self.inner.checkout_timeout, &mut rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed),
            Err(rt::Elapsed) => {
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
            .record(rt::elapsed(started).as_secs_f64());
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

    /// Keeps `host` hot (or stops): a hot host keeps a connection to every allowed address,
    /// replaced in the background when one is lost (`docs/stay-hot.md`). [`Pool::warm`]
    /// marks a host hot; this is for hosts warmed by other means, or to stop.
    pub fn set_hot(&self, host: &str, hot: bool) {
        let mut shared = self.inner.lock();
        shared.core.set_hot(host, hot);
        self.inner.after(shared);
    }

    /// When `host`'s current outage began, if it is down (its addresses fail at once;
    /// the pool re-tests it with a short backoff).
    pub fn host_down_since(&self, host: &str) -> Option<std::time::Instant> {
        self.inner.lock().core.host_down_since(host)
    }

    /// The addresses currently known for `host`.
    pub fn addrs(&self, host: &str) -> Vec<SocketAddr> {
        self.inner.lock().core.addrs(host)
    }

    /// A snapshot of the pool's counts and counters (also published as gauges).
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.lock().core.stats();
        let resent = |n: &rt::AtomicUsize| n.load(std::sync::atomic::Ordering::Relaxed) as u64;
        stats.resent_refused_total = resent(&self.inner.resent_refused);
        stats.resent_lost_total = resent(&self.inner.resent_lost);
        self.inner.metrics.publish(&stats);
        stats
    }

    /// Counts a request the request layer (`pool-http`'s `send`) sent again on another
    /// connection of this pool: `refused` when the server certainly did not process it
    /// (refused, never sent), else after a reused connection failed under it. Reported in
    /// [`Stats::resent_refused_total`] / [`Stats::resent_lost_total`]; the pool itself
    /// never resends anything.
    pub fn count_resend(&self, refused: bool) {
        let counter = if refused {
            &self.inner.resent_refused
        } else {
            &self.inner.resent_lost
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
            .filter_map(|id| ProbeTicket::new(&self.inner, &shared, id))
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
    /// is gone and the pool has dropped every transport handle it held.
    ///
    /// A lease is never cut, so `close` waits for every outstanding [`Lease`] — including
    /// one held inside a response body (`pool_http::Body` owns its lease until the body
    /// ends or is dropped). Drop or finish those first, or bound the wait with a timeout.
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
            if self.inner.is_emptied() {
                break;
            }
            emptied.await;
        }
        self.inner.signals.stop();
        self.inner.metrics.publish(&self.stats());
    }
}

/// Where a request layer (`pool-http`'s `send`) takes its leases: one [`Pool`], or an
/// [`EgressSet`](crate::EgressSet) picking a pool per request, so a retry can leave
/// through another egress.
pub trait LeaseSource: Send + Sync {
    /// The dialer of the pools leased from.
    type Dialer: Dialer;

    /// A lease for `host` ([`Pool::get_with`]).
    fn lease(
        &self,
        host: &str,
        options: GetOptions,
    ) -> impl std::future::Future<Output = Result<Lease<Self::Dialer>, Error>> + Send;

    /// Counts a request sent again by the request layer ([`Pool::count_resend`]).
    fn count_resend(&self, refused: bool);
}

impl<D: Dialer> LeaseSource for Pool<D> {
    type Dialer = D;

    fn lease(
        &self,
        host: &str,
        options: GetOptions,
    ) -> impl std::future::Future<Output = Result<Lease<D>, Error>> + Send {
        self.get_with(host, options)
    }

    fn count_resend(&self, refused: bool) {
        Pool::count_resend(self, refused);
    }
}

/// A shared source (`Arc<Pool<D>>`, `Arc<EgressSet<D>>`) leases as the source itself.
impl<S: LeaseSource> LeaseSource for std::sync::Arc<S> {
    type Dialer = S::Dialer;

    fn lease(
        &self,
        host: &str,
        options: GetOptions,
    ) -> impl std::future::Future<Output = Result<Lease<S::Dialer>, Error>> + Send {
        (**self).lease(host, options)
    }

    fn count_resend(&self, refused: bool) {
        (**self).count_resend(refused);
    }
}
