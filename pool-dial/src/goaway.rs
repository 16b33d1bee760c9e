//! The GOAWAY frames an HTTP/2 peer sends, as the client needs them to classify failures:
//! `h2` 0.4 neither refuses a new stream after a GOAWAY nor reports the frame's last
//! stream id, so a request sent after it waits until the peer closes and fails as a lost
//! connection, although the peer never processed it (RFC 9113 §6.8: streams above the last
//! stream id were not, and may be retried). [`Sniff`] reads the frame headers of what the
//! peer sends (the read side of the connection, untouched) and records the lowest last
//! stream id of any GOAWAY in a [`GoAway`].

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

/// The HTTP/2 frame type of GOAWAY.
const GOAWAY: u8 = 0x7;
/// No GOAWAY seen yet.
const NONE: u64 = u64::MAX;

/// What the peer said by GOAWAY, shared by a connection and its [`Sniff`].
#[derive(Debug)]
pub struct GoAway {
    /// The lowest last stream id of the GOAWAY frames received, or [`NONE`].
    last_stream_id: AtomicU64,
    /// Set on the first GOAWAY: the connection takes no new request (the pool drains it).
    closed: watch::Sender<bool>,
}

impl GoAway {
    /// A record that marks `closed` when a GOAWAY arrives.
    pub fn new(closed: watch::Sender<bool>) -> Arc<Self> {
        Arc::new(Self {
            last_stream_id: AtomicU64::new(NONE),
            closed,
        })
    }

    /// Whether the peer sent GOAWAY.
    pub fn received(&self) -> bool {
        self.last_stream_id.load(Ordering::Acquire) != NONE
    }

    /// Whether a GOAWAY excluded the stream `id`: its last stream id is below `id`, so
    /// the peer did not process that stream.
    pub fn excludes(&self, id: u32) -> bool {
        let last = self.last_stream_id.load(Ordering::Acquire);
        last != NONE && u64::from(id) > last
    }

    fn record(&self, last_stream_id: u32) {
        self.last_stream_id
            .fetch_min(u64::from(last_stream_id & 0x7fff_ffff), Ordering::AcqRel);
        self.closed.send_replace(true);
    }
}

/// Where the scan of the peer's frames is.
#[derive(Debug, Default)]
struct Scan {
    /// The frame header being read (9 bytes).
    header: [u8; 9],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    payload_left: usize,
    /// The current frame is a GOAWAY: its first four payload bytes, being read.
    goaway: Option<([u8; 4], usize)>,
}

impl Scan {
    /// Scans `bytes`, the next bytes the peer sent; calls `found` with the last stream id
    /// of every GOAWAY.
    fn feed(&mut self, mut bytes: &[u8], found: &mut impl FnMut(u32)) {
        while !bytes.is_empty() {
            if self.payload_left == 0 {
                let take = (9 - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len < 9 {
                    return;
                }
                self.header_len = 0;
                let h = self.header;
                self.payload_left =
                    (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                self.goaway = (h[3] == GOAWAY).then_some(([0; 4], 0));
                continue;
            }
            let take = self.payload_left.min(bytes.len());
            if let Some((id, have)) = &mut self.goaway {
                let n = (4 - *have).min(take);
                id[*have..*have + n].copy_from_slice(&bytes[..n]);
                *have += n;
                if *have == 4 {
                    found(u32::from_be_bytes(*id));
                    self.goaway = None;
                }
            }
            self.payload_left -= take;
            bytes = &bytes[take..];
        }
    }
}

/// An HTTP/2 connection's I/O with the peer's GOAWAY frames recorded (see the module).
#[derive(Debug)]
pub struct Sniff<T> {
    io: T,
    scan: Scan,
    goaway: Arc<GoAway>,
}

impl<T> Sniff<T> {
    /// `io`, its peer's GOAWAY frames recorded in `goaway`.
    pub fn new(io: T, goaway: Arc<GoAway>) -> Self {
        Self {
            io,
            scan: Scan::default(),
            goaway,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniff<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let goaway = &this.goaway;
            this.scan
                .feed(&buf.filled()[before..], &mut |id| goaway.record(id));
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniff<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            0,
            0,
            0,
            0,
            0,
        ];
        f.extend_from_slice(payload);
        f
    }

    /// GOAWAY frames are found among others, whatever the chunking of the bytes.
    #[test]
    fn finds_goaway_frames_across_any_chunking() {
        let mut wire = frame(0x4, &[0; 12]); // SETTINGS
        wire.extend(frame(0x0, &[b'x'; 300])); // DATA
        wire.extend(frame(GOAWAY, &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])); // graceful
        wire.extend(frame(0x6, &[0; 8])); // PING
        wire.extend(frame(GOAWAY, &[0, 0, 0, 5, 0, 0, 0, 0, b'b', b'y', b'e']));
        for chunk in [1, 2, 3, 5, 9, 10, 64, wire.len()] {
            let mut scan = Scan::default();
            let mut found = Vec::new();
            for part in wire.chunks(chunk) {
                scan.feed(part, &mut |id| found.push(id));
            }
            assert_eq!(found, [0x7fff_ffff, 5], "chunks of {chunk}");
        }
    }

    #[test]
    fn the_lowest_last_stream_id_excludes_streams_above_it() {
        let closed = watch::Sender::new(false);
        let goaway = GoAway::new(closed.clone());
        assert!(!goaway.received() && !goaway.excludes(1));
        goaway.record(0x7fff_ffff);
        assert!(goaway.received() && *closed.borrow());
        assert!(!goaway.excludes(7));
        goaway.record(5);
        goaway.record(9); // never raises it again
        assert!(!goaway.excludes(5));
        assert!(goaway.excludes(7));
    }
}
