//! The HTTP/1.1 side of the local TLS origin: hyper 1.x's `server::conn::http1` serving
//! the shared routes (`routes.rs`), with the keep-alive / `Connection: close` / HTTP/1.0 /
//! chunked knobs of [`Http1Options`]. The one HTTP/1.1 server of the kit: an HTTP/1.1-only
//! origin ([`H2OriginOptions::h1_only`](super::H2OriginOptions::h1_only)) and the ALPN mix
//! (the default `h2, http/1.1`) both come here once ALPN (or sniffing) picked HTTP/1.1.

use std::convert::Infallible;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Version, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

use super::routes::{self, Reply};
use super::{Cmd, SERVED_BY, Shared};
use crate::net::lock;

/// The bytes `send_garbage_all` writes on idle HTTP/1.1 connections: an unsolicited
/// response, which a client that reuses the connection would mistake for its answer.
const GARBAGE: &[u8] = b"HTTP/1.1 418 Unsolicited\r\ncontent-length: 8\r\n\r\ngarbage!";

/// How the origin's HTTP/1.1 side frames responses and ends connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http1Options {
    /// Keep connections open between requests (hyper's keep-alive). Off: every response
    /// carries `connection: close` and the server closes after it. Default: on.
    pub keep_alive: bool,
    /// Answer the n-th request of every connection (1-based) with `connection: close`
    /// and close after it. Default: `None` (never).
    pub close_after: Option<u64>,
    /// Answer as an HTTP/1.0 server: status line `HTTP/1.0`, no chunked encoding, and the
    /// connection closed after each response (no keep-alive). Default: off.
    pub http10: bool,
    /// Send every body with `transfer-encoding: chunked` (no `content-length`). Default:
    /// off (lengths are known for every route, streamed `/bytes/{n}` included).
    pub chunked: bool,
    /// Answer responses at random points with `connection: close` and close after them,
    /// as real servers do (a request limit, a reload): seeded, so a run replays. Default:
    /// `None` (never).
    pub random_close: Option<RandomClose>,
}

/// Seeded random `connection: close` on HTTP/1.1 responses ([`Http1Options::random_close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomClose {
    /// The seed of the draws (one per response, over the whole origin).
    pub seed: u64,
    /// One response in `one_in` (on average) closes its connection.
    pub one_in: u32,
}

impl Default for Http1Options {
    fn default() -> Self {
        Self {
            keep_alive: true,
            close_after: None,
            http10: false,
            chunked: false,
            random_close: None,
        }
    }
}

/// A response body of the origin: a full buffer or a lazily produced stream.
enum OriginBody {
    Full(Option<Bytes>),
    /// One chunk, then nothing ever again (`/stall-body`).
    StallAfter(Option<Bytes>),
    Stream {
        chunks: Box<dyn Iterator<Item = Bytes> + Send>,
        left: u64,
    },
}

struct ResponseBody {
    body: OriginBody,
    /// Hide the length so hyper frames the body as chunked (or, on HTTP/1.0, by close).
    hide_len: bool,
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match &mut self.body {
            OriginBody::Full(b) => b.take().filter(|b| !b.is_empty()),
            OriginBody::StallAfter(b) => match b.take() {
                Some(first) => Some(first),
                None => return Poll::Pending,
            },
            OriginBody::Stream { chunks, left } => {
                let c = chunks.next();
                *left -= c.as_ref().map_or(0, |c| c.len() as u64);
                c
            }
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            OriginBody::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            OriginBody::StallAfter(_) => false,
            OriginBody::Stream { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.hide_len {
            return SizeHint::default();
        }
        match &self.body {
            OriginBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            OriginBody::StallAfter(_) => SizeHint::default(),
            OriginBody::Stream { left, .. } => SizeHint::with_exact(*left),
        }
    }
}

/// The TLS stream behind a lock, so the connection task can write to it while hyper (not
/// being polled at that moment) owns it: `send_garbage_all` on an idle connection.
struct SharedIo<S>(Arc<Mutex<S>>);

impl<S: AsyncRead + Unpin> AsyncRead for SharedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SharedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_shutdown(cx)
    }
}

/// Serves HTTP/1.1 on a TLS connection of the [`H2Origin`](super::H2Origin) with hyper,
/// obeying the origin's commands (close, garbage, GOAWAY → a reload's graceful close)
/// meanwhile.
///
/// A reload closes a connection that has served a request as a server's old generation
/// does: at once when idle (hyper's graceful shutdown; a request the client is writing
/// just then meets a closed connection — the keep-alive race every HTTP/1.1 client has),
/// after its response (`connection: close`) when busy. A connection that has not served
/// any yet answers its first request, with `connection: close`: a reload does not cut a
/// fresh connection whose first request is on its way (the new generation would have
/// accepted it).
pub(super) async fn serve_http1<S>(
    shared: Arc<Shared>,
    io: S,
    local_ip: IpAddr,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let opts = shared.http1;
    let io = Arc::new(Mutex::new(io));
    let served = Arc::new(AtomicU64::new(0));
    let reloaded = Arc::new(AtomicBool::new(false));
    let service = {
        let shared = Arc::clone(&shared);
        let served = Arc::clone(&served);
        let reloaded = Arc::clone(&reloaded);
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let nth = served.fetch_add(1, Ordering::SeqCst) + 1;
            let close = reloaded.load(Ordering::SeqCst);
            async move { Ok::<_, Infallible>(respond(&shared, local_ip, opts, nth, close, req).await) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(opts.keep_alive && !opts.http10);
    let conn = builder.serve_connection(TokioIo::new(SharedIo(Arc::clone(&io))), service);
    let mut conn = std::pin::pin!(conn);
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP/1.1 connection error");
                }
                return;
            }
            cmd = cmds.recv() => match cmd {
                Some(Cmd::GoAway) => {
                    reloaded.store(true, Ordering::SeqCst);
                    if served.load(Ordering::SeqCst) > 0 {
                        conn.as_mut().graceful_shutdown();
                    }
                    shared.count_http1_reload_close(local_ip);
                }
                Some(Cmd::Garbage) => {
                    let written = async {
                        let mut w = SharedIo(Arc::clone(&io));
                        w.write_all(GARBAGE).await?;
                        w.flush().await
                    };
                    if written.await.is_err() {
                        return;
                    }
                }
                Some(Cmd::Close) | None => return,
            },
        }
    }
}

/// One request: the shared route, framed by `opts` (and closing the connection after it
/// when `close`); a `/stall` never returns.
async fn respond(
    shared: &Shared,
    local_ip: IpAddr,
    opts: Http1Options,
    nth: u64,
    close: bool,
    req: http::Request<Incoming>,
) -> http::Response<ResponseBody> {
    shared.record_languages(local_ip, req.headers().get_all(header::ACCEPT_LANGUAGE));
    let reply = routes::answer(
        &shared.responses,
        routes::Asked {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
        },
    )
    .settle()
    .await;
    let refused = matches!(reply, Reply::Refuse);
    let (status, headers, body) = match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, OriginBody::Full(Some(body))),
        Reply::Stream {
            status,
            headers,
            len,
            chunk,
        } => (
            status,
            headers,
            OriginBody::Stream {
                chunks: Box::new(routes::stream_chunks(len, chunk)),
                left: len,
            },
        ),
        Reply::StallBody {
            status,
            headers,
            first,
        } => (status, headers, OriginBody::StallAfter(Some(first))),
        Reply::Refuse => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            http::HeaderMap::new(),
            OriginBody::Full(None),
        ),
        Reply::Stall | Reply::Delayed { .. } => std::future::pending().await,
    };
    let mut resp = http::Response::new(ResponseBody {
        body,
        hide_len: opts.chunked || opts.http10,
    });
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if let Ok(v) = HeaderValue::from_str(&shared.served_by(local_ip)) {
        resp.headers_mut().insert(SERVED_BY, v);
    }
    if opts.http10 {
        *resp.version_mut() = Version::HTTP_10;
    }
    let closing = opts.http10
        || !opts.keep_alive
        || opts.close_after.is_some_and(|n| nth >= n)
        || refused
        || close
        || shared.draw_random_close();
    if closing {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    shared.count_http1(local_ip, nth > 1, closing);
    shared.count_request(local_ip);
    resp
}
