//! HTTP/2 misbehaviour as raw frames: the server preface and the answers to the client's
//! SETTINGS and PINGs are well-formed, the answer to a request is what the script says.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use super::{Counters, prefixed_int};
use crate::net::lock;

/// What an HTTP/2 [`HostileTls`](super::HostileTls) answers to every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Script {
    /// A well-formed `200` with body `ok`: the control case.
    Ok,
    /// A `200` whose header block (HEADERS + CONTINUATION frames) carries about this many
    /// bytes of literal header fields, then body `ok`.
    OversizedHeaders(usize),
    /// HEADERS without END_HEADERS, then CONTINUATION frames of header fields forever.
    ContinuationFlood,
    /// A `200`, then DATA frames forever (as the client's flow-control window allows).
    EndlessBody,
    /// A DATA frame on stream 0 (a connection error: DATA must be on a stream).
    DataOnStreamZero,
    /// A PING frame whose length is 7 (a connection error: PING is 8 bytes).
    BadPingLength,
    /// This many PINGs, then a well-formed answer.
    PingFlood(usize),
    /// This many SETTINGS frames, then a well-formed answer.
    SettingsFlood(usize),
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// The client's (and RFC 9113's default) largest frame payload.
const MAX_FRAME: usize = 16_384;
/// The HPACK static-table entry `:status: 200`, indexed.
const STATUS_200: u8 = 0x88;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(9 + len);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// One literal header field (without indexing, new name) of exactly 1 KiB encoded, so a
/// frame of 16 of them holds whole fields only.
fn fill_field(n: usize) -> Vec<u8> {
    let name = format!("x-fill-{:06}", n % 1_000_000);
    let mut out = vec![0x00];
    prefixed_int(&mut out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    let value_len = 1024 - (out.len() + 3);
    prefixed_int(&mut out, 0, 7, value_len);
    out.resize(1024, b'v');
    out
}

/// `count` fill fields starting at field `from` (16 fill a frame).
fn fill_block(from: usize, count: usize) -> Vec<u8> {
    (from..from + count).flat_map(fill_field).collect()
}

/// Fill fields per frame.
const PER_FRAME: usize = MAX_FRAME / 1024;

/// The flow-control windows the client granted: the connection's and the current
/// stream's.
#[derive(Default)]
struct Windows {
    sizes: Mutex<(i64, i64)>,
    notify: Notify,
}

impl Windows {
    /// Takes up to `want` bytes of window, waiting while there is none.
    async fn take(&self, want: usize) -> usize {
        loop {
            let notified = self.notify.notified();
            {
                let mut w = lock(&self.sizes);
                let room = w.0.min(w.1);
                if room > 0 {
                    let n = room.min(want as i64);
                    w.0 -= n;
                    w.1 -= n;
                    return n as usize;
                }
            }
            notified.await;
        }
    }

    fn grow(&self, conn: i64, stream: i64) {
        let mut w = lock(&self.sizes);
        w.0 += conn;
        w.1 += stream;
        self.notify.notify_waiters();
    }
}

pub(super) async fn serve(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    script: H2Script,
    counters: &Counters,
) -> io::Result<()> {
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut preface = [0u8; 24];
    rd.read_exact(&mut preface).await?;
    if &preface != b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        return Err(io::Error::other("not an HTTP/2 client preface"));
    }
    // Answers to the client's frames (never blocking the reader) and the script's frames
    // (bounded: a flooding script waits for the socket).
    let (acks, mut acks_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (frames, mut frames_rx) = mpsc::channel::<Vec<u8>>(16);
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        wr.write_all(&frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]))
            .await?;
        loop {
            let next = tokio::select! {
                biased;
                Some(a) = acks_rx.recv() => a,
                Some(f) = frames_rx.recv() => f,
                else => return Ok::<(), io::Error>(()),
            };
            wr.write_all(&next).await?;
        }
    });
    let windows = Arc::new(Windows::default());
    windows.grow(65_535, 0);
    let mut initial_window: i64 = 65_535;
    loop {
        let mut head = [0u8; 9];
        if rd.read_exact(&mut head).await.is_err() {
            return Ok(());
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        rd.read_exact(&mut payload).await?;
        match kind {
            SETTINGS if flags & ACK == 0 => {
                for s in payload.chunks_exact(6) {
                    if u16::from_be_bytes([s[0], s[1]]) == 0x4 {
                        let size = i64::from(u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
                        windows.grow(0, size - initial_window);
                        initial_window = size;
                    }
                }
                let _ = acks.send(frame(SETTINGS, ACK, 0, &[]));
            }
            PING if flags & ACK == 0 => {
                let _ = acks.send(frame(PING, ACK, 0, &payload));
            }
            WINDOW_UPDATE if payload.len() == 4 => {
                let inc = i64::from(
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff,
                );
                if stream == 0 {
                    windows.grow(inc, 0);
                } else {
                    windows.grow(0, inc);
                }
            }
            HEADERS => {
                counters.request();
                {
                    // One request at a time: the stream window starts afresh.
                    let mut w = lock(&windows.sizes);
                    w.1 = initial_window;
                }
                tasks.spawn(answer(
                    script.clone(),
                    stream,
                    frames.clone(),
                    Arc::clone(&windows),
                ));
            }
            GOAWAY => return Ok(()),
            _ => {}
        }
    }
}

/// The script's answer on `stream`; ends when the writer is gone.
async fn answer(
    script: H2Script,
    stream: u32,
    out: mpsc::Sender<Vec<u8>>,
    windows: Arc<Windows>,
) -> io::Result<()> {
    let gone = |_| io::Error::other("connection writer gone");
    let ok = || {
        let mut f = frame(HEADERS, END_HEADERS, stream, &[STATUS_200]);
        f.extend(frame(DATA, END_STREAM, stream, b"ok"));
        f
    };
    match script {
        H2Script::Ok => out.send(ok()).await.map_err(gone)?,
        H2Script::OversizedHeaders(size) => {
            let frames = size.div_ceil(MAX_FRAME).max(1);
            // The first frame also carries `:status`: one field less.
            let mut first = vec![STATUS_200];
            first.extend(fill_block(0, PER_FRAME - 1));
            let flags = if frames == 1 { END_HEADERS } else { 0 };
            out.send(frame(HEADERS, flags, stream, &first))
                .await
                .map_err(gone)?;
            for i in 1..frames {
                let flags = if i + 1 == frames { END_HEADERS } else { 0 };
                let block = fill_block(i * PER_FRAME, PER_FRAME);
                out.send(frame(CONTINUATION, flags, stream, &block))
                    .await
                    .map_err(gone)?;
            }
            out.send(frame(DATA, END_STREAM, stream, b"ok"))
                .await
                .map_err(gone)?;
        }
        H2Script::ContinuationFlood => {
            out.send(frame(HEADERS, 0, stream, &[STATUS_200]))
                .await
                .map_err(gone)?;
            for i in 0.. {
                out.send(frame(
                    CONTINUATION,
                    0,
                    stream,
                    &fill_block(i * PER_FRAME, PER_FRAME),
                ))
                .await
                .map_err(gone)?;
            }
        }
        H2Script::EndlessBody => {
            out.send(frame(HEADERS, END_HEADERS, stream, &[STATUS_200]))
                .await
                .map_err(gone)?;
            let chunk = vec![b'b'; MAX_FRAME];
            loop {
                let n = windows.take(MAX_FRAME).await;
                out.send(frame(DATA, 0, stream, &chunk[..n]))
                    .await
                    .map_err(gone)?;
            }
        }
        H2Script::DataOnStreamZero => {
            out.send(frame(DATA, 0, 0, b"xx")).await.map_err(gone)?;
        }
        H2Script::BadPingLength => {
            out.send(frame(PING, 0, 0, &[0; 7])).await.map_err(gone)?;
        }
        H2Script::PingFlood(n) => {
            for i in 0..n {
                let payload = (i as u64).to_be_bytes();
                out.send(frame(PING, 0, 0, &payload)).await.map_err(gone)?;
            }
            out.send(ok()).await.map_err(gone)?;
        }
        H2Script::SettingsFlood(n) => {
            for _ in 0..n {
                out.send(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]))
                    .await
                    .map_err(gone)?;
            }
            out.send(ok()).await.map_err(gone)?;
        }
    }
    Ok(())
}
