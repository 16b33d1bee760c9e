//! The sans-IO pool: every decision the pool makes, with time as an input and actions as
//! outputs. It never sleeps, spawns, or reads the clock (the quinn-proto / quinn split).
//!
//! Methods come in four kinds:
//! - getters (`&self`): [`PoolState::stats`], [`PoolState::handle`], [`PoolState::poll_timeout`];
//! - inputs: [`PoolState::handle_timeout`], [`PoolState::handle_dial_result`],
//!   [`PoolState::handle_probe_result`], [`PoolState::release`];
//! - commands: [`PoolState::checkout`], [`PoolState::set_addrs`], [`PoolState::plan_warm`],
//!   [`PoolState::shed`], [`PoolState::close`], [`PoolState::cancel_waiter`],
//!   [`PoolState::take_probes`];
//! - outputs: [`PoolState::poll_action`] (dial, grant, fail, close, probes due).
//!
//! Spurious inputs (a stale connection id, an unknown dial) are no-ops.
//!
//! # Data structures and costs
//! - `conns`: a slab of connection entries; a [`ConnId`] carries a generation so a stale id
//!   never reaches a reused slot.
//! - `hosts` (the *by_host* map): each host's known addresses, and a ready index of its
//!   connections with spare capacity: one intrusive list per load level, each in
//!   least-recently-used order, plus a bitmap of non-empty levels. Checkout takes the head
//!   of the lowest level — least loaded, then least recently used — in O(1), no scan.
//! - each host's `addrs` (together, the *by_ip* map): address → the host's connections to
//!   it, as a list threaded through the slab (no allocation per address).
//! - `idle`: an intrusive list of idle connections in least-recently-used order (O(1) to
//!   add/remove), used by `max_idle_conns`, eviction and `shed`.
//! - `conn_timers`: an ordered set with one entry per connection, at a time no later than
//!   its next deadline (expiry, keep-warm replacement, and while idle the idle timeout and
//!   next probe); `ip_timers` holds blacklist re-tests and expiries. A tick pops only what
//!   is due. Entries are lazy: an entry that fires early re-arms itself, so a release only
//!   touches the set when the connection's next deadline moved earlier.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{DialError, DialErrorKind, Error, PoolOptions};

mod list;

use list::{Links, List, NIL, ReadyIndex};

/// Identifies one pooled connection; stale ids (of closed connections) are never confused
/// with a new connection in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// Identifies one dial in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialId(u64);

/// Identifies one caller waiting for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId(u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct HostId(u32);

/// Why a dial was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialPurpose {
    /// A caller is waiting and no connection has spare capacity.
    Checkout,
    /// `warm(host)` asked for it.
    Warm,
    /// `keep_warm`: replaces a connection that is about to reach `max_lifetime`.
    Replace,
    /// Re-test of a blacklisted address.
    Retest,
}

/// A dial the pool wants made. Report its outcome with [`PoolState::handle_dial_result`].
#[derive(Clone, Debug)]
pub struct DialRequest {
    /// Pass back to `handle_dial_result`.
    pub id: DialId,
    /// The host name to connect (and verify) for.
    pub host: Arc<str>,
    /// The address to connect to.
    pub addr: SocketAddr,
    /// Why the dial is made.
    pub purpose: DialPurpose,
}

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
}

impl CloseReason {
    /// Every reason, in a fixed order (for stats tables).
    pub const ALL: [CloseReason; 12] = [
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
        }
    }

    fn index(self) -> usize {
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

/// What the caller of [`PoolState::checkout`] gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkout {
    /// A lease on this connection, now.
    Ready(ConnId),
    /// Wait: a [`Action::Grant`] or [`Action::Fail`] for this waiter will follow.
    Wait(WaiterId),
}

/// Something the async shell must carry out. Drain with [`PoolState::poll_action`].
#[derive(Debug)]
pub enum Action<T> {
    /// Dial this; report with `handle_dial_result`.
    Dial(DialRequest),
    /// Hand the waiter a lease on this connection (the lease is already counted).
    Grant {
        /// The waiter served.
        waiter: WaiterId,
        /// The connection leased to it.
        conn: ConnId,
    },
    /// The waiter gets this error.
    Fail {
        /// The waiter failed.
        waiter: WaiterId,
        /// Why.
        error: Error,
    },
    /// This connection has left the pool: drop (close) its handle.
    Close {
        /// The connection closed.
        conn: ConnId,
        /// The transport handle, to drop.
        handle: T,
        /// Why it was closed.
        reason: CloseReason,
    },
    /// Idle connections are due for a health probe: call [`PoolState::take_probes`].
    ProbesDue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Usable and counted toward the host and per-address limits.
    Live,
    /// Usable, but a `keep_warm` replacement is being dialed; not counted toward limits.
    Retiring,
    /// Not usable: closes when its last lease (or probe) returns.
    Draining(CloseReason),
}

struct ConnEntry<T> {
    handle: T,
    host: HostId,
    addr: SocketAddr,
    created: Tick,
    last_used: Tick,
    last_checked: Tick,
    leases: u32,
    capacity: u32,
    phase: Phase,
    probing: bool,
    request_count: u64,
    error_count: u32,
    /// The load level of the host's ready index it is linked in, while it has spare capacity.
    ready_level: Option<u32>,
    ready_links: Links,
    /// Links of the pool's idle list (least recently used first).
    idle_links: Links,
    /// Links of its address's list (`AddrEntry::list`).
    addr_links: Links,
    /// Whether an idle / probe deadline is in the timer set (they are lazy).
    /// When its entry in `conn_timers` fires: never later than its next real deadline
    /// (it may be earlier; an early firing re-arms it).
    timer_at: Option<Tick>,
    /// Whether it waits in `probe_due`.
    probe_queued: bool,
}

struct Slot<T> {
    generation: u32,
    entry: Option<ConnEntry<T>>,
}

/// One address of one host: together, the hosts' address maps are the *by_ip* map.
#[derive(Default)]
struct AddrEntry {
    /// Live connections of this host to this address (counted toward `max_conns_per_ip`).
    conns: usize,
    /// Dials in flight of this host to this address.
    dialing: usize,
    /// Every connection of this host to this address (a list threaded through the slab).
    list: List,
}

struct HostEntry {
    name: Arc<str>,
    addrs: BTreeMap<SocketAddr, AddrEntry>,
    /// Round-robin cursor over `addrs` for the next dial.
    cursor: Option<SocketAddr>,
    /// Connections with spare capacity, best first: least loaded, then least recently used.
    ready: ReadyIndex,
    /// Live connections (counted toward `max_conns_per_host`).
    conns: usize,
    /// Usable connections (Live or Retiring); zero means nothing can serve a waiter.
    usable: usize,
    dialing: usize,
    waiters: VecDeque<WaiterId>,
    /// Capacity of the last connection admitted, to size how many dials a queue needs.
    last_capacity: u32,
    /// Failed dials since the last success, to fail waiters instead of dialing forever.
    failures_since_success: u32,
}

struct DialEntry {
    host: HostId,
    addr: SocketAddr,
    purpose: DialPurpose,
    /// Whether it counts in the host and address `dialing` numbers.
    counted: bool,
}

struct BlacklistEntry {
    since: Instant,
    reason: BlacklistReason,
    /// The host and address to dial for the re-test.
    retest: (HostId, SocketAddr),
    retesting: bool,
}

/// Blacklist deadlines (connection deadlines live in `conn_timers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum IpTimer {
    Retest(IpAddr),
    Unblacklist(IpAddr),
}

#[derive(Default, Clone, Copy)]
struct Counters {
    leases: u64,
    dials_started: u64,
    dials_ok: u64,
    dial_failures: u64,
    admitted: u64,
    /// Connections that entered the maps (admitted or closed at once as not admitted).
    inserted: u64,
    closed: [u64; CloseReason::ALL.len()],
    blacklisted: u64,
    restored: u64,
    probes: u64,
    probe_failures: u64,
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

    /// Connections closed for any reason, ever.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().map(|(_, n)| n).sum()
    }
}

/// What [`PoolState::set_addrs`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrChange {
    /// Addresses new to the host.
    pub added: Vec<SocketAddr>,
    /// Addresses the host no longer has (their connections drain).
    pub removed: Vec<SocketAddr>,
}

/// Details of one connection, for reports and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// Host it was made (and verified) for.
    pub host: Arc<str>,
    /// Address it is connected to.
    pub addr: SocketAddr,
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

/// The pool's state machine. `T` is the transport handle the shell keeps per connection.
pub struct PoolState<T> {
    opts: PoolOptions,
    /// The options' per-connection durations in ticks, for the timer arithmetic.
    spans: Spans,
    conns: Vec<Slot<T>>,
    free_slots: Vec<u32>,
    hosts: Vec<HostEntry>,
    host_ids: HashMap<Arc<str>, HostId, BuildHostHasher>,
    /// (host, address) pairs with at least one connection.
    connected_pairs: usize,
    /// Idle connections, least recently used first.
    idle: List,
    open: usize,
    draining: usize,
    probing: usize,
    /// Connections with at least one lease.
    in_use: usize,
    leases_out: u64,
    /// One entry per connection, at its `timer_at`.
    conn_timers: BTreeSet<(Tick, ConnId)>,
    /// The first `now` the state was given: connection timestamps count from it.
    epoch: Option<Instant>,
    /// Blacklist re-tests and expiries.
    ip_timers: BTreeSet<(Instant, u64, IpTimer)>,
    timer_seq: u64,
    dials: HashMap<DialId, DialEntry>,
    next_dial: u64,
    waiters: HashMap<WaiterId, HostId>,
    next_waiter: u64,
    blacklist: HashMap<IpAddr, BlacklistEntry>,
    fail_streaks: HashMap<IpAddr, u32>,
    probe_due: VecDeque<ConnId>,
    actions: VecDeque<Action<T>>,
    counters: Counters,
    closing: bool,
    /// Set when a new earliest deadline was added (see `take_deadline_moved`).
    deadline_moved: bool,
}

impl<T> PoolState<T> {
    /// A new, empty pool with these options.
    pub fn new(opts: PoolOptions) -> Self {
        let lifetime = nanos(opts.max_lifetime);
        let lead = nanos(opts.keep_warm_lead);
        let spans = Spans {
            idle: nanos(opts.idle_timeout),
            lifetime,
            replace: (opts.keep_warm && lead < lifetime).then(|| lifetime - lead),
            probe: opts.health_check_interval.map(nanos),
        };
        Self {
            spans,
            opts,
            conns: Vec::new(),
            free_slots: Vec::new(),
            hosts: Vec::new(),
            host_ids: HashMap::default(),
            connected_pairs: 0,
            idle: List::default(),
            open: 0,
            draining: 0,
            probing: 0,
            in_use: 0,
            leases_out: 0,
            conn_timers: BTreeSet::new(),
            epoch: None,
            ip_timers: BTreeSet::new(),
            timer_seq: 0,
            dials: HashMap::new(),
            next_dial: 0,
            waiters: HashMap::new(),
            next_waiter: 0,
            blacklist: HashMap::new(),
            fail_streaks: HashMap::new(),
            probe_due: VecDeque::new(),
            actions: VecDeque::new(),
            counters: Counters::default(),
            closing: false,
            deadline_moved: false,
        }
    }

    // ----- getters -------------------------------------------------------------------

    /// The options this pool runs with.
    pub fn options(&self) -> &PoolOptions {
        &self.opts
    }

    /// The transport handle of a connection still in the pool.
    pub fn handle(&self, id: ConnId) -> Option<&T> {
        self.entry(id).map(|e| &e.handle)
    }

    /// Mutable access to a connection's transport handle.
    pub fn handle_mut(&mut self, id: ConnId) -> Option<&mut T> {
        self.entry_mut(id).map(|e| &mut e.handle)
    }

    /// The address of a connection still in the pool.
    pub fn conn_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.entry(id).map(|e| e.addr)
    }

    /// Details of a connection still in the pool.
    pub fn conn_info(&self, id: ConnId) -> Option<ConnInfo> {
        let e = self.entry(id)?;
        Some(ConnInfo {
            host: self.hosts[e.host.0 as usize].name.clone(),
            addr: e.addr,
            created: self.instant(e.created),
            last_used: self.instant(e.last_used),
            last_checked: self.instant(e.last_checked),
            leases: e.leases,
            capacity: e.capacity,
            request_count: e.request_count,
            error_count: e.error_count,
            healthy: !matches!(e.phase, Phase::Draining(_)),
        })
    }

    /// The ids of every connection in the pool.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.entry.is_some())
            .map(|(index, _)| self.id_at(index as u32))
            .collect()
    }

    /// The number of connections per address (all hosts).
    pub fn conns_per_addr(&self) -> BTreeMap<SocketAddr, usize> {
        let mut per_addr = BTreeMap::new();
        for (addr, a) in self.hosts.iter().flat_map(|h| h.addrs.iter()) {
            if a.list.len > 0 {
                *per_addr.entry(*addr).or_default() += a.list.len;
            }
        }
        per_addr
    }

    /// Whether `ip` may be dialed: inside the whitelist (when set) and on no blacklist.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        (self.opts.whitelist.is_empty() || self.opts.whitelist.iter().any(|r| r.contains(ip)))
            && !self.opts.blacklist.iter().any(|r| r.contains(ip))
            && !self.blacklist.contains_key(&ip)
    }

    /// Whether `ip` is on the dynamic blacklist, and why.
    pub fn blacklisted(&self, ip: IpAddr) -> Option<BlacklistReason> {
        self.blacklist.get(&ip).map(|b| b.reason)
    }

    /// The addresses currently known for `host`.
    pub fn addrs(&self, host: &str) -> Vec<SocketAddr> {
        self.host_ids
            .get(host)
            .map(|h| self.hosts[h.0 as usize].addrs.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether the pool is closing.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether nothing is left: no connection open and no dial in flight.
    pub fn is_empty(&self) -> bool {
        self.open == 0 && self.dials.is_empty()
    }

    /// A snapshot of counts and counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            hosts: self.hosts.len(),
            addresses: self.hosts.iter().map(|h| h.addrs.len()).sum(),
            connected_addresses: self.connected_pairs,
            connections: self.open,
            idle: self.idle.len,
            in_use: self.in_use,
            draining: self.draining,
            probing: self.probing,
            dialing: self.dials.len(),
            waiters: self.waiters.len(),
            leases_out: self.leases_out,
            blacklisted: self.blacklist.len(),
            leases_total: c.leases,
            dials_total: c.dials_started,
            dials_ok: c.dials_ok,
            dial_failures: c.dial_failures,
            admitted: c.admitted,
            closed: CloseReason::ALL
                .iter()
                .map(|r| (*r, c.closed[r.index()]))
                .collect(),
            blacklisted_total: c.blacklisted,
            restored_total: c.restored,
            probes_total: c.probes,
            probe_failures: c.probe_failures,
        }
    }

    /// The next time [`PoolState::handle_timeout`] has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = self.conn_timers.first().map(|(at, _)| self.instant(*at));
        let ip = self.ip_timers.first().map(|(at, _, _)| *at);
        match (conn, ip) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a deadline earlier than every other was added since the last call (the
    /// shell's timer must then be re-armed); resets the flag.
    #[must_use]
    pub fn take_deadline_moved(&mut self) -> bool {
        std::mem::take(&mut self.deadline_moved)
    }

    /// The next action for the shell to carry out.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action<T>> {
        self.actions.pop_front()
    }

    // ----- commands ------------------------------------------------------------------

    /// Asks for a lease on a connection to `host`.
    ///
    /// `Ready` is a lease counted now (O(log n) in the host's connections); `Wait` queues
    /// the caller in FIFO order and may start dials (see [`Action::Dial`]).
    pub fn checkout(&mut self, host: &str) -> Result<Checkout, Error> {
        if self.closing {
            return Err(Error::Closed);
        }
        let Some(&h) = self.host_ids.get(host) else {
            return Err(Error::NoAddresses { host: host.into() });
        };
        let entry = &self.hosts[h.0 as usize];
        if entry.waiters.is_empty() {
            if let Some(index) = entry.ready.first() {
                let id = self.id_at(index);
                self.lease(id);
                return Ok(Checkout::Ready(id));
            }
        }
        if entry.addrs.is_empty() {
            return Err(Error::NoAddresses {
                host: entry.name.clone(),
            });
        }
        if entry.usable == 0 && entry.dialing == 0 && self.allowed_addr_count(h) == 0 {
            return Err(Error::NoUsableAddress {
                host: entry.name.clone(),
            });
        }
        let waiter = WaiterId(self.next_waiter);
        self.next_waiter += 1;
        self.waiters.insert(waiter, h);
        self.hosts[h.0 as usize].waiters.push_back(waiter);
        self.dial_for_waiters(h);
        Ok(Checkout::Wait(waiter))
    }

    /// Gives up waiting (timeout or the caller went away). Returns false when the waiter
    /// was already served or failed (its grant is in the action queue or delivered).
    pub fn cancel_waiter(&mut self, waiter: WaiterId) -> bool {
        let Some(h) = self.waiters.remove(&waiter) else {
            return false;
        };
        let queue = &mut self.hosts[h.0 as usize].waiters;
        if let Some(pos) = queue.iter().position(|w| *w == waiter) {
            queue.remove(pos);
        }
        true
    }

    /// Ends a lease. `capacity` is the connection's current capacity (it may have changed).
    pub fn release(&mut self, id: ConnId, outcome: Outcome, capacity: usize, now: Instant) {
        let max_errors = self.opts.max_errors;
        let t = self.tick(now);
        let Some(e) = self.entry_mut(id) else {
            return;
        };
        if e.leases == 0 {
            return;
        }
        e.leases -= 1;
        e.last_used = t;
        e.capacity = clamp_capacity(capacity);
        let now_idle = e.leases == 0;
        if outcome != Outcome::Unused {
            e.request_count += 1;
        }
        let host = e.host;
        let verdict = match outcome {
            Outcome::Success => {
                e.last_checked = t;
                None
            }
            Outcome::Error => {
                e.error_count += 1;
                (e.error_count > max_errors).then_some(CloseReason::Errors)
            }
            Outcome::Broken => Some(CloseReason::Broken),
            Outcome::Unused => None,
        };
        self.leases_out -= 1;
        if now_idle {
            self.in_use -= 1;
        }
        if let Some(reason) = verdict {
            self.drain(id, reason);
        }
        let Some(e) = self.entry(id) else {
            self.refill(host);
            return;
        };
        if let Phase::Draining(reason) = e.phase {
            if e.leases == 0 && !e.probing {
                self.close_conn(id, reason);
            }
            self.refill(host);
            return;
        }
        self.place(id);
        if now_idle {
            self.arm(id);
        }
        self.serve_waiters(host);
        self.trim_idle();
    }

    /// Sets the addresses of `host` (from DNS, config, or the user's own source).
    /// Connections to removed addresses drain; new addresses become dialable.
    pub fn set_addrs(
        &mut self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> AddrChange {
        let h = self.host_id(host);
        let new: BTreeSet<SocketAddr> = addrs.into_iter().collect();
        let entry = &mut self.hosts[h.0 as usize];
        let removed: Vec<SocketAddr> = entry
            .addrs
            .keys()
            .filter(|a| !new.contains(a))
            .copied()
            .collect();
        let added: Vec<SocketAddr> = new
            .iter()
            .filter(|a| !entry.addrs.contains_key(a))
            .copied()
            .collect();
        let mut orphans = Vec::new();
        for addr in &removed {
            let Some(a) = entry.addrs.remove(addr) else {
                continue;
            };
            // Its connections drain below; they leave the address's list now.
            let mut cursor = a.list.head;
            while let Some(e) = self
                .conns
                .get_mut(cursor as usize)
                .and_then(|s| s.entry.as_mut())
            {
                let next = e.addr_links.next;
                e.addr_links = Links::default();
                orphans.push(cursor);
                cursor = next;
            }
            if a.list.len > 0 {
                self.connected_pairs -= 1;
            }
        }
        let orphans: Vec<ConnId> = orphans.into_iter().map(|index| self.id_at(index)).collect();
        for addr in &added {
            // A dial may still be in flight from before the address was removed.
            let dialing = self
                .dials
                .values()
                .filter(|d| d.counted && d.host == h && d.addr == *addr)
                .count();
            self.hosts[h.0 as usize].addrs.insert(
                *addr,
                AddrEntry {
                    dialing,
                    ..AddrEntry::default()
                },
            );
        }
        for id in orphans {
            self.drain(id, CloseReason::AddressRemoved);
        }
        if !added.is_empty() || !removed.is_empty() {
            tracing::debug!(
                host,
                added = added.len(),
                removed = removed.len(),
                "addresses changed"
            );
        }
        self.dial_for_waiters(h);
        self.fail_waiters_without_addrs(h);
        AddrChange { added, removed }
    }

    /// Reserves dials for every allowed address of `host` that has no connection yet,
    /// within the limits (total, per host, per address, and idle: warm connections are idle,
    /// so no more are dialed than `max_idle_conns` keeps). The caller runs them (with
    /// bounded concurrency) and reports each with `handle_dial_result`.
    pub fn plan_warm(&mut self, host: &str) -> Vec<DialRequest> {
        if self.closing {
            return Vec::new();
        }
        let Some(&h) = self.host_ids.get(host) else {
            return Vec::new();
        };
        let targets: Vec<SocketAddr> = self.hosts[h.0 as usize]
            .addrs
            .iter()
            .filter(|(addr, a)| a.conns == 0 && a.dialing == 0 && self.is_allowed(addr.ip()))
            .map(|(addr, _)| *addr)
            .collect();
        let mut planned = Vec::new();
        for addr in targets {
            let warm_dials = planned.len();
            if self.idle.len + warm_dials >= self.opts.max_idle_conns
                || !self.room_for_dial(h, addr, false)
            {
                break;
            }
            planned.push(self.start_dial(h, addr, DialPurpose::Warm, true));
        }
        planned
    }

    /// Closes `fraction` (0.0–1.0) of the idle connections, least recently used first.
    /// Returns how many were closed.
    pub fn shed(&mut self, fraction: f64) -> usize {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let count = (self.idle.len as f64 * fraction).ceil() as usize;
        for _ in 0..count {
            let Some(id) = self.idle_front() else { break };
            self.close_conn(id, CloseReason::Shed);
        }
        count
    }

    /// Starts closing the pool: waiters fail, idle connections close, leased ones close
    /// at release, dials in flight are closed when they finish.
    pub fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        let waiters: Vec<WaiterId> = self.waiters.keys().copied().collect();
        for waiter in waiters {
            self.cancel_waiter(waiter);
            self.actions.push_back(Action::Fail {
                waiter,
                error: Error::Closed,
            });
        }
        for id in self.conn_ids() {
            self.drain(id, CloseReason::PoolClosed);
        }
        self.conn_timers.clear();
        self.ip_timers.clear();
        self.probe_due.clear();
    }

    /// Takes up to `max` connections due for a health probe. Each is held out of checkout
    /// until [`PoolState::handle_probe_result`]; a leased connection is never returned.
    pub fn take_probes(&mut self, max: usize) -> Vec<ConnId> {
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some(id) = self.probe_due.pop_front() else {
                break;
            };
            let Some(e) = self.entry_mut(id) else {
                continue;
            };
            e.probe_queued = false;
            if e.leases > 0 || e.probing || !matches!(e.phase, Phase::Live | Phase::Retiring) {
                self.arm(id); // its probe deadline counts again once it is idle
                continue;
            }
            self.idle_unlink(id);
            self.unready(id);
            if let Some(e) = self.entry_mut(id) {
                e.probing = true;
            }
            self.probing += 1;
            taken.push(id);
        }
        taken
    }

    // ----- inputs --------------------------------------------------------------------

    /// Reports how a dial ended. On success, returns the id of the admitted connection, or
    /// `None` when it was not admitted (then an [`Action::Close`] hands the handle back).
    pub fn handle_dial_result(
        &mut self,
        dial: DialId,
        result: Result<(T, usize), DialError>,
        now: Instant,
    ) -> Option<ConnId> {
        let d = self.dials.remove(&dial)?;
        if self.dials.is_empty() && self.dials.capacity() > 64 {
            self.dials.shrink_to_fit(); // after a warm-up of thousands of addresses
        }
        if d.counted {
            let host = &mut self.hosts[d.host.0 as usize];
            host.dialing -= 1;
            if let Some(a) = host.addrs.get_mut(&d.addr) {
                a.dialing -= 1;
            }
        }
        match result {
            Ok((handle, capacity)) => self.dial_succeeded(d, handle, capacity, now),
            Err(error) => {
                self.dial_failed(d, error, now);
                None
            }
        }
    }

    /// A dial that will never report (its task was cancelled or panicked, or it was planned
    /// and never started): frees its reservation without counting a failure.
    pub fn cancel_dial(&mut self, dial: DialId, now: Instant) {
        let Some(d) = self.dials.remove(&dial) else {
            return;
        };
        if d.counted {
            let host = &mut self.hosts[d.host.0 as usize];
            host.dialing -= 1;
            if let Some(a) = host.addrs.get_mut(&d.addr) {
                a.dialing -= 1;
            }
        }
        if d.purpose == DialPurpose::Retest {
            if let Some(entry) = self.blacklist.get_mut(&d.addr.ip()) {
                entry.retesting = false;
                let at = now + self.opts.blacklist_check_interval;
                self.schedule_ip(at, IpTimer::Retest(d.addr.ip()));
            }
        }
        self.dial_for_waiters(d.host);
        self.fail_waiters_without_addrs(d.host);
    }

    /// Reports a health probe's verdict on a connection from [`PoolState::take_probes`].
    pub fn handle_probe_result(&mut self, id: ConnId, verdict: ProbeVerdict, now: Instant) {
        let t = self.tick(now);
        let Some(e) = self.entry_mut(id) else { return };
        if !e.probing {
            return;
        }
        e.probing = false;
        let addr = e.addr;
        let host = e.host;
        if verdict == ProbeVerdict::Healthy {
            e.last_checked = t;
        }
        self.probing -= 1;
        match verdict {
            ProbeVerdict::Healthy | ProbeVerdict::Skipped => {
                self.counters.probes += u64::from(verdict == ProbeVerdict::Healthy);
            }
            ProbeVerdict::Unhealthy => {
                self.counters.probes += 1;
                self.counters.probe_failures += 1;
                self.drain(id, CloseReason::Unhealthy);
            }
            ProbeVerdict::Banned => {
                self.counters.probes += 1;
                self.counters.probe_failures += 1;
                self.drain(id, CloseReason::Unhealthy);
                self.add_to_blacklist(host, addr, BlacklistReason::Banned, now);
            }
        }
        let Some(e) = self.entry(id) else {
            self.refill(host);
            return;
        };
        if let Phase::Draining(reason) = e.phase {
            if e.leases == 0 {
                self.close_conn(id, reason);
            }
            self.refill(host);
            return;
        }
        self.place(id);
        self.arm(id);
        self.serve_waiters(host);
        self.trim_idle();
    }

    /// The transport says this connection is dead (peer closed, GOAWAY, driver ended).
    pub fn handle_conn_closed(&mut self, id: ConnId) {
        let Some(host) = self.entry(id).map(|e| e.host) else {
            return;
        };
        self.drain(id, CloseReason::Broken);
        self.refill(host);
    }

    /// Runs every deadline due at `now`: idle and expiry cleanup, keep-warm replacements,
    /// probe scheduling, blacklist re-tests and expiry. Costs in proportion to what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.tick(now);
        loop {
            let conn = self.conn_timers.first().copied().filter(|(at, _)| *at <= t);
            let ip = self
                .ip_timers
                .first()
                .copied()
                .filter(|(at, _, _)| *at <= now);
            match (conn, ip) {
                (Some((at, id)), ip)
                    if ip.is_none_or(|(ip_at, _, _)| self.instant(at) <= ip_at) =>
                {
                    self.conn_timers.remove(&(at, id));
                    if let Some(e) = self.entry_mut(id) {
                        e.timer_at = None;
                    }
                    self.fire_conn(id, t);
                }
                (_, Some(key)) => {
                    self.ip_timers.remove(&key);
                    self.fire_ip(key.2, now);
                }
                (_, None) => break,
            }
        }
    }

    // ----- internals: timers ---------------------------------------------------------

    fn schedule_ip(&mut self, at: Instant, timer: IpTimer) {
        if self.poll_timeout().is_none_or(|first| at < first) {
            self.deadline_moved = true;
        }
        self.timer_seq += 1;
        self.ip_timers.insert((at, self.timer_seq, timer));
    }

    /// The connection's next deadline: expiry, keep-warm replacement, and while idle the
    /// idle timeout and the next probe. None while draining.
    fn next_deadline(&self, e: &ConnEntry<T>) -> Option<Tick> {
        if matches!(e.phase, Phase::Draining(_)) {
            return None;
        }
        let spans = &self.spans;
        let mut at = e.created.after(spans.lifetime);
        if let (Some(replace), Phase::Live) = (spans.replace, e.phase) {
            at = at.min(e.created.after(replace));
        }
        if e.leases == 0 && !e.probing {
            at = at.min(e.last_used.after(spans.idle));
            if let (Some(probe), false) = (spans.probe, e.probe_queued) {
                at = at.min(e.last_checked.after(probe));
            }
        }
        Some(at)
    }

    /// Makes sure the connection's timer fires no later than its next deadline. An entry
    /// that is already earlier stays (lazy): the hot path rarely touches the timer set.
    fn arm(&mut self, id: ConnId) {
        let Some(e) = self.entry(id) else { return };
        let Some(due) = self.next_deadline(e) else {
            return;
        };
        let old = e.timer_at;
        if old.is_some_and(|at| at <= due) {
            return;
        }
        if let Some(at) = old {
            self.conn_timers.remove(&(at, id));
        }
        if self
            .poll_timeout()
            .is_none_or(|first| self.instant(due) < first)
        {
            self.deadline_moved = true;
        }
        self.conn_timers.insert((due, id));
        if let Some(e) = self.entry_mut(id) {
            e.timer_at = Some(due);
        }
    }

    fn disarm(&mut self, id: ConnId) {
        if let Some(at) = self.entry_mut(id).and_then(|e| e.timer_at.take()) {
            self.conn_timers.remove(&(at, id));
        }
    }

    fn fire_conn(&mut self, id: ConnId, now: Tick) {
        let spans = self.spans;
        let Some(e) = self.entry(id) else { return };
        if matches!(e.phase, Phase::Draining(_)) {
            return;
        }
        if e.created.after(spans.lifetime) <= now {
            self.drain(id, CloseReason::Expired);
            return;
        }
        if let (Some(replace), Phase::Live) = (spans.replace, e.phase) {
            if e.created.after(replace) <= now {
                self.replace(id);
            }
        }
        let Some(e) = self.entry(id) else { return };
        if e.leases == 0 && !e.probing {
            if e.last_used.after(spans.idle) <= now {
                self.close_conn(id, CloseReason::Idle);
                return;
            }
            let probe_due = spans
                .probe
                .is_some_and(|probe| !e.probe_queued && e.last_checked.after(probe) <= now);
            if probe_due {
                if let Some(e) = self.entry_mut(id) {
                    e.probe_queued = true;
                }
                self.probe_due.push_back(id);
                if self.probe_due.len() == 1 {
                    self.actions.push_back(Action::ProbesDue);
                }
            }
        }
        self.arm(id);
    }

    fn fire_ip(&mut self, timer: IpTimer, now: Instant) {
        match timer {
            IpTimer::Retest(ip) => self.retest(ip, now),
            IpTimer::Unblacklist(ip) => {
                let timeout = self.opts.blacklist_timeout;
                if self
                    .blacklist
                    .get(&ip)
                    .is_some_and(|b| b.since + timeout <= now && !b.retesting)
                {
                    if let Some(h) = self.restore(ip) {
                        self.dial_for_waiters(h);
                    }
                }
            }
        }
    }

    fn replace(&mut self, id: ConnId) {
        let Some(e) = self.entry(id) else { return };
        if e.phase != Phase::Live || self.closing {
            return;
        }
        let (h, addr) = (e.host, e.addr);
        if !self.hosts[h.0 as usize].addrs.contains_key(&addr) || !self.is_allowed(addr.ip()) {
            return;
        }
        self.set_phase(id, Phase::Retiring);
        if self.room_for_dial(h, addr, false) {
            let request = self.start_dial(h, addr, DialPurpose::Replace, true);
            self.actions.push_back(Action::Dial(request));
        }
    }

    // ----- internals: blacklist ------------------------------------------------------

    fn add_to_blacklist(
        &mut self,
        h: HostId,
        addr: SocketAddr,
        reason: BlacklistReason,
        now: Instant,
    ) {
        let ip = addr.ip();
        self.fail_streaks.remove(&ip);
        if let Some(entry) = self.blacklist.get_mut(&ip) {
            if reason == BlacklistReason::Banned {
                entry.reason = reason;
            }
            return;
        }
        tracing::warn!(%ip, ?reason, "address blacklisted");
        self.blacklist.insert(
            ip,
            BlacklistEntry {
                since: now,
                reason,
                retest: (h, addr),
                retesting: false,
            },
        );
        self.counters.blacklisted += 1;
        self.schedule_ip(
            now + self.opts.blacklist_check_interval,
            IpTimer::Retest(ip),
        );
        self.schedule_ip(now + self.opts.blacklist_timeout, IpTimer::Unblacklist(ip));
        if reason == BlacklistReason::Banned {
            let mut ids = Vec::new();
            for (h, host) in self.hosts.iter().enumerate() {
                for addr in host.addrs.keys().filter(|a| a.ip() == ip) {
                    ids.extend(self.conns_at(HostId(h as u32), *addr));
                }
            }
            for id in ids {
                self.drain(id, CloseReason::Blacklisted);
            }
        }
    }

    fn retest(&mut self, ip: IpAddr, now: Instant) {
        let Some(entry) = self.blacklist.get(&ip) else {
            return;
        };
        if entry.retesting || self.closing {
            return;
        }
        let (h, addr) = entry.retest;
        if self.open + self.dials.len() >= self.opts.max_connections {
            self.schedule_ip(
                now + self.opts.blacklist_check_interval,
                IpTimer::Retest(ip),
            );
            return;
        }
        if let Some(entry) = self.blacklist.get_mut(&ip) {
            entry.retesting = true;
        }
        let request = self.start_dial(h, addr, DialPurpose::Retest, false);
        self.actions.push_back(Action::Dial(request));
    }

    /// Takes `ip` off the dynamic blacklist; returns the host it was last dialed for.
    fn restore(&mut self, ip: IpAddr) -> Option<HostId> {
        let entry = self.blacklist.remove(&ip)?;
        tracing::info!(%ip, "address restored from blacklist");
        self.counters.restored += 1;
        self.fail_streaks.remove(&ip);
        Some(entry.retest.0)
    }

    // ----- internals: dials ----------------------------------------------------------

    fn host_id(&mut self, host: &str) -> HostId {
        if let Some(&h) = self.host_ids.get(host) {
            return h;
        }
        let name: Arc<str> = host.into();
        let h = HostId(self.hosts.len() as u32);
        self.hosts.push(HostEntry {
            name: name.clone(),
            addrs: BTreeMap::new(),
            cursor: None,
            ready: ReadyIndex::default(),
            conns: 0,
            usable: 0,
            dialing: 0,
            waiters: VecDeque::new(),
            last_capacity: 1,
            failures_since_success: 0,
        });
        self.host_ids.insert(name, h);
        h
    }

    /// Whether a dial of `h` to `addr` fits the limits; with `evict`, an idle connection of
    /// another host may be closed to make room under `max_connections`.
    fn room_for_dial(&mut self, h: HostId, addr: SocketAddr, evict: bool) -> bool {
        let host = &self.hosts[h.0 as usize];
        if host.conns + host.dialing >= self.opts.max_conns_per_host {
            return false;
        }
        let Some(a) = host.addrs.get(&addr) else {
            return false;
        };
        if a.conns + a.dialing >= self.opts.max_conns_per_ip {
            return false;
        }
        self.room_in_total(h, evict)
    }

    fn room_in_total(&mut self, h: HostId, evict: bool) -> bool {
        if self.open + self.dials.len() < self.opts.max_connections {
            return true;
        }
        if !evict {
            return false;
        }
        let mut cursor = self.idle.head;
        while cursor != NIL {
            let Some(e) = self.conns[cursor as usize].entry.as_ref() else {
                break;
            };
            let next = e.idle_links.next;
            if e.host != h {
                let id = self.id_at(cursor);
                self.close_conn(id, CloseReason::Evicted);
                return true;
            }
            cursor = next;
        }
        false
    }

    /// The next address of `h` to dial (round robin), within the limits.
    fn pick_dial_addr(&mut self, h: HostId) -> Option<SocketAddr> {
        let per_ip = self.opts.max_conns_per_ip;
        let host = &self.hosts[h.0 as usize];
        if host.conns + host.dialing >= self.opts.max_conns_per_host {
            return None;
        }
        let start = host.cursor;
        let after = start.map(|c| {
            host.addrs
                .range((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded))
        });
        let candidates = after
            .into_iter()
            .flatten()
            .chain(host.addrs.iter())
            .take(host.addrs.len());
        let mut chosen = None;
        for (addr, a) in candidates {
            if a.conns + a.dialing < per_ip && self.is_allowed(addr.ip()) {
                chosen = Some(*addr);
                break;
            }
        }
        let addr = chosen?;
        if !self.room_in_total(h, true) {
            return None;
        }
        self.hosts[h.0 as usize].cursor = Some(addr);
        Some(addr)
    }

    fn start_dial(
        &mut self,
        h: HostId,
        addr: SocketAddr,
        purpose: DialPurpose,
        counted: bool,
    ) -> DialRequest {
        let id = DialId(self.next_dial);
        self.next_dial += 1;
        if counted {
            let host = &mut self.hosts[h.0 as usize];
            host.dialing += 1;
            if let Some(a) = host.addrs.get_mut(&addr) {
                a.dialing += 1;
            }
        }
        self.dials.insert(
            id,
            DialEntry {
                host: h,
                addr,
                purpose,
                counted,
            },
        );
        self.counters.dials_started += 1;
        DialRequest {
            id,
            host: self.hosts[h.0 as usize].name.clone(),
            addr,
            purpose,
        }
    }

    /// Starts as many dials as the host's queue needs (one connection of the last seen
    /// capacity serves that many waiters), within the limits.
    fn dial_for_waiters(&mut self, h: HostId) {
        if self.closing {
            return;
        }
        loop {
            let host = &self.hosts[h.0 as usize];
            let wanted = host.waiters.len();
            let covered = host.dialing * host.last_capacity as usize;
            if covered >= wanted {
                break;
            }
            let Some(addr) = self.pick_dial_addr(h) else {
                break;
            };
            let request = self.start_dial(h, addr, DialPurpose::Checkout, true);
            self.actions.push_back(Action::Dial(request));
        }
    }

    /// After a connection of `h` left service (closed, or draining while leased): its place
    /// under the limits may be dialed for the host's waiters, or, with nothing left to
    /// dial, they fail now instead of at their timeout. O(1) when nobody waits.
    fn refill(&mut self, h: HostId) {
        self.dial_for_waiters(h);
        self.fail_waiters_without_addrs(h);
    }

    /// Fails the host's waiters when no address is left to dial and nothing can serve them.
    fn fail_waiters_without_addrs(&mut self, h: HostId) {
        let host = &self.hosts[h.0 as usize];
        if host.waiters.is_empty() || host.usable > 0 || host.dialing > 0 {
            return;
        }
        let error = if host.addrs.is_empty() {
            Error::NoAddresses {
                host: host.name.clone(),
            }
        } else if self.allowed_addr_count(h) == 0 {
            Error::NoUsableAddress {
                host: host.name.clone(),
            }
        } else {
            return; // limits are full: wait for room (bounded by checkout_timeout)
        };
        self.fail_all_waiters(h, error);
    }

    fn fail_all_waiters(&mut self, h: HostId, error: Error) {
        let waiters: Vec<WaiterId> = self.hosts[h.0 as usize].waiters.drain(..).collect();
        for waiter in waiters {
            self.waiters.remove(&waiter);
            self.actions.push_back(Action::Fail {
                waiter,
                error: error.clone(),
            });
        }
    }

    fn allowed_addr_count(&self, h: HostId) -> usize {
        self.hosts[h.0 as usize]
            .addrs
            .keys()
            .filter(|a| self.is_allowed(a.ip()))
            .count()
    }

    fn dial_succeeded(
        &mut self,
        d: DialEntry,
        handle: T,
        capacity: usize,
        now: Instant,
    ) -> Option<ConnId> {
        let ip = d.addr.ip();
        self.counters.dials_ok += 1;
        self.fail_streaks.remove(&ip);
        let h = d.host;
        self.hosts[h.0 as usize].failures_since_success = 0;
        if d.purpose == DialPurpose::Retest {
            // Waiters are served after the connection is inserted below: dialing for them
            // now would overshoot the limits (this dial no longer counts as in flight).
            self.restore(ip);
        }
        let known = self.hosts[h.0 as usize].addrs.contains_key(&d.addr);
        let admissible = !self.closing
            && known
            && self.is_allowed(ip)
            && (d.counted || self.fits_uncounted(h, d.addr));
        let id = self.insert_conn(handle, h, d.addr, capacity, now);
        if !admissible {
            self.close_conn(id, CloseReason::NotAdmitted);
            self.dial_for_waiters(h);
            return None;
        }
        self.counters.admitted += 1;
        self.hosts[h.0 as usize].last_capacity = clamp_capacity(capacity);
        self.serve_waiters(h);
        self.trim_idle();
        self.dial_for_waiters(h);
        self.entry(id).map(|_| id)
    }

    /// Whether a connection dialed outside the host/address limits (a re-test) fits them.
    fn fits_uncounted(&self, h: HostId, addr: SocketAddr) -> bool {
        let host = &self.hosts[h.0 as usize];
        host.conns + host.dialing < self.opts.max_conns_per_host
            && host
                .addrs
                .get(&addr)
                .is_some_and(|a| a.conns + a.dialing < self.opts.max_conns_per_ip)
    }

    fn dial_failed(&mut self, d: DialEntry, error: DialError, now: Instant) {
        self.counters.dial_failures += 1;
        let ip = d.addr.ip();
        let h = d.host;
        tracing::debug!(host = %self.hosts[h.0 as usize].name, addr = %d.addr, %error, "dial failed");
        if d.purpose == DialPurpose::Retest {
            if let Some(entry) = self.blacklist.get_mut(&ip) {
                entry.retesting = false;
                let interval = self.opts.blacklist_check_interval;
                self.schedule_ip(now + interval, IpTimer::Retest(ip));
            }
            return;
        }
        if error.kind() == DialErrorKind::Local {
            // Redialing would hit the same local limit, and the address is not to blame:
            // waiters fail now unless another dial may still serve them.
            let host = &self.hosts[h.0 as usize];
            if host.usable == 0 && host.dialing == 0 && !host.waiters.is_empty() {
                let error = Error::Dial {
                    host: host.name.clone(),
                    last: error,
                };
                self.fail_all_waiters(h, error);
            }
            return;
        }
        self.hosts[h.0 as usize].failures_since_success += 1;
        match error.kind() {
            DialErrorKind::Banned => self.add_to_blacklist(h, d.addr, BlacklistReason::Banned, now),
            kind if kind.counts_toward_blacklist() => {
                let streak = self.fail_streaks.entry(ip).or_default();
                *streak += 1;
                if *streak >= self.opts.max_retries {
                    self.add_to_blacklist(h, d.addr, BlacklistReason::Failures, now);
                }
            }
            _ => {}
        }
        let host = &self.hosts[h.0 as usize];
        if host.waiters.is_empty() {
            return;
        }
        let allowed = self.allowed_addr_count(h);
        let give_up_after = (host.addrs.len().max(1) as u32).saturating_mul(self.opts.max_retries);
        if allowed > 0 && host.failures_since_success < give_up_after {
            self.dial_for_waiters(h);
            return;
        }
        if host.usable == 0 && host.dialing == 0 {
            let error = Error::Dial {
                host: host.name.clone(),
                last: error,
            };
            self.hosts[h.0 as usize].failures_since_success = 0;
            self.fail_all_waiters(h, error);
        }
    }

    // ----- internals: connections ----------------------------------------------------

    fn entry(&self, id: ConnId) -> Option<&ConnEntry<T>> {
        let slot = self.conns.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_ref()
    }

    fn entry_mut(&mut self, id: ConnId) -> Option<&mut ConnEntry<T>> {
        let slot = self.conns.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_mut()
    }

    fn insert_conn(
        &mut self,
        handle: T,
        h: HostId,
        addr: SocketAddr,
        capacity: usize,
        now: Instant,
    ) -> ConnId {
        let t = self.tick(now);
        let entry = ConnEntry {
            handle,
            host: h,
            addr,
            created: t,
            last_used: t,
            last_checked: t,
            leases: 0,
            capacity: clamp_capacity(capacity),
            phase: Phase::Live,
            probing: false,
            request_count: 0,
            error_count: 0,
            ready_level: None,
            ready_links: Links::default(),
            idle_links: Links::default(),
            addr_links: Links::default(),
            timer_at: None,
            probe_queued: false,
        };
        let id = match self.free_slots.pop() {
            Some(index) => {
                let slot = &mut self.conns[index as usize];
                slot.entry = Some(entry);
                ConnId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                if self.conns.len() == self.conns.capacity() {
                    // Grow by a quarter, not double: the slab is most of the memory a
                    // connection costs, and amortized O(1) holds for any fixed factor.
                    self.conns.reserve_exact((self.conns.len() / 4).max(16));
                }
                self.conns.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
                ConnId {
                    index: (self.conns.len() - 1) as u32,
                    generation: 0,
                }
            }
        };
        self.open += 1;
        self.counters.inserted += 1;
        let host = &mut self.hosts[h.0 as usize];
        host.conns += 1;
        host.usable += 1;
        if let Some(a) = host.addrs.get_mut(&addr) {
            a.conns += 1;
            a.list.push_back(&mut self.conns, id.index, addr_links);
            if a.list.len == 1 {
                self.connected_pairs += 1;
            }
        }
        self.place(id);
        self.arm(id);
        id
    }

    /// Counts a lease on `id` (which must be ready).
    fn lease(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id) {
            e.leases += 1;
            if e.leases == 1 {
                self.in_use += 1;
            }
        }
        self.leases_out += 1;
        self.counters.leases += 1;
        self.place(id);
    }

    /// Hands ready connections of `h` to its waiters, first come first served.
    fn serve_waiters(&mut self, h: HostId) {
        loop {
            let host = &self.hosts[h.0 as usize];
            if host.waiters.is_empty() {
                return;
            }
            let Some(index) = host.ready.first() else {
                return;
            };
            let id = self.id_at(index);
            let host = &mut self.hosts[h.0 as usize];
            let Some(waiter) = host.waiters.pop_front() else {
                return;
            };
            self.waiters.remove(&waiter);
            self.lease(id);
            self.actions.push_back(Action::Grant { waiter, conn: id });
        }
    }

    /// Puts a connection in the ready index and idle list it belongs in, given its state.
    /// A connection whose load level changes goes to the back of its new level, so each
    /// level stays in least-recently-used order.
    fn place(&mut self, id: ConnId) {
        let Some(e) = self.entry(id) else { return };
        let usable = matches!(e.phase, Phase::Live | Phase::Retiring) && !e.probing;
        let level = (usable && e.leases < e.capacity).then_some(e.leases);
        let idle = usable && e.leases == 0;
        let (old_level, in_idle, h) = (e.ready_level, e.idle_links.linked, e.host);
        if old_level != level {
            let ready = &mut self.hosts[h.0 as usize].ready;
            if let Some(old) = old_level {
                ready.remove(&mut self.conns, old, id.index, ready_links);
            }
            if let Some(new) = level {
                ready.push(&mut self.conns, new, id.index, ready_links);
            }
            if let Some(e) = self.entry_mut(id) {
                e.ready_level = level;
            }
        }
        match (idle, in_idle) {
            (true, false) => self.idle.push_back(&mut self.conns, id.index, idle_links),
            (false, true) => self.idle.unlink(&mut self.conns, id.index, idle_links),
            _ => {}
        }
    }

    fn unready(&mut self, id: ConnId) {
        let Some(e) = self.entry_mut(id) else { return };
        let (level, h) = (e.ready_level.take(), e.host);
        if let Some(level) = level {
            self.hosts[h.0 as usize]
                .ready
                .remove(&mut self.conns, level, id.index, ready_links);
        }
    }

    fn idle_unlink(&mut self, id: ConnId) {
        self.idle.unlink(&mut self.conns, id.index, idle_links);
    }

    /// The connections of host `h` to `addr` (not those draining after it was removed).
    fn conns_at(&self, h: HostId, addr: SocketAddr) -> Vec<ConnId> {
        let mut ids = Vec::new();
        let mut cursor = self.hosts[h.0 as usize]
            .addrs
            .get(&addr)
            .map_or(NIL, |a| a.list.head);
        while let Some(e) = self
            .conns
            .get(cursor as usize)
            .and_then(|s| s.entry.as_ref())
        {
            ids.push(self.id_at(cursor));
            cursor = e.addr_links.next;
        }
        ids
    }

    /// The id of the live entry in slot `index`.
    fn id_at(&self, index: u32) -> ConnId {
        ConnId {
            index,
            generation: self.conns[index as usize].generation,
        }
    }

    fn set_phase(&mut self, id: ConnId, phase: Phase) {
        let Some(e) = self.entry_mut(id) else { return };
        let old = e.phase;
        if old == phase {
            return;
        }
        e.phase = phase;
        let (h, addr) = (e.host, e.addr);
        let host = &mut self.hosts[h.0 as usize];
        if old == Phase::Live {
            host.conns -= 1;
            if let Some(a) = host.addrs.get_mut(&addr) {
                a.conns -= 1;
            }
        }
        let was_usable = !matches!(old, Phase::Draining(_));
        let is_usable = !matches!(phase, Phase::Draining(_));
        if was_usable && !is_usable {
            host.usable -= 1;
            self.draining += 1;
        }
        self.place(id);
    }

    /// Takes a connection out of service: closed now when nothing holds it, otherwise
    /// marked draining and closed when its last lease or probe returns.
    fn drain(&mut self, id: ConnId, reason: CloseReason) {
        let Some(e) = self.entry(id) else { return };
        if matches!(e.phase, Phase::Draining(_)) {
            return;
        }
        if e.leases == 0 && !e.probing {
            self.close_conn(id, reason);
        } else {
            self.set_phase(id, Phase::Draining(reason));
        }
    }

    fn close_conn(&mut self, id: ConnId, reason: CloseReason) {
        let Some((h, addr)) = self.entry(id).map(|e| (e.host, e.addr)) else {
            return;
        };
        if let Some(a) = self.hosts[h.0 as usize].addrs.get_mut(&addr) {
            let was_linked = a.list.len;
            a.list.unlink(&mut self.conns, id.index, addr_links);
            if was_linked == 1 && a.list.len == 0 {
                self.connected_pairs -= 1;
            }
        }
        self.disarm(id);
        self.unready(id);
        self.idle_unlink(id);
        let Some(slot) = self.conns.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(e) = slot.entry.take() else { return };
        slot.generation = slot.generation.wrapping_add(1);
        self.free_slots.push(id.index);
        self.open -= 1;
        if e.probing {
            self.probing -= 1;
        }
        self.leases_out -= u64::from(e.leases);
        if e.leases > 0 {
            self.in_use -= 1;
        }
        let host = &mut self.hosts[e.host.0 as usize];
        match e.phase {
            Phase::Live => {
                host.conns -= 1;
                host.usable -= 1;
                if let Some(a) = host.addrs.get_mut(&e.addr) {
                    a.conns -= 1;
                }
            }
            Phase::Retiring => host.usable -= 1,
            Phase::Draining(_) => self.draining -= 1,
        }
        self.counters.closed[reason.index()] += 1;
        tracing::debug!(addr = %e.addr, reason = reason.as_str(), "connection closed");
        self.actions.push_back(Action::Close {
            conn: id,
            handle: e.handle,
            reason,
        });
    }

    fn trim_idle(&mut self) {
        while self.idle.len > self.opts.max_idle_conns {
            let Some(id) = self.idle_front() else { break };
            self.close_conn(id, CloseReason::IdleLimit);
        }
    }

    fn idle_front(&self) -> Option<ConnId> {
        (self.idle.head != NIL).then(|| self.id_at(self.idle.head))
    }
}

/// FNV-1a for host names: the host lookup is on every `get`, and SipHash's DoS resistance
/// buys nothing here (host names come from the application's own configuration and calls).
#[derive(Clone, Copy, Default)]
struct BuildHostHasher;

struct HostHasher(u64);

impl std::hash::BuildHasher for BuildHostHasher {
    type Hasher = HostHasher;

    fn build_hasher(&self) -> HostHasher {
        HostHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for HostHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn ready_links<T>(entry: &mut ConnEntry<T>) -> &mut Links {
    &mut entry.ready_links
}

fn addr_links<T>(entry: &mut ConnEntry<T>) -> &mut Links {
    &mut entry.addr_links
}

fn idle_links<T>(entry: &mut ConnEntry<T>) -> &mut Links {
    &mut entry.idle_links
}

/// A point in time as nanoseconds since the state's epoch (the first `now` it was given):
/// 8 bytes where an `Instant` takes 16, for the per-connection timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Tick(u64);

impl Tick {
    /// `nanos` nanoseconds later.
    fn after(self, nanos: u64) -> Tick {
        Tick(self.0.saturating_add(nanos))
    }
}

/// Per-connection durations of the options, in nanoseconds.
#[derive(Clone, Copy)]
struct Spans {
    idle: u64,
    lifetime: u64,
    /// When (after creation) a `keep_warm` replacement is dialed.
    replace: Option<u64>,
    probe: Option<u64>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl<T> PoolState<T> {
    /// `now` as a tick; the first time sets the epoch.
    fn tick(&mut self, now: Instant) -> Tick {
        let epoch = *self.epoch.get_or_insert(now);
        Tick(nanos(now.saturating_duration_since(epoch)))
    }

    /// A tick as an `Instant` (the epoch exists once any tick does).
    fn instant(&self, t: Tick) -> Instant {
        let epoch = self
            .epoch
            .unwrap_or_else(|| unreachable!("a tick exists only after the epoch"));
        epoch + Duration::from_nanos(t.0)
    }
}

fn clamp_capacity(capacity: usize) -> u32 {
    capacity.clamp(1, u32::MAX as usize) as u32
}

#[cfg(test)]
impl<T> PoolState<T> {
    /// Checks every structural invariant; panics with a description when one fails.
    pub(crate) fn check_invariants(&self) {
        let o = &self.opts;
        let mut open = 0;
        let mut idle = 0;
        let mut in_use = 0;
        let mut draining = 0;
        let mut probing = 0;
        let mut leases = 0u64;
        let mut host_conns = vec![0usize; self.hosts.len()];
        let mut host_usable = vec![0usize; self.hosts.len()];
        let mut addr_conns: HashMap<(u32, SocketAddr), usize> = HashMap::new();
        let mut ready_per_host = vec![0usize; self.hosts.len()];
        let mut linked = 0usize;
        for (index, slot) in self.conns.iter().enumerate() {
            let Some(e) = &slot.entry else { continue };
            let id = ConnId {
                index: index as u32,
                generation: slot.generation,
            };
            open += 1;
            leases += u64::from(e.leases);
            assert!(
                e.leases <= e.capacity,
                "{id:?}: {} leases > capacity {}",
                e.leases,
                e.capacity
            );
            let usable = matches!(e.phase, Phase::Live | Phase::Retiring) && !e.probing;
            let is_idle = usable && e.leases == 0;
            assert_eq!(e.idle_links.linked, is_idle, "{id:?}: idle list membership");
            assert!(
                !(e.idle_links.linked && e.leases > 0),
                "{id:?}: both idle and leased"
            );
            assert!(!(e.probing && e.leases > 0), "{id:?}: probed while leased");
            let ready = usable && e.leases < e.capacity;
            assert_eq!(
                e.ready_level.is_some(),
                ready,
                "{id:?}: ready index membership"
            );
            assert_eq!(e.ready_links.linked, ready, "{id:?}: ready links");
            if let Some(level) = e.ready_level {
                assert_eq!(level, e.leases, "{id:?}: ready level is its load");
                ready_per_host[e.host.0 as usize] += 1;
            }
            if let Phase::Draining(_) = e.phase {
                assert!(
                    e.leases > 0 || e.probing,
                    "{id:?}: draining with nothing holding it"
                );
                draining += 1;
            } else {
                host_usable[e.host.0 as usize] += 1;
            }
            if e.phase == Phase::Live {
                host_conns[e.host.0 as usize] += 1;
                *addr_conns.entry((e.host.0, e.addr)).or_default() += 1;
            }
            idle += usize::from(is_idle);
            in_use += usize::from(e.leases > 0);
            probing += usize::from(e.probing);
            if e.addr_links.linked {
                assert!(
                    self.conns_at(e.host, e.addr).contains(&id),
                    "{id:?}: missing from its address list"
                );
                linked += 1;
            } else {
                assert!(
                    matches!(e.phase, Phase::Draining(_)),
                    "{id:?}: in no address list but not draining"
                );
            }
        }
        assert_eq!(open, self.open, "open count");
        assert_eq!(idle, self.idle.len, "idle count");
        assert_eq!(in_use, self.in_use, "in-use count");
        assert_eq!(draining, self.draining, "draining count");
        assert_eq!(probing, self.probing, "probing count");
        assert_eq!(leases, self.leases_out, "leases out");
        let listed: usize = self
            .hosts
            .iter()
            .flat_map(|h| h.addrs.values())
            .map(|a| a.list.len)
            .sum();
        assert_eq!(listed, linked, "address list sizes");
        let pairs = self
            .hosts
            .iter()
            .flat_map(|h| h.addrs.values())
            .filter(|a| a.list.len > 0)
            .count();
        assert_eq!(pairs, self.connected_pairs, "connected pairs");
        let mut walked = 0;
        let mut cursor = self.idle.head;
        while cursor != NIL {
            walked += 1;
            assert!(walked <= self.idle.len, "idle list longer than its count");
            cursor = self.conns[cursor as usize]
                .entry
                .as_ref()
                .map_or(NIL, |e| e.idle_links.next);
        }
        assert_eq!(walked, self.idle.len, "idle list length");
        assert!(
            self.idle.len <= o.max_idle_conns,
            "idle {} > max_idle_conns",
            self.idle.len
        );
        let counted_dials = self.dials.values().filter(|d| d.counted);
        let mut host_dialing = vec![0usize; self.hosts.len()];
        let mut addr_dialing: HashMap<(u32, SocketAddr), usize> = HashMap::new();
        for d in counted_dials {
            host_dialing[d.host.0 as usize] += 1;
            *addr_dialing.entry((d.host.0, d.addr)).or_default() += 1;
        }
        assert!(
            open + self.dials.len() <= o.max_connections,
            "total {} + dialing {} > max",
            open,
            self.dials.len()
        );
        for (i, host) in self.hosts.iter().enumerate() {
            assert_eq!(host.conns, host_conns[i], "host conns");
            assert_eq!(host.ready.len(), ready_per_host[i], "ready index size");
            assert_eq!(host.usable, host_usable[i], "host usable");
            assert_eq!(host.dialing, host_dialing[i], "host dialing");
            assert!(
                host.conns + host.dialing <= o.max_conns_per_host,
                "per-host limit"
            );
            assert!(
                host.waiters.is_empty() || host.ready.is_empty(),
                "waiters while ready"
            );
            for w in &host.waiters {
                assert_eq!(self.waiters.get(w), Some(&HostId(i as u32)), "waiter index");
            }
            for (addr, a) in &host.addrs {
                let key = (i as u32, *addr);
                assert_eq!(
                    a.conns,
                    addr_conns.get(&key).copied().unwrap_or(0),
                    "addr conns"
                );
                assert_eq!(
                    a.dialing,
                    addr_dialing.get(&key).copied().unwrap_or(0),
                    "addr dialing"
                );
                assert!(a.conns + a.dialing <= o.max_conns_per_ip, "per-ip limit");
            }
        }
        assert_eq!(
            self.waiters.len(),
            self.hosts.iter().map(|h| h.waiters.len()).sum::<usize>(),
            "waiter count"
        );
        let closed: u64 = self.counters.closed.iter().sum();
        assert_eq!(
            self.counters.inserted - closed,
            open as u64,
            "leak: inserted - closed != open"
        );
        let stats = self.stats();
        assert_eq!(
            stats.connections,
            stats.idle + stats.in_use + stats.probing,
            "stats partition"
        );
    }
}

#[cfg(test)]
mod tests;
