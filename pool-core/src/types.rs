//! The user-facing types the pool reports in: how a lease ended, probe verdicts, why a
//! connection closed or an address was blacklisted, and the stats snapshot. Shared by the
//! sans-IO core ([`crate::proto`]), the transport traits and the async shell; this module
//! imports neither of them.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Why a connection was closed; each reason is counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Idle longer than `idle_timeout`.
    Idle,
    /// Older than `max_lifetime`.
    Expired,
    /// A health probe failed.
    Unhealthy,
    /// More than `max_errors` errors were reported on it.
    Errors,
    /// The user reported it broken, or the transport reported it closed.
    Broken,
    /// Its address left the host's DNS answer (or address list).
    AddressRemoved,
    /// Its address was blacklisted.
    Blacklisted,
    /// `shed(fraction)` under memory or load pressure.
    Shed,
    /// More idle connections than `max_idle_conns`.
    IdleLimit,
    /// Evicted at `max_connections` to make room for another host.
    Evicted,
    /// The pool is closing.
    PoolClosed,
    /// A dialed connection that could not be admitted (pool closing, limits, address gone).
    NotAdmitted,
    /// The peer sent GOAWAY (HTTP/2, HTTP/3): it finished its in-flight streams and closed.
    GoAway,
    /// The peer closed the connection (TCP FIN or reset, QUIC close) without a GOAWAY.
    PeerClosed,
    /// The connection was lost without a word from the peer (keep-alive or idle timeout of
    /// the transport, unreachable path).
    Lost,
}

impl CloseReason {
    /// Every reason, in a fixed order (for stats tables).
    pub const ALL: [CloseReason; 15] = [
        CloseReason::Idle,
        CloseReason::Expired,
        CloseReason::Unhealthy,
        CloseReason::Errors,
        CloseReason::Broken,
        CloseReason::AddressRemoved,
        CloseReason::Blacklisted,
        CloseReason::Shed,
        CloseReason::IdleLimit,
        CloseReason::Evicted,
        CloseReason::PoolClosed,
        CloseReason::NotAdmitted,
        CloseReason::GoAway,
        CloseReason::PeerClosed,
        CloseReason::Lost,
    ];

    /// A short, stable label (used in metrics and reports).
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle",
            CloseReason::Expired => "expired",
            CloseReason::Unhealthy => "unhealthy",
            CloseReason::Errors => "errors",
            CloseReason::Broken => "broken",
            CloseReason::AddressRemoved => "address_removed",
            CloseReason::Blacklisted => "blacklisted",
            CloseReason::Shed => "shed",
            CloseReason::IdleLimit => "idle_limit",
            CloseReason::Evicted => "evicted",
            CloseReason::PoolClosed => "pool_closed",
            CloseReason::NotAdmitted => "not_admitted",
            CloseReason::GoAway => "goaway",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Lost => "lost",
        }
    }

    /// The position of the reason in [`CloseReason::ALL`].
    pub(crate) fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// How a lease ended, as reported by its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The work succeeded; counts as a health check.
    Success,
    /// The work failed; counts toward `max_errors`.
    Error,
    /// The connection is unusable: it is removed.
    Broken,
    /// Nothing to report (no request was made).
    Unused,
}

/// The verdict of a health probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// Healthy: back to the idle set.
    Healthy,
    /// Failed: the connection is closed.
    Unhealthy,
    /// The "banned" status: the connection is closed and its IP blacklisted.
    Banned,
    /// The probe did not run (e.g. cancelled): back to the idle set, unchecked.
    Skipped,
}

/// Why an address is on the dynamic blacklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlacklistReason {
    /// `max_retries` consecutive dial failures.
    Failures,
    /// Validation or a probe answered with the "banned" status.
    Banned,
}

/// The protocol a pooled connection speaks, as its transport reports it
/// ([`Connection::protocol`](crate::Connection::protocol)); shown per connection in
/// [`ConnInfo`] and counted in [`Stats::connections_by_protocol`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 (exclusive connections).
    Http1,
    /// HTTP/2.
    Http2,
    /// HTTP/3 over QUIC.
    Http3,
    /// A byte stream whose protocol the pool does not speak (the raw TLS dialer, a custom
    /// transport): the default.
    #[default]
    Stream,
}

impl Protocol {
    /// Every protocol, in the order [`Stats::connections_by_protocol`] lists them.
    pub const ALL: [Protocol; 4] = [
        Protocol::Http1,
        Protocol::Http2,
        Protocol::Http3,
        Protocol::Stream,
    ];

    /// A short name for reports and metric labels: `h1`, `h2`, `h3`, `stream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
            Protocol::Http3 => "h3",
            Protocol::Stream => "stream",
        }
    }

    /// Whether requests travel in streams of their own, so that abandoning one (a
    /// deadline, a body dropped half read) resets that stream and leaves the connection
    /// usable. False for HTTP/1.1 and opaque streams: there an abandoned exchange leaves the
    /// connection in an unknown state.
    pub fn is_multiplexed(self) -> bool {
        matches!(self, Protocol::Http2 | Protocol::Http3)
    }

    /// Its position in [`Protocol::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            Protocol::Http1 => 0,
            Protocol::Http2 => 1,
            Protocol::Http3 => 2,
            Protocol::Stream => 3,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of the pool's state and counters.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Hosts known.
    pub hosts: usize,
    /// Addresses known, over all hosts.
    pub addresses: usize,
    /// Distinct addresses with at least one open connection.
    pub connected_addresses: usize,
    /// Open connections (every state).
    pub connections: usize,
    /// Connections with no lease.
    pub idle: usize,
    /// Connections with at least one lease.
    pub in_use: usize,
    /// Connections closing once their leases return.
    pub draining: usize,
    /// Connections being health-probed.
    pub probing: usize,
    /// Open connections per protocol, in [`Protocol::ALL`] order.
    pub connections_by_protocol: Vec<(Protocol, usize)>,
    /// Dials in flight.
    pub dialing: usize,
    /// Callers waiting for a connection.
    pub waiters: usize,
    /// Leases currently out.
    pub leases_out: u64,
    /// Addresses on the dynamic blacklist.
    pub blacklisted: usize,
    /// Leases handed out, ever.
    pub leases_total: u64,
    /// Dials started, ever.
    pub dials_total: u64,
    /// Dials that succeeded.
    pub dials_ok: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Connections admitted into the pool, ever.
    pub admitted: u64,
    /// Connections closed, ever, by reason (in [`CloseReason::ALL`] order).
    pub closed: Vec<(CloseReason, u64)>,
    /// Addresses blacklisted, ever.
    pub blacklisted_total: u64,
    /// Addresses restored from the blacklist, ever.
    pub restored_total: u64,
    /// Health probes completed, ever.
    pub probes_total: u64,
    /// Health probes that failed, ever.
    pub probe_failures: u64,
    /// Fleet events that changed this pool's blacklist, ever (see [`crate::fleet`]).
    pub fleet_applied: u64,
    /// Fleet events ignored because this pool does not know their host, ever.
    pub fleet_ignored: u64,
    /// Connections closed by memory-pressure shedding (`memory_limit`), ever; also in
    /// `closed` under [`CloseReason::Shed`], with those of explicit `shed` calls.
    pub memory_shed_total: u64,
    /// Memory-pressure episodes (resident memory went above `memory_limit`), ever.
    pub shed_episodes: u64,
    /// Whether a memory-pressure episode is under way (shedding until resident memory is
    /// below the low-water mark).
    pub shedding: bool,
    /// Hosts kept hot (warmed, with `stay_hot`): see `docs/stay-hot.md`.
    pub hot_hosts: usize,
    /// Hosts in an outage now (every address, or `host_outage_threshold` of them,
    /// failing at once; re-tested with a short backoff).
    pub hosts_down: usize,
    /// Host outages begun, ever.
    pub host_outages_total: u64,
    /// Re-warm dials started, ever: an address of a hot host lost its last connection
    /// (or its re-warm backoff ended, or its host came back from an outage).
    pub rewarm_dials_total: u64,
    /// Re-warm dials that connected, ever.
    pub rewarm_dials_ok: u64,
    /// Re-warm dials that failed, ever.
    pub rewarm_dials_failed: u64,
    /// Addresses of hot hosts connected again after losing their last connection, ever
    /// (each also recorded in the `hotpool_rewarm_seconds` histogram).
    pub rewarmed_total: u64,
    /// Time to re-warm (an address of a hot host losing its last connection → its next
    /// one admitted), summed over `rewarmed_total`: divide for the mean.
    pub rewarm_time_total: std::time::Duration,
    /// The longest time to re-warm, ever.
    pub rewarm_time_max: std::time::Duration,
    /// Requests sent again after the server refused them (REFUSED_STREAM, above a
    /// GOAWAY's last stream id, never sent), ever: reported by the request layer
    /// ([`Pool::count_resend`](crate::Pool::count_resend)); `pool-http`'s
    /// `hotpool_requests_retries_total{cause="refused"}` counts the same.
    pub resent_refused_total: u64,
    /// Idempotent requests sent again after their reused connection failed under them,
    /// ever (`cause="lost"`).
    pub resent_lost_total: u64,
}

impl Stats {
    /// Share of leases served by an existing connection: (leases − dials) / leases.
    pub fn reuse_rate(&self) -> f64 {
        if self.leases_total == 0 {
            return 0.0;
        }
        self.leases_total.saturating_sub(self.dials_ok) as f64 / self.leases_total as f64
    }

    /// Connections closed for `reason`, ever.
    pub fn closed_for(&self, reason: CloseReason) -> u64 {
        self.closed
            .iter()
            .find(|(r, _)| *r == reason)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    }

    /// Open connections speaking `protocol`.
    pub fn connections_of(&self, protocol: Protocol) -> usize {
        self.connections_by_protocol
            .iter()
            .find(|(p, _)| *p == protocol)
            .map_or(0, |(_, n)| *n)
    }

    /// Connections closed for any reason, ever.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().map(|(_, n)| n).sum()
    }
}

/// Details of one connection, for reports and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// Host it was made (and verified) for.
    pub host: Arc<str>,
    /// Address it is connected to.
    pub addr: SocketAddr,
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// When it was admitted.
    pub created: Instant,
    /// When its last lease ended (or when it was admitted).
    pub last_used: Instant,
    /// When it last passed a probe or a successful lease.
    pub last_checked: Instant,
    /// Leases out on it.
    pub leases: u32,
    /// Leases it may carry at once.
    pub capacity: u32,
    /// Leases that ended, ever.
    pub request_count: u64,
    /// Errors reported on it.
    pub error_count: u32,
    /// False once it is draining.
    pub healthy: bool,
}

/// A pool limit that capped a warm-up, with its value. Displays as `key = value`, with the
/// key named as in the configuration file (`max_conns_per_host = 10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarmLimit {
    /// `max_conns_per_host`: connections (and dials) per host.
    MaxConnsPerHost(usize),
    /// `max_connections`: connections (and dials) in the whole pool.
    MaxConnections(usize),
    /// `max_idle_conns`: warm connections are idle, and no more are kept than this.
    MaxIdleConns(usize),
}

impl WarmLimit {
    /// The option's name, as in the configuration file.
    pub fn key(self) -> &'static str {
        match self {
            WarmLimit::MaxConnsPerHost(_) => "max_conns_per_host",
            WarmLimit::MaxConnections(_) => "max_connections",
            WarmLimit::MaxIdleConns(_) => "max_idle_conns",
        }
    }

    /// The option's value.
    pub fn value(self) -> usize {
        match self {
            WarmLimit::MaxConnsPerHost(n)
            | WarmLimit::MaxConnections(n)
            | WarmLimit::MaxIdleConns(n) => n,
        }
    }
}

impl fmt::Display for WarmLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.key(), self.value())
    }
}
