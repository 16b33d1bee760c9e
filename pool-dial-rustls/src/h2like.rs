//! The HTTP/2 response path, written once for `h2` and for any crate with its shape (the
//! `http2` fork `pool-dial-boring` runs on): the streamed response body [`H2Body`], the
//! request-body pump ([`PumpGuard::spawn`]), the PING that makes h2 forget its waiter
//! ([`h2_ping`]) and the classification of h2 errors as `pool-http`'s
//! ([`request_error`], [`stream_error`]). The traits here are what that path needs of
//! the crate: `h2`'s types implement them below; `pool-dial-boring` implements them for
//! newtypes around `http2`'s (see `docs/h2like.md`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use http_body_util::BodyExt;
use pool_http::{BoxError, RequestError};
use tokio::task::AbortHandle;

use crate::bdp::WindowState;
use crate::goaway::GoAway;

/// What the response path needs of an h2-like crate's error.
pub trait H2LikeError {
    /// The HTTP/2 error code (RFC 9113 §7), if the error carries one.
    fn reason(&self) -> Option<u32>;
    /// Whether the peer sent it (a RST_STREAM or GOAWAY from the other side).
    fn is_remote(&self) -> bool;
    /// Whether it came with a GOAWAY.
    fn is_go_away(&self) -> bool;
    /// Whether it is an I/O error on the connection.
    fn is_io(&self) -> bool;
    /// The error itself, as the source of a [`RequestError`].
    fn into_source(self) -> BoxError;
}

/// What [`H2Body`] needs of an h2-like crate's receiving half of a stream.
pub trait H2LikeRecv {
    /// The crate's error.
    type Error: H2LikeError;
    /// The next data frame's payload, `None` at the end of the data.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>>;
    /// Gives `n` bytes of flow-control capacity back to the peer.
    fn release_capacity(&mut self, n: usize);
    /// The trailers, if any, once the data has ended.
    fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, Self::Error>>;
    /// Whether the peer has ended the stream.
    fn is_end_stream(&self) -> bool;
}

/// What the request-body pump needs of an h2-like crate's sending half of a stream.
pub trait H2LikeSend {
    /// Resets the stream with `CANCEL`.
    fn cancel(&mut self);
    /// Sends the trailers (which end the stream); a failure is the response's to report.
    fn send_trailers(&mut self, trailers: HeaderMap);
    /// Asks for `n` bytes of flow-control capacity.
    fn reserve_capacity(&mut self, n: usize);
    /// Capacity granted; `None` once the stream was reset or the connection ended.
    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>>;
    /// Sends data, ending the stream if `end`; `false` when the stream took none.
    fn send_data(&mut self, data: Bytes, end: bool) -> bool;
}

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
/// is abandoned (a probe's timeout drops this future): see [`ForgetPinger`].
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

/// Aborts the request-body pump when dropped.
#[derive(Debug)]
pub struct PumpGuard(AbortHandle);

impl PumpGuard {
    /// Spawns the pump of `body` into `stream`; it ends with the body, or when the guard
    /// is dropped (the exchange abandoned), so the stream's last handle goes and h2 resets
    /// it.
    pub fn spawn<B, S>(body: B, stream: S) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
        S: H2LikeSend + Send + 'static,
    {
        Self(tokio::spawn(pump(body, stream)).abort_handle())
    }
}

impl Drop for PumpGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Pumps a request body into its stream, a chunk at a time as the peer's flow-control
/// window allows; a body error resets the stream (`CANCEL`).
async fn pump<B, S>(mut body: B, mut stream: S)
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    S: H2LikeSend,
{
    loop {
        let next: Option<Result<Frame<Bytes>, BoxError>> =
            body.frame().await.map(|r| r.map_err(Into::into));
        let frame = match next {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "request body failed; resetting the stream");
                stream.cancel();
                return;
            }
        };
        let end = body.is_end_stream();
        let mut data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    stream.send_trailers(trailers);
                    return;
                }
                continue;
            }
        };
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            let Some(granted) = std::future::poll_fn(|cx| stream.poll_capacity(cx)).await else {
                // The stream was reset or the connection ended: the response says why.
                return;
            };
            let chunk = data.split_to(granted.min(data.len()));
            if !stream.send_data(chunk, end && data.is_empty()) {
                return;
            }
        }
        if end {
            return;
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// The streamed body of an HTTP/2 response (`R` the receiving half of the stream; h2's by
/// default, [`H2Conn`](crate::H2Conn)'s
/// [`HttpConnection::ResponseBody`](pool_http::HttpConnection::ResponseBody)): data frames
/// as they arrive, flow-control capacity released as each is handed out, then the
/// trailers; at most `limit` bytes ([`RequestError::BodyTooLarge`] past it). Dropping it
/// before its end resets the stream (`CANCEL`) and stops the request body's pump.
pub struct H2Body<R = h2::RecvStream> {
    recv: R,
    trailers: bool,
    limit: usize,
    read: usize,
    _pump: Option<PumpGuard>,
    /// The connection's adaptive-window state, told of every byte read (`crate::bdp`).
    recorder: Option<Arc<WindowState>>,
}

impl<R> H2Body<R> {
    /// The body of the stream `recv`, at most `limit` bytes, `pump` stopped with it.
    pub fn new(recv: R, limit: usize, pump: Option<PumpGuard>) -> Self {
        Self {
            recv,
            trailers: false,
            limit,
            read: 0,
            _pump: pump,
            recorder: None,
        }
    }

    /// Tells `recorder` (the connection's adaptive window) of every byte read.
    pub(crate) fn recording(mut self, recorder: Option<Arc<WindowState>>) -> Self {
        self.recorder = recorder;
        self
    }
}

impl<R: H2LikeRecv + Unpin> http_body::Body for H2Body<R> {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        let this = &mut *self;
        if !this.trailers {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    this.recv.release_capacity(data.len());
                    if let Some(recorder) = &this.recorder {
                        recorder.record(data.len());
                    }
                    this.read += data.len();
                    if this.read > this.limit {
                        return Poll::Ready(Some(Err(RequestError::BodyTooLarge {
                            limit: this.limit,
                        })));
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(request_error(e)))),
                None => this.trailers = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(request_error(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

impl<R> std::fmt::Debug for H2Body<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Body")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

/// An h2 error before the response headers of stream `id`, as [`request_error`] maps it,
/// except that a connection lost after a GOAWAY (recorded in `goaway`) whose last stream
/// id is below `id` is a refusal: the peer never processed the stream (RFC 9113 §6.8), but
/// h2 sent it after the GOAWAY and learnt nothing more until the connection ended.
pub fn stream_error<E: H2LikeError>(goaway: &GoAway, e: E, id: u32) -> RequestError {
    match request_error(e) {
        RequestError::ConnectionLost(source) if goaway.excludes(id) => RequestError::Refused {
            source,
            connection_closing: true,
        },
        other => other,
    }
}

/// An h2 error under a request, as `pool-http`'s kind: this side's `ENHANCE_YOUR_CALM`
/// (h2 cut off a CONTINUATION flood or a header list far past the limit) → `PeerLimit`;
/// refused (`REFUSED_STREAM`, or a GOAWAY that excluded the stream: not processed),
/// connection lost (I/O, GOAWAY), or a stream error.
pub fn request_error<E: H2LikeError>(e: E) -> RequestError {
    let reason = e.reason();
    let refused = reason == Some(u32::from(h2::Reason::REFUSED_STREAM));
    if reason == Some(u32::from(h2::Reason::ENHANCE_YOUR_CALM)) && !e.is_remote() {
        RequestError::PeerLimit {
            limit: pool_http::PeerLimit::Flood,
            source: e.into_source(),
        }
    } else if e.is_go_away() && (e.is_remote() || refused) {
        RequestError::Refused {
            source: e.into_source(),
            connection_closing: true,
        }
    } else if refused {
        RequestError::Refused {
            source: e.into_source(),
            connection_closing: false,
        }
    } else if e.is_io() || e.is_go_away() {
        RequestError::ConnectionLost(e.into_source())
    } else {
        RequestError::Protocol(e.into_source())
    }
}

impl H2LikeError for h2::Error {
    fn reason(&self) -> Option<u32> {
        h2::Error::reason(self).map(u32::from)
    }

    fn is_remote(&self) -> bool {
        h2::Error::is_remote(self)
    }

    fn is_go_away(&self) -> bool {
        h2::Error::is_go_away(self)
    }

    fn is_io(&self) -> bool {
        h2::Error::is_io(self)
    }

    fn into_source(self) -> BoxError {
        self.into()
    }
}

impl H2LikeRecv for h2::RecvStream {
    type Error = h2::Error;

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, h2::Error>>> {
        h2::RecvStream::poll_data(self, cx)
    }

    fn release_capacity(&mut self, n: usize) {
        let _ = self.flow_control().release_capacity(n);
    }

    fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, h2::Error>> {
        h2::RecvStream::poll_trailers(self, cx)
    }

    fn is_end_stream(&self) -> bool {
        h2::RecvStream::is_end_stream(self)
    }
}

impl H2LikeSend for h2::SendStream<Bytes> {
    fn cancel(&mut self) {
        self.send_reset(h2::Reason::CANCEL);
    }

    fn send_trailers(&mut self, trailers: HeaderMap) {
        let _ = h2::SendStream::send_trailers(self, trailers);
    }

    fn reserve_capacity(&mut self, n: usize) {
        h2::SendStream::reserve_capacity(self, n);
    }

    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        match ready!(h2::SendStream::poll_capacity(self, cx)) {
            Some(Ok(n)) => Poll::Ready(Some(n)),
            _ => Poll::Ready(None),
        }
    }

    fn send_data(&mut self, data: Bytes, end: bool) -> bool {
        h2::SendStream::send_data(self, data, end).is_ok()
    }
}

impl H2LikePing for h2::PingPong {
    type Error = h2::Error;

    fn internal_error() -> h2::Error {
        h2::Error::from(h2::Reason::INTERNAL_ERROR)
    }

    fn send_ping(&mut self) -> Result<(), h2::Error> {
        h2::PingPong::send_ping(self, h2::Ping::opaque())
    }

    fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Error>> {
        h2::PingPong::poll_pong(self, cx).map_ok(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_stream_is_a_refusal_on_an_open_connection() {
        let e = request_error(h2::Error::from(h2::Reason::REFUSED_STREAM));
        match e {
            RequestError::Refused {
                source,
                connection_closing,
            } => {
                assert!(!connection_closing);
                // The source is the crate's own error, not a wrapper.
                assert!(source.downcast_ref::<h2::Error>().is_some());
            }
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn local_enhance_your_calm_is_a_flood() {
        let e = request_error(h2::Error::from(h2::Reason::ENHANCE_YOUR_CALM));
        assert!(
            matches!(
                e,
                RequestError::PeerLimit {
                    limit: pool_http::PeerLimit::Flood,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn other_stream_errors_are_protocol_errors() {
        let e = request_error(h2::Error::from(h2::Reason::PROTOCOL_ERROR));
        assert!(matches!(e, RequestError::Protocol(_)), "{e:?}");
    }
}
