//! What the refresher reports: each host's state ([`HostStatus`], with each family's
//! [`FamilyStatus`] and each user source's [`SourceStatus`]) and the counters
//! ([`DnsStats`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::family::FamilyStatus;
use crate::sources::SourceStatus;
use crate::{FailureKind, IpFamily, ResolveError};

/// Where a host's addresses come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSource {
    /// Resolved with DNS; every address gets this port.
    Dns {
        /// The port dialed on every resolved address.
        port: u16,
    },
    /// A static list (pinned in config): never resolved.
    Static,
    /// Only user sources ([`DnsRefresher::add_source`](crate::DnsRefresher::add_source)).
    User,
}

/// What the refresher knows about one host.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HostStatus {
    /// DNS, static, or user sources only.
    pub source: HostSource,
    /// The DNS (or static) part of what is fed into the pool: the union of the
    /// families' last good answers. The pool gets the union of this and every source's
    /// set (`Pool::addrs`).
    pub addrs: Vec<SocketAddr>,
    /// Lookups finished for this host (one per family resolved).
    pub resolutions: u64,
    /// Lookups that failed (NODATA not counted).
    pub failures: u64,
    /// The longest failure streak of a family (NODATA not counted).
    pub consecutive_failures: u32,
    /// The failure of the first family whose last lookup failed (NODATA not counted).
    pub last_error: Option<ResolveError>,
    /// When the last good answer of any family arrived.
    pub last_success: Option<Instant>,
    /// The smallest record TTL among the families' current answers.
    pub ttl: Option<Duration>,
    /// When the host's addresses are re-checked next: the earliest next lookup of a
    /// family that has addresses, else of any family (`None` for static hosts).
    pub next_refresh: Option<Instant>,
    /// Each resolved family's own state (empty for static hosts).
    pub families: Vec<FamilyStatus>,
    /// Each user source's state, by name.
    pub sources: Vec<SourceStatus>,
}

impl HostStatus {
    pub(crate) fn new(source: HostSource, addrs: Vec<SocketAddr>) -> Self {
        Self {
            source,
            addrs,
            resolutions: 0,
            failures: 0,
            consecutive_failures: 0,
            last_error: None,
            last_success: None,
            ttl: None,
            next_refresh: None,
            families: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// The state of `family`, if it is resolved.
    pub fn family(&self, family: IpFamily) -> Option<&FamilyStatus> {
        self.families.iter().find(|f| f.family == family)
    }

    /// Sets the host-wide summary from the families' states.
    pub(crate) fn summarize(&mut self, families: &[FamilyStatus]) {
        self.resolutions = families.iter().map(|f| f.lookups).sum();
        self.failures = families.iter().map(|f| f.failures).sum();
        self.consecutive_failures = families
            .iter()
            .map(|f| f.consecutive_failures)
            .max()
            .unwrap_or(0);
        self.last_error = families
            .iter()
            .find(|f| f.failing())
            .and_then(|f| f.last_error.clone());
        self.last_success = families.iter().filter_map(|f| f.last_success).max();
        let answered = || families.iter().filter(|f| !f.ips.is_empty());
        self.ttl = answered().filter_map(|f| f.ttl).min();
        self.next_refresh = answered()
            .filter_map(|f| f.next_try)
            .min()
            .or_else(|| families.iter().filter_map(|f| f.next_try).min());
        self.families = families.to_vec();
    }
}

/// A snapshot of the refresher's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsStats {
    /// Hosts refreshed (DNS and static).
    pub hosts: usize,
    /// Of which static.
    pub static_hosts: usize,
    /// Resolutions finished, ever.
    pub resolutions: u64,
    /// Lookups answered: with addresses, or NODATA (the name has no records of the
    /// family).
    pub resolved: u64,
    /// Lookups that failed (the family kept its last good answer).
    pub failures: u64,
    /// Failures by kind, in [`FailureKind::ALL`] order without `NoData` (an answer, see
    /// `nodata`).
    pub failures_by_kind: Vec<(FailureKind, u64)>,
    /// Lookups answered NODATA.
    pub nodata: u64,
    /// Answers that changed a host's address set.
    pub changes: u64,
    /// Addresses that appeared.
    pub addrs_added: u64,
    /// Addresses that disappeared (their connections drain).
    pub addrs_removed: u64,
    /// Warm-ups started for new addresses.
    pub warms: u64,
    /// Per family: lookups, failures, hosts whose family is failing now.
    pub families: Vec<FamilyStats>,
}

/// One address family's counters across every host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FamilyStats {
    /// Which family.
    pub family: Option<IpFamily>,
    /// Lookups of this family.
    pub lookups: u64,
    /// Lookups that failed (NODATA not counted).
    pub failures: u64,
    /// Hosts whose last lookup of this family failed (keeping their last good answer).
    pub failing_hosts: usize,
    /// Hosts whose family has addresses now.
    pub answered_hosts: usize,
    /// Times this family's addresses were removed (confirmed NXDOMAIN, or stale).
    pub dropped: u64,
}

impl DnsStats {
    /// Failures of `kind`, ever (for `NoData`: the NODATA answers).
    pub fn failures_of(&self, kind: FailureKind) -> u64 {
        if kind == FailureKind::NoData {
            return self.nodata;
        }
        self.failures_by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}
