//! The sans-IO pool: every decision the pool makes, with time as an input and actions as
//! outputs. It never sleeps, spawns, or reads the clock (the quinn-proto / quinn split: the
//! async [`Pool`](crate::Pool) shell carries the actions out).
//!
//! [`PoolState`] methods come in four kinds:
//! - getters (`&self`): [`PoolState::stats`], [`PoolState::handle`], [`PoolState::poll_timeout`];
//! - inputs: [`PoolState::handle_timeout`], [`PoolState::handle_dial_result`],
//!   [`PoolState::handle_probe_result`], [`PoolState::handle_conn_closed`],
//!   [`PoolState::release`], [`PoolState::handle_fleet_event`],
//!   [`PoolState::handle_memory_reading`];
//! - commands: [`PoolState::checkout`] (and [`PoolState::checkout_with`]),
//!   [`PoolState::set_addrs`], [`PoolState::plan_warm`], [`PoolState::set_hot`],
//!   [`PoolState::shed`], [`PoolState::close`], [`PoolState::cancel_waiter`],
//!   [`PoolState::cancel_dial`], [`PoolState::take_probes`];
//! - outputs: [`PoolState::poll_action`] (dial, grant, fail, close, probes due, publish to
//!   the fleet).
//!
//! Spurious inputs (a stale connection id, an unknown dial) are no-ops.
//!
//! # Parts
//! `PoolState` is the coordinator; each part owns its data and the operations on it:
//! - `conns`: the slab of connection entries (a [`ConnId`] carries a generation so a stale
//!   id never reaches a reused slot);
//! - `gauge`: each connection's lease count, capacity and use times in atomics, shared with
//!   the shell's fast lane, which leases and returns open connections without the pool
//!   lock; the core owns the lifecycle and changes a gauge only by CAS (see its docs);
//! - `hosts` (the *by_host* map): each host's addresses (together the *by_ip* map: address
//!   → the host's connections to it, a list threaded through the slab), its members (the
//!   gauges a locked checkout scans: least loaded first, or `fill`) and its waiters, whose
//!   count the lane reads;
//! - `timers`: one lazy entry per connection, at a time no later than its next deadline,
//!   and the blacklist's re-tests and expiries; a tick pops only what is due;
//! - `blacklist`: static whitelist/blacklist, the dynamic blacklist, failure streaks;
//! - `dials`: dials in flight and callers waiting;
//! - `stats`: the counters;
//! - `ids`: the ids every part names the others' entries by ([`ConnId`], `HostId`,
//!   [`DialId`], [`WaiterId`]), so no part imports another just to name an entry;
//! - `list`: the intrusive lists threaded through the slab (generic over the slot).
//!
//! The coordinator's own code is split by concern: `commands` and `inputs` (the public
//! methods), `dialing` (limits, dials, their results, blacklisting, re-tests, keep-warm
//! replacements), `service` (admission, the locked lease choice, waiters, timers of a
//! connection, draining and closing) and `hot` (hot hosts' re-warm dials and host outages,
//! `docs/stay-hot.md`).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::options::PoolOptions;
use crate::types::{BlacklistReason, CloseReason, ConnInfo, Stats, WarmLimit};

mod blacklist;
mod choice;
mod commands;
mod conns;
mod dialing;
mod dials;
mod fleet;
mod gauge;
mod hosts;
mod hot;
mod ids;
mod inputs;
mod list;
mod service;
mod shed;
mod stats;
mod timers;

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;

use blacklist::Blacklist;
pub(crate) use choice::{HasGauge, lane as lane_choice};
use conns::Conns;
pub use dials::{DialPurpose, DialRequest, Opened};
use dials::{Dials, Waiters};
pub(crate) use gauge::{Gauge, HostAtomics, Use};
use hosts::Hosts;
pub use ids::{ConnId, DialId, WaiterId};
pub use shed::Pressure;
use shed::Shedder;
use stats::Counters;
pub(crate) use timers::nanos;
use timers::{Spans, Timers};

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
    /// Publish this to the fleet ([`SharedState::publish`](crate::SharedState::publish));
    /// only while [`PoolState::share_blacklist`] is on.
    Publish(crate::fleet::FleetEvent),
    /// An address of a hot host is connected again `after` it lost its last connection
    /// (the time to re-warm: record it, e.g. in `hotpool_rewarm_seconds`).
    Rewarmed {
        /// The address re-warmed.
        addr: SocketAddr,
        /// From losing its last connection to the new one's admission.
        after: std::time::Duration,
    },
}

/// What [`PoolState::plan_warm`] decided: the dials to run, and how far they cover the host.
#[derive(Debug, Default)]
pub struct WarmPlan {
    /// The dials reserved; run each and report it with `handle_dial_result`.
    pub dials: Vec<DialRequest>,
    /// The host's addresses allowed by the whitelist and blacklist.
    pub allowed: usize,
    /// The limit that ended the plan before every allowed address had a connection or a
    /// dial (`None`: nothing was left out, or the rest are being dialed already).
    pub capped_by: Option<WarmLimit>,
}

/// What [`PoolState::set_addrs`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrChange {
    /// Addresses new to the host.
    pub added: Vec<SocketAddr>,
    /// Addresses the host no longer has (their connections drain).
    pub removed: Vec<SocketAddr>,
}

/// The pool's state machine. `T` is the transport handle the shell keeps per connection.
pub struct PoolState<T> {
    opts: PoolOptions,
    /// The options' per-connection durations in ticks, for the timer arithmetic.
    spans: Spans,
    /// The slab of connections.
    conns: Conns<T>,
    /// Hosts, their addresses, members and waiters.
    hosts: Hosts,
    /// Every deadline, and the clock's epoch.
    timers: Timers,
    /// Which addresses may be dialed.
    blacklist: Blacklist,
    /// Dials in flight.
    dials: Dials,
    /// Callers waiting.
    waiters: Waiters,
    /// Connections due for a health probe, oldest first.
    probe_due: VecDeque<ConnId>,
    /// Decisions for the shell to carry out.
    actions: VecDeque<Action<T>>,
    counters: Counters,
    closing: bool,
    /// Whether bans and passing re-tests are published (see `share_blacklist`).
    sharing: bool,
    /// Whether a handle's transport is closed (see [`PoolState::set_closed_check`]).
    is_closed: fn(&T) -> bool,
    /// Memory-pressure shedding (`None`: `memory_limit` not set).
    shedder: Option<Shedder>,
}

impl<T> PoolState<T> {
    /// A new, empty pool with these options.
    pub fn new(opts: PoolOptions) -> Self {
        Self {
            shedder: Shedder::new(&opts),
            spans: Spans::new(&opts),
            blacklist: Blacklist::new(&opts),
            opts,
            conns: Conns::default(),
            hosts: Hosts::default(),
            timers: Timers::default(),
            dials: Dials::default(),
            waiters: Waiters::default(),
            probe_due: VecDeque::new(),
            actions: VecDeque::new(),
            counters: Counters::default(),
            closing: false,
            sharing: false,
            is_closed: |_| false,
        }
    }

    /// How to tell that a handle's transport has closed (default: never). A connection
    /// chosen for a lease whose transport is closed is never handed out: it is removed
    /// (closed as broken, or drained while other leases hold it) and the next is chosen —
    /// so a lease never waits on the transport's own close notification to skip it.
    pub fn set_closed_check(&mut self, is_closed: fn(&T) -> bool) {
        self.is_closed = is_closed;
    }

    // ----- getters -------------------------------------------------------------------

    /// The options this pool runs with.
    pub fn options(&self) -> &PoolOptions {
        &self.opts
    }

    /// The transport handle of a connection still in the pool.
    pub fn handle(&self, id: ConnId) -> Option<&T> {
        self.conns.get(id).map(|e| &e.handle)
    }

    /// Mutable access to a connection's transport handle.
    pub fn handle_mut(&mut self, id: ConnId) -> Option<&mut T> {
        self.conns.get_mut(id).map(|e| &mut e.handle)
    }

    /// The transport handle and address of a connection still in the pool (one lookup).
    pub fn handle_and_addr(&self, id: ConnId) -> Option<(&T, SocketAddr)> {
        self.conns.get(id).map(|e| (&e.handle, e.addr))
    }

    /// The address of a connection still in the pool.
    pub fn conn_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(id).map(|e| e.addr)
    }

    /// Details of a connection still in the pool.
    pub fn conn_info(&self, id: ConnId) -> Option<ConnInfo> {
        let e = self.conns.get(id)?;
        Some(ConnInfo {
            host: self.hosts.get(e.host).name.clone(),
            addr: e.addr,
            protocol: e.protocol,
            created: self.timers.instant(e.created),
            last_used: self.timers.instant(e.last_used()),
            last_checked: self.timers.instant(e.last_checked()),
            leases: e.gauge.leases(),
            capacity: e.gauge.capacity(),
            request_count: e.gauge.requests(),
            error_count: e.error_count,
            healthy: e.phase.is_usable(),
        })
    }

    /// The ids of every connection in the pool.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.ids()
    }

    /// The number of connections per address (all hosts).
    pub fn conns_per_addr(&self) -> BTreeMap<SocketAddr, usize> {
        let mut per_addr = BTreeMap::new();
        for (addr, a) in self.hosts.iter().flat_map(|(_, h)| h.addrs.iter()) {
            if a.list.len > 0 {
                *per_addr.entry(*addr).or_default() += a.list.len;
            }
        }
        per_addr
    }

    /// Whether `ip` may be dialed: inside the whitelist (when set) and on no blacklist.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        self.blacklist.is_allowed(ip)
    }

    /// Whether `ip` is on the dynamic blacklist, and why.
    pub fn blacklisted(&self, ip: IpAddr) -> Option<BlacklistReason> {
        self.blacklist.reason(ip)
    }

    /// The addresses currently known for `host`.
    pub fn addrs(&self, host: &str) -> Vec<SocketAddr> {
        self.hosts
            .lookup(host)
            .map(|h| self.hosts.get(h).addrs.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The names of every host the pool knows.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|(_, h)| h.name.to_string()).collect()
    }

    /// Whether the pool is closing.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether nothing is left: no connection open and no dial in flight.
    pub fn is_empty(&self) -> bool {
        self.conns.open() == 0 && self.dials.is_empty()
    }

    /// Fixes the clock's epoch (the first `now` otherwise): the shell's fast lane stamps
    /// the gauges' use times from it without the lock. Returns the epoch in force.
    pub(crate) fn set_epoch(&mut self, epoch: Instant) -> Instant {
        self.timers.set_epoch(epoch)
    }

    /// A connection's lease gauge (shared with the shell's fast lane).
    pub(crate) fn gauge(&self, id: ConnId) -> Option<Arc<Gauge>> {
        self.conns.get(id).map(|e| e.gauge.clone())
    }

    /// A snapshot of counts and counters. The lease counts are summed from the gauges:
    /// O(connections), off the lease path.
    pub fn stats(&self) -> Stats {
        let (mut idle, mut in_use, mut leases_out, mut leases_total) = (0, 0, 0, 0);
        for (_, e) in self.conns.iter() {
            let leases = e.gauge.leases();
            idle += usize::from(e.is_available() && leases == 0);
            in_use += usize::from(leases > 0);
            leases_out += u64::from(leases);
            leases_total += e.gauge.leases_total();
        }
        let mut stats = Stats {
            hosts: self.hosts.len(),
            addresses: self.hosts.addr_count(),
            connected_addresses: self.hosts.connected_pairs,
            connections: self.conns.open(),
            idle,
            in_use,
            draining: self.conns.draining,
            probing: self.conns.probing,
            connections_by_protocol: self.conns.by_protocol(),
            dialing: self.dials.len(),
            waiters: self.waiters.len(),
            leases_out,
            blacklisted: self.blacklist.len(),
            ..Stats::default()
        };
        self.counters.fill(&mut stats);
        stats.leases_total += leases_total;
        stats.shedding = self.is_shedding();
        stats.hot_hosts = self.hot_hosts();
        stats.hosts_down = self.hosts_down();
        stats
    }

    /// The next time [`PoolState::handle_timeout`] has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.poll_timeout()
    }

    /// Whether a deadline earlier than every other was added since the last call (the
    /// shell's timer must then be re-armed); resets the flag.
    #[must_use]
    pub fn take_deadline_moved(&mut self) -> bool {
        self.timers.take_deadline_moved()
    }

    /// Whether an action waits for [`PoolState::poll_action`].
    #[must_use]
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The next action for the shell to carry out.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action<T>> {
        self.actions.pop_front()
    }
}

/// A connection's capacity as the core counts it: at least 1.
fn clamp_capacity(capacity: usize) -> u32 {
    capacity.clamp(1, u32::MAX as usize) as u32
}
