//! The adaptive HTTP/2 receive window: a bandwidth-delay product (BDP) measured with
//! PINGs while response data flows, and the windows grown from it.
//!
//! - [`Estimator`] is the pure rule (no IO, no clock): fed the bytes received during one
//!   PING round trip and that round trip's time, it says when the window grows and to what.
//! - [`WindowState`] is what a connection's response bodies and its driver share: the
//!   bytes read since the last sample, and the windows in force (read by
//!   [`H2Session::receive_window`](crate::H2Session::receive_window)).
//! - [`Sampler`] runs in the connection's driver task: it sends the BDP PING on the
//!   connection's one PING handle (shared with health probes, see below), reads its answer
//!   and feeds the estimator.
//!
//! The idea is hyper's (`hyper/src/proto/h2/ping.rs`): bytes received in one round trip
//! approach the window when the window, not the path, is the bound; then the window
//! doubles. The code is this crate's own.
//!
//! ## One PING handle, two users
//! h2 gives one `PingPong` per connection and allows one user PING outstanding. The health
//! probe ([`h2_ping`](crate::h2_ping)) and the sampler share it through the session's
//! mutex: the sampler only *tries* the lock (never waits: a probe in progress means this
//! sample is skipped) and holds it for one round trip; a probe that comes meanwhile waits
//! that round trip, within its own timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::ping::H2LikePing;
use crate::windows::{H2Windows, ReceiveWindow};

/// The wait before the next sample once the window looks stable, at first.
const STABLE_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between samples.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// The BDP rule: the window grows when a round trip's bytes reach two thirds of it.
#[derive(Clone, Debug)]
pub struct Estimator {
    window: u32,
    cap: u32,
    /// The smallest round trip seen, seconds (0 before the first sample): the path's own
    /// delay, without the queueing that a PING answer waiting behind data adds.
    min_rtt: f64,
    /// The highest bandwidth seen, bytes per second.
    max_bandwidth: f64,
    /// Samples in a row that did not grow the window.
    stable: u32,
    /// Wait before the next sample.
    delay: Duration,
}

impl Estimator {
    /// Starts at `window`, grows up to `cap` (or never, if `window >= cap`).
    pub fn new(window: u32, cap: u32) -> Self {
        Self {
            window,
            cap,
            min_rtt: 0.0,
            max_bandwidth: 0.0,
            stable: 0,
            delay: Duration::ZERO,
        }
    }

    /// The window now.
    #[cfg(test)]
    pub fn window(&self) -> u32 {
        self.window
    }

    /// Folds in a round trip measured elsewhere (the dial's PING, a probe's on an idle
    /// connection: the path's delay without queueing).
    pub fn observe_rtt(&mut self, rtt: Duration) {
        let rtt = rtt.as_secs_f64().max(1e-6);
        self.min_rtt = if self.min_rtt == 0.0 {
            rtt
        } else {
            self.min_rtt.min(rtt)
        };
    }

    /// How long to wait before the next sample: none while the window grows, then longer
    /// (×4 every two stable samples, up to 10 s) while it holds.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// One sample: `bytes` read over `elapsed` (from the first of them to the answer of a
    /// PING sent meanwhile, so at least one round trip), that PING's round trip `rtt`.
    /// The BDP is the bandwidth seen times the smallest round trip seen; when it reaches
    /// two thirds of the window, the window is the bound: it grows to twice the BDP, at
    /// most the cap. Returns the new window when it grew.
    ///
    /// The minimum, not hyper's smoothed RTT: a PING's answer queues behind the data in
    /// the socket buffers, so on a fast path its round trip is mostly queueing, and a
    /// smoothed RTT grew loopback windows to 5-7 MiB for nothing (`docs/h2-windows.md`).
    pub fn sample(&mut self, bytes: u64, elapsed: Duration, rtt: Duration) -> Option<u32> {
        if self.window >= self.cap {
            self.settle();
            return None;
        }
        self.observe_rtt(rtt);
        let rtt = rtt.as_secs_f64().max(1e-6);
        let bandwidth = bytes as f64 / elapsed.as_secs_f64().max(rtt);
        // Slower than the best seen: says nothing new about the path.
        if bandwidth < self.max_bandwidth {
            self.settle();
            return None;
        }
        self.max_bandwidth = bandwidth;
        let bdp = bandwidth * self.min_rtt;
        if bdp * 3.0 < f64::from(self.window) * 2.0 {
            self.settle();
            return None;
        }
        // `as` saturates; the cap bounds it anyway.
        let grown = ((bdp * 2.0) as u64).min(u64::from(self.cap));
        let grown = u32::try_from(grown).unwrap_or(self.cap).max(self.window);
        if grown == self.window {
            self.settle();
            return None;
        }
        self.window = grown;
        self.stable = 0;
        self.delay = Duration::ZERO;
        Some(grown)
    }

    fn settle(&mut self) {
        self.stable += 1;
        if self.stable >= 2 {
            self.stable = 0;
            self.delay = (self.delay * 4).clamp(STABLE_DELAY, MAX_DELAY);
        }
    }
}

/// What a connection's response bodies and its driver share.
#[derive(Debug)]
pub struct WindowState {
    /// Response bytes read since the sampler last took them.
    bytes: AtomicU64,
    /// When the first of them was read: nanoseconds after `epoch`.
    first_at: AtomicU64,
    /// The smallest PING round trip of the connection's other PINGs (the dial's, probes'),
    /// nanoseconds; `u64::MAX` before the first.
    min_rtt: AtomicU64,
    epoch: Instant,
    stream: AtomicU32,
    connection: AtomicU32,
}

impl WindowState {
    /// The state of a connection that starts with `windows`.
    pub fn new(windows: H2Windows) -> Self {
        Self {
            bytes: AtomicU64::new(0),
            first_at: AtomicU64::new(0),
            min_rtt: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            stream: AtomicU32::new(windows.stream),
            connection: AtomicU32::new(windows.connection),
        }
    }

    /// A response body read `n` bytes.
    pub fn record(&self, n: usize) {
        if self.bytes.fetch_add(n as u64, Ordering::Relaxed) == 0 {
            let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.first_at.store(nanos, Ordering::Relaxed);
        }
    }

    /// A PING of the connection (not the sampler's) took `rtt`.
    pub fn observe_rtt(&self, rtt: Duration) {
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        self.min_rtt.fetch_min(nanos, Ordering::Relaxed);
    }

    fn min_rtt(&self) -> Option<Duration> {
        let nanos = self.min_rtt.load(Ordering::Relaxed);
        (nanos != u64::MAX).then(|| Duration::from_nanos(nanos))
    }

    /// The bytes read since the last call, and when the first of them was.
    fn take(&self) -> (u64, Instant) {
        let bytes = self.bytes.swap(0, Ordering::Relaxed);
        let first = self.epoch + Duration::from_nanos(self.first_at.load(Ordering::Relaxed));
        (bytes, first)
    }

    /// The windows in force.
    pub fn windows(&self) -> ReceiveWindow {
        ReceiveWindow {
            stream: self.stream.load(Ordering::Relaxed),
            connection: self.connection.load(Ordering::Relaxed),
        }
    }
}

/// New windows for the connection to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grown {
    /// The new `SETTINGS_INITIAL_WINDOW_SIZE`.
    pub stream: u32,
    /// The new connection window target.
    pub connection: u32,
}

/// The BDP sampler of one connection, polled by its driver before the connection itself.
pub struct Sampler<P> {
    slot: Arc<Mutex<Option<P>>>,
    state: Arc<WindowState>,
    configured: H2Windows,
    estimator: Estimator,
    /// The PING handle held while a BDP PING is out, and when it was sent.
    outstanding: Option<(OwnedMutexGuard<Option<P>>, Instant)>,
    next_at: Instant,
    /// False once the PING handle failed or is gone: no more samples.
    enabled: bool,
}

impl<P: H2LikePing> Sampler<P> {
    /// A sampler on the connection's PING `slot` (shared with probes), recording into
    /// `state`, starting from the `configured` windows.
    pub fn new(
        slot: Arc<Mutex<Option<P>>>,
        state: Arc<WindowState>,
        configured: H2Windows,
    ) -> Self {
        let cap = H2Windows::ADAPTIVE_CAP.max(configured.stream);
        Self {
            slot,
            state,
            configured,
            estimator: Estimator::new(configured.stream, cap),
            outstanding: None,
            next_at: Instant::now(),
            enabled: true,
        }
    }

    /// Sends a BDP PING when response data is flowing (bytes were read since the last
    /// answer) and the handle is free; takes its answer, the sample being the bytes read
    /// from the first after the previous answer until this one (a window-limited flow
    /// reads one window per round trip, whichever side of the PING it lands on). Returns the windows to apply when the estimate grew. Call before polling
    /// the connection (which flushes the PING and reads the answer, waking this task).
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Option<Grown> {
        if !self.enabled {
            return None;
        }
        let Some((guard, sent)) = self.outstanding.as_mut() else {
            self.maybe_send();
            return None;
        };
        let Some(ping) = guard.as_mut() else {
            self.enabled = false;
            self.outstanding = None;
            return None;
        };
        match ping.poll_pong(cx) {
            Poll::Pending => None,
            Poll::Ready(Err(_)) => {
                self.enabled = false;
                self.outstanding = None;
                None
            }
            Poll::Ready(Ok(())) => {
                let now = Instant::now();
                let rtt = now - *sent;
                self.outstanding = None;
                // Bytes since the last answer: those read from the first of them (before
                // the PING went out) to now, at least this round trip.
                let (bytes, first) = self.state.take();
                let elapsed = now.saturating_duration_since(first).max(rtt);
                if let Some(idle_rtt) = self.state.min_rtt() {
                    self.estimator.observe_rtt(idle_rtt);
                }
                let grown = self.estimator.sample(bytes, elapsed, rtt);
                self.next_at = Instant::now() + self.estimator.delay();
                grown.map(|window| self.apply(window))
            }
        }
    }

    fn maybe_send(&mut self) {
        if Instant::now() < self.next_at || self.state.bytes.load(Ordering::Relaxed) == 0 {
            return;
        }
        // A probe holds the handle: skip, the next data will try again.
        let Ok(mut guard) = self.slot.clone().try_lock_owned() else {
            return;
        };
        let Some(ping) = guard.as_mut() else {
            self.enabled = false;
            return;
        };
        if ping.send_ping().is_err() {
            // A PING is still out (a probe gave up waiting for it): take its answer if it
            // came, so the handle is free for the next try.
            let mut noop = Context::from_waker(std::task::Waker::noop());
            let _ = ping.poll_pong(&mut noop);
            self.next_at = Instant::now() + STABLE_DELAY;
            return;
        }
        self.outstanding = Some((guard, Instant::now()));
    }

    fn apply(&self, window: u32) -> Grown {
        let grown = Grown {
            stream: window.max(self.configured.stream),
            connection: window.max(self.configured.connection),
        };
        self.state.stream.store(grown.stream, Ordering::Relaxed);
        self.state
            .connection
            .store(grown.connection, Ordering::Relaxed);
        tracing::debug!(
            stream = grown.stream,
            connection = grown.connection,
            "HTTP/2 receive windows grown from the measured bandwidth-delay product"
        );
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u32 = 1 << 20;
    const RTT: Duration = Duration::from_millis(50);

    #[test]
    fn a_full_window_per_round_trip_doubles_it() {
        let mut e = Estimator::new(64 * 1024, 16 * MIB);
        assert_eq!(e.sample(64 * KIB, RTT, RTT), Some(128 * 1024));
        assert_eq!(e.sample(128 * KIB, RTT, RTT), Some(256 * 1024));
        assert_eq!(e.window(), 256 * 1024);
        assert_eq!(e.delay(), Duration::ZERO, "keeps sampling while it grows");
    }

    #[test]
    fn two_thirds_of_the_window_is_the_threshold() {
        let mut e = Estimator::new(90 * 1024, 16 * MIB);
        assert_eq!(
            e.sample(59 * KIB, RTT, RTT),
            None,
            "under 2/3: the path is the bound"
        );
        assert_eq!(e.window(), 90 * 1024);
        let mut e = Estimator::new(90 * 1024, 16 * MIB);
        assert_eq!(e.sample(60 * KIB, RTT, RTT), Some(120 * 1024));
    }

    #[test]
    fn growth_stops_at_the_cap() {
        let mut e = Estimator::new(4 * MIB, 16 * MIB);
        let mut window = e.window();
        for _ in 0..10 {
            if let Some(w) = e.sample(u64::from(window), RTT, RTT) {
                window = w;
            }
        }
        assert_eq!(window, 16 * MIB);
        assert_eq!(e.sample(u64::from(window), RTT, RTT), None);
        assert_eq!(e.window(), 16 * MIB);
    }

    #[test]
    fn a_jump_past_the_cap_is_capped() {
        let mut e = Estimator::new(64 * 1024, 16 * MIB);
        assert_eq!(e.sample(100 * u64::from(MIB), RTT, RTT), Some(16 * MIB));
    }

    #[test]
    fn a_window_at_or_above_the_cap_never_changes() {
        let mut e = Estimator::new(32 * MIB, 16 * MIB);
        assert_eq!(e.sample(32 * u64::from(MIB), RTT, RTT), None);
        assert_eq!(e.window(), 32 * MIB);
    }

    #[test]
    fn a_slower_round_trip_than_the_best_does_not_grow_it() {
        let mut e = Estimator::new(64 * 1024, 16 * MIB);
        assert_eq!(e.sample(64 * KIB, RTT, RTT), Some(128 * 1024));
        // The same bytes over a far longer round trip: a lower bandwidth than seen.
        assert_eq!(
            e.sample(100 * KIB, Duration::from_secs(5), Duration::from_secs(5)),
            None
        );
        assert_eq!(e.window(), 128 * 1024);
    }

    #[test]
    fn idle_or_light_traffic_backs_the_samples_off() {
        let mut e = Estimator::new(2 * MIB, 16 * MIB);
        assert_eq!(e.sample(KIB, RTT, RTT), None);
        assert_eq!(e.delay(), Duration::ZERO);
        assert_eq!(e.sample(KIB, RTT, RTT), None);
        assert_eq!(e.delay(), STABLE_DELAY);
        for _ in 0..20 {
            e.sample(0, RTT, RTT);
        }
        assert_eq!(e.delay(), MAX_DELAY);
        assert_eq!(e.window(), 2 * MIB, "light traffic never grows it");
    }

    #[test]
    fn the_window_never_shrinks() {
        let mut e = Estimator::new(MIB, 16 * MIB);
        assert_eq!(e.sample(u64::from(MIB), RTT, RTT), Some(2 * MIB));
        for bytes in [0, KIB, 512 * KIB] {
            e.sample(bytes, Duration::from_millis(10), Duration::from_millis(10));
            assert!(e.window() >= 2 * MIB);
        }
    }

    #[test]
    fn queueing_delay_is_not_path_delay() {
        // A 100 µs path: the first answer came quickly.
        let mut e = Estimator::new(64 * 1024, 16 * MIB);
        let fast = Duration::from_micros(100);
        assert_eq!(e.sample(KIB, fast, fast), None);
        // 2 MiB read while a PING answer queued 10 ms behind them: 200 MB/s over a 100 µs
        // path is a BDP of 20 KiB, not 2 MiB.
        let queued = Duration::from_millis(10);
        assert_eq!(e.sample(2048 * KIB, queued, queued), None);
        assert_eq!(e.window(), 64 * 1024);
    }

    #[test]
    fn bytes_over_a_long_interval_are_a_rate_not_a_window() {
        // 1 MiB over a second at 50 ms: 52 KiB per round trip, under 2/3 of 128 KiB.
        let mut e = Estimator::new(128 * 1024, 16 * MIB);
        assert_eq!(e.sample(1024 * KIB, Duration::from_secs(1), RTT), None);
        // The same MiB within one 100 ms round trip is a BDP of 1 MiB: doubled.
        let mut e = Estimator::new(128 * 1024, 16 * MIB);
        let rtt = Duration::from_millis(100);
        assert_eq!(e.sample(1024 * KIB, rtt, rtt), Some(2 * MIB));
    }
}
