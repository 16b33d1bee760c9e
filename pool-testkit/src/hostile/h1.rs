//! HTTP/1.1 misbehaviour, written by hand after reading the request head.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Counters;

/// What an HTTP/1.1 [`HostileTls`](super::HostileTls) answers to every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H1Script {
    /// A well-formed `200` with body `ok`, keep-alive: the control case.
    Ok,
    /// A `200` whose head carries about this many bytes of header lines, then body `ok`.
    OversizedHeaders(usize),
    /// `HTTP/1.1 200 OK`, then header lines forever (the head never ends).
    EndlessHeaders,
    /// A chunked `200` whose chunks never end.
    EndlessBody,
    /// A status line that is not one (`HTTP/1.1 abc`), then a well-formed rest.
    MalformedStatus,
}

/// One header line of filler (`x-fill-N: aaa…`, 1 KiB with its CRLF).
fn fill_line(n: usize) -> Vec<u8> {
    let mut line = format!("x-fill-{n:06}: ").into_bytes();
    line.resize(1022, b'a');
    line.extend_from_slice(b"\r\n");
    line
}

/// Reads one request head (up to the blank line); `false` when the client closed first.
async fn read_head(io: &mut (impl AsyncRead + Unpin)) -> io::Result<bool> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 1 << 20 {
            return Err(io::Error::other("request head over 1 MiB"));
        }
    }
    Ok(true)
}

pub(super) async fn serve(
    mut io: impl AsyncRead + AsyncWrite + Unpin,
    script: H1Script,
    counters: &Counters,
) -> io::Result<()> {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    while read_head(&mut io).await? {
        counters.request();
        match &script {
            H1Script::Ok => io.write_all(OK).await?,
            H1Script::OversizedHeaders(size) => {
                let mut head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
                let mut n = 0;
                while head.len() < *size {
                    head.extend_from_slice(&fill_line(n));
                    n += 1;
                }
                head.extend_from_slice(b"\r\nok");
                io.write_all(&head).await?;
            }
            H1Script::EndlessHeaders => {
                io.write_all(b"HTTP/1.1 200 OK\r\n").await?;
                for n in 0.. {
                    io.write_all(&fill_line(n)).await?;
                }
            }
            H1Script::EndlessBody => {
                io.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await?;
                let mut chunk = b"4000\r\n".to_vec();
                chunk.resize(6 + 0x4000, b'b');
                chunk.extend_from_slice(b"\r\n");
                loop {
                    io.write_all(&chunk).await?;
                }
            }
            H1Script::MalformedStatus => {
                io.write_all(b"HTTP/1.1 abc\r\ncontent-length: 2\r\n\r\nok")
                    .await?;
            }
        }
        io.flush().await?;
    }
    Ok(())
}
