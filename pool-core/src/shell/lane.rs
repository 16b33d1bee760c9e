//! The lease fast lane: a lease on a connection that is open and has spare capacity, and
//! its return, without the pool lock and without a step of the state machine.
//!
//! Per host the lane holds the pool's connections (id, address, handle and the
//! [`Gauge`] the core shares) behind one read-mostly lock: written only when a connection
//! is admitted or closed (under the pool lock, from [`Inner`](super::inner::Inner)), read
//! by every lease. A lease picks by the placement rules of `proto::choice` (for `spread`
//! the less loaded of two random connections) and takes its lease with one CAS on the
//! gauge; it goes to the locked path when the host has waiters (they are served first
//! come first served), when the choice found no room, or when the transport is closed.
//! A return is one CAS too; the gauge sends it to the locked path for everything the
//! state machine must act on (see `proto::gauge`).

use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use super::proto::{ConnId, Gauge, HasGauge, lane_choice};
use super::rt::{AtomicUsize, RwLock};
use crate::Connection;
use crate::options::Placement;

/// One connection as the lane sees it.
pub(super) struct LaneConn<C> {
    pub(super) id: ConnId,
    pub(super) addr: SocketAddr,
    pub(super) conn: Arc<C>,
    pub(super) gauge: Arc<Gauge>,
}

impl<C> HasGauge for LaneConn<C> {
    fn gauge(&self) -> &Gauge {
        &self.gauge
    }
}

/// One host's connections, and where each is in the list.
struct HostLane<C> {
    conns: Vec<LaneConn<C>>,
    positions: HashMap<ConnId, usize>,
}

impl<C> Default for HostLane<C> {
    fn default() -> Self {
        Self {
            conns: Vec::new(),
            positions: HashMap::new(),
        }
    }
}

/// A lease the lane took: the connection's id, address, handle and gauge.
pub(super) struct Taken<C> {
    pub(super) id: ConnId,
    pub(super) addr: SocketAddr,
    pub(super) conn: Arc<C>,
    pub(super) gauge: Arc<Gauge>,
}

/// The lane of one pool.
pub(super) struct Lane<C> {
    hosts: RwLock<HashMap<Arc<str>, HostLane<C>>>,
    /// Connections in the pool: a lane return may leave a connection idle only while
    /// there are no more than `max_idle_conns` (so the idle count cannot pass the limit).
    open: AtomicUsize,
    max_idle_conns: usize,
    placement: Placement,
    /// The state machine's epoch: gauge timestamps count from it.
    epoch: Instant,
}

impl<C: Connection> Lane<C> {
    pub(super) fn new(max_idle_conns: usize, placement: Placement, epoch: Instant) -> Self {
        Self {
            epoch,
            hosts: RwLock::new(HashMap::new()),
            open: AtomicUsize::new(0),
            max_idle_conns,
            placement,
        }
    }

    /// Adds a connection the core admitted (called under the pool lock).
    pub(super) fn admit(&self, host: &Arc<str>, entry: LaneConn<C>) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        let lane = hosts.entry(host.clone()).or_default();
        lane.positions.insert(entry.id, lane.conns.len());
        lane.conns.push(entry);
        self.open.fetch_add(1, Ordering::SeqCst);
    }

    /// Removes a connection the core closed (called under the pool lock; its gauge is
    /// retired already, so no lane lease can take it in between).
    pub(super) fn remove(&self, host: &str, id: ConnId) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        let Some(lane) = hosts.get_mut(host) else {
            return;
        };
        let Some(pos) = lane.positions.remove(&id) else {
            return;
        };
        lane.conns.swap_remove(pos);
        if let Some(moved) = lane.conns.get(pos) {
            lane.positions.insert(moved.id, pos);
        }
        if lane.conns.is_empty() {
            hosts.remove(host);
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// A lease on an open connection of `host` with room, if the lane can take one.
    pub(super) fn try_lease(&self, host: &str) -> Option<Taken<C>> {
        let hosts = self.hosts.read().ok()?;
        let lane = hosts.get(host)?;
        let first = lane.conns.first()?;
        if first.gauge.host_has_waiters() {
            return None; // first come first served: the locked path queues behind them
        }
        let (candidates, limit) = lane_choice(&lane.conns, self.placement, random())?;
        for c in candidates.into_iter().flatten() {
            if c.conn.is_closed() {
                return None; // the locked path takes it out of service
            }
            if c.gauge.try_acquire(limit) {
                return Some(Taken {
                    id: c.id,
                    addr: c.addr,
                    conn: c.conn.clone(),
                    gauge: c.gauge.clone(),
                });
            }
        }
        None
    }

    /// `now` as a gauge timestamp.
    pub(super) fn stamp(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Whether a lane return may leave a connection idle (see `open`).
    pub(super) fn may_idle(&self) -> bool {
        self.open.load(Ordering::Relaxed) <= self.max_idle_conns
    }
}

thread_local! {
    static RANDOM: Cell<u64> = const { Cell::new(0) };
}

/// A fast per-thread pseudo-random number (xorshift64*), for the two choices.
fn random() -> u64 {
    RANDOM.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // Seeded from the thread-local's own address: distinct per thread, never 0.
            x = (state as *const Cell<u64> as u64) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}
