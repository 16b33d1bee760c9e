//! The capture origin: records the ClientHello off the TCP stream, replays it to rustls,
//! then serves HTTP/2 (recording the client's first frames) or HTTP/1.1.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::{CAPTURE_LIMIT, Captured, parse_h2_preface};
use crate::TestCa;
use crate::net::lock;

/// The body of every `200`.
const BODY: &str = "hello from the capture origin\n";

#[derive(Debug, Default)]
struct State {
    entries: Mutex<Vec<Captured>>,
    notify: Notify,
}

impl State {
    fn update(&self, index: usize, settle: bool, f: impl FnOnce(&mut Captured)) {
        if let Some(e) = lock(&self.entries).get_mut(index) {
            f(e);
            e.complete |= settle;
        }
        self.notify.notify_waiters();
    }
}

/// A TLS origin on one loopback address that records what every client sends (see the
/// [module docs](super)).
#[derive(Debug)]
pub struct CaptureOrigin {
    addr: SocketAddr,
    host: String,
    ca: Arc<TestCa>,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl CaptureOrigin {
    /// Listens on `ip` (a free port) with a certificate for `host` issued by a new
    /// [`TestCa`] (see [`ca`](Self::ca), [`ca_pem`](Self::ca_pem)). It issues no session
    /// tickets and keeps no sessions, so every client's ClientHello is a first contact's
    /// (what fingerprints describe); [`start_resuming`](Self::start_resuming) issues them.
    pub async fn start(host: &str, ip: IpAddr) -> io::Result<CaptureOrigin> {
        Self::start_with_ca(host, ip, Arc::new(TestCa::new()?)).await
    }

    /// As [`start`](Self::start), with a certificate from `ca`.
    pub async fn start_with_ca(host: &str, ip: IpAddr, ca: Arc<TestCa>) -> io::Result<Self> {
        Self::listen(host, ip, ca, false).await
    }

    /// As [`start`](Self::start), but the origin issues TLS 1.3 session tickets (two per
    /// handshake, rustls' default) and resumes sessions, so a client's later
    /// ClientHellos show how it resumes (`pre_shared_key`).
    pub async fn start_resuming(host: &str, ip: IpAddr) -> io::Result<CaptureOrigin> {
        Self::listen(host, ip, Arc::new(TestCa::new()?), true).await
    }

    async fn listen(host: &str, ip: IpAddr, ca: Arc<TestCa>, resume: bool) -> io::Result<Self> {
        let mut config =
            ca.server_config(&[host], &[b"h2".to_vec(), b"http/1.1".to_vec()], false)?;
        if !resume {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&state)));
        Ok(Self {
            addr,
            host: host.to_owned(),
            ca,
            state,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host name its certificate is for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The CA that issued its certificate (trust it: `ca().root_store()`).
    pub fn ca(&self) -> &Arc<TestCa> {
        &self.ca
    }

    /// The CA certificate, PEM encoded (for a browser or a client in another process).
    pub fn ca_pem(&self) -> String {
        self.ca.ca_cert_pem()
    }

    /// One record per accepted connection, in accept order (records still being filled
    /// included).
    pub fn captures(&self) -> Vec<Captured> {
        lock(&self.state.entries).clone()
    }

    /// Waits (at most `within`) until `n` connections are recorded completely: the
    /// handshake failed, or ALPN is not `h2`, or the first HTTP/2 request arrived, or the
    /// connection ended. Returns [`captures`](Self::captures) then (fewer than `n` on
    /// time-out).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.notify.notified();
            let settled = lock(&self.state.entries)
                .iter()
                .filter(|e| e.complete)
                .count();
            if settled >= n || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.captures();
            }
        }
    }

    /// Stops accepting and ends every connection.
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

impl Drop for CaptureOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    // The connection tasks live in the set: aborting the accept loop drops (aborts) them.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    conns.spawn(serve(tcp, peer, acceptor.clone(), Arc::clone(&state)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "capture origin: accept failed");
                    return;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Reads the TLS records that carry the ClientHello: returns the raw record bytes (to
/// replay) and the handshake message.
async fn read_client_hello(tcp: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut message = Vec::new();
    loop {
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await?;
        raw.extend_from_slice(&header);
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if header[0] != 22 || raw.len() + len > CAPTURE_LIMIT {
            // Not a handshake (or too big): hand what we have to rustls, which refuses it.
            return Ok((raw, Vec::new()));
        }
        let start = raw.len();
        raw.resize(start + len, 0);
        tcp.read_exact(&mut raw[start..]).await?;
        message.extend_from_slice(&raw[start..]);
        if message.len() >= 4 {
            let want = 4
                + ((usize::from(message[1]) << 16)
                    | (usize::from(message[2]) << 8)
                    | usize::from(message[3]));
            if message.len() >= want {
                message.truncate(want);
                return Ok((raw, message));
            }
        }
    }
}

async fn serve(tcp: TcpStream, peer: SocketAddr, acceptor: TlsAcceptor, state: Arc<State>) {
    let index = {
        let mut entries = lock(&state.entries);
        entries.push(Captured {
            peer,
            client_hello: Vec::new(),
            alpn: None,
            h2: None,
            h1_head: None,
            handshake_ok: false,
            complete: false,
        });
        entries.len() - 1
    };
    state.notify.notify_waiters();
    let outcome = serve_conn(tcp, index, &acceptor, &state).await;
    if let Err(e) = outcome {
        tracing::debug!(error = %e, %peer, "capture origin: connection ended");
    }
    state.update(index, true, |_| {});
}

async fn serve_conn(
    mut tcp: TcpStream,
    index: usize,
    acceptor: &TlsAcceptor,
    state: &Arc<State>,
) -> io::Result<()> {
    let (raw, message) = read_client_hello(&mut tcp).await?;
    state.update(index, false, |c| c.client_hello = message);
    let tls = acceptor
        .accept(Replay {
            prefix: raw,
            pos: 0,
            inner: tcp,
        })
        .await?;
    let alpn = tls
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let h2 = alpn.as_deref() == Some("h2");
    state.update(index, false, |c| {
        c.handshake_ok = true;
        c.alpn = alpn;
    });
    if h2 {
        serve_h2(tls, index, state).await
    } else {
        serve_h1(tls, index, state).await
    }
}

fn status_for(path: &str) -> u16 {
    if path == "/403" { 403 } else { 200 }
}

async fn serve_h2<S>(tls: S, index: usize, state: &Arc<State>) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let stream = Recording {
        inner: tls,
        recorded: Arc::clone(&recorded),
    };
    let mut conn = h2::server::handshake(stream)
        .await
        .map_err(io::Error::other)?;
    let mut first = true;
    while let Some(next) = conn.accept().await {
        let (request, mut respond) = next.map_err(io::Error::other)?;
        if first {
            first = false;
            let preface = parse_h2_preface(&lock(&recorded));
            match preface {
                Ok(p) => state.update(index, true, |c| c.h2 = Some(p)),
                Err(e) => tracing::warn!(error = %e, "capture origin: HTTP/2 preface"),
            }
        }
        let response = http::Response::builder()
            .status(status_for(request.uri().path()))
            .body(())
            .map_err(io::Error::other)?;
        let mut send = respond
            .send_response(response, false)
            .map_err(io::Error::other)?;
        send.send_data(Bytes::from_static(BODY.as_bytes()), true)
            .map_err(io::Error::other)?;
    }
    Ok(())
}

async fn serve_h1<S>(tls: S, index: usize, state: &Arc<State>) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let stream = Recording {
        inner: tls,
        recorded: Arc::clone(&recorded),
    };
    let state = Arc::clone(state);
    let service =
        hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            {
                let bytes = lock(&recorded);
                if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&bytes[..end + 4]).into_owned();
                    state.update(index, true, |c| {
                        c.h1_head.get_or_insert(head);
                    });
                }
            }
            let response = http::Response::builder()
                .status(status_for(request.uri().path()))
                .body(BODY.to_owned());
            async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
        });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await
        .map_err(io::Error::other)
}

/// A stream that first yields `prefix` (bytes already read off `inner`), then `inner`.
struct Replay<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A stream that copies the first [`CAPTURE_LIMIT`] bytes it reads into `recorded`.
struct Recording<S> {
    inner: S,
    recorded: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let mut recorded = lock(&this.recorded);
            let room = CAPTURE_LIMIT.saturating_sub(recorded.len());
            let new = &buf.filled()[before..];
            recorded.extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
