//! One address family's state within one host: its last good answer, its schedule and its
//! failure streaks. The refresher's host task owns one per family it resolves.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::resolve::{Answer, Failure};
use crate::{DnsOptions, FailureKind, IpFamily, IpPreference, ResolveError};

/// What the refresher knows about one family (A or AAAA) of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FamilyStatus {
    /// Which family.
    pub family: IpFamily,
    /// The last good answer (sorted), kept through failures until it is confirmed gone
    /// (NXDOMAIN) or passes `stale_after`. Empty when the family never answered.
    pub ips: Vec<IpAddr>,
    /// The smallest record TTL of the last good answer.
    pub ttl: Option<Duration>,
    /// When the last good answer arrived.
    pub last_success: Option<Instant>,
    /// The last lookup's failure (`None` when it answered with addresses).
    pub last_error: Option<ResolveError>,
    /// Failed lookups since the last good answer, NODATA not counted (drives the backoff).
    pub consecutive_failures: u32,
    /// NXDOMAIN answers in a row.
    pub nxdomain_streak: u32,
    /// Lookups finished.
    pub lookups: u64,
    /// Lookups that failed (NODATA not counted).
    pub failures: u64,
    /// When the family is looked up next.
    pub next_try: Option<Instant>,
}

/// What one lookup did to a family's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// Nothing removed.
    No,
    /// Removed after `nxdomain_confirmations` NXDOMAIN answers in a row.
    NxDomain,
    /// Removed because the last good answer is older than `stale_after`.
    Stale,
}

impl Dropped {
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            Dropped::No => None,
            Dropped::NxDomain => Some("nxdomain"),
            Dropped::Stale => Some("stale"),
        }
    }
}

impl FamilyStatus {
    pub(crate) fn new(family: IpFamily) -> Self {
        Self {
            family,
            ips: Vec::new(),
            ttl: None,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            nxdomain_streak: 0,
            lookups: 0,
            failures: 0,
            next_try: None,
        }
    }

    /// Whether a lookup is due at `now` (never looked up, or its time has come).
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.next_try.is_none_or(|t| t <= now)
    }

    /// Whether the family's last lookup failed (NODATA is an answer, not a failure).
    pub fn failing(&self) -> bool {
        self.consecutive_failures > 0
    }

    /// Applies one lookup's outcome at `now`; returns whether addresses were dropped.
    pub(crate) fn record(
        &mut self,
        result: Result<Answer, Failure>,
        now: Instant,
        options: &DnsOptions,
    ) -> Dropped {
        self.lookups += 1;
        let delay = match result {
            Ok(answer) => {
                let delay = options.refresh_delay(answer.ttl);
                self.ips = answer.ips;
                self.ttl = Some(answer.ttl);
                self.last_success = Some(now);
                self.last_error = None;
                self.consecutive_failures = 0;
                self.nxdomain_streak = 0;
                delay
            }
            Err(Failure {
                error,
                negative_ttl,
            }) => {
                let delay = if error.kind == FailureKind::NoData {
                    // An authoritative "no such records": asked again after its negative
                    // TTL, like a positive answer, without backoff.
                    self.consecutive_failures = 0;
                    self.nxdomain_streak = 0;
                    options.refresh_delay(negative_ttl.unwrap_or_default())
                } else {
                    self.failures += 1;
                    self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                    if error.kind == FailureKind::NxDomain {
                        self.nxdomain_streak = self.nxdomain_streak.saturating_add(1);
                    } else {
                        self.nxdomain_streak = 0;
                    }
                    options.retry_delay(self.consecutive_failures)
                };
                self.last_error = Some(error);
                delay
            }
        };
        self.next_try = Some(now + delay);
        let dropped = if self.ips.is_empty() {
            Dropped::No
        } else if self.nxdomain_streak >= options.nxdomain_confirmations.max(1) {
            Dropped::NxDomain
        } else if self
            .last_success
            .is_some_and(|t| now.saturating_duration_since(t) > options.stale_after)
        {
            Dropped::Stale
        } else {
            Dropped::No
        };
        if dropped != Dropped::No {
            self.ips.clear();
            self.ttl = None;
        }
        dropped
    }
}

/// The families resolved for `prefer`.
pub(crate) fn families(prefer: IpPreference) -> &'static [IpFamily] {
    match prefer {
        IpPreference::Ipv4 => &[IpFamily::V4],
        IpPreference::Ipv6 => &[IpFamily::V6],
        IpPreference::Both | IpPreference::PreferIpv4 | IpPreference::PreferIpv6 => &IpFamily::ALL,
    }
}

/// The host's address set: the union of the families' last good answers, or for the
/// `Prefer*` preferences the preferred family's when it has any.
pub(crate) fn union(states: &[FamilyStatus], prefer: IpPreference) -> Vec<IpAddr> {
    let of = |family: IpFamily| {
        states
            .iter()
            .filter(|s| s.family == family)
            .flat_map(|s| s.ips.iter().copied())
            .collect::<Vec<IpAddr>>()
    };
    let mut ips = match prefer {
        IpPreference::PreferIpv4 | IpPreference::PreferIpv6 => {
            let (first, second) = if prefer == IpPreference::PreferIpv4 {
                (IpFamily::V4, IpFamily::V6)
            } else {
                (IpFamily::V6, IpFamily::V4)
            };
            let preferred = of(first);
            if preferred.is_empty() {
                of(second)
            } else {
                preferred
            }
        }
        _ => states.iter().flat_map(|s| s.ips.iter().copied()).collect(),
    };
    ips.sort();
    ips.dedup();
    ips
}

/// The error a host's first resolution reports when no family gave addresses: the first
/// real failure, else the first NODATA.
pub(crate) fn first_error(states: &[FamilyStatus]) -> Option<ResolveError> {
    let errors = || states.iter().filter_map(|s| s.last_error.as_ref());
    errors()
        .find(|e| e.kind != FailureKind::NoData)
        .or_else(|| errors().next())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(ips: &[&str], ttl: u64) -> Result<Answer, Failure> {
        Ok(Answer {
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            ttl: Duration::from_secs(ttl),
        })
    }

    fn fail(kind: FailureKind) -> Result<Answer, Failure> {
        Err(Failure {
            error: ResolveError {
                kind,
                family: Some(IpFamily::V6),
                message: String::new(),
            },
            negative_ttl: Some(Duration::from_secs(30)),
        })
    }

    fn options() -> DnsOptions {
        DnsOptions {
            min_ttl: Duration::from_secs(1),
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(8),
            stale_after: Duration::from_secs(100),
            nxdomain_confirmations: 2,
            ..DnsOptions::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_keep_the_answer_and_back_off() {
        let o = options();
        let t0 = Instant::now();
        let mut s = FamilyStatus::new(IpFamily::V6);
        assert!(s.due(t0));
        assert_eq!(s.record(answer(&["::1"], 60), t0, &o), Dropped::No);
        assert_eq!(s.next_try, Some(t0 + Duration::from_secs(60)));
        for (n, kind) in [
            FailureKind::Refused,
            FailureKind::ServFail,
            FailureKind::Timeout,
            FailureKind::Network,
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(s.record(fail(kind), t0, &o), Dropped::No);
            assert_eq!(s.ips.len(), 1, "{kind:?} keeps the last good answer");
            assert_eq!(s.consecutive_failures, n as u32 + 1);
            assert!(s.failing());
        }
        // 1, 2, 4, 8 s: the fourth failure waits 8 s.
        assert_eq!(s.next_try, Some(t0 + Duration::from_secs(8)));
        // NODATA: kept, no backoff, asked again after its negative TTL.
        assert_eq!(s.record(fail(FailureKind::NoData), t0, &o), Dropped::No);
        assert_eq!((s.ips.len(), s.consecutive_failures), (1, 0));
        assert_eq!(s.next_try, Some(t0 + Duration::from_secs(30)));
        assert!(!s.failing());
    }

    #[tokio::test(start_paused = true)]
    async fn nxdomain_drains_only_when_confirmed_in_a_row() {
        let o = options();
        let t0 = Instant::now();
        let mut s = FamilyStatus::new(IpFamily::V4);
        s.record(answer(&["127.0.0.2"], 60), t0, &o);
        assert_eq!(s.record(fail(FailureKind::NxDomain), t0, &o), Dropped::No);
        // Another kind in between breaks the streak.
        s.record(fail(FailureKind::ServFail), t0, &o);
        assert_eq!(s.record(fail(FailureKind::NxDomain), t0, &o), Dropped::No);
        assert_eq!(s.ips.len(), 1);
        assert_eq!(
            s.record(fail(FailureKind::NxDomain), t0, &o),
            Dropped::NxDomain
        );
        assert!(s.ips.is_empty());
        // Nothing more to drop.
        assert_eq!(s.record(fail(FailureKind::NxDomain), t0, &o), Dropped::No);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_answer_goes_stale_after_stale_after() {
        let o = options();
        let t0 = Instant::now();
        let mut s = FamilyStatus::new(IpFamily::V6);
        s.record(answer(&["::1"], 60), t0, &o);
        let later = t0 + Duration::from_secs(100);
        assert_eq!(s.record(fail(FailureKind::Timeout), later, &o), Dropped::No);
        let stale = later + Duration::from_secs(1);
        assert_eq!(
            s.record(fail(FailureKind::Timeout), stale, &o),
            Dropped::Stale
        );
        assert!(s.ips.is_empty());
        // A new answer brings it back.
        s.record(answer(&["::2"], 60), stale, &o);
        assert_eq!(s.ips, vec!["::2".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test(start_paused = true)]
    async fn union_by_preference_and_first_error() {
        let o = options();
        let t0 = Instant::now();
        let mut v4 = FamilyStatus::new(IpFamily::V4);
        let mut v6 = FamilyStatus::new(IpFamily::V6);
        v4.record(answer(&["127.0.0.2"], 60), t0, &o);
        v6.record(fail(FailureKind::Refused), t0, &o);
        let states = [v4.clone(), v6.clone()];
        assert_eq!(union(&states, IpPreference::Both).len(), 1);
        assert_eq!(union(&states, IpPreference::PreferIpv6).len(), 1);
        v6.record(answer(&["::1"], 60), t0, &o);
        let states = [v4.clone(), v6];
        assert_eq!(union(&states, IpPreference::Both).len(), 2);
        assert_eq!(
            union(&states, IpPreference::PreferIpv6),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
        let mut nodata = FamilyStatus::new(IpFamily::V4);
        nodata.record(fail(FailureKind::NoData), t0, &o);
        let mut refused = FamilyStatus::new(IpFamily::V6);
        refused.record(fail(FailureKind::Refused), t0, &o);
        assert_eq!(
            first_error(&[nodata, refused]).map(|e| e.kind),
            Some(FailureKind::Refused)
        );
        assert_eq!(families(IpPreference::Ipv6), &[IpFamily::V6]);
    }
}
