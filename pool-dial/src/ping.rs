//! HTTP/2 PING over an h2-like crate's PING handle ([`H2LikePing`]): [`h2_ping`], shared
//! by health probes and the adaptive window's sampler (`crate::bdp`), which makes the
//! crate forget the waiting task afterwards.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What [`h2_ping`] needs of an h2-like crate's PING handle.
pub trait H2LikePing {
    /// The crate's error.
    type Error;
    /// The error of a connection whose PING handle is gone (`INTERNAL_ERROR`).
    fn internal_error() -> Self::Error;
    /// Sends an opaque PING.
    fn send_ping(&mut self) -> Result<(), Self::Error>;
    /// The answer to the PING sent.
    fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>>;
}

/// Sends an HTTP/2 PING on `slot`'s handle and waits for its answer; returns the
/// round-trip time. h2 is made to forget the waiting task afterwards, also when the wait
/// is abandoned (a probe's timeout drops this future): see `ForgetPinger`.
pub async fn h2_ping<P: H2LikePing>(
    slot: &tokio::sync::Mutex<Option<P>>,
) -> Result<Duration, P::Error> {
    let mut guard = slot.lock().await;
    let Some(ping) = guard.as_mut() else {
        return Err(P::internal_error());
    };
    let started = Instant::now();
    let ping = ForgetPinger(ping);
    ping.0.send_ping()?;
    std::future::poll_fn(|cx| ping.0.poll_pong(cx)).await?;
    Ok(started.elapsed())
}

/// Makes h2 forget the task that waited for the last PING's answer, when dropped.
///
/// h2 0.4 (and its `http2` fork) registers the waiting task's waker on every poll of the
/// answer, the last one (which finds the answer) included, and keeps it until the next
/// PING. A waker holds its task's allocation alive, so without this every pooled
/// connection kept the finished *dial* task (≈ 7.5 KiB: the whole connect + TLS + h2
/// handshake future) for as long as it lived (`docs/idle-memory.md`). Polling once more
/// with a no-op waker replaces it; the answer was consumed, so the poll is `Pending` and
/// changes nothing else.
struct ForgetPinger<'a, P: H2LikePing>(&'a mut P);

impl<P: H2LikePing> Drop for ForgetPinger<'_, P> {
    fn drop(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = self.0.poll_pong(&mut cx);
    }
}
