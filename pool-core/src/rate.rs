//! Per-host request rates, sans-IO: a configured [`RateLimit`] (`"150/s"`, `"600/m"`), the
//! GCRA pacing that enforces it ([`HostRate::decide`]), and the adaptation (AIMD) that
//! slows a host down on 429/503 and lets it grow back on success
//! ([`HostRate::on_response`]). Time is an input (`now`); nothing here sleeps or reads the
//! clock — `pool-http`'s `HostRates` awaits the decisions (`docs/rate-limits.md`).
//!
//! **Pacing (GCRA).** One instant per host, the *theoretical arrival time* (`tat`): a
//! request may go at `max(now, tat − tolerance)` and moves `tat` on by one emission
//! interval (`per / requests`); `tolerance = interval × (burst − 1)`. O(1) per request, no
//! timer per request. A request told to wait until `t` has its slot reserved at `t`
//! (`tat` moved on already), so callers are served in the order they asked — a later
//! caller never takes an earlier one's slot — and one whose slot would fall after its
//! deadline is refused at once ([`RateError::WouldPassDeadline`]) without reserving
//! anything.
//!
//! **Adaptation (AIMD).** A throttle (429, 503: the caller decides which statuses are) cuts
//! the host's rate by [`Adaptation::decrease`] (at most once per [`Adaptation::cooldown`],
//! so a burst of 429s answering requests already in flight counts once), never below
//! [`Adaptation::floor`]; each success after that adds [`Adaptation::increase`] requests/s
//! per second elapsed, never above the configured rate. A host with no configured rate is
//! unpaced until its first throttle, which starts pacing at half the rate observed over the
//! last second or two. A `Retry-After` pauses the host: nothing is granted before then
//! (capped at [`Adaptation::max_pause`]).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

mod fleet;
#[cfg(test)]
mod tests;

pub use fleet::{
    FleetAccount, FleetRateSettings, FleetRateStats, FleetStep, FleetTokens, FleetTokensError,
    TokenGrant,
};

/// A request rate: `requests` per `per`, with bursts of up to `burst` requests back to back
/// (default 1: evenly spaced). Parsed from `"150/s"`, `"600/m"`, `"5/h"` (also `sec`,
/// `second`, `min`, `minute`, `hour`; spaces around the parts are allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    requests: u32,
    per: Duration,
    burst: u32,
}

/// Why a rate did not parse or is not valid ([`RateLimit::from_str`], [`RateLimit::new`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The text is empty.
    #[error("empty rate: expected `N/s`, `N/m` or `N/h`, e.g. `150/s`")]
    Empty,
    /// No `/` between the count and the unit.
    #[error("rate `{0}` has no unit: expected `N/s`, `N/m` or `N/h`, e.g. `150/s`")]
    NoUnit(String),
    /// The count is not a whole number.
    #[error("rate count `{0}` is not a whole number")]
    Count(String),
    /// The count or the period is zero: a zero rate would block every request forever.
    #[error("a rate of zero would block every request: use at least `1/h`, or no limit")]
    Zero,
    /// The unit is none of `s`, `m`, `h`.
    #[error("rate unit `{0}` is unknown: expected `s`, `m` or `h`")]
    Unit(String),
}

impl RateLimit {
    /// `requests` per `per`, burst 1. Fails when either is zero.
    pub fn new(requests: u32, per: Duration) -> Result<Self, RateLimitError> {
        if requests == 0 || per.is_zero() {
            return Err(RateLimitError::Zero);
        }
        Ok(Self {
            requests,
            per,
            burst: 1,
        })
    }

    /// `requests` per second, burst 1 (at least one request per second).
    pub fn per_second(requests: u32) -> Self {
        Self {
            requests: requests.max(1),
            per: Duration::from_secs(1),
            burst: 1,
        }
    }

    /// This rate with bursts of up to `burst` requests back to back (at least 1).
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// How many requests per [`per`](Self::per).
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The period.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// The burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The rate in requests per second.
    pub fn per_sec(&self) -> f64 {
        f64::from(self.requests) / self.per.as_secs_f64()
    }
}

impl FromStr for RateLimit {
    type Err = RateLimitError;

    fn from_str(text: &str) -> Result<Self, RateLimitError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(RateLimitError::Empty);
        }
        let (count, unit) = text
            .split_once('/')
            .ok_or_else(|| RateLimitError::NoUnit(text.to_owned()))?;
        let count = count.trim();
        let requests: u32 = count
            .parse()
            .map_err(|_| RateLimitError::Count(count.to_owned()))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(RateLimitError::Unit(other.to_owned())),
        };
        RateLimit::new(requests, per)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            3600 => "h",
            _ => return write!(f, "{}/{:?}", self.requests, self.per),
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// What a request may do now ([`HostRate::decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go now.
    Ready,
    /// Go at this instant: the slot is reserved (give it back with [`HostRate::cancel`]
    /// if the request is abandoned).
    WaitUntil(Instant),
}

/// Why a request may not go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// The host's next free slot is after the request's deadline: it fails now instead of
    /// waiting in vain (nothing was reserved).
    #[error("the host's request rate has no slot before the deadline (next in {wait:?})")]
    WouldPassDeadline {
        /// How long the request would have had to wait.
        wait: Duration,
    },
}

/// How a host's rate adapts to throttling (AIMD). The defaults: halve on a throttle, at most
/// once per 100 ms, never below 1 request/s; grow by 5 requests/s per second of
/// successes; pause at most 120 s for a `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Adaptation {
    /// The factor a throttle multiplies the rate by (0 < decrease < 1). Default 0.5.
    pub decrease: f64,
    /// Requests/s added per second of successes. Default 5.
    pub increase: f64,
    /// The lowest adapted rate, requests/s (a configured rate below it stays the floor).
    /// Default 1.
    pub floor: f64,
    /// Throttles within this time after a cut do not cut again. Default 100 ms.
    pub cooldown: Duration,
    /// The longest pause a `Retry-After` imposes. Default 120 s.
    pub max_pause: Duration,
}

impl Default for Adaptation {
    fn default() -> Self {
        Self {
            decrease: 0.5,
            increase: 5.0,
            floor: 1.0,
            cooldown: Duration::from_millis(100),
            max_pause: Duration::from_secs(120),
        }
    }
}

impl Adaptation {
    /// These settings with a throttle multiplying the rate by `decrease` (kept in
    /// `0.01..=0.99`).
    #[must_use]
    pub fn with_decrease(mut self, decrease: f64) -> Self {
        self.decrease = decrease.clamp(0.01, 0.99);
        self
    }

    /// These settings growing by `increase` requests/s per second of successes.
    #[must_use]
    pub fn with_increase(mut self, increase: f64) -> Self {
        self.increase = increase.max(0.0);
        self
    }

    /// These settings never adapting below `floor` requests/s.
    #[must_use]
    pub fn with_floor(mut self, floor: f64) -> Self {
        self.floor = floor.max(1e-3);
        self
    }

    /// These settings pausing at most `max_pause` for a `Retry-After`.
    #[must_use]
    pub fn with_max_pause(mut self, max_pause: Duration) -> Self {
        self.max_pause = max_pause;
        self
    }
}

/// What a response said about the host's load ([`HostRate::on_response`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feedback {
    /// An ordinary response: the host is coping.
    Success,
    /// A throttle (429, 503 …), with its `Retry-After` as a duration from now, if any.
    Throttled {
        /// How long the server asked to wait.
        retry_after: Option<Duration>,
    },
}

/// A snapshot of a host's rate ([`HostRate::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RateStats {
    /// The configured rate, requests/s (`None`: no limit configured).
    pub configured: Option<f64>,
    /// The rate in force now, requests/s (`None`: unpaced).
    pub current: Option<f64>,
    /// Requests granted (at once or after a wait).
    pub granted: u64,
    /// Requests that had to wait for their slot.
    pub waits: u64,
    /// Their total wait.
    pub waited: Duration,
    /// Requests refused because their slot was after their deadline.
    pub refused: u64,
    /// Throttles reported ([`Feedback::Throttled`]).
    pub throttled: u64,
    /// Cuts of the rate they caused.
    pub cuts: u64,
    /// Pauses for a `Retry-After`.
    pub pauses: u64,
}

/// The GCRA state: the emission interval, the tolerance and the theoretical arrival time.
#[derive(Clone, Copy, Debug)]
struct Gcra {
    interval: Duration,
    burst: u32,
    tat: Option<Instant>,
}

impl Gcra {
    fn new(per_sec: f64, burst: u32) -> Self {
        Self {
            interval: interval_of(per_sec),
            burst,
            tat: None,
        }
    }

    fn tolerance(&self) -> Duration {
        self.interval * (self.burst - 1)
    }

    /// The earliest instant a request asking at `now` may go.
    fn slot(&self, now: Instant) -> Instant {
        match self.tat {
            Some(tat) => now.max(tat.checked_sub(self.tolerance()).unwrap_or(now)),
            None => now,
        }
    }

    /// Reserves `slot` (from [`Gcra::slot`]).
    fn take(&mut self, slot: Instant) {
        let tat = self.tat.map_or(slot, |tat| tat.max(slot));
        self.tat = Some(tat + self.interval);
    }
}

/// The emission interval of a rate in requests/s.
fn interval_of(per_sec: f64) -> Duration {
    Duration::from_secs_f64(1.0 / per_sec.max(1e-6))
}

/// Requests counted over the last one or two seconds, for the rate a host with no
/// configured rate was actually sent (where adaptation starts from), or a worker's recent
/// grants of a fleet rate (its batch size).
#[derive(Clone, Copy, Debug, Default)]
struct Observed {
    start: Option<Instant>,
    current: u64,
    previous: u64,
}

const WINDOW: Duration = Duration::from_secs(1);

impl Observed {
    fn count(&mut self, now: Instant) {
        let start = *self.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= WINDOW * 2 {
            self.previous = 0;
            self.current = 0;
            self.start = Some(now);
        } else if elapsed >= WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.start = Some(start + WINDOW);
        }
        self.current += 1;
    }

    /// Requests/s over the current window (at least 100 ms of it) and the one before.
    fn rate(&self, now: Instant) -> f64 {
        let Some(start) = self.start else { return 0.0 };
        let in_current = now.saturating_duration_since(start).min(WINDOW);
        let span = if self.previous > 0 {
            WINDOW + in_current
        } else {
            in_current.max(Duration::from_millis(100))
        };
        (self.previous + self.current) as f64 / span.as_secs_f64()
    }
}

/// One host's request rate: the configured limit, the adapted rate, the pacing and its
/// counters. All O(1); see the module docs.
#[derive(Clone, Debug)]
pub struct HostRate {
    configured: Option<RateLimit>,
    adaptation: Option<Adaptation>,
    /// Pacing in force (`None`: unpaced — no configured rate and no throttle yet).
    gcra: Option<Gcra>,
    /// The rate in force, requests/s (meaningful with `gcra`).
    current: f64,
    last_cut: Option<Instant>,
    last_grow: Option<Instant>,
    observed: Observed,
    stats: RateStats,
}

impl HostRate {
    /// A host paced at `configured` (none: unpaced until adaptation starts), adapting
    /// with `adaptation` (none: a fixed rate; throttles only pause for `Retry-After` when
    /// there is a rate to pace with).
    pub fn new(configured: Option<RateLimit>, adaptation: Option<Adaptation>) -> Self {
        let gcra = configured.map(|limit| Gcra::new(limit.per_sec(), limit.burst()));
        Self {
            configured,
            adaptation,
            gcra,
            current: configured.map_or(0.0, |l| l.per_sec()),
            last_cut: None,
            last_grow: None,
            observed: Observed {
                start: None,
                current: 0,
                previous: 0,
            },
            stats: RateStats {
                configured: configured.map(|l| l.per_sec()),
                ..RateStats::default()
            },
        }
    }

    /// Whether a request asking at `now`, which must go by `deadline` (if any), may go now,
    /// must wait for its reserved slot, or fails now because its slot is past its deadline.
    pub fn decide(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Result<Decision, RateError> {
        let slot = self.gcra.map_or(now, |g| g.slot(now));
        if let Some(deadline) = deadline
            && slot > deadline
        {
            self.stats.refused += 1;
            return Err(RateError::WouldPassDeadline { wait: slot - now });
        }
        if let Some(gcra) = &mut self.gcra {
            gcra.take(slot);
        }
        self.observed.count(now);
        self.stats.granted += 1;
        if slot > now {
            self.stats.waits += 1;
            self.stats.waited += slot - now;
            Ok(Decision::WaitUntil(slot))
        } else {
            Ok(Decision::Ready)
        }
    }

    /// Gives back the slot at `slot` a request was told to wait for and abandoned, when it
    /// is the last one reserved (so an abandoned wait does not slow those who come after).
    pub fn cancel(&mut self, slot: Instant) {
        if let Some(gcra) = &mut self.gcra
            && gcra.tat == Some(slot + gcra.tolerance() + gcra.interval)
        {
            // A waiting grant moved `tat` to exactly this; nobody reserved after it.
            gcra.tat = Some(slot + gcra.tolerance());
            self.stats.granted -= 1;
        }
    }

    /// What a response at `now` said about the host: a success grows an adapted rate back,
    /// a throttle cuts it (and pauses the host for its `Retry-After`).
    pub fn on_response(&mut self, now: Instant, feedback: Feedback) {
        match feedback {
            Feedback::Success => self.grow(now),
            Feedback::Throttled { retry_after } => {
                self.stats.throttled += 1;
                self.cut(now);
                if let Some(after) = retry_after {
                    self.pause(now, after);
                }
            }
        }
    }

    fn grow(&mut self, now: Instant) {
        let Some(adaptation) = self.adaptation else {
            return;
        };
        let Some(last) = self.last_grow else { return };
        let ceiling = self.configured.map_or(f64::INFINITY, |l| l.per_sec());
        if self.current >= ceiling {
            return;
        }
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        self.last_grow = Some(now);
        self.set_rate((self.current + adaptation.increase * elapsed).min(ceiling));
    }

    fn cut(&mut self, now: Instant) {
        let Some(adaptation) = self.adaptation else {
            return;
        };
        if self
            .last_cut
            .is_some_and(|cut| now.saturating_duration_since(cut) < adaptation.cooldown)
        {
            return;
        }
        let from = if self.gcra.is_some() {
            self.current
        } else {
            // No rate yet: start from what the host was actually sent.
            self.observed.rate(now)
        };
        let floor = self
            .configured
            .map_or(adaptation.floor, |l| adaptation.floor.min(l.per_sec()));
        let burst = self.configured.map_or(1, |l| l.burst());
        let rate = (from * adaptation.decrease).max(floor);
        if self.gcra.is_none() {
            self.gcra = Some(Gcra::new(rate, burst));
        }
        self.set_rate(rate);
        self.last_cut = Some(now);
        self.last_grow = Some(now);
        self.stats.cuts += 1;
    }

    fn set_rate(&mut self, per_sec: f64) {
        self.current = per_sec;
        if let Some(gcra) = &mut self.gcra {
            gcra.interval = interval_of(per_sec);
        }
    }

    /// Nothing is granted before `now + after` (capped at [`Adaptation::max_pause`], the
    /// default one for a fixed rate); pacing resumes from there.
    fn pause(&mut self, now: Instant, after: Duration) {
        let cap = self.adaptation.unwrap_or_default().max_pause;
        let until = now + after.min(cap);
        if self.gcra.is_none() {
            // A fixed, unconfigured host: paced at the rate it was sent after the pause.
            let observed = self.observed.rate(now).max(1.0);
            self.gcra = Some(Gcra::new(observed, 1));
            self.current = observed;
        }
        let Some(gcra) = &mut self.gcra else { return };
        let resume = until + gcra.tolerance();
        gcra.tat = Some(gcra.tat.map_or(resume, |tat| tat.max(resume)));
        self.stats.pauses += 1;
    }

    /// The rate in force now, requests/s (`None`: unpaced).
    pub fn current(&self) -> Option<f64> {
        self.gcra.map(|_| self.current)
    }

    /// The configured limit.
    pub fn configured(&self) -> Option<RateLimit> {
        self.configured
    }

    /// A snapshot of the counters and rates.
    pub fn stats(&self) -> RateStats {
        RateStats {
            current: self.current(),
            ..self.stats
        }
    }
}
