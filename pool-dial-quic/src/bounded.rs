//! h3-quinn's connection with the receive side of every request stream watched: h3
//! buffers a whole non-DATA frame (HEADERS above all) before it decodes it, whatever its
//! announced length, so a peer announcing a 1 GiB HEADERS frame and sending it slowly
//! would be buffered until the request's deadline. [`Recv`] reads the frame headers as
//! they pass and fails the stream ([`FrameTooLarge`], mapped to
//! `RequestError::PeerLimit`) as soon as a non-DATA frame announces more than
//! `max_response_header_size` bytes: nothing of it is buffered. DATA frames are streamed
//! by h3 and left alone. The peer's unidirectional streams are watched for its control
//! stream's GOAWAY id (`crate::goaway`). Everything else is h3-quinn's, unchanged.

use std::task::{Context, Poll};

use bytes::Bytes;
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};

use crate::goaway::{FrameHead, GoawayId, UniRecv};

/// A request stream's frame (not DATA) announced more than the response header limit.
#[derive(Debug, thiserror::Error)]
#[error("HTTP/3 frame of type {kind:#x} announces {len} bytes, over the {limit}-byte header limit")]
pub(crate) struct FrameTooLarge {
    kind: u64,
    len: u64,
    limit: u64,
}

/// An h3-quinn connection handle (`T`: [`h3_quinn::Connection`], or its
/// [`h3_quinn::OpenStreams`]) whose request streams it opens are [`Bidi`], and whose
/// accepted unidirectional streams are [`UniRecv`] (the peer's GOAWAY id read into
/// `goaway`).
pub(crate) struct Watched<T> {
    inner: T,
    limit: u64,
    goaway: GoawayId,
}

/// [`h3_quinn::Connection`], its request streams watched.
pub(crate) type Conn = Watched<h3_quinn::Connection>;
/// [`h3_quinn::OpenStreams`], opening watched request streams.
pub(crate) type Open = Watched<h3_quinn::OpenStreams>;

impl Conn {
    /// `limit`: the largest non-DATA frame a response may announce; `goaway`: where the
    /// peer's GOAWAY id is recorded.
    pub(crate) fn new(conn: quinn::Connection, limit: u64, goaway: GoawayId) -> Self {
        Self {
            inner: h3_quinn::Connection::new(conn),
            limit,
            goaway,
        }
    }
}

impl<T: Clone> Clone for Watched<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limit: self.limit,
            goaway: self.goaway.clone(),
        }
    }
}

/// A stream whose receive side is watched (see the module docs): `S` is h3-quinn's
/// bidirectional stream ([`Bidi`]) or, once split, its receive side ([`Recv`]).
pub(crate) struct WatchedStream<S> {
    inner: S,
    watch: FrameWatch,
}

/// A request stream: h3-quinn's, its receive side watched.
pub(crate) type Bidi = WatchedStream<h3_quinn::BidiStream<Bytes>>;
/// The receive side of a request stream, watched.
pub(crate) type Recv = WatchedStream<h3_quinn::RecvStream>;

/// Where the stream is in its frames: reading a frame header (type and length varints),
/// or inside a payload.
struct FrameWatch {
    limit: u64,
    head: FrameHead,
    /// Payload bytes left of the current frame.
    remaining: u64,
}

impl FrameWatch {
    fn new(limit: u64) -> Self {
        Self {
            limit,
            head: FrameHead::default(),
            remaining: 0,
        }
    }

    /// Follows the frames through `chunk`; an error at the first frame over the limit.
    fn check(&mut self, mut chunk: &[u8]) -> Result<(), FrameTooLarge> {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let n = usize::try_from(self.remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                self.remaining -= n as u64;
                chunk = &chunk[n..];
                continue;
            }
            let byte = chunk[0];
            chunk = &chunk[1..];
            let Some((kind, len)) = self.head.push(byte) else {
                continue;
            };
            // DATA (0x0) is streamed by h3; every other frame is buffered whole.
            if kind != 0x0 && len > self.limit {
                return Err(FrameTooLarge {
                    kind,
                    len,
                    limit: self.limit,
                });
            }
            self.remaining = len;
        }
        Ok(())
    }

    fn poll(
        &mut self,
        polled: Poll<Result<Option<Bytes>, StreamErrorIncoming>>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        match polled {
            Poll::Ready(Ok(Some(chunk))) => Poll::Ready(match self.check(&chunk) {
                Ok(()) => Ok(Some(chunk)),
                Err(e) => Err(StreamErrorIncoming::Unknown(Box::new(e))),
            }),
            other => other,
        }
    }
}

impl quic::Connection<Bytes> for Conn {
    type RecvStream = UniRecv;
    type OpenStreams = Open;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<UniRecv, ConnectionErrorIncoming>> {
        let goaway = &self.goaway;
        quic::Connection::<Bytes>::poll_accept_recv(&mut self.inner, cx)
            .map_ok(|inner| UniRecv::new(inner, goaway.clone()))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, ConnectionErrorIncoming>> {
        let limit = self.limit;
        quic::Connection::<Bytes>::poll_accept_bidi(&mut self.inner, cx).map_ok(|inner| Bidi {
            inner,
            watch: FrameWatch::new(limit),
        })
    }

    fn opener(&self) -> Open {
        Open {
            inner: quic::Connection::<Bytes>::opener(&self.inner),
            limit: self.limit,
            goaway: self.goaway.clone(),
        }
    }
}

impl<T> quic::OpenStreams<Bytes> for Watched<T>
where
    T: quic::OpenStreams<
            Bytes,
            BidiStream = h3_quinn::BidiStream<Bytes>,
            SendStream = h3_quinn::SendStream<Bytes>,
        >,
{
    type BidiStream = Bidi;
    type SendStream = h3_quinn::SendStream<Bytes>;

    fn poll_open_bidi(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bidi, StreamErrorIncoming>> {
        let limit = self.limit;
        self.inner.poll_open_bidi(cx).map_ok(|inner| Bidi {
            inner,
            watch: FrameWatch::new(limit),
        })
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        self.inner.poll_open_send(cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        self.inner.close(code, reason);
    }
}

impl quic::SendStream<Bytes> for Bidi {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.inner.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<Bytes>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.inner.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.inner.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.inner.reset(reset_code);
    }

    fn send_id(&self) -> StreamId {
        self.inner.send_id()
    }
}

impl<S: quic::RecvStream<Buf = Bytes>> quic::RecvStream for WatchedStream<S> {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        let polled = self.inner.poll_data(cx);
        self.watch.poll(polled)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.inner.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.inner.recv_id()
    }
}

impl quic::BidiStream<Bytes> for Bidi {
    type SendStream = h3_quinn::SendStream<Bytes>;
    type RecvStream = Recv;

    fn split(self) -> (Self::SendStream, Recv) {
        let (send, recv) = self.inner.split();
        (
            send,
            Recv {
                inner: recv,
                watch: self.watch,
            },
        )
    }
}

/// Whether `e` (an h3 stream error's source) is this module's [`FrameTooLarge`].
pub(crate) fn is_frame_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<FrameTooLarge>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_head(kind: u8, len: u64) -> Vec<u8> {
        let mut out = vec![kind];
        match len {
            0..=63 => out.push(len as u8),
            64..=16_383 => out.extend_from_slice(&(len as u16 | 0x4000).to_be_bytes()),
            _ => out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes()),
        }
        out
    }

    #[test]
    fn a_headers_frame_over_the_limit_fails_at_its_header_split_anywhere() {
        let mut bytes = frame_head(0x1, 10);
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend(frame_head(0x0, 100_000)); // DATA: streamed, never limited
        bytes.extend_from_slice(&[7; 300]);
        let mut watch = FrameWatch::new(64);
        for piece in bytes.chunks(3) {
            watch.check(piece).unwrap();
        }
        let mut watch = FrameWatch::new(64);
        let mut over = frame_head(0x1, 1 << 29);
        over.push(0);
        let (a, b) = over.split_at(2);
        watch.check(a).unwrap();
        let e = watch.check(b).unwrap_err();
        assert_eq!((e.kind, e.len, e.limit), (1, 1 << 29, 64));
    }
}
