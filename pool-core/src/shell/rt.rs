//! The shell's runtime and sync primitives, in one place, so a model checker can run the
//! real [`Pool`](super::Pool).
//!
//! Normally these are std's and tokio's. Built with `--cfg hotpool_shuttle` (see
//! `pool-core/tests/shuttle.rs`), they are shuttle's, and shuttle's scheduler interleaves the
//! shell at every lock, atomic, spawn and yield:
//!
//! | primitive | normally | under `hotpool_shuttle` |
//! |---|---|---|
//! | [`Mutex`], [`RwLock`], the atomics (from `crate::sync`) | `std::sync` | `shuttle::sync` |
//! | [`spawn`], [`TaskSet`] | `tokio::spawn`, `tokio::task::JoinSet` | `shuttle::future::spawn` |
//! | [`now`] | `tokio::time::Instant::now()` (follows a paused test clock) | a frozen instant |
//! | [`random`] | a per-thread xorshift (the fast lane's choice) | shuttle's seeded rng |
//! | [`sleep_until`] | `tokio::time::sleep_until` | done at once if due, else never (time stands still) |
//! | [`timeout`] | `tokio::time::timeout` | fires after 0, 1 or 2 scheduling steps, or never: shuttle's seeded rng chooses |
//!
//! tokio's `Notify`, `oneshot` and `watch` are executor-agnostic and stay as they are in
//! both builds: they wake shuttle's tasks through their wakers, but shuttle cannot
//! interleave *inside* them (their internal locks are never contended under shuttle's one
//! running task at a time), only at the shell's own points around them.
//!
//! Differences of the shuttle build, by design: time never advances, so only the checkout
//! timeout (the one timer that races grants) fires, by schedule choice; and shuttle 0.8's
//! `abort` detaches a task instead of cancelling it, so an aborted dial runs on and reports.

use std::future::Future;
use std::time::{Duration, Instant};

/// A timer ran out before the future completed.
#[derive(Debug)]
pub(crate) struct Elapsed;

#[cfg(not(hotpool_shuttle))]
mod imp {
    use super::*;

    pub(crate) use tokio::task::AbortHandle;

    /// Spawns a detached task; the handle aborts it.
    pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> AbortHandle {
        tokio::spawn(task).abort_handle()
    }

    std::thread_local! {
        static RANDOM: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// A fast per-thread pseudo-random number (xorshift64*), for the lane's choice.
    pub(crate) fn random() -> u64 {
        RANDOM.with(|state| {
            let mut x = state.get();
            if x == 0 {
                // Seeded from the thread-local's own address: distinct per thread, never 0.
                x = (state as *const std::cell::Cell<u64> as u64) | 1;
            }
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.set(x);
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        })
    }

    /// The current time (tokio's clock, so a paused test clock applies).
    pub(crate) fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Completes at `deadline`.
    pub(crate) async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
    }

    /// `future`'s output, or [`Elapsed`] if `limit` passes first.
    pub(crate) async fn timeout<F: Future>(
        limit: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(limit, future)
            .await
            .map_err(|_| Elapsed)
    }

    /// Tasks whose results are collected in completion order; dropping the set aborts them.
    pub(crate) struct TaskSet<T>(tokio::task::JoinSet<T>);

    impl<T: Send + 'static> TaskSet<T> {
        pub(crate) fn new() -> Self {
            Self(tokio::task::JoinSet::new())
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }

        pub(crate) fn spawn(&mut self, task: impl Future<Output = T> + Send + 'static) {
            self.0.spawn(task);
        }

        /// The next result (`Err` with the reason if the task panicked); `None` when empty.
        pub(crate) async fn join_next(&mut self) -> Option<Result<T, String>> {
            let joined = self.0.join_next().await?;
            Some(joined.map_err(|error| error.to_string()))
        }
    }
}

#[cfg(hotpool_shuttle)]
mod imp {
    use super::*;
    use std::pin::{Pin, pin};
    use std::sync::OnceLock;
    use std::task::Poll;

    use shuttle::rand::Rng;

    pub(crate) use shuttle::future::AbortHandle;

    /// Spawns a task; the handle aborts (in shuttle 0.8: detaches) it. The join handle is
    /// kept alive (leaked) so the task stays attached: shuttle then reports it as a deadlock
    /// if it can never finish, and a shuttle whose `abort` really cancels would not cancel
    /// it when the handle goes.
    pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> AbortHandle {
        let handle = shuttle::future::spawn(task);
        let abort = handle.abort_handle();
        std::mem::forget(handle);
        abort
    }

    /// Shuttle's seeded rng: a failing schedule replays with the same choices.
    pub(crate) fn random() -> u64 {
        shuttle::rand::thread_rng().r#gen::<u64>()
    }

    /// A frozen instant: time does not advance under the model checker.
    pub(crate) fn now() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// Done at once (after a yield) if `deadline` is due; else never, as time stands still.
    pub(crate) async fn sleep_until(deadline: Instant) {
        if deadline <= now() {
            shuttle::future::yield_now().await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// `future`'s output, or [`Elapsed`] after 0, 1 or 2 polls that found it pending — or
    /// never: shuttle's seeded rng chooses, so the schedule decides whether the timer or
    /// the future wins. The length of `limit` plays no part.
    pub(crate) async fn timeout<F: Future>(
        _limit: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        let mut fires_after = match shuttle::rand::thread_rng().gen_range(0..4u32) {
            3 => None,
            steps => Some(steps),
        };
        let mut future = pin!(future);
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            match &mut fires_after {
                None => Poll::Pending,
                Some(0) => Poll::Ready(Err(Elapsed)),
                Some(steps) => {
                    *steps -= 1;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Tasks whose results are collected in completion order; dropping the set aborts them.
    pub(crate) struct TaskSet<T>(Vec<shuttle::future::JoinHandle<T>>);

    impl<T: Send + 'static> TaskSet<T> {
        pub(crate) fn new() -> Self {
            Self(Vec::new())
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }

        pub(crate) fn spawn(&mut self, task: impl Future<Output = T> + Send + 'static) {
            self.0.push(shuttle::future::spawn(task));
        }

        /// The next result (`Err` with the reason if the task failed); `None` when empty.
        pub(crate) async fn join_next(&mut self) -> Option<Result<T, String>> {
            std::future::poll_fn(|cx| {
                if self.0.is_empty() {
                    return Poll::Ready(None);
                }
                for index in 0..self.0.len() {
                    if let Poll::Ready(joined) = Pin::new(&mut self.0[index]).poll(cx) {
                        self.0.swap_remove(index);
                        return Poll::Ready(Some(joined.map_err(|error| error.to_string())));
                    }
                }
                Poll::Pending
            })
            .await
        }
    }
}

pub(crate) use crate::sync::*;
pub(crate) use imp::*;

/// The time since `started`, on the shell's clock.
pub(crate) fn elapsed(started: Instant) -> Duration {
    now().saturating_duration_since(started)
}
