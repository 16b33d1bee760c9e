//! The driver task: sleeps until the state machine's next deadline (or a wake-up), then
//! runs what is due and refreshes the gauges. It holds the pool only weakly.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::inner::{Inner, Signals};
use super::rt;
use crate::Dialer;

/// How often the driver refreshes the gauges even when nothing is due.
const GAUGE_REFRESH: Duration = Duration::from_secs(1);

/// Spawns the driver of `inner`.
pub(super) fn start<D: Dialer>(inner: &Arc<Inner<D>>) {
    let _detached = rt::spawn(drive(Arc::downgrade(inner), inner.signals.clone()));
}

async fn drive<D: Dialer>(pool: Weak<Inner<D>>, signals: Arc<Signals>) {
    // The gauges are refreshed at most once a `GAUGE_REFRESH`, not on every tick: a stats
    // snapshot sums every connection's lease gauge (O(connections)).
    let mut next_publish = rt::now();
    loop {
        if signals.stopped.load(Ordering::Acquire) {
            return;
        }
        let deadline = {
            let Some(inner) = pool.upgrade() else { return };
            inner.lock().core.poll_timeout()
        };
        let refresh = rt::now() + GAUGE_REFRESH;
        let wake_at = deadline.map_or(refresh, |d| d.min(refresh));
        tokio::select! {
            // Biased: no randomness of tokio's own, so a model-checked run is reproducible.
            biased;
            () = signals.woken() => {}
            () = rt::sleep_until(wake_at) => {}
        }
        let Some(inner) = pool.upgrade() else { return };
        let span = tracing::trace_span!("hotpool.cleanup");
        let _entered = span.enter();
        let mut shared = inner.lock();
        let now = rt::now();
        shared.core.handle_timeout(now);
        let stats = (now >= next_publish).then(|| shared.core.stats());
        inner.after(shared);
        if let Some(stats) = stats {
            inner.metrics.publish(&stats);
            next_publish = now + GAUGE_REFRESH;
        }
    }
}
