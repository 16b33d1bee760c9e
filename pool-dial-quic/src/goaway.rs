//! The peer's HTTP/3 GOAWAY stream id, read off its control stream as h3 reads it.
//!
//! h3 0.0.8 acts on a server's GOAWAY (no new requests) but does not tell which stream id
//! it carried, so a request lost when the connection then closes cannot be told apart from
//! one the server processed. RFC 9114 §5.2: requests on stream ids at or above the
//! GOAWAY's id were not processed — a refusal, safe to send again whatever the method.
//! [`UniRecv`] wraps every unidirectional stream h3 accepts: on the control stream (type
//! 0x00) it follows the frames as they pass (varint type, varint length) and records the
//! smallest GOAWAY id (frame 0x07, payload one varint) in a [`GoawayId`] shared with the
//! connection. Other frames' payloads are skipped as they pass, never buffered; other
//! streams (QPACK, unknown) are left alone after their type. The bytes go to h3
//! unchanged. (`pool-dial-rustls/src/goaway.rs` does the same for HTTP/2.)
//!
//! The frame reading both watches use ([`FrameHead`], [`varint`]) lives here too: the
//! request streams' size watch (`crate::bounded`) takes it from this file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use h3::quic::{self, StreamErrorIncoming, StreamId};

/// The GOAWAY frame's type (RFC 9114 §7.2.6).
const GOAWAY: u64 = 0x7;
/// The control stream's type (RFC 9114 §6.2.1).
const CONTROL_STREAM: u64 = 0x0;
/// The longest QUIC varint: a GOAWAY payload longer than this is malformed (h3 fails the
/// connection on it) and not recorded.
const MAX_VARINT: u64 = 8;

/// A frame header (type and length varints) or a stream type varint, taken a byte at a
/// time as it passes: at most 16 bytes.
#[derive(Debug, Default)]
pub(crate) struct FrameHead {
    bytes: Vec<u8>,
}

impl FrameHead {
    /// Adds `byte`: the frame's type and length once both varints are complete (and
    /// starts over).
    pub(crate) fn push(&mut self, byte: u8) -> Option<(u64, u64)> {
        self.bytes.push(byte);
        let (kind, k) = varint(&self.bytes)?;
        let (len, _) = varint(&self.bytes[k..])?;
        self.bytes.clear();
        Some((kind, len))
    }

    /// Adds `byte`: the value once one varint is complete (and starts over).
    pub(crate) fn push_varint(&mut self, byte: u8) -> Option<u64> {
        self.bytes.push(byte);
        let (value, _) = varint(&self.bytes)?;
        self.bytes.clear();
        Some(value)
    }
}

/// A QUIC varint at the start of `buf`: its value and length, or `None` when incomplete.
pub(crate) fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    if buf.len() < len {
        return None;
    }
    let mut value = u64::from(first & 0x3f);
    for b in &buf[1..len] {
        value = (value << 8) | u64::from(*b);
    }
    Some((value, len))
}

/// The smallest stream id of the GOAWAY frames the peer sent on a connection, shared by
/// the connection's control-stream watch and its requests.
#[derive(Clone, Debug)]
pub(crate) struct GoawayId(Arc<AtomicU64>);

impl GoawayId {
    /// No GOAWAY yet.
    pub(crate) fn new() -> Self {
        Self(Arc::new(AtomicU64::new(u64::MAX)))
    }

    /// The smallest id received, if any.
    pub(crate) fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::Acquire) {
            u64::MAX => None,
            id => Some(id),
        }
    }

    fn record(&self, id: u64) {
        self.0.fetch_min(id, Ordering::AcqRel);
    }

    /// Whether the request on stream `id` was above a GOAWAY: certainly not processed.
    pub(crate) fn refuses(&self, id: u64) -> bool {
        self.get().is_some_and(|goaway| id >= goaway)
    }
}

/// Where a unidirectional stream's reader is.
#[derive(Debug)]
enum Phase {
    /// Reading the stream type varint.
    StreamType,
    /// A control stream: reading a frame header.
    FrameHead,
    /// Skipping this many payload bytes of a frame other than GOAWAY.
    Skip(u64),
    /// Reading a GOAWAY payload of this many bytes (at most [`MAX_VARINT`]).
    Goaway(u64),
    /// Not a control stream: nothing more to read.
    Ignored,
}

/// Follows a unidirectional stream's bytes to the GOAWAY frames of a control stream.
#[derive(Debug)]
pub(crate) struct ControlWatch {
    phase: Phase,
    /// The stream type, or the current frame header, read so far.
    head: FrameHead,
    /// The GOAWAY payload read so far (at most [`MAX_VARINT`] bytes).
    payload: Vec<u8>,
    goaway: GoawayId,
}

impl ControlWatch {
    pub(crate) fn new(goaway: GoawayId) -> Self {
        Self {
            phase: Phase::StreamType,
            head: FrameHead::default(),
            payload: Vec::new(),
            goaway,
        }
    }

    /// Follows the stream through `chunk`.
    fn read(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            match self.phase {
                Phase::Ignored => return,
                Phase::StreamType => {
                    let Some(kind) = self.head.push_varint(chunk[0]) else {
                        chunk = &chunk[1..];
                        continue;
                    };
                    chunk = &chunk[1..];
                    self.phase = if kind == CONTROL_STREAM {
                        Phase::FrameHead
                    } else {
                        Phase::Ignored
                    };
                }
                Phase::FrameHead => {
                    let byte = chunk[0];
                    chunk = &chunk[1..];
                    let Some((kind, len)) = self.head.push(byte) else {
                        continue;
                    };
                    self.phase = if kind == GOAWAY && (1..=MAX_VARINT).contains(&len) {
                        self.payload.clear();
                        Phase::Goaway(len)
                    } else if len == 0 {
                        Phase::FrameHead
                    } else {
                        Phase::Skip(len)
                    };
                }
                Phase::Skip(left) => {
                    let n = usize::try_from(left).map_or(chunk.len(), |l| l.min(chunk.len()));
                    chunk = &chunk[n..];
                    let left = left - n as u64;
                    self.phase = if left == 0 {
                        Phase::FrameHead
                    } else {
                        Phase::Skip(left)
                    };
                }
                Phase::Goaway(len) => {
                    let want = len as usize - self.payload.len();
                    let n = want.min(chunk.len());
                    self.payload.extend_from_slice(&chunk[..n]);
                    chunk = &chunk[n..];
                    if self.payload.len() == len as usize {
                        if let Some((id, used)) = varint(&self.payload)
                            && used == self.payload.len()
                        {
                            self.goaway.record(id);
                        }
                        self.phase = Phase::FrameHead;
                    }
                }
            }
        }
    }
}

/// A unidirectional stream accepted from the peer, its control frames watched (see the
/// module docs).
pub(crate) struct UniRecv {
    inner: h3_quinn::RecvStream,
    watch: ControlWatch,
}

impl UniRecv {
    pub(crate) fn new(inner: h3_quinn::RecvStream, goaway: GoawayId) -> Self {
        Self {
            inner,
            watch: ControlWatch::new(goaway),
        }
    }
}

impl quic::RecvStream for UniRecv {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        let polled = self.inner.poll_data(cx);
        if let Poll::Ready(Ok(Some(chunk))) = &polled {
            self.watch.read(chunk);
        }
        polled
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.inner.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.inner.recv_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QUIC varint, in its shortest form.
    fn v(value: u64) -> Vec<u8> {
        match value {
            0..=63 => vec![value as u8],
            64..=16_383 => (value as u16 | 0x4000).to_be_bytes().to_vec(),
            16_384..=1_073_741_823 => (value as u32 | 0x8000_0000).to_be_bytes().to_vec(),
            _ => (value | 0xc000_0000_0000_0000).to_be_bytes().to_vec(),
        }
    }

    fn frame(kind: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = v(kind);
        out.extend(v(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    }

    /// A control stream: its type, SETTINGS, a reserved (grease) frame type.
    fn control_start() -> Vec<u8> {
        let mut out = v(CONTROL_STREAM);
        out.extend(frame(0x4, &[0x01, 0x40, 0x64, 0x06, 0x44, 0x00]));
        out.extend(frame(0x21 + 0x1f * 7, b"grease"));
        out
    }

    fn watch_in_pieces(bytes: &[u8], piece: usize) -> GoawayId {
        let goaway = GoawayId::new();
        let mut watch = ControlWatch::new(goaway.clone());
        for p in bytes.chunks(piece) {
            watch.read(p);
        }
        goaway
    }

    #[test]
    fn a_goaway_split_anywhere_is_read_and_other_frames_skipped() {
        let mut bytes = control_start();
        bytes.extend(frame(GOAWAY, &v(4 * 1000)));
        for piece in 1..=bytes.len() {
            let goaway = watch_in_pieces(&bytes, piece);
            assert_eq!(goaway.get(), Some(4000), "pieces of {piece}");
            assert!(goaway.refuses(4000) && goaway.refuses(4004));
            assert!(!goaway.refuses(3996));
        }
    }

    #[test]
    fn the_smallest_goaway_is_kept() {
        let mut bytes = control_start();
        bytes.extend(frame(GOAWAY, &v(400)));
        bytes.extend(frame(GOAWAY, &v(8)));
        bytes.extend(frame(GOAWAY, &v(40))); // not allowed to grow: ignored here
        assert_eq!(watch_in_pieces(&bytes, 5).get(), Some(8));
    }

    #[test]
    fn no_goaway_without_one_and_other_streams_are_ignored() {
        assert_eq!(watch_in_pieces(&control_start(), 3).get(), None);
        // A QPACK encoder stream (type 0x02) whose bytes look like a GOAWAY frame.
        let mut qpack = v(0x2);
        qpack.extend(frame(GOAWAY, &v(0)));
        assert_eq!(watch_in_pieces(&qpack, 1).get(), None);
    }

    #[test]
    fn a_huge_unknown_frame_is_skipped_without_buffering() {
        const CHUNK: usize = 65_536;
        let huge = 64 * CHUNK as u64;
        let goaway = GoawayId::new();
        let mut watch = ControlWatch::new(goaway.clone());
        watch.read(&control_start());
        let mut head = v(0x21);
        head.extend(v(huge));
        watch.read(&head);
        // Its 4 MiB payload (bytes that look like GOAWAY frames) passes through in
        // 64 KiB chunks, none of it kept.
        let chunk = frame(GOAWAY, &v(0)).repeat(CHUNK / 3 + 1)[..CHUNK].to_vec();
        for sent in 1..=64u64 {
            watch.read(&chunk);
            if sent < 64 {
                assert!(
                    matches!(watch.phase, Phase::Skip(left) if left == huge - sent * CHUNK as u64)
                );
            }
        }
        assert_eq!(watch.payload.capacity(), 0);
        assert_eq!(goaway.get(), None);
        watch.read(&frame(GOAWAY, &v(12)));
        assert_eq!(goaway.get(), Some(12));
    }

    #[test]
    fn a_malformed_goaway_is_not_recorded() {
        let mut bytes = control_start();
        bytes.extend(frame(GOAWAY, &[0x40])); // a 2-byte varint cut short
        bytes.extend(frame(GOAWAY, &[0x04, 0x00])); // trailing byte
        assert_eq!(watch_in_pieces(&bytes, 2).get(), None);
    }
}
