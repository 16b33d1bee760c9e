//! The response body of an HTTP/3 request: h3's request stream, receive side, streamed.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use h3::error::{Code, StreamError};
use http_body::{Frame, SizeHint};
use pool_http::RequestError;

/// The receive side of a request stream.
pub(crate) type RecvSide = h3::client::RequestStream<crate::bounded::Recv, Bytes>;
/// The send side of a request stream.
pub(crate) type SendSide = h3::client::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// Where a body is in its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    Trailers,
    Done,
}

/// The body of a response received over HTTP/3, read from the request stream as the peer
/// sends it (`http_body::Body`). Dropping it before its end stops the stream: quinn sends
/// `STOP_SENDING` (error code 0) for a receive stream dropped unfinished, whether h3-quinn
/// holds it directly or inside a read in flight; the peer stops sending this response, the
/// connection carries on. (h3-quinn's own `stop_sending` panics while a read is in flight,
/// and h3 does not tell when one is — its buffered frames can come back `Ready` while the
/// read is pending — so it is never called.)
pub struct H3Body {
    stream: RecvSide,
    state: State,
    /// `None`s in a row from `poll_recv_data` (see [`END_CONFIRMATIONS`]).
    nones: u8,
}

/// `None`s in a row taken as the end of the body: more than a sender plausibly writes
/// empty DATA frames in a row (each one answers `None` once; the end answers it every time).
const END_CONFIRMATIONS: u8 = 16;

impl H3Body {
    pub(crate) fn new(stream: RecvSide) -> Self {
        Self {
            stream,
            state: State::Data,
            nones: 0,
        }
    }

    /// Reads the response headers (before the body).
    pub(crate) async fn recv_response(&mut self) -> Result<http::Response<()>, StreamError> {
        self.stream.recv_response().await
    }
}

impl http_body::Body for H3Body {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        self.poll_next(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl H3Body {
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        let this = self;
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Data => match ready!(this.stream.poll_recv_data(cx)) {
                    Ok(Some(mut chunk)) => {
                        this.nones = 0;
                        let data = chunk.copy_to_bytes(chunk.remaining());
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                    // h3 answers `None` both at the end of the body and for an empty
                    // DATA frame (legal: RFC 9114 §7.2.1). Asking for trailers after an
                    // empty frame that more DATA follows is a connection error, so the end
                    // is taken as sure only when polling again keeps answering `None`
                    // (at the end it does at once, reading nothing).
                    Ok(None) => {
                        this.nones += 1;
                        if this.nones >= END_CONFIRMATIONS {
                            this.state = State::Trailers;
                        }
                    }
                    Err(e) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(response_error(e))));
                    }
                },
                State::Trailers => {
                    let trailers = ready!(this.stream.poll_recv_trailers(cx));
                    this.state = State::Done;
                    return Poll::Ready(match trailers {
                        Ok(Some(t)) => Some(Ok(Frame::trailers(t))),
                        Ok(None) => None,
                        Err(e) => Some(Err(response_error(e))),
                    });
                }
            }
        }
    }
}

impl std::fmt::Debug for H3Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H3Body")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The send side of a request while its body is being written: reset
/// (`H3_REQUEST_CANCELLED`) if dropped before it was finished (a deadline, a failed body).
pub(crate) struct Upload {
    stream: Option<SendSide>,
}

impl Upload {
    pub(crate) fn new(stream: SendSide) -> Self {
        Self {
            stream: Some(stream),
        }
    }

    /// The stream, while unfinished.
    pub(crate) fn stream(&mut self) -> Option<&mut SendSide> {
        self.stream.as_mut()
    }

    /// Marks the upload complete (the stream finished): nothing to reset any more.
    pub(crate) fn done(&mut self) {
        self.stream = None;
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(stream) = &mut self.stream {
            stream.stop_stream(Code::H3_REQUEST_CANCELLED);
        }
    }
}

/// A stream error while the request was being opened (headers not yet sent in full): the
/// server cannot have processed it.
pub(crate) fn open_error(e: StreamError) -> RequestError {
    match e {
        StreamError::HeaderTooBig { .. } => RequestError::Protocol(e.into()),
        _ => RequestError::NotSent(e.into()),
    }
}

/// A stream error once the request was sent (its body, the response headers, the
/// response body): the one mapping of h3's errors into [`RequestError`].
pub(crate) fn response_error(e: StreamError) -> RequestError {
    match e {
        StreamError::RemoteTerminate { code } if code == Code::H3_REQUEST_REJECTED => {
            RequestError::Refused {
                source: e.into(),
                connection_closing: false,
            }
        }
        StreamError::RemoteClosing => RequestError::Refused {
            source: e.into(),
            connection_closing: true,
        },
        StreamError::ConnectionError(_) => RequestError::ConnectionLost(e.into()),
        StreamError::Undefined(ref source)
            if crate::bounded::is_frame_too_large(source.as_ref()) =>
        {
            RequestError::PeerLimit {
                limit: pool_http::PeerLimit::HeaderList,
                source: e.into(),
            }
        }
        StreamError::HeaderTooBig { .. } => RequestError::PeerLimit {
            limit: pool_http::PeerLimit::HeaderList,
            source: e.into(),
        },
        _ => RequestError::Protocol(e.into()),
    }
}
