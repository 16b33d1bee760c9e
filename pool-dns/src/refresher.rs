//! The refresher: one task per resolved host, feeding answers into the pool.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pool_core::proto::AddrChange;
use pool_core::{Dialer, Pool};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::family::{self, FamilyStatus};
use crate::resolve::{Answer, Failure, fqdn, lookup};
use crate::servers::{DnsResolver, build_resolver};
use crate::sources::{AddressSource, SourceSink, SourceStatus, run_source};
use crate::{
    DnsOptions, DnsStats, FailureKind, FamilyStats, HostSource, HostStatus, IpFamily, ResolveError,
    SetupError, metrics,
};

/// What the refresher needs from its pools, without being generic over their dialer.
trait AddrSink: Send + Sync + 'static {
    fn set_addrs(&self, host: &str, addrs: Vec<SocketAddr>) -> AddrChange;
    fn spawn_warm(&self, host: &str);
    fn closed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The pools fed with the same answers: one, or one per egress of the hosts (each pool
/// dialing through its own proxy). The first pool's change is the one reported.
struct Pools<D: Dialer>(Vec<Pool<D>>);

impl<D: Dialer> AddrSink for Pools<D> {
    fn set_addrs(&self, host: &str, addrs: Vec<SocketAddr>) -> AddrChange {
        let (first, rest) = self.0.split_first().expect("at least one pool");
        for pool in rest {
            pool.set_addrs(host, addrs.iter().copied());
        }
        first.set_addrs(host, addrs)
    }

    fn spawn_warm(&self, host: &str) {
        // Detached on purpose: a warm-up dropped half way would abandon its dials, so it
        // always runs to the end (each dial is bounded by the dialer's own timeout).
        for pool in &self.0 {
            let pool = pool.clone();
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
    }

    /// The refresher stops when the first pool closes (they are closed together).
    fn closed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.0[0].closed())
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
    nodata: AtomicU64,
    /// Per family (`IpFamily::ALL` order): lookups, failures, drops.
    family_lookups: [AtomicU64; 2],
    family_failures: [AtomicU64; 2],
    family_dropped: [AtomicU64; 2],
}

struct HostEntry {
    /// The DNS (or static) part; `status.addrs` is that part's set.
    status: HostStatus,
    /// Tells an answer of a replaced or removed host's task from the current one.
    generation: u64,
    task: Option<JoinHandle<()>>,
    refresh: Arc<Notify>,
    /// The user sources, by name: each keeps its own last good set.
    sources: BTreeMap<Arc<str>, SourceSlot>,
}

struct SourceSlot {
    status: SourceStatus,
    generation: u64,
    task: JoinHandle<()>,
}

impl HostEntry {
    fn new(status: HostStatus, generation: u64, task: Option<JoinHandle<()>>) -> Self {
        Self {
            status,
            generation,
            task,
            refresh: Arc::new(Notify::new()),
            sources: BTreeMap::new(),
        }
    }

    /// What the pool is fed: the union of the DNS (or static) set and every source's.
    fn union(&self) -> Vec<SocketAddr> {
        let mut addrs: Vec<SocketAddr> = self
            .status
            .addrs
            .iter()
            .chain(self.sources.values().flat_map(|s| &s.status.addrs))
            .copied()
            .collect();
        addrs.sort();
        addrs.dedup();
        addrs
    }

    /// Stops every task of the entry.
    fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        for slot in self.sources.values() {
            slot.task.abort();
        }
    }
}

pub(crate) struct Shared {
    resolver: DnsResolver,
    pub(crate) options: DnsOptions,
    sink: Arc<dyn AddrSink>,
    hosts: Mutex<HashMap<Arc<str>, HostEntry>>,
    next_generation: AtomicU64,
    counters: Counters,
    pub(crate) stop: watch::Sender<bool>,
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
    /// The host's status is updated from `families` in the same step.
    fn apply(
        &self,
        host: &str,
        generation: u64,
        addrs: &[SocketAddr],
        families: &[FamilyStatus],
    ) -> Option<AddrChange> {
        let mut hosts = self.hosts();
        let entry = hosts.get_mut(host)?;
        if entry.generation != generation || self.stopped() {
            return None;
        }
        entry.status.addrs = addrs.to_vec();
        entry.status.summarize(families);
        let change = self.sink.set_addrs(host, entry.union());
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

    /// Counts, logs and records the metrics of one family's lookup.
    fn count_lookup(
        &self,
        host: &str,
        family: IpFamily,
        result: &Result<Answer, Failure>,
        elapsed: f64,
    ) {
        let c = &self.counters;
        let i = family as usize;
        c.resolutions.fetch_add(1, Ordering::Relaxed);
        c.family_lookups[i].fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(answer) => {
                c.resolved.fetch_add(1, Ordering::Relaxed);
                metrics::resolved(family, elapsed, None);
                tracing::debug!(host, family = family.as_str(), ips = ?answer.ips, ttl = ?answer.ttl, "resolved");
            }
            Err(Failure { error, .. }) if error.kind == FailureKind::NoData => {
                // An answer: the name has no records of this family.
                c.resolved.fetch_add(1, Ordering::Relaxed);
                c.nodata.fetch_add(1, Ordering::Relaxed);
                metrics::resolved(family, elapsed, Some(error.kind));
                tracing::debug!(host, family = family.as_str(), "no records of this family");
            }
            Err(Failure { error, .. }) => {
                c.failures[error.kind.index()].fetch_add(1, Ordering::Relaxed);
                c.family_failures[i].fetch_add(1, Ordering::Relaxed);
                metrics::resolved(family, elapsed, Some(error.kind));
                tracing::warn!(
                    host,
                    family = family.as_str(),
                    kind = error.kind.as_str(),
                    %error,
                    "DNS lookup failed; the family keeps its last good answer"
                );
            }
        }
    }

    fn publish_hosts(&self) {
        metrics::hosts(self.hosts().len());
    }
}

impl SourceSink for Shared {
    fn options(&self) -> &DnsOptions {
        &self.options
    }

    fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Under the host lock: a source's set joins the host's union.
    fn apply_source(&self, host: &str, name: &str, generation: u64, status: &SourceStatus) -> bool {
        let mut hosts = self.hosts();
        let Some(entry) = hosts.get_mut(host) else {
            return false;
        };
        match entry.sources.get_mut(name) {
            Some(slot) if slot.generation == generation && !self.stopped() => {
                slot.status = status.clone();
            }
            _ => return false,
        }
        let change = self.sink.set_addrs(host, entry.union());
        drop(hosts);
        self.count_change(host, &change);
        true
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
    /// runtime. Fails when the resolver cannot be built ([`SetupError`]: resolv.conf, TLS
    /// name, DoT/DoH trust roots).
    pub fn start<D: Dialer>(pool: &Pool<D>, options: DnsOptions) -> Result<Self, SetupError> {
        Self::start_for_pools(std::slice::from_ref(pool), options)
    }

    /// [`DnsRefresher::start`] feeding the same answers to several pools of the same hosts
    /// (one per egress: `pool_core::EgressSet`'s members); new addresses are warmed in
    /// each. It stops when the first pool closes.
    ///
    /// # Panics
    /// With no pool.
    pub fn start_for_pools<D: Dialer>(
        pools: &[Pool<D>],
        options: DnsOptions,
    ) -> Result<Self, SetupError> {
        assert!(!pools.is_empty(), "a DNS refresher needs a pool to feed");
        let resolver = build_resolver(&options)?;
        let shared = Arc::new(Shared {
            resolver,
            options,
            sink: Arc::new(Pools(pools.to_vec())),
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

    /// The hosts' resolver and its options (for [`DnsRefresher::lookup_https`]).
    pub(crate) fn resolver(&self) -> (&DnsResolver, &DnsOptions) {
        (&self.shared.resolver, &self.shared.options)
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
            let mut entry = HostEntry::new(
                HostStatus::new(HostSource::Dns { port }, Vec::new()),
                generation,
                Some(task),
            );
            entry.refresh = refresh;
            replace(&mut hosts, name, entry);
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
            let entry = HostEntry::new(
                HostStatus::new(HostSource::Static, addrs.clone()),
                generation,
                None,
            );
            let union = replace(&mut hosts, host.into(), entry);
            self.shared.sink.set_addrs(host, union)
        };
        self.shared.count_change(host, &change);
        self.shared.publish_hosts();
        change
    }

    /// Adds (or replaces) the source `name` of `host`: the refresher pulls it every
    /// `refresh_interval` and feeds the pool the union of its set, the other sources' and
    /// the host's DNS (or static) set. A failing pull keeps the source's last good set
    /// (until `stale_after`) and is retried with backoff. Waits for the first pull and
    /// returns the source's status after it (`None` when the refresher is stopped).
    pub async fn add_source<S: AddressSource>(
        &self,
        host: &str,
        name: &str,
        source: S,
    ) -> Option<SourceStatus> {
        let (tx, rx) = oneshot::channel();
        {
            let mut hosts = self.shared.hosts();
            if self.shared.stopped() {
                return None;
            }
            let generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
            let host: Arc<str> = host.into();
            let name: Arc<str> = name.into();
            let task = tokio::spawn(run_source(
                self.shared.clone(),
                host.clone(),
                name.clone(),
                generation,
                source,
                tx,
            ));
            let entry = hosts.entry(host).or_insert_with(|| {
                HostEntry::new(
                    HostStatus::new(HostSource::User, Vec::new()),
                    generation,
                    None,
                )
            });
            let slot = SourceSlot {
                status: SourceStatus::new(name.clone()),
                generation,
                task,
            };
            if let Some(old) = entry.sources.insert(name, slot) {
                old.task.abort();
            }
        }
        self.shared.publish_hosts();
        rx.await.ok()
    }

    /// Removes the source `name` of `host`: only the addresses no other source (nor DNS)
    /// gives leave the pool (their connections drain). A host left with no source and no
    /// DNS or static registration is forgotten. Returns whether the source was known.
    pub fn remove_source(&self, host: &str, name: &str) -> bool {
        let change = {
            let mut hosts = self.shared.hosts();
            let Some(entry) = hosts.get_mut(host) else {
                return false;
            };
            let Some(slot) = entry.sources.remove(name) else {
                return false;
            };
            slot.task.abort();
            let union = entry.union();
            if entry.status.source == HostSource::User && entry.sources.is_empty() {
                hosts.remove(host);
            }
            self.shared.sink.set_addrs(host, union)
        };
        self.shared.count_change(host, &change);
        self.shared.publish_hosts();
        true
    }

    /// Stops resolving `host` (or its static list) but keeps its user sources: only the
    /// addresses no source gives leave the pool. Returns whether the host had a DNS or
    /// static registration.
    pub fn remove_dns(&self, host: &str) -> bool {
        let change = {
            let mut hosts = self.shared.hosts();
            let Some(entry) = hosts.get_mut(host) else {
                return false;
            };
            if entry.status.source == HostSource::User {
                return false;
            }
            if let Some(task) = entry.task.take() {
                task.abort();
            }
            entry.generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
            entry.status = HostStatus::new(HostSource::User, Vec::new());
            let union = entry.union();
            if entry.sources.is_empty() {
                hosts.remove(host);
            }
            self.shared.sink.set_addrs(host, union)
        };
        self.shared.count_change(host, &change);
        self.shared.publish_hosts();
        true
    }

    /// Stops refreshing `host` and removes its addresses from the pool (its connections
    /// drain), every source's included. Returns whether the host was known.
    pub fn remove_host(&self, host: &str) -> bool {
        let change = {
            let mut hosts = self.shared.hosts();
            let Some(old) = hosts.remove(host) else {
                return false;
            };
            old.abort();
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
        self.shared.hosts().get(host).map(|e| {
            let mut status = e.status.clone();
            status.sources = e.sources.values().map(|s| s.status.clone()).collect();
            status
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DnsStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut families: Vec<FamilyStats> = IpFamily::ALL
            .iter()
            .enumerate()
            .map(|(i, f)| FamilyStats {
                family: Some(*f),
                lookups: load(&c.family_lookups[i]),
                failures: load(&c.family_failures[i]),
                dropped: load(&c.family_dropped[i]),
                ..FamilyStats::default()
            })
            .collect();
        let (hosts, static_hosts) = {
            let hosts = self.shared.hosts();
            for state in hosts.values().flat_map(|e| &e.status.families) {
                let stats = &mut families[state.family as usize];
                stats.failing_hosts += usize::from(state.failing());
                stats.answered_hosts += usize::from(!state.ips.is_empty());
            }
            let statics = hosts
                .values()
                .filter(|e| e.status.source == HostSource::Static)
                .count();
            (hosts.len(), statics)
        };
        let failures_by_kind: Vec<(FailureKind, u64)> = FailureKind::ALL
            .iter()
            .zip(&c.failures)
            .filter(|(k, _)| **k != FailureKind::NoData)
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
            nodata: load(&c.nodata),
            families,
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
            .flat_map(|e| {
                let sources: Vec<JoinHandle<()>> = std::mem::take(&mut e.sources)
                    .into_values()
                    .map(|s| s.task)
                    .collect();
                e.task.take().into_iter().chain(sources)
            })
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

/// Puts `entry` in place of the host's DNS or static registration (stopping its task),
/// keeping the host's user sources. Returns the host's new union.
fn replace(
    hosts: &mut HashMap<Arc<str>, HostEntry>,
    host: Arc<str>,
    mut entry: HostEntry,
) -> Vec<SocketAddr> {
    if let Some(old) = hosts.remove(&host) {
        if let Some(task) = &old.task {
            task.abort();
        }
        entry.sources = old.sources;
    }
    let union = entry.union();
    hosts.insert(host, entry);
    union
}

fn stopped_error() -> ResolveError {
    ResolveError {
        kind: FailureKind::Other,
        family: None,
        message: "the DNS refresher is stopped".into(),
    }
}

type Lookup = Option<(IpFamily, Result<Answer, Failure>, f64)>;

/// Waits for the first of the pending lookups to finish: its index and outcome.
async fn poll_first<F: Future<Output = Lookup>>(
    pending: &mut [Option<Pin<&mut F>>; 2],
) -> (usize, Lookup) {
    std::future::poll_fn(|cx| {
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(fut) = slot
                && let std::task::Poll::Ready(out) = fut.as_mut().poll(cx)
            {
                return std::task::Poll::Ready((i, out));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Looks `family` up when `due`.
async fn lookup_if(shared: &Shared, name: &str, family: IpFamily, due: bool) -> Lookup {
    if !due {
        return None;
    }
    let started = Instant::now();
    let result = lookup(&shared.resolver, name, family).await;
    Some((family, result, started.elapsed().as_secs_f64()))
}

/// One host's task: looks each family up when its own time comes (both at once on the
/// first round and on `refresh_now`), feeds the union of their last good answers.
async fn run_host(
    shared: Arc<Shared>,
    host: Arc<str>,
    port: u16,
    generation: u64,
    refresh: Arc<Notify>,
    first: oneshot::Sender<Result<Vec<SocketAddr>, ResolveError>>,
) {
    let name = fqdn(&host);
    let options = &shared.options;
    let mut stop = shared.stop.subscribe();
    let mut first = Some(first);
    let mut states: Vec<FamilyStatus> = family::families(options.prefer)
        .iter()
        .map(|f| FamilyStatus::new(*f))
        .collect();
    let mut forced = true;
    loop {
        let now = Instant::now();
        let due = |f: IpFamily| {
            states
                .iter()
                .any(|s| s.family == f && (forced || s.due(now)))
        };
        let v4 = pin!(lookup_if(&shared, &name, IpFamily::V4, due(IpFamily::V4)));
        let v6 = pin!(lookup_if(&shared, &name, IpFamily::V6, due(IpFamily::V6)));
        let mut pending = [Some(v4), Some(v6)];
        forced = false;
        // Each family's answer is applied as soon as it arrives (RFC 8305: a new host is
        // warmed from whichever family answers first), the round ends when both are in.
        let mut addrs = Vec::new();
        while pending.iter().any(Option::is_some) {
            let (index, outcome) = tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => return,
                outcome = poll_first(&mut pending) => outcome,
            };
            pending[index] = None;
            let Some((family, result, elapsed)) = outcome else {
                continue; // not due
            };
            let Some(state) = states.iter_mut().find(|s| s.family == family) else {
                continue;
            };
            shared.count_lookup(&host, family, &result, elapsed);
            let dropped = state.record(result, Instant::now(), options);
            if let Some(reason) = dropped.reason() {
                shared.counters.family_dropped[family as usize].fetch_add(1, Ordering::Relaxed);
                metrics::dropped(family, reason);
                tracing::warn!(%host, family = family.as_str(), reason, "family addresses removed");
            }
            addrs = family::union(&states, options.prefer)
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if shared.apply(&host, generation, &addrs, &states).is_none() {
                return; // replaced, removed or stopped meanwhile
            }
        }
        if let Some(first) = first.take() {
            let reply = match family::first_error(&states) {
                Some(error) if addrs.is_empty() => Err(error),
                _ => Ok(addrs),
            };
            let _ = first.send(reply);
        }
        let now = Instant::now();
        let next = states
            .iter()
            .filter_map(|s| s.next_try)
            .min()
            .unwrap_or_else(|| now + options.dns_update_interval);
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep_until(next) => {}
            () = refresh.notified() => forced = true,
        }
    }
}
