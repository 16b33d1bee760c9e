//! The health-check loop over `Pool::probes_due` / `Pool::take_probes`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pool_core::proto::ConnId;
use pool_core::{Dialer, Pool, ProbeTicket, ProbeVerdict, Stats};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::{Probe, metrics};

/// How often the loop publishes the blacklist counters when nothing else wakes it.
const STATS_TICK: Duration = Duration::from_secs(5);
/// A sub-threshold failure streak of a connection not probed again for this long is
/// forgotten (the connection is most likely gone).
const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// Options of a [`HealthChecker`]. *When* a connection is due is the pool's
/// `health_check_interval` (`PoolOptions`); the re-test of blacklisted addresses is the
/// pool's `blacklist_check_interval` / `blacklist_timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthOptions {
    /// Longest a probe may take; a probe still running then counts as failed
    /// (`pool.test_timeout`; default 15 s).
    pub test_timeout: Duration,
    /// Probes in flight at once (`health.concurrency`; default 32).
    pub concurrency: usize,
    /// Consecutive failed probes of one connection before it is declared unhealthy and
    /// removed (default 1: the first failure removes it). A failure below the threshold
    /// keeps the connection and probes it again after one interval. A banned answer
    /// always acts at once.
    pub failure_threshold: u32,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            test_timeout: Duration::from_secs(15),
            concurrency: 32,
            failure_threshold: 1,
        }
    }
}

/// A snapshot of the health checker's counters, with the pool's blacklist figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthStats {
    /// Probes finished, ever.
    pub probes: u64,
    /// Probes that passed.
    pub healthy: u64,
    /// Probes that failed and removed their connection (unhealthy, timed out or banned).
    pub failed: u64,
    /// Of the failures: probes that ran out of `test_timeout`.
    pub timeouts: u64,
    /// Of the failures: banned answers (the IP was blacklisted too).
    pub banned: u64,
    /// Of the failures: probes that panicked (counted as unhealthy).
    pub panics: u64,
    /// Failed probes below `failure_threshold` (the connection was kept).
    pub tolerated: u64,
    /// Probes running right now.
    pub in_flight: u64,
    /// Addresses on the pool's dynamic blacklist now.
    pub blacklisted: usize,
    /// Addresses the pool blacklisted, ever (dial failures, banned answers).
    pub blacklisted_total: u64,
    /// Addresses the pool's re-test (or `blacklist_timeout`) restored, ever.
    pub restored_total: u64,
}

#[derive(Default)]
struct Counters {
    probes: AtomicU64,
    healthy: AtomicU64,
    failed: AtomicU64,
    timeouts: AtomicU64,
    banned: AtomicU64,
    panics: AtomicU64,
    tolerated: AtomicU64,
    in_flight: AtomicU64,
}

struct Shared {
    options: HealthOptions,
    counters: Counters,
    stop: watch::Sender<bool>,
    pool_stats: Box<dyn Fn() -> Stats + Send + Sync>,
    /// Blacklist totals already published as counters.
    published: Mutex<(u64, u64)>,
    /// Failure streaks below the threshold, by connection.
    streaks: Mutex<HashMap<ConnId, (u32, Instant)>>,
}

impl Shared {
    fn publish_blacklist(&self) -> Stats {
        let stats = (self.pool_stats)();
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        metrics::blacklist(
            stats.blacklisted_total.saturating_sub(published.0),
            stats.restored_total.saturating_sub(published.1),
        );
        *published = (stats.blacklisted_total, stats.restored_total);
        stats
    }

    /// Applies `failure_threshold` to a raw verdict.
    fn judge(&self, id: ConnId, verdict: ProbeVerdict) -> (ProbeVerdict, bool) {
        let mut streaks = self.streaks.lock().unwrap_or_else(PoisonError::into_inner);
        match verdict {
            ProbeVerdict::Unhealthy if self.options.failure_threshold > 1 => {
                let now = Instant::now();
                let streak = streaks.entry(id).or_insert((0, now));
                streak.0 += 1;
                streak.1 = now;
                if streak.0 < self.options.failure_threshold {
                    // Kept: reported as checked so it is probed again after one interval.
                    return (ProbeVerdict::Healthy, true);
                }
                streaks.remove(&id);
                (ProbeVerdict::Unhealthy, false)
            }
            _ => {
                streaks.remove(&id);
                (verdict, false)
            }
        }
    }

    fn forget_old_streaks(&self) {
        let mut streaks = self.streaks.lock().unwrap_or_else(PoisonError::into_inner);
        if !streaks.is_empty() {
            streaks.retain(|_, (_, at)| at.elapsed() < FAILURE_MEMORY);
        }
    }
}

/// Probes a pool's idle connections and removes the failing ones.
///
/// The pool decides *when*: it schedules a probe deadline per idle connection,
/// `health_check_interval` after its last check (a successful lease counts as a check), and
/// wakes [`Pool::probes_due`]. The checker then takes the due connections
/// ([`Pool::take_probes`]: each is held out of checkout while probed, and a leased
/// connection is never taken), runs the [`Probe`] on up to `concurrency` at once, each
/// bounded by `test_timeout`, and reports the verdicts: healthy → back to idle, unhealthy
/// (or timed out) → closed, banned → closed and its IP blacklisted.
///
/// Blacklisted addresses are re-tested by the pool itself (every `blacklist_check_interval`
/// its driver dials each dynamically blacklisted IP once; a success restores it); the
/// checker reports those figures in [`HealthStats`] and as metrics.
///
/// Stops on [`HealthChecker::stop`], when dropped, or when the pool is closed. It holds a
/// clone of the pool until then.
pub struct HealthChecker {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker")
            .field("options", &self.shared.options)
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl HealthChecker {
    /// Starts checking `pool` (it keeps a clone) with `probe`. Must be called inside a
    /// tokio runtime.
    pub fn start<D, P>(pool: &Pool<D>, probe: P, options: HealthOptions) -> Self
    where
        D: Dialer,
        P: Probe<D::Conn>,
    {
        let stats_pool = pool.clone();
        let shared = Arc::new(Shared {
            options,
            counters: Counters::default(),
            stop: watch::Sender::new(false),
            pool_stats: Box::new(move || stats_pool.stats()),
            published: Mutex::new((0, 0)),
            streaks: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(run(pool.clone(), Arc::new(probe), shared.clone()));
        Self {
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &HealthOptions {
        &self.shared.options
    }

    /// A snapshot of the counters, with the pool's blacklist figures.
    pub fn stats(&self) -> HealthStats {
        let pool = self.shared.publish_blacklist();
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HealthStats {
            probes: load(&c.probes),
            healthy: load(&c.healthy),
            failed: load(&c.failed),
            timeouts: load(&c.timeouts),
            banned: load(&c.banned),
            panics: load(&c.panics),
            tolerated: load(&c.tolerated),
            in_flight: load(&c.in_flight),
            blacklisted: pool.blacklisted,
            blacklisted_total: pool.blacklisted_total,
            restored_total: pool.restored_total,
        }
    }

    /// Whether the checker has stopped (by [`HealthChecker::stop`], drop, or the pool's
    /// close).
    pub fn is_stopped(&self) -> bool {
        *self.shared.stop.borrow()
    }

    /// Stops the loop and waits until it has ended. Probes in flight are cancelled: their
    /// connections return to the pool unchecked. Calling it again is a no-op.
    pub async fn stop(&self) {
        self.shared.stop.send_replace(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
            && e.is_panic()
        {
            tracing::error!(error = %e, "health-check loop panicked");
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

async fn run<D, P>(pool: Pool<D>, probe: Arc<P>, shared: Arc<Shared>)
where
    D: Dialer,
    P: Probe<D::Conn>,
{
    let mut stop = shared.stop.subscribe();
    let mut running: JoinSet<()> = JoinSet::new();
    let concurrency = shared.options.concurrency.max(1);
    loop {
        // Take what is due, up to the free slots. Due connections beyond the slots stay
        // queued in the pool and are taken as probes finish.
        while running.len() < concurrency {
            let tickets = pool.take_probes(concurrency - running.len());
            if tickets.is_empty() {
                break;
            }
            for ticket in tickets {
                running.spawn(probe_one(ticket, probe.clone(), shared.clone()));
            }
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            () = pool.closed() => break,
            Some(joined) = running.join_next(), if !running.is_empty() => {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    // The ticket was reported Unhealthy by its guard while unwinding.
                    tracing::error!(error = %e, "health probe panicked");
                }
            }
            () = pool.probes_due() => {}
            () = tokio::time::sleep(STATS_TICK) => {
                shared.forget_old_streaks();
            }
        }
        shared.publish_blacklist();
    }
    // Cancelled probes drop their tickets unreported: the connections return unchecked.
    running.abort_all();
    while running.join_next().await.is_some() {}
    shared.stop.send_replace(true);
    shared.publish_blacklist();
    tracing::debug!("health checker stopped");
}

/// Holds a ticket while its probe runs (counted in `in_flight`); a panicking probe reports
/// it unhealthy, and a panicking or cancelled one leaves `in_flight` as it found it.
struct Guard<D: Dialer> {
    ticket: Option<ProbeTicket<D>>,
    shared: Arc<Shared>,
}

impl<D: Dialer> Drop for Guard<D> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let c = &self.shared.counters;
        c.in_flight.fetch_sub(1, Ordering::Relaxed);
        metrics::in_flight(-1.0);
        if std::thread::panicking() {
            c.probes.fetch_add(1, Ordering::Relaxed);
            c.failed.fetch_add(1, Ordering::Relaxed);
            c.panics.fetch_add(1, Ordering::Relaxed);
            metrics::probed("panic", None);
            ticket.report(ProbeVerdict::Unhealthy);
        }
        // Otherwise (cancelled): dropped unreported, the pool counts it as skipped.
    }
}

async fn probe_one<D, P>(ticket: ProbeTicket<D>, probe: Arc<P>, shared: Arc<Shared>)
where
    D: Dialer,
    P: Probe<D::Conn>,
{
    let c = &shared.counters;
    c.in_flight.fetch_add(1, Ordering::Relaxed);
    metrics::in_flight(1.0);
    let mut guard = Guard {
        ticket: Some(ticket),
        shared: shared.clone(),
    };
    let started = Instant::now();
    let (raw, timed_out) = {
        let Some(ticket) = guard.ticket.as_ref() else {
            return;
        };
        let checked = probe.probe(ticket.conn(), ticket.host(), ticket.addr());
        match tokio::time::timeout(shared.options.test_timeout, checked).await {
            Ok(verdict) => (verdict, false),
            Err(_) => (ProbeVerdict::Unhealthy, true),
        }
    };
    let elapsed = started.elapsed();
    c.in_flight.fetch_sub(1, Ordering::Relaxed);
    metrics::in_flight(-1.0);
    let Some(ticket) = guard.ticket.take() else {
        return;
    };
    if raw == ProbeVerdict::Skipped {
        drop(ticket);
        return;
    }
    let (verdict, tolerated) = shared.judge(ticket.conn_id(), raw);
    c.probes.fetch_add(1, Ordering::Relaxed);
    let label = if tolerated {
        c.tolerated.fetch_add(1, Ordering::Relaxed);
        "tolerated"
    } else {
        match verdict {
            ProbeVerdict::Healthy => {
                c.healthy.fetch_add(1, Ordering::Relaxed);
                "healthy"
            }
            ProbeVerdict::Banned => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                c.banned.fetch_add(1, Ordering::Relaxed);
                "banned"
            }
            _ if timed_out => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                c.timeouts.fetch_add(1, Ordering::Relaxed);
                "timeout"
            }
            _ => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                "unhealthy"
            }
        }
    };
    metrics::probed(label, Some(elapsed));
    if verdict != ProbeVerdict::Healthy || tolerated {
        tracing::info!(
            host = ticket.host(),
            addr = %ticket.addr(),
            result = label,
            ?elapsed,
            "health probe failed"
        );
    }
    ticket.report(verdict);
}
