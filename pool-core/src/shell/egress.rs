//! Several ways out for the same hosts: one [`Pool`] per egress (a proxy, a source address,
//! direct), and a policy that picks the egress of each request ([`EgressSet`]).
//!
//! A pool has one dialer and a dialer has one egress, so each egress keeps its own
//! connections, its own bans and re-tests (a 403 through one proxy bans the address for that
//! proxy only) and its own counters; nothing here knows what an egress is. An egress whose
//! dials fail as the egress's fault ([`DialErrorKind::Proxy`]) is **benched**: skipped by
//! the policy for a while (1 s, doubling up to 60 s), then tried again by the next request
//! that picks it, like a blacklisted address is re-tested. See `docs/egress.md`.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use metrics::Counter;

use tokio::time::Instant;

use crate::shell::{GetOptions, Lease, LeaseSource, Pool, WarmReport};
use crate::{DialErrorKind, Dialer, Error, Stats};

/// How an [`EgressSet`] picks the egress of a request (`[egress] rotation` in a config
/// file: `"round-robin"`, `"random"`, `"sticky"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum EgressRotation {
    /// Each request the next egress, in turn (default).
    #[default]
    #[cfg_attr(feature = "serde", serde(alias = "round_robin"))]
    RoundRobin,
    /// Each request an egress at random.
    Random,
    /// Each host always the same egress (by a hash of its name), while that one is usable.
    Sticky,
}

/// The first bench of an egress; each failure in a row doubles it, up to [`BENCH_MAX`].
const BENCH_FIRST: Duration = Duration::from_secs(1);
/// The longest bench.
const BENCH_MAX: Duration = Duration::from_secs(60);

/// Pools of the same hosts, one per egress, and the policy picking one per request.
pub struct EgressSet<D: Dialer> {
    members: Vec<Member<D>>,
    rotation: EgressRotation,
    turn: AtomicUsize,
    hasher: RandomState,
    /// The time benches are counted from (`Bench::until`).
    epoch: Instant,
}

struct Member<D: Dialer> {
    label: Arc<str>,
    pool: Pool<D>,
    bench: Bench,
    /// `hotpool_egress_leases_total` / `hotpool_egress_benched_total` for this egress,
    /// resolved once (a lease does not look its counter up).
    leases: Counter,
    benched: Counter,
}

/// An egress's bench, in atomics: the policy reads it on every request, a lease through a
/// healthy egress writes nothing.
#[derive(Default)]
struct Bench {
    /// Benched until the set's epoch plus this many nanoseconds; 0: not benched.
    until: AtomicU64,
    failures_in_a_row: AtomicU32,
    total: AtomicU64,
}

/// One egress as [`EgressSet::egresses`] reports it.
#[derive(Clone, Debug)]
pub struct EgressState {
    /// Its label (for a proxy, `host:port`; never credentials).
    pub label: Arc<str>,
    /// Benched until then (skipped by the policy), if benched now.
    pub benched_until: Option<Instant>,
    /// How many times it was benched.
    pub benched_total: u64,
    /// Its pool's counters.
    pub stats: Stats,
}

/// A lease and the egress it was taken through.
pub struct EgressLease<D: Dialer> {
    /// The lease (returned to its egress's pool when dropped).
    pub lease: Lease<D>,
    /// The egress's label.
    pub egress: Arc<str>,
}

impl<D: Dialer> EgressSet<D> {
    /// A set of `(label, pool)` members, each pool dialing through its egress. Its counters
    /// are resolved here, as a pool's are: install a metrics recorder before.
    ///
    /// # Panics
    /// With no member.
    pub fn new(
        members: impl IntoIterator<Item = (impl Into<Arc<str>>, Pool<D>)>,
        rotation: EgressRotation,
    ) -> Self {
        let members: Vec<Member<D>> = members
            .into_iter()
            .map(|(label, pool)| {
                let label: Arc<str> = label.into();
                let egress = label.to_string();
                Member {
                    leases: metrics::counter!(crate::metrics::EGRESS_LEASES_TOTAL, "egress" => egress.clone()),
                    benched: metrics::counter!(crate::metrics::EGRESS_BENCHED_TOTAL, "egress" => egress),
                    label,
                    pool,
                    bench: Bench::default(),
                }
            })
            .collect();
        assert!(
            !members.is_empty(),
            "an EgressSet needs at least one egress"
        );
        Self {
            members,
            rotation,
            turn: AtomicUsize::new(0),
            hasher: RandomState::new(),
            epoch: Instant::now(),
        }
    }

    /// Sets `host`'s addresses in every egress's pool.
    pub fn set_addrs(&self, host: &str, addrs: impl IntoIterator<Item = SocketAddr>) {
        let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
        for m in &self.members {
            m.pool.set_addrs(host, addrs.iter().copied());
        }
    }

    /// Warms `host` through every egress at once: every address hot behind every exit.
    pub async fn warm(&self, host: &str) -> Vec<(Arc<str>, WarmReport)> {
        let mut warming = tokio::task::JoinSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let (pool, host) = (m.pool.clone(), host.to_owned());
            warming.spawn(async move { (i, pool.warm(&host).await) });
        }
        let mut reports: Vec<(usize, WarmReport)> = Vec::with_capacity(self.members.len());
        while let Some(joined) = warming.join_next().await {
            match joined {
                Ok(report) => reports.push(report),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {} // cancelled: the runtime is shutting down
            }
        }
        reports.sort_by_key(|(i, _)| *i);
        reports
            .into_iter()
            .map(|(i, report)| (self.members[i].label.clone(), report))
            .collect()
    }

    /// A lease for `host` through the egress the policy picks; an egress that fails as the
    /// egress's fault is benched and the next one tried (each at most once per call). Other
    /// errors are returned as they are: they are the host's, not the egress's.
    ///
    /// # Errors
    /// The pool's errors; when every egress failed as its own fault, the last one's.
    pub async fn get(&self, host: &str) -> Result<EgressLease<D>, Error> {
        self.get_with(host, GetOptions::default()).await
    }

    /// [`EgressSet::get`] with per-call options ([`GetOptions`]).
    ///
    /// # Errors
    /// As [`EgressSet::get`].
    pub async fn get_with(&self, host: &str, options: GetOptions) -> Result<EgressLease<D>, Error> {
        let mut last = None;
        for i in self.order(host) {
            match self.try_member(i, host, options).await {
                Ok(lease) => return Ok(lease),
                Err(e) if is_egress_fault(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::Closed))
    }

    /// A lease for `host` through the egress labelled `label` (a per-request override;
    /// benching is kept up to date but does not stop the request).
    ///
    /// # Errors
    /// The pool's errors; [`Error::NoAddresses`] for an unknown label.
    pub async fn get_via(&self, host: &str, label: &str) -> Result<EgressLease<D>, Error> {
        match self.members.iter().position(|m| &*m.label == label) {
            Some(i) => self.try_member(i, host, GetOptions::default()).await,
            None => Err(Error::NoAddresses {
                host: format!("{host} (no egress {label:?})").into(),
            }),
        }
    }

    /// Every egress: label, bench and its pool's counters.
    pub fn egresses(&self) -> Vec<EgressState> {
        let now = Instant::now();
        self.members
            .iter()
            .map(|m| EgressState {
                label: m.label.clone(),
                benched_until: m.bench.until(self.epoch, now),
                benched_total: m.bench.total.load(Ordering::Relaxed),
                stats: m.pool.stats(),
            })
            .collect()
    }

    /// Sets the `hotpool_egress{egress, what}` gauges from each egress's pool: connections,
    /// blacklisted addresses, dials and failed dials (call it as often as a scrape needs;
    /// it reads every pool's counters).
    pub fn record_metrics(&self) {
        for state in self.egresses() {
            let s = &state.stats;
            let values = [
                ("connections", s.connections as f64),
                ("blacklisted", s.blacklisted as f64),
                ("dials", s.dials_total as f64),
                ("dial_failures", s.dial_failures as f64),
            ];
            for (what, value) in values {
                let egress = state.label.to_string();
                metrics::gauge!(crate::metrics::EGRESS, "egress" => egress, "what" => what)
                    .set(value);
            }
        }
    }

    /// The pool of the egress labelled `label`.
    pub fn pool(&self, label: &str) -> Option<&Pool<D>> {
        self.members
            .iter()
            .find(|m| &*m.label == label)
            .map(|m| &m.pool)
    }

    /// Closes every egress's pool.
    pub async fn close(&self) {
        for m in &self.members {
            m.pool.close().await;
        }
    }

    /// The members to try for a request to `host`: the usable ones (not benched) from the
    /// policy's pick on, so requests spread over the usable ones only; the benched ones
    /// after them, as a last resort.
    fn order(&self, host: &str) -> Vec<usize> {
        let now = Instant::now();
        let all = 0..self.members.len();
        let benched = |i: &usize| self.members[*i].bench.until(self.epoch, now).is_some();
        let mut order: Vec<usize> = all.clone().filter(|i| !benched(i)).collect();
        let usable = order.len();
        order.extend(all.filter(benched));
        if usable == 0 {
            return order;
        }
        let start = match self.rotation {
            EgressRotation::RoundRobin => self.turn.fetch_add(1, Ordering::Relaxed) % usable,
            EgressRotation::Random => {
                let turn = self.turn.fetch_add(1, Ordering::Relaxed);
                (self.hasher.hash_one(turn) % usable as u64) as usize
            }
            // The host's own member while usable, else the next usable one after it.
            EgressRotation::Sticky => {
                let mut name = self.hasher.build_hasher();
                host.bytes()
                    .for_each(|b| name.write_u8(b.to_ascii_lowercase()));
                let home = (name.finish() % self.members.len() as u64) as usize;
                order[..usable].iter().position(|&i| i >= home).unwrap_or(0)
            }
        };
        order[..usable].rotate_left(start);
        order
    }

    async fn try_member(
        &self,
        i: usize,
        host: &str,
        options: GetOptions,
    ) -> Result<EgressLease<D>, Error> {
        let m = &self.members[i];
        match m.pool.get_with(host, options).await {
            Ok(lease) => {
                m.bench.clear();
                m.leases.increment(1);
                Ok(EgressLease {
                    lease,
                    egress: m.label.clone(),
                })
            }
            Err(e) => {
                if is_egress_fault(&e) {
                    m.bench.start(self.epoch, Instant::now());
                    m.benched.increment(1);
                    tracing::warn!(egress = %m.label, error = %e, "egress benched");
                }
                Err(e)
            }
        }
    }
}

impl Bench {
    /// When the bench ends, if it has not yet at `now`.
    fn until(&self, epoch: Instant, now: Instant) -> Option<Instant> {
        match self.until.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(epoch + Duration::from_nanos(nanos)).filter(|u| *u > now),
        }
    }

    /// Benched from `now`: 1 s, doubled for each failure in a row before, up to 60 s.
    fn start(&self, epoch: Instant, now: Instant) {
        let before = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
        let length = BENCH_FIRST
            .saturating_mul(1 << before.min(16))
            .min(BENCH_MAX);
        let end = (now + length).duration_since(epoch).as_nanos();
        self.until.store(
            u64::try_from(end).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A lease went through: no bench, the streak ends (nothing is written when there was
    /// none: a healthy egress's leases only read).
    fn clear(&self) {
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
            self.until.store(0, Ordering::Relaxed);
        }
    }
}

/// Whether `error` is the egress's fault (its proxy failed), not the host's.
fn is_egress_fault(error: &Error) -> bool {
    matches!(error, Error::Dial { last, .. } if last.kind() == DialErrorKind::Proxy)
}

/// `pool-http`'s `send` through an `EgressSet`: a request whose connection was lost is sent
/// again through the egress the policy picks then (a dead proxy's pool fails as the
/// proxy's and is benched, so the retry leaves through another).
impl<D: Dialer> LeaseSource for EgressSet<D> {
    type Dialer = D;

    async fn lease(&self, host: &str, options: GetOptions) -> Result<Lease<D>, Error> {
        self.get_with(host, options).await.map(|got| got.lease)
    }

    /// Counted on the first egress's pool (the set has one count of resends; the egress a
    /// resent request had used is gone with its lease).
    fn count_resend(&self, refused: bool) {
        self.members[0].pool.count_resend(refused);
    }
}
