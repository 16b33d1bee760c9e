//! Every deadline of the pool in two ordered sets: one entry per connection (at a time no
//! later than its next deadline: expiry, keep-warm replacement, and while idle the idle
//! timeout and next probe) and the blacklist's re-tests and expiries. The next wake-up is
//! the minimum of both; a tick pops only what is due.
//!
//! Connection entries are lazy: one that fires early re-arms itself, so a release only
//! touches the set when the connection's next deadline moved earlier.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::ids::{ConnId, HostId};
use crate::options::PoolOptions;

/// A point in time as nanoseconds since the state's epoch (the first `now` it was given):
/// 8 bytes where an `Instant` takes 16, for the per-connection timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Tick(u64);

impl Tick {
    /// The tick `nanos` nanoseconds after the epoch (a gauge's timestamp).
    pub(super) fn from_nanos(nanos: u64) -> Tick {
        Tick(nanos)
    }

    /// Nanoseconds since the epoch.
    pub(super) fn nanos(self) -> u64 {
        self.0
    }

    /// `nanos` nanoseconds later.
    pub(super) fn after(self, nanos: u64) -> Tick {
        Tick(self.0.saturating_add(nanos))
    }
}

/// Per-connection durations of the options, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spans {
    pub(super) idle: u64,
    pub(super) lifetime: u64,
    /// When (after creation) a `keep_warm` replacement is dialed.
    pub(super) replace: Option<u64>,
    /// How long after a failed replacement dial the next one is tried: a quarter of
    /// `keep_warm_lead`, so a few tries fit before expiry (at least 1 ms).
    pub(super) replace_retry: u64,
    pub(super) probe: Option<u64>,
}

impl Spans {
    pub(super) fn new(opts: &PoolOptions) -> Self {
        let lifetime = nanos(opts.max_lifetime);
        let lead = nanos(opts.keep_warm_lead);
        Self {
            idle: nanos(opts.idle_timeout),
            lifetime,
            replace: (opts.keep_warm && lead < lifetime).then(|| lifetime - lead),
            replace_retry: (lead / 4).max(1_000_000),
            probe: opts.health_check_interval.map(nanos),
        }
    }
}

impl Spans {
    /// When try `n` of a `keep_warm` replacement is due for a connection made at
    /// `created`: `n` retry spans after the first (try 0, at the replacement deadline).
    pub(super) fn replace_try(&self, created: Tick, n: u8) -> Option<Tick> {
        let first = created.after(self.replace?);
        Some(first.after(self.replace_retry.saturating_mul(u64::from(n))))
    }

    /// The first try after `now` (a try failed at `now`).
    pub(super) fn next_replace_try(&self, created: Tick, now: Tick) -> u8 {
        let Some(first) = self.replace.map(|r| created.after(r)) else {
            return u8::MAX;
        };
        let tries = now.0.saturating_sub(first.0) / self.replace_retry + 1;
        u8::try_from(tries).unwrap_or(u8::MAX)
    }
}

/// A duration in nanoseconds (saturating).
pub(crate) fn nanos(d: Duration) -> u64 {
    // No `u128` (`as_nanos`): the fast lane converts on every return.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// Blacklist deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum IpTimer {
    /// Dial the address once to see whether it works again.
    Retest(IpAddr),
    /// The entry's `blacklist_timeout` is up.
    Unblacklist(IpAddr),
    /// A re-warm try of an address of a hot host is due (its backoff ended).
    Rewarm(HostId, SocketAddr),
    /// The next re-test of a host in an outage is due.
    OutageRetest(HostId),
}

/// What [`Timers::pop_due`] found due.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Due {
    Conn(ConnId),
    Ip(IpTimer),
}

/// The timer table and the pool's clock.
#[derive(Default)]
pub(super) struct Timers {
    /// The first `now` the state was given: connection timestamps count from it.
    epoch: Option<Instant>,
    /// One entry per armed connection, at its `timer_at`.
    conn: BTreeSet<(Tick, ConnId)>,
    /// Blacklist re-tests and expiries (the sequence number keeps equal times apart).
    ip: BTreeSet<(Instant, u64, IpTimer)>,
    seq: u64,
    /// Set when a new earliest deadline was added (see `take_deadline_moved`).
    deadline_moved: bool,
    /// The latest `now` given: the time of an input that carries none (a checkout).
    latest: Option<Instant>,
}

impl Timers {
    /// `now` as a tick; the first time sets the epoch.
    pub(super) fn tick(&mut self, now: Instant) -> Tick {
        let epoch = *self.epoch.get_or_insert(now);
        self.latest = Some(self.latest.map_or(now, |l| l.max(now)));
        Tick(nanos(now.saturating_duration_since(epoch)))
    }

    /// The latest `now` an input gave (for inputs without one, such as a checkout).
    pub(super) fn latest(&self) -> Option<Instant> {
        self.latest.or(self.epoch)
    }

    /// Sets the epoch, unless a tick set it already; returns the epoch in force.
    pub(super) fn set_epoch(&mut self, epoch: Instant) -> Instant {
        *self.epoch.get_or_insert(epoch)
    }

    /// A tick as an `Instant` (the epoch exists once any tick does).
    pub(super) fn instant(&self, t: Tick) -> Instant {
        let epoch = self
            .epoch
            .unwrap_or_else(|| unreachable!("a tick exists only after the epoch"));
        epoch + Duration::from_nanos(t.0)
    }

    /// The earliest deadline of both sets.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let conn = self.conn.first().map(|(at, _)| self.instant(*at));
        let ip = self.ip.first().map(|(at, _, _)| *at);
        match (conn, ip) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an earlier deadline than every other was added since the last call.
    pub(super) fn take_deadline_moved(&mut self) -> bool {
        std::mem::take(&mut self.deadline_moved)
    }

    fn note(&mut self, at: Instant) {
        if self.poll_timeout().is_none_or(|first| at < first) {
            self.deadline_moved = true;
        }
    }

    /// Adds a blacklist deadline.
    pub(super) fn schedule_ip(&mut self, at: Instant, timer: IpTimer) {
        self.note(at);
        self.seq += 1;
        self.ip.insert((at, self.seq, timer));
    }

    /// Moves a connection's entry from `old` (if armed) to `due`.
    pub(super) fn arm_conn(&mut self, id: ConnId, old: Option<Tick>, due: Tick) {
        if let Some(at) = old {
            self.conn.remove(&(at, id));
        }
        self.note(self.instant(due));
        self.conn.insert((due, id));
    }

    /// Removes a connection's entry armed at `at`.
    pub(super) fn disarm_conn(&mut self, id: ConnId, at: Tick) {
        self.conn.remove(&(at, id));
    }

    /// Takes the earliest deadline due at `now` (a connection's first on a tie).
    pub(super) fn pop_due(&mut self, now: Instant, t: Tick) -> Option<Due> {
        let conn = self.conn.first().copied().filter(|(at, _)| *at <= t);
        let ip = self.ip.first().copied().filter(|(at, _, _)| *at <= now);
        match (conn, ip) {
            (Some((at, id)), ip) if ip.is_none_or(|(ip_at, _, _)| self.instant(at) <= ip_at) => {
                self.conn.remove(&(at, id));
                Some(Due::Conn(id))
            }
            (_, Some(key)) => {
                self.ip.remove(&key);
                Some(Due::Ip(key.2))
            }
            (_, None) => None,
        }
    }

    /// Drops every deadline (the pool is closing).
    pub(super) fn clear(&mut self) {
        self.conn.clear();
        self.ip.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn conn_id() -> ConnId {
        ConnId::new(0, 0)
    }

    #[test]
    fn ticks_count_from_the_first_now() {
        let mut timers = Timers::default();
        let start = Instant::now();
        assert_eq!(timers.tick(start), Tick(0));
        let later = start + Duration::from_secs(2);
        let t = timers.tick(later);
        assert_eq!(t, Tick(2_000_000_000));
        assert_eq!(timers.instant(t), later);
        assert_eq!(
            timers.tick(start - Duration::from_secs(1)),
            Tick(0),
            "saturates"
        );
    }

    #[test]
    fn pops_in_time_order_and_only_what_is_due() {
        let mut timers = Timers::default();
        let start = Instant::now();
        let t0 = timers.tick(start);
        let id = conn_id();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        timers.schedule_ip(start + Duration::from_secs(5), IpTimer::Retest(ip));
        assert!(timers.take_deadline_moved());
        timers.arm_conn(id, None, t0.after(nanos(Duration::from_secs(3))));
        assert!(timers.take_deadline_moved(), "earlier than the re-test");
        timers.schedule_ip(start + Duration::from_secs(9), IpTimer::Unblacklist(ip));
        assert!(!timers.take_deadline_moved(), "not the earliest");
        assert_eq!(timers.poll_timeout(), Some(start + Duration::from_secs(3)));
        let now = start + Duration::from_secs(6);
        let t = timers.tick(now);
        assert_eq!(timers.pop_due(now, t), Some(Due::Conn(id)));
        assert_eq!(timers.pop_due(now, t), Some(Due::Ip(IpTimer::Retest(ip))));
        assert_eq!(timers.pop_due(now, t), None, "the expiry is not due yet");
        timers.clear();
        assert_eq!(timers.poll_timeout(), None);
    }

    #[test]
    fn rearming_moves_the_entry() {
        let mut timers = Timers::default();
        let start = Instant::now();
        let t0 = timers.tick(start);
        let id = conn_id();
        let (late, early) = (t0.after(10), t0.after(5));
        timers.arm_conn(id, None, late);
        timers.arm_conn(id, Some(late), early);
        assert_eq!(timers.poll_timeout(), Some(timers.instant(early)));
        timers.disarm_conn(id, early);
        assert_eq!(timers.poll_timeout(), None);
    }

    #[test]
    fn replacement_retry_is_a_quarter_of_the_lead() {
        let opts = PoolOptions {
            keep_warm_lead: Duration::from_secs(40),
            ..PoolOptions::default()
        };
        let spans = Spans::new(&opts);
        assert_eq!(spans.replace_retry, nanos(Duration::from_secs(10)));
        assert_eq!(spans.replace, Some(nanos(Duration::from_secs(260))));
        let created = Tick(5);
        let secs = |s: u64| nanos(Duration::from_secs(s));
        assert_eq!(
            spans.replace_try(created, 0),
            Some(created.after(secs(260)))
        );
        let failed_at = created.after(secs(263));
        let next = spans.next_replace_try(created, failed_at);
        assert_eq!(next, 1);
        assert_eq!(
            spans.replace_try(created, next),
            Some(created.after(secs(270)))
        );
        let on_the_dot = created.after(secs(270));
        assert_eq!(
            spans.next_replace_try(created, on_the_dot),
            2,
            "strictly later"
        );
        let off = Spans::new(&PoolOptions {
            keep_warm: false,
            ..opts
        });
        assert_eq!(off.replace_try(created, 1), None);
    }
}
