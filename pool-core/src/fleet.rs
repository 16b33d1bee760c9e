//! The fleet port: how a pool shares what it learns about addresses with other pools (other
//! processes, other machines) through a backend it does not know — Redis in `pool-redis`,
//! anything else behind the same trait.
//!
//! The pool *publishes* [`FleetEvent`]s through [`SharedState::publish`], which must not
//! wait (the backend queues them); the backend's receiving side hands the fleet's events to
//! [`Pool::apply_fleet_event`](crate::Pool::apply_fleet_event). Re-tests of a banned address
//! ask [`SharedState::retest_lease`] first, so one pool of the fleet re-tests it per
//! interval instead of all of them.
//!
//! Without a backend ([`Pool::new`](crate::Pool::new)) nothing is published, no lease is
//! asked for, and the pool behaves and costs exactly as a lone pool. The sans-IO core sees
//! only events: [`PoolState::handle_fleet_event`](crate::proto::PoolState::handle_fleet_event)
//! as an input, [`Action::Publish`](crate::proto::Action::Publish) as an output.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use crate::types::BlacklistReason;

/// A boxed future that a [`SharedState`] returns (the trait stays object safe).
pub type FleetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A blacklist event shared across the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetEvent {
    /// An address was put on the dynamic blacklist.
    Ban(FleetBan),
    /// A re-test of a blacklisted address passed: it may be dialed again.
    Unban {
        /// The host the address was re-tested for.
        host: String,
        /// The address (its IP is what the blacklist holds).
        addr: SocketAddr,
    },
}

impl FleetEvent {
    /// The host the event is about.
    pub fn host(&self) -> &str {
        match self {
            FleetEvent::Ban(ban) => &ban.host,
            FleetEvent::Unban { host, .. } => host,
        }
    }

    /// The address the event is about.
    pub fn addr(&self) -> SocketAddr {
        match self {
            FleetEvent::Ban(ban) => ban.addr,
            FleetEvent::Unban { addr, .. } => *addr,
        }
    }
}

/// One ban, as the fleet shares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetBan {
    /// The host the address was dialed for.
    pub host: String,
    /// The address (the blacklist holds its IP).
    pub addr: SocketAddr,
    /// Why it was blacklisted.
    pub reason: BlacklistReason,
    /// Whether a successful re-test dial may lift it: false for a health probe's ban,
    /// which only its expiry ends.
    pub retestable: bool,
    /// How long the ban lasts from the moment it is applied.
    pub ttl: Duration,
}

/// What [`Pool::apply_fleet_event`](crate::Pool::apply_fleet_event) did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetApplied {
    /// The ban was added, or the unban lifted a local entry.
    Applied,
    /// Nothing to do: the address was already banned, or (unban) not banned here, or banned
    /// here in a way no re-test lifts (a probe's ban).
    Unchanged,
    /// The pool does not know the host: ignored (counted in
    /// [`Stats::fleet_ignored`](crate::Stats::fleet_ignored)).
    UnknownHost,
}

/// What a pool holds of one host and would like to hold: a fleet budget backend claims
/// `wanted` and hands the pool its share
/// ([`Pool::set_fleet_cap`](crate::Pool::set_fleet_cap)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetDemand {
    /// Connections open or being dialed.
    pub held: usize,
    /// `held` plus the dials its waiting callers need (within `max_conns_per_host`).
    pub wanted: usize,
}

/// The port through which a pool shares its blacklist with a fleet. Implemented by a
/// backend (`pool_redis::RedisFleet`); the pool calls it from its shell, never under its
/// lock and never on the request path.
pub trait SharedState: Send + Sync + 'static {
    /// Queues `event` for the fleet. Must return at once: a slow or unreachable backend
    /// drops (and counts) rather than blocks.
    fn publish(&self, event: FleetEvent);

    /// Asks for the right to re-test `addr` now, for `interval` (one pool of the fleet
    /// re-tests an address per interval). `true`: re-test it; `false`: another pool holds
    /// the lease, try again in an interval. A backend that cannot answer in time answers
    /// `true` (fail open: the pool keeps working on its own state). The default grants.
    fn retest_lease(&self, addr: SocketAddr, interval: Duration) -> FleetFuture<'_, bool> {
        let _ = (addr, interval);
        Box::pin(std::future::ready(true))
    }
}
