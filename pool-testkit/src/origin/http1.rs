//! The HTTP/1.1 side of the local origins: a keep-alive request/response loop and a small
//! request parser (request line, headers, `content-length` bodies; no chunked bodies).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::h2::{Cmd, Shared, wait_for_close};
use super::{SERVED_BY, routes};

/// How long the rest of an HTTP/1.1 request may take once its first byte arrived.
const HTTP1_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The bytes `send_garbage_all` writes on idle HTTP/1.1 connections: an unsolicited
/// response, which a client that reuses the connection would mistake for its answer.
const GARBAGE: &[u8] = b"HTTP/1.1 418 Unsolicited\r\ncontent-length: 8\r\n\r\ngarbage!";

enum Http1Event {
    Data(io::Result<bool>),
    Cmd(Option<Cmd>),
}

/// Serves HTTP/1.1 on a TLS connection of the [`H2Origin`](super::H2Origin): a keep-alive
/// request/response loop that also obeys the origin's commands while idle.
pub(super) async fn serve_http1<S>(
    shared: Arc<Shared>,
    mut io: BufReader<S>,
    local_ip: IpAddr,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        // Idle: wait for the next request's first byte, or a command.
        let ev = tokio::select! {
            r = async { io.fill_buf().await.map(|b| b.is_empty()) } => Http1Event::Data(r),
            c = cmds.recv() => Http1Event::Cmd(c),
        };
        match ev {
            Http1Event::Data(Ok(false)) => {}
            Http1Event::Data(Ok(true)) | Http1Event::Data(Err(_)) => return,
            Http1Event::Cmd(Some(Cmd::Garbage)) => {
                let w = io.get_mut();
                if w.write_all(GARBAGE).await.is_err() || w.flush().await.is_err() {
                    return;
                }
                continue;
            }
            Http1Event::Cmd(Some(Cmd::GoAway)) => {
                let _ = io.get_mut().shutdown().await;
                return;
            }
            Http1Event::Cmd(Some(Cmd::Close) | None) => return,
        }
        let req = tokio::select! {
            r = tokio::time::timeout(HTTP1_REQUEST_TIMEOUT, read_http1_request(&mut io)) => r,
            _ = wait_for_close(&mut cmds) => return,
        };
        let req = match req {
            Ok(Ok(req)) => req,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "bad HTTP/1.1 request");
                let _ = io
                    .get_mut()
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = io.get_mut().shutdown().await;
                return;
            }
            Err(_) => return,
        };
        shared.record_languages(local_ip, req.accept_language.iter());
        let (status, body) = match routes::reply(&shared.responses, &req.path).settle().await {
            routes::Reply::Full { status, body, .. } => (status, body),
            routes::Reply::Stream {
                status, len, chunk, ..
            } => (
                status,
                routes::stream_chunks(len, chunk)
                    .flat_map(|b| b.to_vec())
                    .collect(),
            ),
            routes::Reply::Stall | routes::Reply::Delayed { .. } => {
                let _ = wait_for_close(&mut cmds).await;
                return;
            }
        };
        let body = &body;
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{SERVED_BY}: {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown"),
            body.len(),
            shared.served_by(local_ip),
        );
        if req.close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        shared.count_request(local_ip);
        let w = io.get_mut();
        let written = async {
            w.write_all(head.as_bytes()).await?;
            w.write_all(body).await?;
            w.flush().await
        };
        if written.await.is_err() {
            return;
        }
        if req.close {
            let _ = io.get_mut().shutdown().await;
            return;
        }
    }
}

struct Http1Request {
    path: String,
    accept_language: Vec<http::HeaderValue>,
    close: bool,
}

/// Reads one request: request line, headers, and a `content-length` body (discarded).
async fn read_http1_request<R: AsyncBufReadExt + Unpin>(io: &mut R) -> io::Result<Http1Request> {
    const MAX_LINE: u64 = 16 * 1024;
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let mut line = String::new();
    (&mut *io).take(MAX_LINE).read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (Some(_method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let mut close = version == "HTTP/1.0";
    let mut content_length = 0u64;
    let mut accept_language = Vec::new();
    loop {
        line.clear();
        let n = (&mut *io).take(MAX_LINE).read_line(&mut line).await?;
        if n == 0 {
            return Err(bad("connection closed inside the headers"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(bad("malformed header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| bad("bad content-length"))?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("accept-language") {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                accept_language.push(v);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked request bodies are not supported"));
        }
    }
    let copied =
        tokio::io::copy(&mut (&mut *io).take(content_length), &mut tokio::io::sink()).await?;
    if copied != content_length {
        return Err(bad("connection closed inside the body"));
    }
    Ok(Http1Request {
        path,
        accept_language,
        close,
    })
}
