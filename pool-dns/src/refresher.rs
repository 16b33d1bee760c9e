//! The refresher: one task per resolved host, feeding answers into the pool.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use pool_core::proto::AddrChange;
use pool_core::{Dialer, Pool};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::resolve::{build_resolver, fqdn, resolve};
use crate::{DnsOptions, FailureKind, ResolveError, SetupError, metrics};

/// What the refresher needs from a pool, without being generic over its dialer.
trait AddrSink: Send + Sync + 'static {
    fn set_addrs(&self, host: &str, addrs: Vec<SocketAddr>) -> AddrChange;
    fn spawn_warm(&self, host: &str);
    fn closed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

impl<D: Dialer> AddrSink for Pool<D> {
    fn set_addrs(&self, host: &str, addrs: Vec<SocketAddr>) -> AddrChange {
        Pool::set_addrs(self, host, addrs)
    }

    fn spawn_warm(&self, host: &str) {
        // Detached on purpose: a warm-up dropped half way would abandon its dials, so it
        // always runs to the end (each dial is bounded by the dialer's own timeout).
        let pool = self.clone();
        let host = host.to_owned();
        tokio::spawn(async move {
            let report = pool.warm(&host).await;
            tracing::debug!(
                host,
                ok = report.ok,
                failed = report.failed,
                "warmed new addresses"
            );
        });
    }

    fn closed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Pool::closed(self))
    }
}

/// Where a host's addresses come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSource {
    /// Resolved with DNS; every address gets this port.
    Dns {
        /// The port dialed on every resolved address.
        port: u16,
    },
    /// A static list (pinned in config): never resolved.
    Static,
}

/// What the refresher knows about one host.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HostStatus {
    /// DNS or static.
    pub source: HostSource,
    /// The addresses last fed into the pool (the last good answer).
    pub addrs: Vec<SocketAddr>,
    /// Resolutions finished for this host.
    pub resolutions: u64,
    /// Resolutions that failed for this host.
    pub failures: u64,
    /// Failures since the last success (drives the retry backoff).
    pub consecutive_failures: u32,
    /// The most recent failure, if the last resolution failed.
    pub last_error: Option<ResolveError>,
    /// When the last good answer arrived.
    pub last_success: Option<Instant>,
    /// The smallest record TTL of the last good answer.
    pub ttl: Option<Duration>,
    /// When the host is resolved next (`None` for static hosts and stopped refreshers).
    pub next_refresh: Option<Instant>,
}

/// A snapshot of the refresher's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsStats {
    /// Hosts refreshed (DNS and static).
    pub hosts: usize,
    /// Of which static.
    pub static_hosts: usize,
    /// Resolutions finished, ever.
    pub resolutions: u64,
    /// Resolutions that produced addresses.
    pub resolved: u64,
    /// Resolutions that failed (the last good answer was kept).
    pub failures: u64,
    /// Failures by kind, in [`FailureKind::ALL`] order.
    pub failures_by_kind: Vec<(FailureKind, u64)>,
    /// Answers that changed a host's address set.
    pub changes: u64,
    /// Addresses that appeared.
    pub addrs_added: u64,
    /// Addresses that disappeared (their connections drain).
    pub addrs_removed: u64,
    /// Warm-ups started for new addresses.
    pub warms: u64,
}

impl DnsStats {
    /// Failures of `kind`, ever.
    pub fn failures_of(&self, kind: FailureKind) -> u64 {
        self.failures_by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

#[derive(Default)]
struct Counters {
    resolutions: AtomicU64,
    resolved: AtomicU64,
    failures: [AtomicU64; FailureKind::ALL.len()],
    changes: AtomicU64,
    added: AtomicU64,
    removed: AtomicU64,
    warms: AtomicU64,
}

struct HostEntry {
    status: HostStatus,
    /// Tells an answer of a replaced or removed host's task from the current one.
    generation: u64,
    task: Option<JoinHandle<()>>,
    refresh: Arc<Notify>,
}

struct Shared {
    resolver: TokioResolver,
    options: DnsOptions,
    sink: Arc<dyn AddrSink>,
    hosts: Mutex<HashMap<Arc<str>, HostEntry>>,
    next_generation: AtomicU64,
    counters: Counters,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn hosts(&self) -> MutexGuard<'_, HashMap<Arc<str>, HostEntry>> {
        // No user code runs under this lock; a poisoned map is still consistent.
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Feeds `addrs` into the pool under the host lock, so a removed or replaced host is
    /// never resurrected by a late answer. Returns `None` when the answer is stale.
    fn apply(&self, host: &str, generation: u64, addrs: &[SocketAddr]) -> Option<AddrChange> {
        let mut hosts = self.hosts();
        let entry = hosts.get_mut(host)?;
        if entry.generation != generation || self.stopped() {
            return None;
        }
        let change = self.sink.set_addrs(host, addrs.to_vec());
        entry.status.addrs = addrs.to_vec();
        drop(hosts);
        self.count_change(host, &change);
        Some(change)
    }

    fn count_change(&self, host: &str, change: &AddrChange) {
        if change.added.is_empty() && change.removed.is_empty() {
            return;
        }
        let c = &self.counters;
        c.changes.fetch_add(1, Ordering::Relaxed);
        c.added
            .fetch_add(change.added.len() as u64, Ordering::Relaxed);
        c.removed
            .fetch_add(change.removed.len() as u64, Ordering::Relaxed);
        metrics::changed(change.added.len(), change.removed.len());
        tracing::info!(
            host,
            added = ?change.added,
            removed = ?change.removed,
            "host addresses changed"
        );
        if !change.added.is_empty() && self.options.warm_new_addrs {
            c.warms.fetch_add(1, Ordering::Relaxed);
            metrics::warmed();
            self.sink.spawn_warm(host);
        }
    }

    fn update_status(&self, host: &str, generation: u64, f: impl FnOnce(&mut HostStatus)) {
        if let Some(entry) = self.hosts().get_mut(host)
            && entry.generation == generation
        {
            f(&mut entry.status);
        }
    }

    fn publish_hosts(&self) {
        metrics::hosts(self.hosts().len());
    }
}

/// Keeps a pool's host addresses fresh from DNS.
///
/// Each resolved host has its own task: it resolves the host (A and/or AAAA per
/// [`IpPreference`](crate::IpPreference)), feeds the answer into the pool with
/// [`Pool::set_addrs`] (removed addresses drain: idle connections close now, leased ones at
/// release), warms new addresses, and sleeps until the smallest record TTL runs out or
/// `dns_update_interval` passes, whichever is sooner (at least `min_ttl`). A failed
/// resolution (NXDOMAIN, SERVFAIL, timeout, no records) keeps the last good answer, is
/// logged and counted, and is retried with exponential backoff.
///
/// Static hosts ([`DnsRefresher::add_static`]) are fed once and never resolved.
///
/// The refresher stops when [`DnsRefresher::stop`] is called, when the handle is dropped,
/// or when the pool is closed. It holds a clone of the pool until then.
pub struct DnsRefresher {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for DnsRefresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsRefresher")
            .field("options", &self.shared.options)
            .field("stopped", &self.shared.stopped())
            .finish_non_exhaustive()
    }
}

impl DnsRefresher {
    /// Starts a refresher feeding `pool` (it keeps a clone). Must be called inside a tokio
    /// runtime. Fails only when the system's resolver configuration cannot be read (with
    /// no name servers configured).
    pub fn start<D: Dialer>(pool: &Pool<D>, options: DnsOptions) -> Result<Self, SetupError> {
        let resolver = build_resolver(&options)?;
        let shared = Arc::new(Shared {
            resolver,
            options,
            sink: Arc::new(pool.clone()),
            hosts: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
            counters: Counters::default(),
            stop: watch::Sender::new(false),
        });
        let supervisor = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut stop = shared.stop.subscribe();
                tokio::select! {
                    () = shared.sink.closed() => {
                        tracing::debug!("pool closed: DNS refresher stops");
                    }
                    _ = stop.wait_for(|stop| *stop) => {}
                }
                shared.stop.send_replace(true);
            }
        });
        Ok(Self {
            shared,
            supervisor: Mutex::new(Some(supervisor)),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &DnsOptions {
        &self.shared.options
    }

    /// Starts resolving `host` (port `port` on every address) and keeps it fresh. Waits for
    /// the first resolution and returns the addresses it fed into the pool, or its error
    /// (the host stays registered and is retried with backoff). Adding a host again
    /// replaces its previous registration.
    pub async fn add_host(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut hosts = self.shared.hosts();
            if self.shared.stopped() {
                return Err(stopped_error());
            }
            let generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
            let refresh = Arc::new(Notify::new());
            let name: Arc<str> = host.into();
            let task = tokio::spawn(run_host(
                self.shared.clone(),
                name.clone(),
                port,
                generation,
                refresh.clone(),
                tx,
            ));
            let entry = HostEntry {
                status: HostStatus {
                    source: HostSource::Dns { port },
                    addrs: Vec::new(),
                    resolutions: 0,
                    failures: 0,
                    consecutive_failures: 0,
                    last_error: None,
                    last_success: None,
                    ttl: None,
                    next_refresh: None,
                },
                generation,
                task: Some(task),
                refresh,
            };
            if let Some(old) = hosts.insert(name, entry)
                && let Some(task) = old.task
            {
                task.abort();
            }
        }
        self.shared.publish_hosts();
        rx.await.unwrap_or_else(|_| Err(stopped_error()))
    }

    /// Pins `host` to a static address list (no DNS): feeds it into the pool, warms new
    /// addresses, and stops resolving the host if it was resolved.
    pub fn add_static(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> AddrChange {
        let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
        let change = {
            let mut hosts = self.shared.hosts();
            let generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
            let entry = HostEntry {
                status: HostStatus {
                    source: HostSource::Static,
                    addrs: addrs.clone(),
                    resolutions: 0,
                    failures: 0,
                    consecutive_failures: 0,
                    last_error: None,
                    last_success: None,
                    ttl: None,
                    next_refresh: None,
                },
                generation,
                task: None,
                refresh: Arc::new(Notify::new()),
            };
            if let Some(old) = hosts.insert(host.into(), entry)
                && let Some(task) = old.task
            {
                task.abort();
            }
            self.shared.sink.set_addrs(host, addrs)
        };
        self.shared.count_change(host, &change);
        self.shared.publish_hosts();
        change
    }

    /// Stops refreshing `host` and removes its addresses from the pool (its connections
    /// drain). Returns whether the host was known.
    pub fn remove_host(&self, host: &str) -> bool {
        let change = {
            let mut hosts = self.shared.hosts();
            let Some(old) = hosts.remove(host) else {
                return false;
            };
            if let Some(task) = old.task {
                task.abort();
            }
            self.shared.sink.set_addrs(host, Vec::new())
        };
        self.shared.count_change(host, &change);
        self.shared.publish_hosts();
        true
    }

    /// Resolves `host` again now instead of at its scheduled time. Returns whether the host
    /// is resolved by this refresher.
    pub fn refresh_now(&self, host: &str) -> bool {
        let hosts = self.shared.hosts();
        match hosts.get(host) {
            Some(entry) if entry.task.is_some() => {
                entry.refresh.notify_one();
                true
            }
            _ => false,
        }
    }

    /// The hosts refreshed, sorted.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.shared.hosts().keys().map(|h| h.to_string()).collect();
        hosts.sort();
        hosts
    }

    /// What the refresher knows about `host`.
    pub fn host_status(&self, host: &str) -> Option<HostStatus> {
        self.shared.hosts().get(host).map(|e| e.status.clone())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DnsStats {
        let (hosts, static_hosts) = {
            let hosts = self.shared.hosts();
            let statics = hosts
                .values()
                .filter(|e| e.status.source == HostSource::Static)
                .count();
            (hosts.len(), statics)
        };
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let failures_by_kind: Vec<(FailureKind, u64)> = FailureKind::ALL
            .iter()
            .zip(&c.failures)
            .map(|(k, n)| (*k, load(n)))
            .collect();
        DnsStats {
            hosts,
            static_hosts,
            resolutions: load(&c.resolutions),
            resolved: load(&c.resolved),
            failures: failures_by_kind.iter().map(|(_, n)| n).sum(),
            failures_by_kind,
            changes: load(&c.changes),
            addrs_added: load(&c.added),
            addrs_removed: load(&c.removed),
            warms: load(&c.warms),
        }
    }

    /// Whether the refresher has stopped (by [`DnsRefresher::stop`], drop, or the pool's
    /// close).
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped()
    }

    /// Stops every host task and waits until they have ended. The pool keeps the addresses
    /// it has. Calling it again is a no-op.
    pub async fn stop(&self) {
        self.shared.stop.send_replace(true);
        let mut tasks: Vec<JoinHandle<()>> = self
            .shared
            .hosts()
            .values_mut()
            .filter_map(|e| e.task.take())
            .collect();
        if let Some(supervisor) = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            tasks.push(supervisor);
        }
        for task in tasks {
            if let Err(e) = task.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "DNS refresh task panicked");
            }
        }
    }
}

impl Drop for DnsRefresher {
    fn drop(&mut self) {
        // Tasks see the flag at their next wake-up and end on their own.
        self.shared.stop.send_replace(true);
    }
}

fn stopped_error() -> ResolveError {
    ResolveError {
        kind: FailureKind::Other,
        message: "the DNS refresher is stopped".into(),
    }
}

async fn run_host(
    shared: Arc<Shared>,
    host: Arc<str>,
    port: u16,
    generation: u64,
    refresh: Arc<Notify>,
    first: oneshot::Sender<Result<Vec<SocketAddr>, ResolveError>>,
) {
    let name = fqdn(&host);
    let mut stop = shared.stop.subscribe();
    let mut first = Some(first);
    let mut consecutive: u32 = 0;
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            result = resolve(&shared.resolver, &name, shared.options.prefer) => result,
        };
        let elapsed = started.elapsed().as_secs_f64();
        let c = &shared.counters;
        c.resolutions.fetch_add(1, Ordering::Relaxed);
        let (delay, reply) = match result {
            Ok(answer) => {
                consecutive = 0;
                c.resolved.fetch_add(1, Ordering::Relaxed);
                metrics::resolved(elapsed, None);
                let addrs: Vec<SocketAddr> = answer
                    .ips
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect();
                if shared.apply(&host, generation, &addrs).is_none() {
                    return; // replaced, removed or stopped meanwhile
                }
                let delay = shared.options.refresh_delay(answer.ttl);
                shared.update_status(&host, generation, |s| {
                    s.resolutions += 1;
                    s.consecutive_failures = 0;
                    s.last_error = None;
                    s.last_success = Some(Instant::now());
                    s.ttl = Some(answer.ttl);
                    s.next_refresh = Some(Instant::now() + delay);
                });
                tracing::debug!(%host, addrs = addrs.len(), ttl = ?answer.ttl, next = ?delay, "resolved");
                (delay, Ok(addrs))
            }
            Err(error) => {
                consecutive = consecutive.saturating_add(1);
                let index = FailureKind::ALL
                    .iter()
                    .position(|k| *k == error.kind)
                    .unwrap_or(FailureKind::ALL.len() - 1);
                c.failures[index].fetch_add(1, Ordering::Relaxed);
                metrics::resolved(elapsed, Some(error.kind));
                let delay = shared.options.retry_delay(consecutive);
                tracing::warn!(
                    %host,
                    kind = error.kind.as_str(),
                    consecutive,
                    retry_in = ?delay,
                    %error,
                    "DNS resolution failed; keeping the last good answer"
                );
                shared.update_status(&host, generation, |s| {
                    s.resolutions += 1;
                    s.failures += 1;
                    s.consecutive_failures = consecutive;
                    s.last_error = Some(error.clone());
                    s.next_refresh = Some(Instant::now() + delay);
                });
                (delay, Err(error))
            }
        };
        if let Some(first) = first.take() {
            let _ = first.send(reply);
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(delay) => {}
            () = refresh.notified() => {}
        }
    }
}
