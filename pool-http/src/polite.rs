//! Polite requests: each host's request rate awaited before a request goes
//! ([`HostRates`], over `pool_core::HostRate`), the host slowed down on 429/503 (AIMD,
//! `Retry-After`), and throttled idempotent requests sent again after a backoff within a
//! budget ([`send_polite`], over [`StatusRetry`] and [`RetryBudget`]). A host with a
//! fleet-wide rate also waits for a token leased from the fleet ([`HostRates::with_fleet`],
//! over `pool_core::FleetAccount`; falls back to its share when the fleet is lost). See
//! `docs/rate-limits.md`.
//!
//! Why here and not in a `LeaseSource` wrapper: the wait for a slot is bounded by the
//! request's deadline (a request whose slot is past it fails at once), and only the
//! request layer knows the deadline; each attempt, retries included, takes its own slot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use metrics::{counter, gauge, histogram};
use pool_core::{
    Adaptation, Decision, Dialer, Feedback, FleetAccount, FleetRateSettings, FleetRateStats,
    FleetTokens, HostRate, LeaseSource, RateError, RateLimit, RateStats,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::lease::{replay, send_until};
use crate::retry::{Jitter, RetryBudget, StatusRetry, retry_after};
use crate::{Body, BoxError, HttpConnection, Replayable, RequestError, RequestOptions};

/// Counter, labels `host`, `scope` (`host`: its own rate; `fleet`: its fleet-wide rate):
/// requests that waited for a slot.
pub const RATE_WAITS_TOTAL: &str = "hotpool_rate_waits_total";
/// Histogram (seconds), labels `host`, `scope`: how long those requests waited.
pub const RATE_WAIT_SECONDS: &str = "hotpool_rate_wait_seconds";
/// Counter, labels `host`, `scope`: requests failed at once because the rate had no slot
/// before their deadline.
pub const RATE_LIMITED_TOTAL: &str = "hotpool_rate_limited_total";
/// Gauge (requests/s), label `host`: the host's configured rate.
pub const RATE_CONFIGURED: &str = "hotpool_rate_configured";
/// Gauge (requests/s), label `host`: the rate in force, as adapted (absent: unpaced).
pub const RATE_CURRENT: &str = "hotpool_rate_current";
/// Counter, labels `host`, `status` (`429`, `503`, …): throttling answers seen.
pub const THROTTLED_TOTAL: &str = "hotpool_throttled_total";
/// Counter, labels `host`, `reason` (`429`, `503`, …): throttled requests sent again.
pub const STATUS_RETRIES_TOTAL: &str = "hotpool_status_retries_total";
/// Counter, label `host`: throttled requests not sent again because the retry budget was
/// spent.
pub const RETRY_BUDGET_EXHAUSTED_TOTAL: &str = "hotpool_retry_budget_exhausted_total";
/// Gauge (requests/s), label `host`: the host's fleet-wide rate.
pub const FLEET_RATE_CONFIGURED: &str = "hotpool_fleet_rate_configured";
/// Gauge, label `host`: the workers leasing from the host's fleet rate (the last lease's
/// answer); the fallback share is the fleet rate divided by it.
pub const FLEET_RATE_WORKERS: &str = "hotpool_fleet_rate_workers";
/// Counter, labels `host`, `outcome` (`granted`, `failed`): leases of fleet tokens.
pub const FLEET_RATE_LEASES_TOTAL: &str = "hotpool_fleet_rate_leases_total";
/// Counter, label `host`: requests sent on the fallback share (the fleet backend lost).
pub const FLEET_RATE_FALLBACK_TOTAL: &str = "hotpool_fleet_rate_fallback_total";

/// Every metric name this module records.
pub const ALL: [&str; 12] = [
    RATE_WAITS_TOTAL,
    RATE_WAIT_SECONDS,
    RATE_LIMITED_TOTAL,
    RATE_CONFIGURED,
    RATE_CURRENT,
    THROTTLED_TOTAL,
    STATUS_RETRIES_TOTAL,
    RETRY_BUDGET_EXHAUSTED_TOTAL,
    FLEET_RATE_CONFIGURED,
    FLEET_RATE_WORKERS,
    FLEET_RATE_LEASES_TOTAL,
    FLEET_RATE_FALLBACK_TOTAL,
];

/// What a host's rate gate is, as the `scope` label says.
const SCOPE_HOST: &str = "host";
const SCOPE_FLEET: &str = "fleet";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every host's request rate: a configured rate per host (else the default for hosts met
/// on first use), adapted on throttles (unless adaptation is off); and, with a fleet
/// backend ([`with_fleet`](Self::with_fleet)), the fleet-wide rates of the hosts that have
/// one ([`set_fleet_host`](Self::set_fleet_host)). Share one per client.
#[derive(Debug)]
pub struct HostRates {
    default: Option<RateLimit>,
    adaptation: Option<Adaptation>,
    hosts: RwLock<HashMap<Box<str>, Arc<Mutex<HostRate>>>>,
    fleet: Option<Arc<dyn FleetTokens>>,
    fleet_settings: FleetRateSettings,
    fleet_hosts: RwLock<HashMap<Box<str>, Arc<FleetHost>>>,
}

/// One host's fleet-wide rate: the account, and the requests waiting for its lease.
#[derive(Debug)]
struct FleetHost {
    account: Mutex<FleetAccount>,
    leased: Notify,
}

impl HostRates {
    /// Hosts paced at `default` until [`set_host`](Self::set_host) says otherwise (`None`:
    /// unpaced), adapting with `adaptation` (`None`: fixed rates).
    pub fn new(default: Option<RateLimit>, adaptation: Option<Adaptation>) -> Self {
        Self {
            default,
            adaptation,
            hosts: RwLock::new(HashMap::new()),
            fleet: None,
            fleet_settings: FleetRateSettings::default(),
            fleet_hosts: RwLock::new(HashMap::new()),
        }
    }

    /// These rates with fleet-wide rates leased from `tokens` (`pool_redis::RedisRates`)
    /// for the hosts given one with [`set_fleet_host`](Self::set_fleet_host).
    #[must_use]
    pub fn with_fleet(mut self, tokens: Arc<dyn FleetTokens>) -> Self {
        self.fleet = Some(tokens);
        self
    }

    /// These rates leasing fleet tokens with `settings` (batch period, retry, staleness).
    #[must_use]
    pub fn with_fleet_settings(mut self, settings: FleetRateSettings) -> Self {
        self.fleet_settings = settings;
        self
    }

    /// Whether a fleet backend is set.
    pub fn has_fleet(&self) -> bool {
        self.fleet.is_some()
    }

    /// Sets `host`'s configured rate (`None`: none), starting its state afresh.
    pub fn set_host(&self, host: &str, limit: Option<RateLimit>) {
        let rate = HostRate::new(limit, self.adaptation);
        record_rates(host, &rate);
        self.hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.into(), Arc::new(Mutex::new(rate)));
    }

    /// Sets `host`'s fleet-wide rate (`None`: none), starting its account afresh. Without
    /// a fleet backend ([`with_fleet`](Self::with_fleet)) it is kept but not enforced.
    pub fn set_fleet_host(&self, host: &str, limit: Option<RateLimit>) {
        let mut hosts = self
            .fleet_hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match limit {
            Some(limit) => {
                gauge!(FLEET_RATE_CONFIGURED, "host" => host.to_owned()).set(limit.per_sec());
                let account = FleetAccount::new(limit, self.fleet_settings);
                hosts.insert(
                    host.into(),
                    Arc::new(FleetHost {
                        account: Mutex::new(account),
                        leased: Notify::new(),
                    }),
                );
            }
            None => {
                hosts.remove(host);
            }
        }
    }

    /// `host`'s fleet-wide rate and counters, if it has one.
    pub fn fleet_stats(&self, host: &str) -> Option<FleetRateStats> {
        let hosts = self
            .fleet_hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        hosts.get(host).map(|fleet| lock(&fleet.account).stats())
    }

    fn fleet_host(&self, host: &str) -> Option<(&Arc<dyn FleetTokens>, Arc<FleetHost>)> {
        let tokens = self.fleet.as_ref()?;
        let hosts = self
            .fleet_hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Some((tokens, Arc::clone(hosts.get(host)?)))
    }

    fn host(&self, host: &str) -> Arc<Mutex<HostRate>> {
        if let Some(rate) = self
            .hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(host)
        {
            return Arc::clone(rate);
        }
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(hosts.entry(host.into()).or_insert_with(|| {
            let rate = HostRate::new(self.default, self.adaptation);
            record_rates(host, &rate);
            Arc::new(Mutex::new(rate))
        }))
    }

    /// Waits for `host`'s next slot (callers are served in the order they asked), or fails
    /// at once when that slot is after `deadline`. Returns how long it waited. A host with
    /// a fleet-wide rate first waits for a fleet token (see [`FleetAccount`]).
    pub async fn acquire(&self, host: &str, deadline: Instant) -> Result<Duration, RateError> {
        let started = Instant::now();
        if let Some((tokens, fleet)) = self.fleet_host(host) {
            acquire_fleet(tokens, &fleet, host, deadline).await?;
        }
        let rate = self.host(host);
        let now = Instant::now();
        let decided = lock(&rate).decide(now.into_std(), Some(deadline.into_std()));
        match decided {
            Ok(Decision::Ready) => Ok(Instant::now().saturating_duration_since(started)),
            Ok(Decision::WaitUntil(slot)) => {
                let mut held = Held {
                    rate: &rate,
                    slot: Some(slot),
                };
                tokio::time::sleep_until(Instant::from_std(slot)).await;
                held.slot = None;
                record_wait(host, SCOPE_HOST, now);
                Ok(Instant::now().saturating_duration_since(started))
            }
            Err(e) => {
                counter!(RATE_LIMITED_TOTAL, "host" => host.to_owned(), "scope" => SCOPE_HOST)
                    .increment(1);
                Err(e)
            }
        }
    }

    /// Tells `host`'s rate what a response said ([`HostRate::on_response`]).
    pub fn feedback(&self, host: &str, feedback: Feedback) {
        let rate = self.host(host);
        let mut rate = lock(&rate);
        let before = rate.current();
        rate.on_response(Instant::now().into_std(), feedback);
        let after = rate.current();
        if after != before
            && let Some(current) = after
        {
            gauge!(RATE_CURRENT, "host" => host.to_owned()).set(current);
        }
    }

    /// `host`'s rate and counters, if it was seen.
    pub fn stats(&self, host: &str) -> Option<RateStats> {
        let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
        hosts.get(host).map(|rate| lock(rate).stats())
    }

    /// Every host's rate and counters, by host name.
    pub fn all_stats(&self) -> Vec<(String, RateStats)> {
        let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = hosts
            .iter()
            .map(|(host, rate)| (host.to_string(), lock(rate).stats()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Sets `host`'s rate gauges: configured and in force.
fn record_rates(host: &str, rate: &HostRate) {
    if let Some(configured) = rate.configured() {
        gauge!(RATE_CONFIGURED, "host" => host.to_owned()).set(configured.per_sec());
    }
    if let Some(current) = rate.current() {
        gauge!(RATE_CURRENT, "host" => host.to_owned()).set(current);
    }
}

/// Counts a wait for a slot of `scope` that began at `since`.
fn record_wait(host: &str, scope: &'static str, since: Instant) {
    let waited = Instant::now().saturating_duration_since(since);
    counter!(RATE_WAITS_TOTAL, "host" => host.to_owned(), "scope" => scope).increment(1);
    histogram!(RATE_WAIT_SECONDS, "host" => host.to_owned(), "scope" => scope)
        .record(waited.as_secs_f64());
}

/// Waits for a fleet token of `host`: a leased slot, else the fallback share's; when there
/// is none yet, for the lease in flight (started here when the account asks for one, in a
/// task of its own so an abandoned request never strands it). Bounded by `deadline`.
async fn acquire_fleet(
    tokens: &Arc<dyn FleetTokens>,
    fleet: &Arc<FleetHost>,
    host: &str,
    deadline: Instant,
) -> Result<(), RateError> {
    let since = Instant::now();
    let mut waited = false;
    loop {
        let leased = fleet.leased.notified();
        tokio::pin!(leased);
        leased.as_mut().enable();
        let now = Instant::now();
        let (step, on_fallback) = {
            let mut account = lock(&fleet.account);
            let step = account.take(now.into_std(), Some(deadline.into_std()));
            (step, account.on_fallback())
        };
        let step = match step {
            Ok(step) => step,
            Err(e) => {
                counter!(RATE_LIMITED_TOTAL, "host" => host.to_owned(), "scope" => SCOPE_FLEET)
                    .increment(1);
                return Err(e);
            }
        };
        if let Some(want) = step.lease {
            start_lease(tokens, fleet, host, want);
        }
        match step.decision {
            Some(decision) => {
                if on_fallback {
                    counter!(FLEET_RATE_FALLBACK_TOTAL, "host" => host.to_owned()).increment(1);
                }
                if let Decision::WaitUntil(slot) = decision {
                    tokio::time::sleep_until(Instant::from_std(slot)).await;
                    waited = true;
                }
                if waited {
                    record_wait(host, SCOPE_FLEET, since);
                }
                return Ok(());
            }
            None => {
                waited = true;
                if tokio::time::timeout_at(deadline, leased).await.is_err() {
                    counter!(RATE_LIMITED_TOTAL, "host" => host.to_owned(), "scope" => SCOPE_FLEET)
                        .increment(1);
                    return Err(RateError::WouldPassDeadline {
                        wait: deadline.saturating_duration_since(since),
                    });
                }
            }
        }
    }
}

/// Leases `want` fleet tokens of `host` in a task of its own; its outcome goes to the
/// account and wakes the requests waiting for it.
fn start_lease(tokens: &Arc<dyn FleetTokens>, fleet: &Arc<FleetHost>, host: &str, want: u32) {
    let (tokens, fleet, host) = (Arc::clone(tokens), Arc::clone(fleet), host.to_owned());
    let limit = lock(&fleet.account).limit();
    tokio::spawn(async move {
        let answer = tokens.lease(&host, limit, want).await;
        let now = Instant::now().into_std();
        match answer {
            Ok(grant) => {
                lock(&fleet.account).on_granted(now, grant);
                counter!(FLEET_RATE_LEASES_TOTAL, "host" => host.clone(), "outcome" => "granted")
                    .increment(1);
                gauge!(FLEET_RATE_WORKERS, "host" => host).set(f64::from(grant.workers));
            }
            Err(error) => {
                tracing::debug!(host, %error, "fleet rate: on the fallback share");
                lock(&fleet.account).on_failed(now);
                counter!(FLEET_RATE_LEASES_TOTAL, "host" => host, "outcome" => "failed")
                    .increment(1);
            }
        }
        fleet.leased.notify_waiters();
    });
}

/// A reserved slot given back if its waiter is dropped before it.
struct Held<'a> {
    rate: &'a Mutex<HostRate>,
    slot: Option<std::time::Instant>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            lock(self.rate).cancel(slot);
        }
    }
}

/// What [`send_polite`] did, since the [`Polite`] was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoliteStats {
    /// Requests sent through it (first attempts).
    pub requests: u64,
    /// Throttling answers (429, 503, …) received.
    pub throttled: u64,
    /// Throttled requests sent again.
    pub retried: u64,
    /// Throttled requests returned as they were because the budget was spent.
    pub budget_exhausted: u64,
}

/// The politeness of a client: host rates (none: no pacing and no adaptation) and the
/// status-aware retry policy, with its budget and jitter. The default: no configured
/// rate, adaptation on, retries on ([`StatusRetry::default`]) — `docs/rate-limits.md`.
#[derive(Debug)]
pub struct Polite {
    rates: Option<Arc<HostRates>>,
    retry: StatusRetry,
    budget: Mutex<RetryBudget>,
    jitter: Mutex<Jitter>,
    requests: AtomicU64,
    throttled: AtomicU64,
    retried: AtomicU64,
    budget_exhausted: AtomicU64,
}

impl Default for Polite {
    fn default() -> Self {
        Self::new(
            Some(Arc::new(HostRates::new(None, Some(Adaptation::default())))),
            StatusRetry::default(),
        )
    }
}

impl Polite {
    /// Requests paced and adapted by `rates`, throttles retried under `retry`.
    pub fn new(rates: Option<Arc<HostRates>>, retry: StatusRetry) -> Self {
        Self {
            rates,
            budget: Mutex::new(RetryBudget::new(
                retry.budget_ratio,
                retry.budget_min_per_sec,
            )),
            jitter: Mutex::new(Jitter::new(retry.seed)),
            retry,
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            budget_exhausted: AtomicU64::new(0),
        }
    }

    /// The host rates.
    pub fn rates(&self) -> Option<&Arc<HostRates>> {
        self.rates.as_ref()
    }

    /// The retry policy.
    pub fn retry(&self) -> &StatusRetry {
        &self.retry
    }

    /// The counters.
    pub fn stats(&self) -> PoliteStats {
        PoliteStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            budget_exhausted: self.budget_exhausted.load(Ordering::Relaxed),
        }
    }
}

/// How much of a throttling answer's body is read before it is sent again (so an HTTP/1.1
/// connection is kept): more, and the connection is given up instead.
const DRAIN_LIMIT: usize = 64 * 1024;

/// [`send_with`](crate::send_with) made polite, under one deadline (`options.timeout` or
/// the request's [`Timeout`](crate::Timeout)):
///
/// 1. each attempt first waits for `host`'s rate slot, or fails at once with
///    [`RequestError::RateLimited`] when the slot is after the deadline;
/// 2. it is sent with `send_with`'s retries of connection failures and refusals, on a
///    connection to another address than the last attempt's where the pool has one;
/// 3. the answer adapts the host's rate (a throttle cuts it or pauses it for its
///    `Retry-After`; anything else lets it grow back);
/// 4. an idempotent request answered with a throttling status ([`StatusRetry::statuses`])
///    is sent again after the backoff ([`StatusRetry::backoff`]: `Retry-After`, else full
///    jitter) while attempts, the budget and the deadline allow; otherwise — and after the
///    last attempt — the last response is returned as it is (not an error).
pub async fn send_polite<S, B>(
    pool: &S,
    polite: &Polite,
    host: &str,
    request: Request<B>,
    options: &RequestOptions,
) -> Result<Response<Body<S::Dialer>>, RequestError>
where
    S: LeaseSource,
    <S::Dialer as Dialer>::Conn: HttpConnection,
    B: Replayable + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let options = options.for_request(request.extensions());
    let deadline = Instant::now() + options.timeout;
    let idempotent = request.method().is_idempotent();
    polite.requests.fetch_add(1, Ordering::Relaxed);
    lock(&polite.budget).on_request(Instant::now().into_std());
    let mut request = request;
    let mut avoid = None;
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(rates) = &polite.rates {
            rates.acquire(host, deadline).await?;
        }
        let again = if idempotent && attempt < polite.retry.max_attempts {
            replay(&request)
        } else {
            None
        };
        let (sent, attempts) = send_until(pool, host, request, &options, deadline, avoid).await;
        let response = sent?;
        let status = response.status();
        if !polite.retry.is_throttle(status) {
            if let Some(rates) = &polite.rates {
                rates.feedback(host, Feedback::Success);
            }
            return Ok(response);
        }
        let after = retry_after(response.headers(), SystemTime::now())
            .map(|after| after.min(polite.retry.max_retry_after));
        polite.throttled.fetch_add(1, Ordering::Relaxed);
        counter!(THROTTLED_TOTAL, "host" => host.to_owned(), "status" => status.as_str().to_owned())
            .increment(1);
        if let Some(rates) = &polite.rates {
            rates.feedback(host, Feedback::Throttled { retry_after: after });
        }
        let Some(next) = again else {
            return Ok(response);
        };
        let wait = polite
            .retry
            .backoff(attempt, after, lock(&polite.jitter).draw());
        if Instant::now() + wait >= deadline {
            return Ok(response);
        }
        if !lock(&polite.budget).try_retry(Instant::now().into_std()) {
            polite.budget_exhausted.fetch_add(1, Ordering::Relaxed);
            counter!(RETRY_BUDGET_EXHAUSTED_TOTAL, "host" => host.to_owned()).increment(1);
            return Ok(response);
        }
        tracing::debug!(host, %status, attempt, ?wait, "throttled: sending again after a backoff");
        polite.retried.fetch_add(1, Ordering::Relaxed);
        counter!(STATUS_RETRIES_TOTAL, "host" => host.to_owned(), "reason" => status.as_str().to_owned())
            .increment(1);
        let drained: Result<Bytes, RequestError> = match tokio::time::timeout_at(
            deadline,
            response.into_body().collect(DRAIN_LIMIT),
        )
        .await
        {
            Ok(read) => read,
            Err(_) => Err(RequestError::Timeout(options.timeout)),
        };
        drop(drained);
        tokio::time::sleep(wait).await;
        avoid = attempts.last_addr;
        request = next;
    }
}

#[cfg(test)]
mod tests;
