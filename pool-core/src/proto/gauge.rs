//! A connection's lease gauge: the one count of its leases, shared by the state machine
//! (which owns the connection's lifecycle) and the shell's lease fast lane (which leases
//! and returns it without the pool lock).
//!
//! One atomic word holds the leases in flight, the capacity and two flags, so every
//! decision about the count is one compare-and-swap:
//!
//! | bits | meaning |
//! |---|---|
//! | 0–31 | leases in flight |
//! | 32–61 | capacity (clamped to 2³⁰ − 1) |
//! | 62 | `RETIRED`: draining or closing, never leased again |
//! | 63 | `PROBING`: held by a health probe, not leasable |
//!
//! The lane only ever changes an unflagged word: a lease is `n < capacity → n + 1`, a
//! return `n → n − 1` (not to zero while the pool is over `max_idle_conns`). Everything
//! that must see a flag, an error or the last return of a retired connection takes the
//! locked path, where the state machine acts on it. Closing an idle connection is a CAS
//! `0 → RETIRED` that a racing lease makes fail; a probe takes `0 → PROBING` the same way.
//!
//! Timestamps are nanoseconds since the state machine's epoch (its `Tick`); a return
//! writes them *before* its count goes down, so whoever sees the count at zero by a CAS
//! also sees the last use.

use std::sync::Arc;

use crate::sync::{AtomicU64, AtomicUsize};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

const LEASES: u64 = (1 << 32) - 1;
const CAP_SHIFT: u32 = 32;
const CAP_MAX: u64 = (1 << 30) - 1;
const CAPACITY: u64 = CAP_MAX << CAP_SHIFT;
const RETIRED: u64 = 1 << 62;
const PROBING: u64 = 1 << 63;
const FLAGS: u64 = RETIRED | PROBING;
const UNUSED_SHIFT: u32 = 40;
const UNUSED_ONE: u64 = 1 << UNUSED_SHIFT;
const USED: u64 = UNUSED_ONE - 1;

/// The shared lease count and use times of one pooled connection.
#[derive(Debug)]
pub(crate) struct Gauge {
    state: AtomicU64,
    last_used: AtomicU64,
    last_success: AtomicU64,
    /// Leases returned: those that did work in the low 40 bits, the unused ones above (one
    /// counter, so a return is one `fetch_add`; the leases ever taken are these plus the
    /// ones in flight). The unused count wraps after 2²⁴ per connection.
    returned: AtomicU64,
    /// Its host's shared atomics (waiters, idle hint).
    host: Arc<HostAtomics>,
}

/// A host's atomics that the shell's fast lane reads and writes without the pool lock.
#[derive(Debug, Default)]
pub(crate) struct HostAtomics {
    /// Its waiters (see `WaitQueue`): a lane return that sees it above zero serves them
    /// under the lock; a lane lease steps aside while it is.
    pub(crate) waiting: AtomicUsize,
    /// The id (`ConnId::to_bits`) of the connection a lane return last left idle, or
    /// `u64::MAX`: where the next `spread` lease looks first (an idle connection is a least
    /// loaded one), so exclusive connections under load are found in O(1). Only a hint:
    /// the lease's CAS decides.
    pub(crate) idle_hint: AtomicU64,
}

impl HostAtomics {
    pub(crate) fn new() -> Self {
        Self {
            waiting: AtomicUsize::new(0),
            idle_hint: AtomicU64::new(u64::MAX),
        }
    }
}

/// How a lease ended, as the gauge counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// Work was done and succeeded: counts a request and a success.
    Success,
    /// Work was done and failed: counts a request.
    Failed,
    /// No work was done.
    Unused,
}

impl From<crate::types::Outcome> for Use {
    fn from(outcome: crate::types::Outcome) -> Self {
        use crate::types::Outcome;
        match outcome {
            Outcome::Success => Use::Success,
            Outcome::Error | Outcome::Broken => Use::Failed,
            Outcome::Unused => Use::Unused,
        }
    }
}

fn leases(state: u64) -> u32 {
    (state & LEASES) as u32
}

fn capacity(state: u64) -> u32 {
    ((state & CAPACITY) >> CAP_SHIFT) as u32
}

fn with_capacity(state: u64, cap: u32) -> u64 {
    let cap = u64::from(cap).clamp(1, CAP_MAX);
    (state & !CAPACITY) | (cap << CAP_SHIFT)
}

impl Gauge {
    /// A gauge with no lease, `capacity`, last used at `now` (nanoseconds since the state
    /// machine's epoch), of the host whose atomics `host` are.
    pub(crate) fn new(capacity: u32, now: u64, host: Arc<HostAtomics>) -> Self {
        Self {
            state: AtomicU64::new(with_capacity(0, capacity)),
            last_used: AtomicU64::new(now),
            last_success: AtomicU64::new(now),
            returned: AtomicU64::new(0),
            host,
        }
    }

    /// Whether its host has waiters (read after a lane return lowered the count).
    pub(crate) fn host_has_waiters(&self) -> bool {
        self.host.waiting.load(SeqCst) > 0
    }

    /// Its host's atomics.
    pub(crate) fn host(&self) -> &HostAtomics {
        &self.host
    }

    /// Leases in flight.
    pub(crate) fn leases(&self) -> u32 {
        leases(self.state.load(SeqCst))
    }

    /// How many leases it may carry at once.
    pub(crate) fn capacity(&self) -> u32 {
        capacity(self.state.load(SeqCst))
    }

    /// Draining or closing: never leased again.
    #[cfg(test)]
    pub(crate) fn is_retired(&self) -> bool {
        self.state.load(SeqCst) & RETIRED != 0
    }

    /// Nothing holds it: no lease, no probe.
    pub(crate) fn is_unheld(&self) -> bool {
        self.state.load(SeqCst) & (LEASES | PROBING) == 0
    }

    /// The load a new lease would find, if one may be taken within `limit` leases (and the
    /// capacity), with no flag set.
    pub(crate) fn room_below(&self, limit: u32) -> Option<u32> {
        let state = self.state.load(SeqCst);
        let n = leases(state);
        (state & FLAGS == 0 && n < capacity(state).min(limit)).then_some(n)
    }

    /// Takes a lease if it has room below `limit` and no flag is set.
    pub(crate) fn try_acquire(&self, limit: u32) -> bool {
        let mut state = self.state.load(SeqCst);
        loop {
            let n = leases(state);
            if state & FLAGS != 0 || n >= capacity(state).min(limit) {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Writes a return's use times. Plain stores: they come before the return's CAS on the
    /// state word (a release), so whoever acquires the count it left also sees them; two
    /// racing returns may leave the earlier of their times, by nanoseconds.
    fn stamp_use(&self, at: u64, used: Use) {
        self.last_used.store(at, Relaxed);
        if used == Use::Success {
            self.last_success.store(at, Relaxed);
        }
    }

    fn count_return(&self, used: Use) {
        let unit = if used == Use::Unused { UNUSED_ONE } else { 1 };
        self.returned.fetch_add(unit, Relaxed);
    }

    /// The lane's return: writes the use and takes the count down, unless a flag is set,
    /// or it would reach zero and `to_zero` is false. False: nothing changed but the use
    /// times; the locked path must return it.
    pub(crate) fn try_return(&self, capacity: u32, at: u64, used: Use, to_zero: bool) -> bool {
        let unflagged = |state: u64| state & FLAGS == 0 && (to_zero || leases(state) > 1);
        self.take_down(capacity, at, used, unflagged).is_some()
    }

    /// The locked path's return (flags kept): the leases left, or `None` if it had none.
    pub(crate) fn give_back(&self, capacity: u32, at: u64, used: Use) -> Option<u32> {
        self.take_down(capacity, at, used, |_| true)
    }

    /// One return: the use written, then the count down by one (the capacity updated) if
    /// it has a lease and `allowed` says yes of the word; the leases left.
    fn take_down(
        &self,
        capacity: u32,
        at: u64,
        used: Use,
        allowed: impl Fn(u64) -> bool,
    ) -> Option<u32> {
        self.stamp_use(at, used);
        let mut state = self.state.load(SeqCst);
        loop {
            if leases(state) == 0 || !allowed(state) {
                return None;
            }
            let next = with_capacity(state - 1, capacity);
            match self
                .state
                .compare_exchange_weak(state, next, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        self.count_return(used);
        Some(leases(state) - 1)
    }

    /// Sets `RETIRED`; true if nothing held it (it may close now).
    pub(crate) fn retire(&self) -> bool {
        self.state.fetch_or(RETIRED, SeqCst) & (LEASES | PROBING) == 0
    }

    /// Retires it only if it is idle (no lease, no flag): the close of an idle connection,
    /// which a racing lease makes fail.
    pub(crate) fn try_retire_idle(&self) -> bool {
        self.try_flag_idle(RETIRED)
    }

    /// Undoes [`Gauge::try_retire_idle`] (its idle deadline turned out to have moved).
    pub(crate) fn unretire(&self) {
        self.state.fetch_and(!RETIRED, SeqCst);
    }

    /// Holds it for a probe only if it is idle.
    pub(crate) fn try_probe(&self) -> bool {
        self.try_flag_idle(PROBING)
    }

    /// Ends a probe's hold.
    pub(crate) fn end_probe(&self) {
        self.state.fetch_and(!PROBING, SeqCst);
    }

    fn try_flag_idle(&self, flag: u64) -> bool {
        let state = self.state.load(SeqCst);
        state & (LEASES | FLAGS) == 0
            && self
                .state
                .compare_exchange(state, state | flag, SeqCst, SeqCst)
                .is_ok()
    }

    /// When it was last returned (or made).
    pub(crate) fn last_used(&self) -> u64 {
        self.last_used.load(SeqCst)
    }

    /// When a lease on it last succeeded (or it was made).
    pub(crate) fn last_success(&self) -> u64 {
        self.last_success.load(SeqCst)
    }

    /// Leases ever taken on it (returned, and in flight).
    pub(crate) fn leases_total(&self) -> u64 {
        let returned = self.returned.load(Relaxed);
        (returned & USED) + (returned >> UNUSED_SHIFT) + u64::from(self.leases())
    }

    /// Leases returned that did work.
    pub(crate) fn requests(&self) -> u64 {
        self.returned.load(Relaxed) & USED
    }
}

#[cfg(all(test, not(hotpool_shuttle)))]
mod tests {
    use super::*;

    fn gauge(capacity: u32) -> Gauge {
        Gauge::new(capacity, 0, Arc::new(HostAtomics::new()))
    }

    #[test]
    fn a_lease_needs_room_and_no_flag() {
        let g = gauge(2);
        assert!(g.try_acquire(u32::MAX) && g.try_acquire(u32::MAX));
        assert!(!g.try_acquire(u32::MAX), "full");
        assert!(g.try_return(2, 5, Use::Success, true));
        assert!(!g.try_acquire(1), "a limit below the capacity counts");
        assert!(g.try_acquire(2));
        assert!(!g.retire(), "held: drains");
        assert!(g.is_retired());
        assert!(
            !g.try_return(2, 6, Use::Success, true),
            "retired: the locked path"
        );
        assert_eq!(g.give_back(2, 6, Use::Success), Some(1));
        assert_eq!(g.give_back(2, 7, Use::Unused), Some(0));
        assert_eq!(g.give_back(2, 7, Use::Unused), None, "never below zero");
        assert!(!g.try_acquire(u32::MAX), "retired");
        assert_eq!((g.leases_total(), g.requests(), g.last_used()), (3, 2, 7));
    }

    #[test]
    fn an_idle_close_or_probe_fails_while_leased() {
        let g = gauge(1);
        assert!(g.try_acquire(u32::MAX));
        assert!(!g.try_retire_idle() && !g.try_probe());
        assert!(
            !g.try_return(1, 1, Use::Unused, false),
            "not to zero: locked path"
        );
        assert!(g.try_return(1, 1, Use::Unused, true));
        assert!(g.try_probe());
        assert!(!g.try_acquire(u32::MAX) && !g.is_unheld(), "probing");
        g.end_probe();
        assert!(g.try_retire_idle());
        g.unretire();
        assert!(g.try_acquire(u32::MAX));
    }

    #[test]
    fn capacity_follows_returns_and_is_clamped() {
        let g = gauge(0);
        assert_eq!(g.capacity(), 1);
        assert!(g.try_acquire(u32::MAX));
        assert!(g.try_return(100, 1, Use::Success, true));
        assert_eq!((g.capacity(), g.leases()), (100, 0));
        assert_eq!(g.room_below(u32::MAX), Some(0));
        assert!(g.try_acquire(u32::MAX));
        assert_eq!(g.give_back(u32::MAX, 2, Use::Failed), Some(0));
        assert_eq!(g.capacity() as u64, CAP_MAX);
    }
}
