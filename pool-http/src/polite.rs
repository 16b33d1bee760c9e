//! Polite requests: each host's request rate awaited before a request goes
//! ([`HostRates`], over `pool_core::HostRate`), the host slowed down on 429/503 (AIMD,
//! `Retry-After`), and throttled idempotent requests sent again after a backoff within a
//! budget ([`send_polite`], over [`StatusRetry`] and [`RetryBudget`]). See
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
use metrics::{counter, histogram};
use pool_core::{
    Adaptation, Decision, Dialer, Feedback, HostRate, LeaseSource, RateError, RateLimit, RateStats,
};
use tokio::time::Instant;

use crate::lease::{replay, send_until};
use crate::retry::{Jitter, RetryBudget, StatusRetry, retry_after};
use crate::{Body, BoxError, HttpConnection, Replayable, RequestError, RequestOptions};

/// Counter: requests that waited for their host's rate.
pub const RATE_WAITS_TOTAL: &str = "hotpool_rate_waits_total";
/// Histogram (seconds): how long those requests waited.
pub const RATE_WAIT_SECONDS: &str = "hotpool_rate_wait_seconds";
/// Counter: requests failed at once because the rate had no slot before their deadline.
pub const RATE_LIMITED_TOTAL: &str = "hotpool_rate_limited_total";
/// Counter, label `status` (`429`, `503`, …): throttling answers seen.
pub const THROTTLED_TOTAL: &str = "hotpool_throttled_total";
/// Counter, label `reason` (`429`, `503`, …): throttled requests sent again.
pub const STATUS_RETRIES_TOTAL: &str = "hotpool_status_retries_total";
/// Counter: throttled requests not sent again because the retry budget was spent.
pub const RETRY_BUDGET_EXHAUSTED_TOTAL: &str = "hotpool_retry_budget_exhausted_total";

/// Every metric name this module records.
pub const ALL: [&str; 6] = [
    RATE_WAITS_TOTAL,
    RATE_WAIT_SECONDS,
    RATE_LIMITED_TOTAL,
    THROTTLED_TOTAL,
    STATUS_RETRIES_TOTAL,
    RETRY_BUDGET_EXHAUSTED_TOTAL,
];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every host's request rate: a configured rate per host (else the default for hosts met
/// on first use), adapted on throttles (unless adaptation is off). Share one per client.
#[derive(Debug)]
pub struct HostRates {
    default: Option<RateLimit>,
    adaptation: Option<Adaptation>,
    hosts: RwLock<HashMap<Box<str>, Arc<Mutex<HostRate>>>>,
}

impl HostRates {
    /// Hosts paced at `default` until [`set_host`](Self::set_host) says otherwise (`None`:
    /// unpaced), adapting with `adaptation` (`None`: fixed rates).
    pub fn new(default: Option<RateLimit>, adaptation: Option<Adaptation>) -> Self {
        Self {
            default,
            adaptation,
            hosts: RwLock::new(HashMap::new()),
        }
    }

    /// Sets `host`'s configured rate (`None`: none), starting its state afresh.
    pub fn set_host(&self, host: &str, limit: Option<RateLimit>) {
        let rate = Arc::new(Mutex::new(HostRate::new(limit, self.adaptation)));
        self.hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.into(), rate);
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
        Arc::clone(
            hosts.entry(host.into()).or_insert_with(|| {
                Arc::new(Mutex::new(HostRate::new(self.default, self.adaptation)))
            }),
        )
    }

    /// Waits for `host`'s next slot (callers are served in the order they asked), or fails
    /// at once when that slot is after `deadline`. Returns how long it waited.
    pub async fn acquire(&self, host: &str, deadline: Instant) -> Result<Duration, RateError> {
        let rate = self.host(host);
        let now = Instant::now();
        let decided = lock(&rate).decide(now.into_std(), Some(deadline.into_std()));
        match decided {
            Ok(Decision::Ready) => Ok(Duration::ZERO),
            Ok(Decision::WaitUntil(slot)) => {
                let mut held = Held {
                    rate: &rate,
                    slot: Some(slot),
                };
                tokio::time::sleep_until(Instant::from_std(slot)).await;
                held.slot = None;
                let waited = Instant::now().saturating_duration_since(now);
                counter!(RATE_WAITS_TOTAL).increment(1);
                histogram!(RATE_WAIT_SECONDS).record(waited.as_secs_f64());
                Ok(waited)
            }
            Err(e) => {
                counter!(RATE_LIMITED_TOTAL).increment(1);
                Err(e)
            }
        }
    }

    /// Tells `host`'s rate what a response said ([`HostRate::on_response`]).
    pub fn feedback(&self, host: &str, feedback: Feedback) {
        lock(&self.host(host)).on_response(Instant::now().into_std(), feedback);
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
        counter!(THROTTLED_TOTAL, "status" => status.as_str().to_owned()).increment(1);
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
            counter!(RETRY_BUDGET_EXHAUSTED_TOTAL).increment(1);
            return Ok(response);
        }
        tracing::debug!(host, %status, attempt, ?wait, "throttled: sending again after a backoff");
        polite.retried.fetch_add(1, Ordering::Relaxed);
        counter!(STATUS_RETRIES_TOTAL, "reason" => status.as_str().to_owned()).increment(1);
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
