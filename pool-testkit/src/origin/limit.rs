//! An origin's request-rate limit, as a web server's (nginx's `limit_req`): requests for
//! paths under `/limited` above `per_second` (a token bucket holding `burst`) are answered
//! with `status` (429 by default), with a `Retry-After` when one is set. Set on an origin
//! with [`H2Origin::set_rate_limit`](super::H2Origin::set_rate_limit); counted apart
//! ([`RateLimitCounts`]).

use std::sync::Mutex;
use std::time::Instant;

use http::StatusCode;

use crate::net::lock;

/// The path prefix a rate limit applies to.
pub const LIMITED_PREFIX: &str = "/limited";

/// A rate limit an origin enforces on paths under [`LIMITED_PREFIX`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OriginRateLimit {
    /// Requests per second answered normally.
    pub per_second: f64,
    /// How many may come back to back (the bucket's size). Default 1.
    pub burst: u32,
    /// The answer above the rate. Default 429.
    pub status: u16,
    /// The `Retry-After` (seconds) of that answer; `None`: none sent.
    pub retry_after: Option<u64>,
}

impl OriginRateLimit {
    /// `per_second`, burst 1, answered 429 without `Retry-After` above it.
    pub fn new(per_second: f64) -> Self {
        Self {
            per_second,
            burst: 1,
            status: 429,
            retry_after: None,
        }
    }
}

/// What a rate-limited origin did with the requests under [`LIMITED_PREFIX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitCounts {
    /// Answered normally (within the rate).
    pub passed: u64,
    /// Answered with the limit's status (above the rate).
    pub refused: u64,
}

/// The limit in force and its token bucket.
#[derive(Default)]
pub(crate) struct Limiter {
    state: Mutex<Option<Bucket>>,
    counts: Mutex<RateLimitCounts>,
}

struct Bucket {
    limit: OriginRateLimit,
    tokens: f64,
    last: Instant,
}

impl Limiter {
    pub(crate) fn set(&self, limit: Option<OriginRateLimit>) {
        *lock(&self.state) = limit.map(|limit| Bucket {
            limit,
            tokens: f64::from(limit.burst.max(1)),
            last: Instant::now(),
        });
    }

    /// For a request of `path`: `None` to answer normally, else the status and
    /// `Retry-After` to refuse it with.
    pub(crate) fn check(&self, path: &str) -> Option<(StatusCode, Option<u64>)> {
        if !path.starts_with(LIMITED_PREFIX) {
            return None;
        }
        let mut state = lock(&self.state);
        let bucket = state.as_mut()?;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.last);
        bucket.last = now;
        let burst = f64::from(bucket.limit.burst.max(1));
        bucket.tokens =
            (bucket.tokens + elapsed.as_secs_f64() * bucket.limit.per_second).min(burst);
        let mut counts = lock(&self.counts);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            counts.passed += 1;
            None
        } else {
            counts.refused += 1;
            let status =
                StatusCode::from_u16(bucket.limit.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            Some((status, bucket.limit.retry_after))
        }
    }

    pub(crate) fn counts(&self) -> RateLimitCounts {
        *lock(&self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn above_the_burst_the_limited_paths_are_refused_with_the_retry_after() {
        let limiter = Limiter::default();
        assert_eq!(limiter.check("/limited/x"), None, "no limit set");
        limiter.set(Some(OriginRateLimit {
            burst: 2,
            retry_after: Some(3),
            ..OriginRateLimit::new(0.001)
        }));
        assert_eq!(limiter.check("/limited/a"), None);
        assert_eq!(limiter.check("/other"), None, "other paths are not limited");
        assert_eq!(limiter.check("/limited/b"), None);
        assert_eq!(
            limiter.check("/limited/c"),
            Some((StatusCode::TOO_MANY_REQUESTS, Some(3)))
        );
        assert_eq!(
            limiter.counts(),
            RateLimitCounts {
                passed: 2,
                refused: 1
            }
        );
    }
}
