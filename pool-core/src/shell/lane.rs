//! The lease fast lane: a lease on a connection that is open and has spare capacity, and
//! its return, without the pool lock and without a step of the state machine.
//!
//! Per host the lane holds the pool's connections (id, address, handle and the
//! [`Gauge`] the core shares) behind one read-mostly lock: written only when a connection
//! is admitted or closed (under the pool lock, from [`Inner`](super::inner::Inner)), read
//! by every lease. A lease picks by the placement rules of `proto::choice` (up to 8
//! connections scanned from a random start, above the less loaded of two random ones);
//! when those miss, a `spread` lease tries the connection a return last left idle (the
//! host's idle hint: exclusive connections under load are found in O(1)); it takes its
//! lease with one CAS on the gauge. It goes to the locked path when the host has waiters
//! (they are served first come first served), when nothing has room, or when the
//! transport is closed.
//! A return is one CAS too; the gauge sends it to the locked path for everything the
//! state machine must act on (see `proto::gauge`).
//!
//! Every lease, whether the lane or the locked path took it, is a [`Lease`]: the guard a
//! caller of `get` holds, one `Arc` of the connection's [`LaneEntry`], whose drop is the
//! return above.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Instant;

use foldhash::fast::RandomState;

use super::inner::Inner;
use super::proto::{ConnId, Gauge, HasGauge, HostAtomics, Use, lane_choice, nanos};
use super::rt::{self, AtomicUsize, RwLock};
use crate::options::Placement;
use crate::types::Outcome;
use crate::{Connection, Dialer};

/// One admitted connection as the lane and its leases see it. A lease holds one `Arc` of
/// it and nothing else (each `Arc` is an atomic add and subtract per lease).
pub(super) struct LaneEntry<D: Dialer> {
    pub(super) id: ConnId,
    pub(super) addr: SocketAddr,
    pub(super) conn: Arc<D::Conn>,
    pub(super) gauge: Arc<Gauge>,
    /// The pool, for the returns the state machine decides (weak: the pool owns its
    /// entries; a lease outliving every `Pool` handle returns to nothing).
    pool: Weak<Inner<D>>,
    /// What a lane return reads of the pool.
    shared: Arc<LaneShared>,
}

impl<D: Dialer> HasGauge for Arc<LaneEntry<D>> {
    fn gauge(&self) -> &Gauge {
        &self.gauge
    }
}

/// The pool's facts a lane return needs, read without the pool lock.
struct LaneShared {
    /// Connections in the pool: a lane return may leave a connection idle only while
    /// there are no more than `max_idle_conns` (so the idle count cannot pass the limit).
    open: AtomicUsize,
    max_idle_conns: usize,
    /// The state machine's epoch: gauge timestamps count from it.
    epoch: Instant,
}

impl<D: Dialer> LaneEntry<D> {
    /// Returns a lease: by the lane (one CAS on the gauge) when the state machine has
    /// nothing to decide, else under the pool lock.
    pub(super) fn release(&self, outcome: Outcome, capacity: usize) {
        // Errors count toward `max_errors`, broken connections leave: the core decides.
        if matches!(outcome, Outcome::Success | Outcome::Unused) {
            let (shared, used) = (&self.shared, Use::from(outcome));
            let at = nanos(rt::now().saturating_duration_since(shared.epoch));
            let to_zero = shared.open.load(Ordering::Relaxed) <= shared.max_idle_conns;
            let capacity = capacity.min(u32::MAX as usize) as u32;
            if self.gauge.try_return(capacity, at, used, to_zero) {
                if self.gauge.leases() == 0 {
                    // Left idle: the next spread lease looks here first.
                    let hint = &self.gauge.host().idle_hint;
                    hint.store(self.id.to_bits(), Ordering::Relaxed);
                }
                // The count went down before this read (both SeqCst): a waiter counted
                // after it re-scans and finds the lease; one counted before is served here.
                if self.gauge.host_has_waiters() {
                    if let Some(inner) = self.pool.upgrade() {
                        let mut locked = inner.lock();
                        locked.core.handle_returned(self.id);
                        inner.after(locked);
                    }
                }
                return;
            }
        }
        if let Some(inner) = self.pool.upgrade() {
            inner.release(self.id, outcome, capacity);
        }
    }
}

/// A lease on a pooled connection: dereferences to the connection, and returns it to the
/// pool when dropped — also when dropped while unwinding from a panic.
///
/// The outcome reported decides what the pool does with the connection: success (the
/// default) counts as a health check, an error counts toward `max_errors`, broken removes
/// it. A lease dropped while panicking counts as an error.
///
/// A lease does not keep the pool alive: with every [`Pool`](crate::Pool) handle dropped,
/// the leased connection lives on until the lease is dropped, and its return goes nowhere.
pub struct Lease<D: Dialer> {
    entry: Arc<LaneEntry<D>>,
    outcome: Option<Outcome>,
}

impl<D: Dialer> Lease<D> {
    pub(super) fn new(entry: Arc<LaneEntry<D>>) -> Self {
        Self {
            entry,
            outcome: None,
        }
    }

    /// The leased connection.
    pub fn conn(&self) -> &D::Conn {
        &self.entry.conn
    }

    /// A shared handle to the leased connection (outliving the lease is allowed, but the
    /// pool may close it once the lease is returned).
    pub fn conn_arc(&self) -> Arc<D::Conn> {
        self.entry.conn.clone()
    }

    /// The address the connection is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.entry.addr
    }

    /// The pool's id of the connection.
    pub fn conn_id(&self) -> ConnId {
        self.entry.id
    }

    /// Reports that the work done on the lease succeeded (the default).
    pub fn report_success(&mut self) {
        self.outcome = Some(Outcome::Success);
    }

    /// Reports that the work failed; counts toward the connection's `max_errors`.
    pub fn report_error(&mut self) {
        self.outcome = Some(Outcome::Error);
    }

    /// Reports that the connection is unusable: the pool removes it.
    pub fn mark_broken(&mut self) {
        self.outcome = Some(Outcome::Broken);
    }

    /// Reports that no work was done on the lease.
    pub fn report_unused(&mut self) {
        self.outcome = Some(Outcome::Unused);
    }
}

impl<D: Dialer> Deref for Lease<D> {
    type Target = D::Conn;

    fn deref(&self) -> &D::Conn {
        &self.entry.conn
    }
}

impl<D: Dialer> Drop for Lease<D> {
    fn drop(&mut self) {
        let outcome = match self.outcome {
            _ if self.entry.conn.is_closed() => Outcome::Broken,
            Some(outcome) => outcome,
            None if std::thread::panicking() => Outcome::Error,
            None => Outcome::Success,
        };
        self.entry.release(outcome, self.entry.conn.capacity());
    }
}

impl<D: Dialer> std::fmt::Debug for Lease<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("conn", &self.entry.id)
            .field("addr", &self.entry.addr)
            .finish()
    }
}

/// One host's connections, and where each is in the list.
struct HostLane<D: Dialer> {
    conns: Vec<Arc<LaneEntry<D>>>,
    positions: HashMap<ConnId, usize>,
}

impl<D: Dialer> Default for HostLane<D> {
    fn default() -> Self {
        Self {
            conns: Vec::new(),
            positions: HashMap::new(),
        }
    }
}

/// The lane of one pool.
pub(super) struct Lane<D: Dialer> {
    /// By host name, hashed with a seeded fast hasher (`foldhash`): names may come from
    /// crawled pages, so not an unseeded one.
    hosts: RwLock<HashMap<Arc<str>, HostLane<D>, RandomState>>,
    shared: Arc<LaneShared>,
    placement: Placement,
}

impl<D: Dialer> Lane<D> {
    pub(super) fn new(max_idle_conns: usize, placement: Placement, epoch: Instant) -> Self {
        Self {
            hosts: RwLock::new(HashMap::with_hasher(RandomState::default())),
            shared: Arc::new(LaneShared {
                open: AtomicUsize::new(0),
                max_idle_conns,
                epoch,
            }),
            placement,
        }
    }

    /// The entry of a connection the core just admitted (`pool` is its own pool).
    pub(super) fn entry(
        &self,
        pool: &Arc<Inner<D>>,
        id: ConnId,
        addr: SocketAddr,
        conn: Arc<D::Conn>,
        gauge: Arc<Gauge>,
    ) -> Arc<LaneEntry<D>> {
        Arc::new(LaneEntry {
            id,
            addr,
            conn,
            gauge,
            pool: Arc::downgrade(pool),
            shared: self.shared.clone(),
        })
    }

    /// Adds a connection the core admitted (called under the pool lock).
    pub(super) fn admit(&self, host: &Arc<str>, entry: Arc<LaneEntry<D>>) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        let lane = hosts.entry(host.clone()).or_default();
        lane.positions.insert(entry.id, lane.conns.len());
        lane.conns.push(entry);
        self.shared.open.fetch_add(1, Ordering::SeqCst);
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
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// A lease on the connection a return last left idle, if it still is (O(1)).
    fn hinted(&self, lane: &HostLane<D>, host: &HostAtomics) -> Option<Arc<LaneEntry<D>>> {
        let hint = host.idle_hint.load(Ordering::Relaxed);
        if hint == u64::MAX {
            return None;
        }
        let c = lane
            .conns
            .get(*lane.positions.get(&ConnId::from_bits(hint))?)?;
        (c.gauge.room_below(1).is_some() && !c.conn.is_closed() && c.gauge.try_acquire(1))
            .then(|| c.clone())
    }

    /// A lease on an open connection of `host` with room, if the lane can take one.
    pub(super) fn try_lease(&self, host: &str) -> Option<Arc<LaneEntry<D>>> {
        let hosts = self.hosts.read().ok()?;
        let lane = hosts.get(host)?;
        let first = lane.conns.first()?;
        if first.gauge.host_has_waiters() {
            return None; // first come first served: the locked path queues behind them
        }
        let (candidates, limit) = lane_choice(&lane.conns, self.placement, rt::random())?;
        for c in candidates.into_iter().flatten() {
            if c.conn.is_closed() {
                return None; // the locked path takes it out of service
            }
            if c.gauge.try_acquire(limit) {
                return Some(c.clone());
            }
        }
        // The choice missed (two random ones busy among many): the one a return last left
        // idle, before the locked scan. Not first: with idle ones to spare, the choice
        // spreads leases over every connection (each stays warm), where the hint would
        // reuse the most recently returned one.
        if self.placement == Placement::Spread {
            return self.hinted(lane, first.gauge.host());
        }
        None
    }
}
