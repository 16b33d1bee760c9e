//! The one "wait until a condition holds" helper of the workspace's tests.
//!
//! [`eventually`] polls a condition until it holds or a deadline passes and then returns
//! [`TimedOut`], naming what was awaited; [`wait_for`] is the same and panics instead. Both
//! measure time with [`tokio::time`], so they work under real time and under
//! `tokio::time::pause` (where the runtime's auto-advance moves the clock while the test
//! waits). The local servers' `wait_until` methods use the same loop, woken early by their
//! counters' [`Notify`] as well as by the poll interval.

use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How often a condition is re-checked while waiting (a [`Notify`] may wake it sooner).
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// A condition did not hold before its deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {timeout:?} waiting for: {what}")]
pub struct TimedOut {
    /// What was awaited, as the caller named it.
    pub what: String,
    /// How long was waited.
    pub timeout: Duration,
}

/// Polls `cond` (first at once, then every [`POLL_INTERVAL`]) until it returns `true`, for
/// at most `timeout`; `cond` is checked once more at the deadline.
///
/// # Errors
/// [`TimedOut`] naming `what` when `cond` still fails at the deadline.
pub async fn eventually(
    what: &str,
    timeout: Duration,
    cond: impl FnMut() -> bool,
) -> Result<(), TimedOut> {
    if until(None, timeout, cond).await {
        Ok(())
    } else {
        Err(TimedOut {
            what: what.to_owned(),
            timeout,
        })
    }
}

/// [`eventually`], panicking with the [`TimedOut`] message when the deadline passes.
///
/// # Panics
/// When `cond` still fails after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    if let Err(e) = eventually(what, timeout, cond).await {
        panic!("{e}");
    }
}

/// The loop behind [`eventually`] and the servers' `wait_until`: re-checks `cond` every
/// [`POLL_INTERVAL`] and whenever `notify` (if any) fires, for at most `timeout`. Returns
/// the last value of `cond`.
pub(crate) async fn until(
    notify: Option<&Notify>,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        // Registered before the check, so a change between the check and the wait wakes us.
        let notified = notify.map(Notify::notified);
        tokio::pin!(notified);
        if let Some(n) = notified.as_mut().as_pin_mut() {
            n.enable();
        }
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let nap = tokio::time::sleep((deadline - now).min(POLL_INTERVAL));
        match notified.as_pin_mut() {
            Some(n) => {
                tokio::select! {
                    () = n => {}
                    () = nap => {}
                }
            }
            None => nap.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_under_a_paused_clock_once_a_timer_fires() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = Arc::clone(&flag);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            setter.store(true, Ordering::SeqCst);
        });
        let start = Instant::now();
        eventually("the flag", Duration::from_secs(10), || {
            flag.load(Ordering::SeqCst)
        })
        .await
        .expect("the flag is set at 3 s");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline_naming_what_was_awaited() {
        let start = Instant::now();
        let mut checks = 0u32;
        let err = eventually("the impossible", Duration::from_secs(2), || {
            checks += 1;
            false
        })
        .await
        .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(err.what, "the impossible");
        assert_eq!(
            err.to_string(),
            "timed out after 2s waiting for: the impossible"
        );
        // Checked at once, every 5 ms, and at the deadline.
        assert_eq!(checks, 2_000 / 5 + 1);
    }

    #[tokio::test]
    async fn holds_under_real_time_when_another_thread_sets_it() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = Arc::clone(&flag);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            setter.store(true, Ordering::SeqCst);
        });
        wait_for("the other thread", Duration::from_secs(10), || {
            flag.load(Ordering::SeqCst)
        })
        .await;
        thread.join().unwrap();
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 10ms waiting for: never")]
    async fn wait_for_panics_with_the_message() {
        wait_for("never", Duration::from_millis(10), || false).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_notify_wakes_the_wait_before_the_poll_interval() {
        let notify = Arc::new(Notify::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (n, f) = (Arc::clone(&notify), Arc::clone(&flag));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(100)).await;
            f.store(true, Ordering::SeqCst);
            n.notify_waiters();
        });
        let start = Instant::now();
        assert!(
            until(Some(&notify), Duration::from_secs(1), || flag
                .load(Ordering::SeqCst))
            .await
        );
        assert!(start.elapsed() < POLL_INTERVAL, "{:?}", start.elapsed());
    }
}
