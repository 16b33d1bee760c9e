//! The memory-pressure task: while `memory_limit` is set, reads the process's resident
//! memory every `memory_check_interval` from a [`MemorySource`] and hands each reading to
//! the state machine ([`PoolState::handle_memory_reading`](crate::proto::PoolState::handle_memory_reading)),
//! which decides what to shed. It holds the pool only weakly and ends with it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::counter;

use super::inner::Inner;
use super::rt;
use crate::Dialer;
use crate::memory::MemorySource;
use crate::metrics::SHED_TOTAL;
use crate::proto::Pressure;

/// Spawns the pressure task of `inner` when `interval` is set (`memory_limit` is on).
pub(super) fn start<D: Dialer>(
    inner: &Arc<Inner<D>>,
    interval: Option<Duration>,
    source: Arc<dyn MemorySource>,
) {
    if let Some(interval) = interval {
        let _detached = rt::spawn(watch(Arc::downgrade(inner), interval, source));
    }
}

async fn watch<D: Dialer>(pool: Weak<Inner<D>>, interval: Duration, source: Arc<dyn MemorySource>) {
    let shed_total = counter!(SHED_TOTAL);
    let mut next = rt::now();
    loop {
        next += interval;
        rt::sleep_until(next).await;
        let Some(inner) = pool.upgrade() else { return };
        if inner.signals.stopped.load(Ordering::Acquire) {
            return;
        }
        let Some(resident) = source.resident_bytes() else {
            continue;
        };
        let mut shared = inner.lock();
        let pressure = shared.core.handle_memory_reading(resident, rt::now());
        inner.after(shared);
        if let Pressure::Shedding { closed, .. } = pressure {
            shed_total.increment(closed as u64);
        }
        // A tick that fell far behind (a suspended process) does not fire in a burst.
        next = next.max(rt::now());
    }
}
