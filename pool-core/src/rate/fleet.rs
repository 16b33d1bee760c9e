//! A host's fleet-wide rate (`[[hosts]] fleet_rate_limit`), sans-IO: the worker's local
//! account of tokens leased in batches from a fleet backend ([`FleetTokens`], Redis in
//! `pool-redis`), the batch sizing, and the fallback share when the backend is lost.
//!
//! **Tokens are slots.** The backend keeps one GCRA per host for the whole fleet: a lease
//! of `n` tokens reserves the fleet's next `n` slots (one emission interval apart) and says
//! when the first one is ([`TokenGrant`]). The worker spends them in order, each request
//! going at its slot — so the fleet as a whole is paced at the rate, not just counted per
//! window, and one Redis round trip serves a batch of requests.
//!
//! **Batches** are sized to the worker's recent rate: about one [`FleetRateSettings::period`]
//! of its grants (at least 1, at most one period of the whole fleet rate), and the next
//! batch is leased in the background when half of the current one is left, so a busy
//! worker rarely waits for Redis.
//!
//! **Fallback.** A lease that fails (Redis lost, no answer within its deadline) puts the
//! host on its *share*: the fleet rate divided by the live workers the backend last
//! reported (1 if it never answered), paced locally. A lease is tried again every
//! [`FleetRateSettings::retry`] in the background, never in a request's way; the first
//! one granted ends the fallback. Nothing waits on a lost backend for longer than one
//! lease's deadline.
//!
//! The caller ([`FleetAccount::take`]) owns the I/O: it starts the lease the account asks
//! for, reports its outcome ([`FleetAccount::on_granted`], [`FleetAccount::on_failed`])
//! and wakes the requests waiting for it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Decision, Gcra, Observed, RateError, RateLimit};
use crate::fleet::FleetFuture;

#[cfg(test)]
mod tests;

/// A fleet backend's answer to a lease: `granted` slots, the first `first_in` after the
/// answer, each `interval` after the previous one; `workers` is how many workers leased
/// from this host's rate recently (the fallback share's divisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// Slots granted (may be fewer than asked, even 0).
    pub granted: u32,
    /// How long after the answer the first slot is.
    pub first_in: Duration,
    /// The time between two slots (the fleet rate's emission interval).
    pub interval: Duration,
    /// Workers that leased from this host's fleet rate recently, this one included.
    pub workers: u32,
}

/// Why a lease failed: the fleet backend is unavailable (the account falls back to its
/// share).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fleet rate backend unavailable: {0}")]
pub struct FleetTokensError(pub String);

/// Where a worker leases fleet-wide tokens: `pool-redis`'s `RedisRates`, or anything that
/// shares one rate per host between workers.
pub trait FleetTokens: Send + Sync + std::fmt::Debug {
    /// Reserves up to `want` of the fleet's next slots of `host`'s `limit`. Must end within
    /// its own deadline: a request may be waiting for it.
    fn lease(
        &self,
        host: &str,
        limit: RateLimit,
        want: u32,
    ) -> FleetFuture<'_, Result<TokenGrant, FleetTokensError>>;
}

/// How a [`FleetAccount`] leases. The defaults: batches of about 100 ms of the worker's
/// rate, a failed backend tried again every 500 ms, slots unused for 1 s dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetRateSettings {
    /// A batch holds about this long of the worker's recent rate (and at most this long
    /// of the fleet's). Default 100 ms.
    pub period: Duration,
    /// On the fallback share, a lease is tried again this often. Default 500 ms.
    pub retry: Duration,
    /// Leased slots more than this far in the past are dropped unused (a worker that went
    /// quiet does not burst its old batch later). Default 1 s.
    pub stale: Duration,
}

impl Default for FleetRateSettings {
    fn default() -> Self {
        Self {
            period: Duration::from_millis(100),
            retry: Duration::from_millis(500),
            stale: Duration::from_secs(1),
        }
    }
}

/// The counters of a [`FleetAccount`] ([`FleetAccount::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct FleetRateStats {
    /// The configured fleet rate, requests/s.
    pub configured: f64,
    /// Live workers the backend last reported (1 before it answered).
    pub workers: u32,
    /// Leases answered.
    pub leases: u64,
    /// Slots they granted.
    pub leased: u64,
    /// Leases that failed (each one put or kept the host on its share).
    pub failures: u64,
    /// Requests granted a leased slot.
    pub granted: u64,
    /// Requests granted on the fallback share.
    pub fallback_granted: u64,
    /// Requests refused: their slot was after their deadline.
    pub refused: u64,
    /// Leased slots dropped unused ([`FleetRateSettings::stale`]).
    pub expired: u64,
    /// Whether the host is on its fallback share now.
    pub on_fallback: bool,
}

/// What a request asking for a fleet token should do ([`FleetAccount::take`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct FleetStep {
    /// Go now or at a slot; `None`: no token yet — wait for the lease in flight and ask
    /// again.
    pub decision: Option<Decision>,
    /// Start a lease of this many tokens (and report it to the account).
    pub lease: Option<u32>,
}

/// Leased slots: the next one at `next`, `left` of them, `interval` apart.
#[derive(Clone, Copy, Debug)]
struct Batch {
    next: Instant,
    interval: Duration,
    left: u32,
}

/// The local pacing at the fallback share, and when to try a lease again.
#[derive(Clone, Copy, Debug)]
struct Fallback {
    gcra: Gcra,
    retry_at: Instant,
}

/// One host's fleet-wide rate, as this worker sees it: leased slots, the lease in flight,
/// the fallback share. O(1) per request (amortised over a batch).
#[derive(Clone, Debug)]
pub struct FleetAccount {
    limit: RateLimit,
    settings: FleetRateSettings,
    batches: VecDeque<Batch>,
    leasing: bool,
    fallback: Option<Fallback>,
    workers: u32,
    grants: Observed,
    stats: FleetRateStats,
}

impl FleetAccount {
    /// An empty account of `limit`, the fleet-wide rate of one host.
    pub fn new(limit: RateLimit, settings: FleetRateSettings) -> Self {
        Self {
            limit,
            settings,
            batches: VecDeque::new(),
            leasing: false,
            fallback: None,
            workers: 1,
            grants: Observed::default(),
            stats: FleetRateStats {
                configured: limit.per_sec(),
                workers: 1,
                ..FleetRateStats::default()
            },
        }
    }

    /// The fleet-wide limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// A request asking at `now`, to go by `deadline`: its slot (a leased one, else the
    /// fallback share's), or none yet — then wait for the lease and ask again; and the lease
    /// to start, if one is due. Refused at once, reserving nothing, when the next slot is
    /// after the deadline.
    pub fn take(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Result<FleetStep, RateError> {
        self.drop_stale(now);
        if let Some(batch) = self.batches.front_mut() {
            let slot = batch.next.max(now);
            if let Some(deadline) = deadline
                && slot > deadline
            {
                self.stats.refused += 1;
                return Err(RateError::WouldPassDeadline { wait: slot - now });
            }
            batch.next += batch.interval;
            batch.left -= 1;
            if batch.left == 0 {
                self.batches.pop_front();
            }
            self.stats.granted += 1;
            self.grants.count(now);
            let lease = self.prefetch(now);
            return Ok(FleetStep {
                decision: Some(decision(now, slot)),
                lease,
            });
        }
        if let Some(fallback) = &mut self.fallback {
            let slot = fallback.gcra.slot(now);
            if let Some(deadline) = deadline
                && slot > deadline
            {
                self.stats.refused += 1;
                return Err(RateError::WouldPassDeadline { wait: slot - now });
            }
            fallback.gcra.take(slot);
            self.stats.fallback_granted += 1;
            self.grants.count(now);
            let lease = self.prefetch(now);
            return Ok(FleetStep {
                decision: Some(decision(now, slot)),
                lease,
            });
        }
        let lease = (!self.leasing).then(|| {
            self.leasing = true;
            self.batch_size(now)
        });
        Ok(FleetStep {
            decision: None,
            lease,
        })
    }

    /// A lease answered at `now`: its slots join the account, the fallback (if any) ends.
    pub fn on_granted(&mut self, now: Instant, grant: TokenGrant) {
        self.leasing = false;
        self.fallback = None;
        self.workers = grant.workers.max(1);
        self.stats.leases += 1;
        self.stats.leased += u64::from(grant.granted);
        if grant.granted > 0 {
            self.batches.push_back(Batch {
                next: now + grant.first_in,
                interval: grant.interval,
                left: grant.granted,
            });
        }
    }

    /// A lease failed at `now`: the host goes (or stays) on its share until a lease is
    /// granted, tried again after [`FleetRateSettings::retry`].
    pub fn on_failed(&mut self, now: Instant) {
        self.leasing = false;
        self.stats.failures += 1;
        let retry_at = now + self.settings.retry;
        match &mut self.fallback {
            Some(fallback) => fallback.retry_at = retry_at,
            None => {
                let share = self.limit.per_sec() / f64::from(self.workers);
                self.fallback = Some(Fallback {
                    gcra: Gcra::new(share, self.limit.burst()),
                    retry_at,
                });
            }
        }
    }

    /// The share this worker falls back to, requests/s.
    pub fn share(&self) -> f64 {
        self.limit.per_sec() / f64::from(self.workers)
    }

    /// Whether the host is on its fallback share.
    pub fn on_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    /// The counters.
    pub fn stats(&self) -> FleetRateStats {
        FleetRateStats {
            workers: self.workers,
            on_fallback: self.fallback.is_some(),
            ..self.stats
        }
    }

    /// The next lease to start in the background, if one is due: half a batch or less
    /// left and none in flight; on the fallback share, once per retry interval.
    fn prefetch(&mut self, now: Instant) -> Option<u32> {
        if self.leasing {
            return None;
        }
        if let Some(fallback) = &mut self.fallback {
            if now < fallback.retry_at {
                return None;
            }
            fallback.retry_at = now + self.settings.retry;
        } else {
            let left: u64 = self.batches.iter().map(|b| u64::from(b.left)).sum();
            if left > u64::from(self.batch_size(now) / 2) {
                return None;
            }
        }
        self.leasing = true;
        Some(self.batch_size(now))
    }

    /// About one period of this worker's recent rate, within `1..=` one period of the
    /// fleet's.
    fn batch_size(&self, now: Instant) -> u32 {
        let period = self.settings.period.as_secs_f64();
        let most = (self.limit.per_sec() * period).ceil().max(1.0);
        let recent = (self.grants.rate(now) * period).ceil();
        recent.clamp(1.0, most) as u32
    }

    /// Drops leased slots older than [`FleetRateSettings::stale`].
    fn drop_stale(&mut self, now: Instant) {
        let Some(horizon) = now.checked_sub(self.settings.stale) else {
            return;
        };
        while let Some(batch) = self.batches.front_mut() {
            if batch.next >= horizon {
                return;
            }
            let behind = horizon - batch.next;
            let gone = if batch.interval.is_zero() {
                batch.left
            } else {
                let steps = behind.as_nanos() / batch.interval.as_nanos() + 1;
                u32::try_from(steps).unwrap_or(u32::MAX).min(batch.left)
            };
            self.stats.expired += u64::from(gone);
            batch.left -= gone;
            batch.next += batch.interval * gone;
            if batch.left == 0 {
                self.batches.pop_front();
            }
        }
    }
}

fn decision(now: Instant, slot: Instant) -> Decision {
    if slot > now {
        Decision::WaitUntil(slot)
    } else {
        Decision::Ready
    }
}
