//! The HTTP/2 response path, written once for `h2` and for any crate with its shape (the
//! `http2` fork `pool-dial-boring` runs on): the streamed response body [`H2Body`], the
//! request-body pump ([`PumpGuard::spawn`]) and the classification of h2 errors as
//! `pool-http`'s ([`request_error`], [`stream_error`]); the PING is in `crate::ping`. The
//! traits here are what that path needs of the crate: `h2`'s types implement them in
//! `crate::h2` (feature `h2`); `pool-dial-boring` implements them for newtypes around
//! `http2`'s (see `docs/h2like.md`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

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

/// The streamed body of an HTTP/2 response (`R` the receiving half of the stream: h2's for
/// `pool-dial-rustls`'s `H2Conn`, `http2`'s for `pool-dial-boring`): data frames
/// as they arrive, flow-control capacity released as each is handed out, then the
/// trailers; at most `limit` bytes ([`RequestError::BodyTooLarge`] past it). Dropping it
/// before its end resets the stream (`CANCEL`) and stops the request body's pump.
pub struct H2Body<R> {
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

/// HTTP/2's `REFUSED_STREAM` error code (RFC 9113 §7): the stream was not processed.
const REFUSED_STREAM: u32 = 0x7;
/// HTTP/2's `ENHANCE_YOUR_CALM` error code (RFC 9113 §7): the peer may be generating
/// excessive load.
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// HTTP/2's `PROTOCOL_ERROR` error code (RFC 9113 §7).
#[cfg(test)]
const PROTOCOL_ERROR: u32 = 0x1;

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
    let refused = reason == Some(REFUSED_STREAM);
    if reason == Some(ENHANCE_YOUR_CALM) && !e.is_remote() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An h2-like error: a code, raised by this side or the peer.
    #[derive(Debug)]
    struct Fake {
        reason: u32,
        remote: bool,
    }

    impl std::fmt::Display for Fake {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "h2 error {:#x}", self.reason)
        }
    }

    impl std::error::Error for Fake {}

    impl H2LikeError for Fake {
        fn reason(&self) -> Option<u32> {
            Some(self.reason)
        }
        fn is_remote(&self) -> bool {
            self.remote
        }
        fn is_go_away(&self) -> bool {
            false
        }
        fn is_io(&self) -> bool {
            false
        }
        fn into_source(self) -> BoxError {
            self.into()
        }
    }

    fn local(reason: u32) -> Fake {
        Fake {
            reason,
            remote: false,
        }
    }

    #[test]
    fn refused_stream_is_a_refusal_on_an_open_connection() {
        let e = request_error(local(REFUSED_STREAM));
        match e {
            RequestError::Refused {
                source,
                connection_closing,
            } => {
                assert!(!connection_closing);
                // The source is the crate's own error, not a wrapper.
                assert!(source.downcast_ref::<Fake>().is_some());
            }
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn local_enhance_your_calm_is_a_flood() {
        let e = request_error(local(ENHANCE_YOUR_CALM));
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
        // The peer's ENHANCE_YOUR_CALM is its complaint, not a flood of ours to report.
        let e = request_error(Fake {
            reason: ENHANCE_YOUR_CALM,
            remote: true,
        });
        assert!(matches!(e, RequestError::Protocol(_)), "{e:?}");
    }

    #[test]
    fn other_stream_errors_are_protocol_errors() {
        let e = request_error(local(PROTOCOL_ERROR));
        assert!(matches!(e, RequestError::Protocol(_)), "{e:?}");
    }
}
