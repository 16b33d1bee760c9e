//! Status-aware retries, sans-IO: which statuses are sent again ([`StatusRetry`]), how long
//! to wait (exponential backoff with full jitter, or the server's `Retry-After`:
//! [`retry_after`]), and the [`RetryBudget`] that keeps retries a small share of the
//! requests, so they never multiply the load on a struggling host. `polite.rs` runs them
//! (`docs/rate-limits.md`).

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, StatusCode, header};

/// Which answers are sent again, how often and after how long. The default (on, for a
/// crawler): 429 and 503, three attempts in all, backoff from 100 ms doubling up to 10 s
/// with full jitter, `Retry-After` honoured up to 120 s, a budget of 20 % of recent
/// requests plus 3 retries/s.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StatusRetry {
    /// The statuses that slow a host down and are sent again. Default 429, 503.
    pub statuses: Vec<StatusCode>,
    /// Attempts in all for one request (1: never sent again). Default 3.
    pub max_attempts: u32,
    /// The first backoff's ceiling; each next one doubles it. Default 100 ms.
    pub base: Duration,
    /// The largest backoff ceiling. Default 10 s.
    pub cap: Duration,
    /// The longest `Retry-After` honoured (a longer one is capped to this). Default 120 s.
    pub max_retry_after: Duration,
    /// The budget: retries ≤ `ratio` × requests over the last [`BUDGET_WINDOW`], plus
    /// `min_per_sec` retries per second of it. Default 0.2 and 3.
    pub budget_ratio: f64,
    /// See [`budget_ratio`](Self::budget_ratio).
    pub budget_min_per_sec: u32,
    /// The seed of the jitter (tests pin it; by default a per-process value).
    pub seed: u64,
}

impl Default for StatusRetry {
    fn default() -> Self {
        Self {
            statuses: vec![
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
            max_attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
            budget_ratio: 0.2,
            budget_min_per_sec: 3,
            seed: default_seed(),
        }
    }
}

fn default_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

impl StatusRetry {
    /// Never sent again (the statuses still slow the host down when rates adapt).
    pub fn off() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// These options throttling on `statuses` instead.
    #[must_use]
    pub fn with_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// These options with `max_attempts` attempts in all (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// These options with a budget of `ratio` of requests plus `min_per_sec` retries/s.
    #[must_use]
    pub fn with_budget(mut self, ratio: f64, min_per_sec: u32) -> Self {
        self.budget_ratio = ratio;
        self.budget_min_per_sec = min_per_sec;
        self
    }

    /// These options with the jitter seeded by `seed` (reproducible backoffs).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether `status` throttles (is one of [`statuses`](Self::statuses)).
    pub fn is_throttle(&self, status: StatusCode) -> bool {
        self.statuses.contains(&status)
    }

    /// The wait before the attempt after `attempt` (1-based) that was answered with a
    /// throttle: the `Retry-After` if the server sent one (capped), else full jitter —
    /// uniform in `[0, min(cap, base × 2^(attempt−1))]`, `draw` uniform in `[0, 1)`.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, draw: f64) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        ceiling.mul_f64(draw.clamp(0.0, 1.0))
    }
}

/// The `Retry-After` of `headers` as a wait from `now`: delay-seconds (`120`) or an HTTP
/// date (`Wed, 21 Oct 2015 07:28:00 GMT`); a date in the past is no wait (zero); a
/// malformed value is ignored (`None`). Not capped here: the caller caps it.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The window a [`RetryBudget`] counts requests and retries over: 10 s, in 1 s buckets.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(10);
const BUCKETS: usize = 10;

/// Retries allowed as a share of recent requests (Finagle's and Envoy's retry budgets):
/// a retry is allowed while the retries of the last [`BUDGET_WINDOW`] stay under
/// `ratio × requests + min_per_sec × 10`. O(1): ten one-second buckets.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u32,
    epoch: Option<Instant>,
    /// The second (since `epoch`) the newest bucket counts.
    newest: u64,
    /// (requests, retries) per second, indexed by second mod [`BUCKETS`].
    buckets: [(u32, u32); BUCKETS],
}

impl RetryBudget {
    /// A budget of `ratio` of requests plus `min_per_sec` retries per second.
    pub fn new(ratio: f64, min_per_sec: u32) -> Self {
        Self {
            ratio,
            min_per_sec,
            epoch: None,
            newest: 0,
            buckets: [(0, 0); BUCKETS],
        }
    }

    /// Moves the window to `now`; the bucket of `now`.
    fn bucket(&mut self, now: Instant) -> &mut (u32, u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let second = now.saturating_duration_since(epoch).as_secs();
        if second > self.newest {
            let stale = (second - self.newest).min(BUCKETS as u64);
            for s in 1..=stale {
                self.buckets[((self.newest + s) % BUCKETS as u64) as usize] = (0, 0);
            }
            self.newest = second;
        }
        &mut self.buckets[(self.newest % BUCKETS as u64) as usize]
    }

    /// Counts a request (a first attempt) at `now`.
    pub fn on_request(&mut self, now: Instant) {
        self.bucket(now).0 += 1;
    }

    /// Whether a retry at `now` fits the budget; if it does, it is counted.
    pub fn try_retry(&mut self, now: Instant) -> bool {
        self.bucket(now);
        let (requests, retries) = self.buckets.iter().fold((0u64, 0u64), |(q, r), b| {
            (q + u64::from(b.0), r + u64::from(b.1))
        });
        let allowed = self.ratio * requests as f64
            + f64::from(self.min_per_sec) * BUDGET_WINDOW.as_secs_f64();
        if (retries as f64) < allowed {
            self.bucket(now).1 += 1;
            true
        } else {
            false
        }
    }
}

/// A small seeded generator (splitmix64) for the jitter: reproducible in tests.
#[derive(Clone, Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn draw(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_ignores_garbage() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:30 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&headers("-5"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_capped_ceiling_or_the_retry_after() {
        let policy = StatusRetry::default();
        assert_eq!(
            policy.backoff(1, None, 0.999_999),
            Duration::from_millis(100).mul_f64(0.999_999)
        );
        assert_eq!(policy.backoff(3, None, 0.5), Duration::from_millis(200));
        assert_eq!(
            policy.backoff(30, None, 0.5),
            Duration::from_secs(5),
            "capped at 10 s"
        );
        assert_eq!(policy.backoff(2, None, 0.0), Duration::ZERO);
        assert_eq!(
            policy.backoff(1, Some(Duration::from_secs(7)), 0.1),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.backoff(1, Some(Duration::from_secs(3600)), 0.1),
            Duration::from_secs(120)
        );
        // The seeded draws are reproducible and spread over [0, 1).
        let (mut a, mut b) = (Jitter::new(7), Jitter::new(7));
        let draws: Vec<f64> = (0..1000).map(|_| a.draw()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert_eq!(draws[..3], [b.draw(), b.draw(), b.draw()]);
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
        assert!(policy.is_throttle(StatusCode::TOO_MANY_REQUESTS));
        assert!(!policy.is_throttle(StatusCode::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn the_budget_allows_a_share_of_requests_plus_a_minimum() {
        let now = Instant::now();
        let mut budget = RetryBudget::new(0.2, 1);
        // No requests: the minimum, 1/s over 10 s.
        let free = (0..100).filter(|_| budget.try_retry(now)).count();
        assert_eq!(free, 10);
        // 100 requests: 20 more.
        for _ in 0..100 {
            budget.on_request(now);
        }
        assert_eq!((0..100).filter(|_| budget.try_retry(now)).count(), 20);
        // The window slides: 11 s later everything has aged out.
        let later = now + Duration::from_secs(11);
        assert_eq!((0..100).filter(|_| budget.try_retry(later)).count(), 10);
    }
}
