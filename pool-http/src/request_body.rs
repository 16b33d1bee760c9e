//! Request bodies that can be sent again (for a retry), and the buffered body a transport
//! that reads answers whole hands out.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{Empty, Full};

use crate::RequestError;

/// A request body that [`send`](crate::send) can send a second time, for its one retry.
///
/// A body is replayable when it is held in memory: [`Full`], [`Empty`], `String` and
/// [`BufferedBody`] are. A body streamed from elsewhere cannot be rewound, so wrap it in
/// [`Streaming`]: such a request is sent once and never retried — even when the first
/// attempt was certainly not processed, because its body has been handed to the
/// connection by then.
pub trait Replayable: http_body::Body<Data = Bytes> + Sized {
    /// A fresh copy of this (not yet read) body, or `None` when it cannot be had.
    fn replay(&self) -> Option<Self>;
}

impl Replayable for Full<Bytes> {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl Replayable for Empty<Bytes> {
    fn replay(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

impl Replayable for String {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl Replayable for BufferedBody {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// A streamed request body for [`send`](crate::send) and
/// [`PoolService`](crate::PoolService): sent as it comes, never replayed, so such a
/// request is never retried (see [`Replayable`]).
#[derive(Debug)]
pub struct Streaming<B>(pub B);

impl<B: http_body::Body<Data = Bytes> + Unpin> http_body::Body for Streaming<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

impl<B: http_body::Body<Data = Bytes> + Unpin> Replayable for Streaming<B> {
    fn replay(&self) -> Option<Self> {
        None
    }
}

/// A body held whole in memory, with [`RequestError`] as its error type: the
/// [`HttpConnection::ResponseBody`](crate::HttpConnection::ResponseBody) of a transport
/// that reads answers whole, and a replayable request body.
#[derive(Clone, Debug, Default)]
pub struct BufferedBody(Option<Bytes>);

impl BufferedBody {
    /// A body of these bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self((!bytes.is_empty()).then_some(bytes))
    }
}

impl http_body::Body for BufferedBody {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        Poll::Ready(self.0.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}
