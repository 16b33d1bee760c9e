//! A TLS + HTTP/2 origin (with a minimal HTTP/1.1 fallback) on one port of several IPs.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::ca::TestCa;
use super::util::{OnDrop, bind_shared_port, wait_until};

/// How long a TLS handshake or the HTTP/2 preface may take before the server gives up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the rest of an HTTP/1.1 request may take once its first byte arrived.
const HTTP1_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The bytes `send_garbage_all` writes on idle HTTP/1.1 connections: an unsolicited
/// response, which a client that reuses the connection would mistake for its answer.
const GARBAGE: &[u8] = b"HTTP/1.1 418 Unsolicited\r\ncontent-length: 8\r\n\r\ngarbage!";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another holder cannot leave these plain collections inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Options of an [`H2Origin`].
#[derive(Debug, Clone)]
pub struct H2OriginOptions {
    /// The addresses to listen on, all on one shared port. Default: `[127.0.0.1]`.
    pub addrs: Vec<IpAddr>,
    /// The names (SANs) of the served certificate; strings that parse as IP addresses
    /// become IP SANs. Default: `["localhost"]`.
    pub names: Vec<String>,
    /// The CA that issues the certificate; `None` generates a fresh one (see
    /// [`H2Origin::ca`]).
    pub ca: Option<Arc<TestCa>>,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` advertised to clients; `None` leaves h2's
    /// default (no limit sent).
    pub max_concurrent_streams: Option<u32>,
    /// ALPN protocols offered, in preference order. Default: `h2`, `http/1.1`. Empty:
    /// no ALPN at all (the handshake then negotiates none; the server sniffs for the
    /// HTTP/2 preface and otherwise speaks HTTP/1.1).
    pub alpn: Vec<Vec<u8>>,
    /// Delay before each response (also changeable with [`H2Origin::set_delay`]).
    pub delay: Option<Duration>,
    /// The body of every response. Default: `"hello from hotpool\n"`.
    pub body: Bytes,
    /// The port to listen on (every address). Default 0: a free port, shared by all
    /// addresses. A fixed port lets a test start a server where connections were refused.
    pub port: u16,
}

impl Default for H2OriginOptions {
    fn default() -> Self {
        Self {
            addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            names: vec!["localhost".to_owned()],
            ca: None,
            max_concurrent_streams: None,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            delay: None,
            body: Bytes::from_static(b"hello from hotpool\n"),
            port: 0,
        }
    }
}

impl H2OriginOptions {
    /// Default options listening on `addrs` with a certificate for `names`, issued by `ca`.
    pub fn new(addrs: &[IpAddr], names: &[&str], ca: &Arc<TestCa>) -> Self {
        Self {
            addrs: addrs.to_vec(),
            names: names.iter().map(|s| (*s).to_owned()).collect(),
            ca: Some(Arc::clone(ca)),
            ..Self::default()
        }
    }
}

/// A snapshot of an origin's counters (for one listening address, or in total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// TLS handshakes completed.
    pub handshakes: u64,
    /// TLS handshakes that failed or timed out (wrong name, unknown CA, ALPN mismatch…).
    pub handshake_failures: u64,
    /// Connections currently open (accepted and not yet closed, handshaking included).
    pub open_connections: u64,
    /// Connections that ended up speaking HTTP/2.
    pub h2_connections: u64,
    /// Connections that ended up speaking HTTP/1.1.
    pub http1_connections: u64,
    /// Requests answered (counted just before the response is sent).
    pub requests: u64,
    /// The highest number of requests in progress at once on any single connection.
    pub max_concurrent_streams_seen: u64,
    /// Client (peer) socket addresses, in the order their connections were accepted.
    pub peers: Vec<SocketAddr>,
    /// Every `accept-language` header value received, in order.
    pub accept_languages: Vec<String>,
}

impl OriginStats {
    fn merge(&mut self, o: &OriginStats) {
        self.accepted += o.accepted;
        self.handshakes += o.handshakes;
        self.handshake_failures += o.handshake_failures;
        self.open_connections += o.open_connections;
        self.h2_connections += o.h2_connections;
        self.http1_connections += o.http1_connections;
        self.requests += o.requests;
        self.max_concurrent_streams_seen = self
            .max_concurrent_streams_seen
            .max(o.max_concurrent_streams_seen);
        self.peers.extend_from_slice(&o.peers);
        self.accept_languages.extend_from_slice(&o.accept_languages);
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
    open: AtomicU64,
    h2: AtomicU64,
    http1: AtomicU64,
    requests: AtomicU64,
    max_streams: AtomicU64,
    peers: Mutex<Vec<SocketAddr>>,
    accept_languages: Mutex<Vec<String>>,
}

impl Counters {
    fn snapshot(&self) -> OriginStats {
        OriginStats {
            accepted: self.accepted.load(Ordering::SeqCst),
            handshakes: self.handshakes.load(Ordering::SeqCst),
            handshake_failures: self.handshake_failures.load(Ordering::SeqCst),
            open_connections: self.open.load(Ordering::SeqCst),
            h2_connections: self.h2.load(Ordering::SeqCst),
            http1_connections: self.http1.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
            max_concurrent_streams_seen: self.max_streams.load(Ordering::SeqCst),
            peers: lock(&self.peers).clone(),
            accept_languages: lock(&self.accept_languages).clone(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Cmd {
    GoAway,
    Close,
    Garbage,
}

struct ConnEntry {
    cmd: mpsc::UnboundedSender<Cmd>,
    /// A second handle on the TCP socket, so `reset_all` can set SO_LINGER 0 while the
    /// connection task owns the stream. Dropped when the task ends.
    sock: socket2::Socket,
}

struct Shared {
    notify: Notify,
    counters: BTreeMap<IpAddr, Counters>,
    statuses: Mutex<HashMap<String, u16>>,
    delay: Mutex<Option<Duration>>,
    body: Bytes,
    max_concurrent_streams: Option<u32>,
    port: u16,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    next_conn: AtomicU64,
    ping_frozen: watch::Sender<bool>,
}

impl Shared {
    fn counters(&self, ip: IpAddr) -> &Counters {
        // Connections are only accepted on addresses from the map's keys.
        match self.counters.get(&ip) {
            Some(c) => c,
            None => self
                .counters
                .values()
                .next()
                .expect("an origin always has at least one address"),
        }
    }

    fn bump(&self, f: impl FnOnce()) {
        f();
        self.notify.notify_waiters();
    }

    fn status_for(&self, path: &str) -> u16 {
        lock(&self.statuses).get(path).copied().unwrap_or(200)
    }

    fn delay(&self) -> Option<Duration> {
        *lock(&self.delay)
    }

    fn signal_all(&self, cmd: Cmd) -> usize {
        let conns = lock(&self.conns);
        conns.values().filter(|c| c.cmd.send(cmd).is_ok()).count()
    }
}

/// A local TLS + HTTP/2 origin listening on one port of several addresses.
///
/// Responses are `200` with [`H2OriginOptions::body`] unless a status was set for the
/// request's path with [`set_status`](Self::set_status); every response carries an
/// `x-served-by: IP:PORT` header naming the listening address that served it. The
/// request body is read and discarded. HTTP/1.1 (when ALPN `http/1.1` is chosen, or no
/// ALPN and no HTTP/2 preface) is served as a keep-alive request/response loop.
///
/// Dropping the origin aborts its tasks; [`shutdown`](Self::shutdown) also waits for them.
pub struct H2Origin {
    shared: Arc<Shared>,
    ca: Arc<TestCa>,
    names: Vec<String>,
    addrs: Vec<IpAddr>,
    port: u16,
    shutdown_tx: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for H2Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Origin")
            .field("addrs", &self.addrs)
            .field("port", &self.port)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl H2Origin {
    /// Starts the origin: binds every address on one shared port (the first on port 0,
    /// retrying the whole set if that port is taken elsewhere) and starts accepting.
    pub async fn start(options: H2OriginOptions) -> io::Result<H2Origin> {
        let ca = match options.ca {
            Some(ca) => ca,
            None => Arc::new(TestCa::new()?),
        };
        let names: Vec<&str> = options.names.iter().map(String::as_str).collect();
        let tls = ca.server_config(&names, &options.alpn, false)?;
        let acceptor = TlsAcceptor::from(Arc::new(tls));

        let bind = |addr: SocketAddr| {
            let sock = std::net::TcpListener::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
            sock.set_nonblocking(true)?;
            TcpListener::from_std(sock)
        };
        let (port, listeners) = if options.port == 0 {
            bind_shared_port(&options.addrs, bind, |l| l.local_addr().map(|a| a.port()))?
        } else {
            let listeners = options
                .addrs
                .iter()
                .map(|ip| bind(SocketAddr::new(*ip, options.port)))
                .collect::<io::Result<Vec<_>>>()?;
            (options.port, listeners)
        };

        let shared = Arc::new(Shared {
            notify: Notify::new(),
            counters: options
                .addrs
                .iter()
                .map(|ip| (*ip, Counters::default()))
                .collect(),
            statuses: Mutex::new(HashMap::new()),
            delay: Mutex::new(options.delay),
            body: options.body,
            max_concurrent_streams: options.max_concurrent_streams,
            port,
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            ping_frozen: watch::Sender::new(false),
        });
        let (shutdown_tx, _) = watch::channel(false);
        let tasks = listeners
            .into_iter()
            .map(|l| {
                tokio::spawn(accept_loop(
                    l,
                    Arc::clone(&shared),
                    acceptor.clone(),
                    shutdown_tx.subscribe(),
                ))
            })
            .collect();
        tracing::debug!(addrs = ?options.addrs, port, "h2 origin listening");
        Ok(H2Origin {
            shared,
            ca,
            names: options.names,
            addrs: options.addrs,
            port,
            shutdown_tx,
            tasks: Mutex::new(tasks),
        })
    }

    /// The shared port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listening IP addresses, in the order given.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The listening socket addresses (every address with the shared port).
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect()
    }

    /// The CA that issued the served certificate.
    pub fn ca(&self) -> &Arc<TestCa> {
        &self.ca
    }

    /// The certificate's names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Counters summed over all addresses (`max_concurrent_streams_seen` is the maximum).
    pub fn stats(&self) -> OriginStats {
        let mut total = OriginStats::default();
        for c in self.shared.counters.values() {
            total.merge(&c.snapshot());
        }
        total
    }

    /// Counters of one listening address (`None` if the origin does not listen there).
    pub fn stats_for(&self, ip: IpAddr) -> Option<OriginStats> {
        self.shared.counters.get(&ip).map(Counters::snapshot)
    }

    /// Counters of every listening address.
    pub fn per_addr_stats(&self) -> BTreeMap<IpAddr, OriginStats> {
        self.shared
            .counters
            .iter()
            .map(|(ip, c)| (*ip, c.snapshot()))
            .collect()
    }

    /// Waits (at most `timeout`) until `cond(self)` holds; re-checked on every counter
    /// change. Returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        wait_until(&self.shared.notify, timeout, || cond(self)).await
    }

    /// Answers requests for exactly `path` (query string excluded) with `status` from now
    /// on. An invalid status code is answered as 500.
    pub fn set_status(&self, path: &str, status: u16) {
        lock(&self.shared.statuses).insert(path.to_owned(), status);
    }

    /// Removes a status override set with [`set_status`](Self::set_status).
    pub fn clear_status(&self, path: &str) {
        lock(&self.shared.statuses).remove(path);
    }

    /// Sets (or with `None` removes) a delay before every response.
    pub fn set_delay(&self, delay: Option<Duration>) {
        *lock(&self.shared.delay) = delay;
    }

    /// Sends a graceful GOAWAY on every open HTTP/2 connection (in-flight streams finish,
    /// then the connection closes); idle HTTP/1.1 connections are closed with a TLS
    /// close_notify. Returns how many connections were signalled.
    pub fn goaway_all(&self) -> usize {
        self.shared.signal_all(Cmd::GoAway)
    }

    /// Drops every connection (TCP FIN, no GOAWAY, no close_notify). Returns how many.
    pub fn close_all(&self) -> usize {
        self.shared.signal_all(Cmd::Close)
    }

    /// Resets every connection: SO_LINGER 0, then close, so the peer gets a TCP RST.
    /// Returns how many.
    pub fn reset_all(&self) -> usize {
        let conns = lock(&self.shared.conns);
        let mut n = 0;
        for c in conns.values() {
            if let Err(e) = c.sock.set_linger(Some(Duration::ZERO)) {
                tracing::warn!(error = %e, "SO_LINGER 0 failed; connection will close with FIN");
            }
            if c.cmd.send(Cmd::Close).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Writes unexpected bytes (an unsolicited HTTP/1.1 response) on every idle HTTP/1.1
    /// connection; HTTP/2 connections ignore it. Returns how many connections were
    /// signalled (of any protocol).
    pub fn send_garbage_all(&self) -> usize {
        self.shared.signal_all(Cmd::Garbage)
    }

    /// Freezes (or thaws) every HTTP/2 connection: while frozen the server stops polling
    /// them, so PINGs (and requests) go unanswered. Connections opened while frozen are
    /// frozen too, right after their handshake.
    pub fn set_ping_frozen(&self, frozen: bool) {
        self.shared.ping_frozen.send_replace(frozen);
    }

    /// Stops listening, closes every connection and waits until all tasks have ended (no
    /// socket of this origin is open afterwards). Calling it again is a no-op.
    pub async fn shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            if let Err(e) = t.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "h2 origin task panicked");
            }
        }
        lock(&self.shared.conns).clear();
        self.shared.notify.notify_waiters();
    }
}

impl Drop for H2Origin {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
        for t in lock(&self.tasks).iter() {
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    // Without this, Nagle holds the server's second small write until the
                    // client's delayed ACK (40 ms) and every fresh connection looks slow.
                    let _ = tcp.set_nodelay(true);
                    let local_ip = match tcp.local_addr() {
                        Ok(a) => a.ip(),
                        Err(_) => continue,
                    };
                    let sock = match socket2::SockRef::from(&tcp).try_clone() {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot duplicate accepted socket");
                            continue;
                        }
                    };
                    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
                    let (tx, rx) = mpsc::unbounded_channel();
                    lock(&shared.conns).insert(id, ConnEntry { cmd: tx, sock });
                    let c = shared.counters(local_ip);
                    lock(&c.peers).push(peer);
                    c.open.fetch_add(1, Ordering::SeqCst);
                    shared.bump(|| {
                        c.accepted.fetch_add(1, Ordering::SeqCst);
                    });
                    let shared2 = Arc::clone(&shared);
                    let acceptor = acceptor.clone();
                    conns.spawn(async move {
                        let s = Arc::clone(&shared2);
                        let _guard = OnDrop(Some(move || {
                            lock(&s.conns).remove(&id);
                            s.bump(|| {
                                s.counters(local_ip).open.fetch_sub(1, Ordering::SeqCst);
                            });
                        }));
                        serve_conn(shared2, tcp, local_ip, acceptor, rx).await;
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    // e.g. EMFILE: back off a little instead of spinning.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

async fn serve_conn(
    shared: Arc<Shared>,
    tcp: TcpStream,
    local_ip: IpAddr,
    acceptor: TlsAcceptor,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) {
    let counters = shared.counters(local_ip);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                shared.bump(|| { counters.handshake_failures.fetch_add(1, Ordering::SeqCst); });
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                shared.bump(|| { counters.handshake_failures.fetch_add(1, Ordering::SeqCst); });
                return;
            }
        },
        cmd = wait_for_close(&mut cmds) => {
            tracing::debug!(?cmd, "connection closed during handshake");
            return;
        }
    };
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    shared.bump(|| {
        counters.handshakes.fetch_add(1, Ordering::SeqCst);
    });
    let mut io = BufReader::new(tls);
    let is_h2 = match alpn.as_deref() {
        Some(b"h2") => true,
        Some(_) => false,
        // No ALPN: sniff for the HTTP/2 connection preface (prior knowledge).
        None => {
            // A strict prefix of the preface counts too: no HTTP/1.1 method is "PRI".
            let sniff = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                let buf = io.fill_buf().await?;
                io::Result::Ok(
                    !buf.is_empty() && (buf.starts_with(H2_PREFACE) || H2_PREFACE.starts_with(buf)),
                )
            });
            matches!(sniff.await, Ok(Ok(true)))
        }
    };
    if is_h2 {
        shared.bump(|| {
            counters.h2.fetch_add(1, Ordering::SeqCst);
        });
        serve_h2(shared, io, local_ip, cmds).await;
    } else {
        shared.bump(|| {
            counters.http1.fetch_add(1, Ordering::SeqCst);
        });
        serve_http1(shared, io, local_ip, cmds).await;
    }
}

/// Resolves on `Close` (or when the origin forgets the connection); ignores the rest.
async fn wait_for_close(cmds: &mut mpsc::UnboundedReceiver<Cmd>) -> Option<Cmd> {
    loop {
        match cmds.recv().await {
            Some(Cmd::Close) | None => return Some(Cmd::Close),
            Some(_) => {}
        }
    }
}

async fn serve_h2<S>(
    shared: Arc<Shared>,
    io: S,
    local_ip: IpAddr,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = h2::server::Builder::new();
    if let Some(n) = shared.max_concurrent_streams {
        builder.max_concurrent_streams(n);
    }
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, builder.handshake::<S, Bytes>(io));
    let mut conn = tokio::select! {
        r = handshake => match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "h2 handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("h2 handshake timed out");
                return;
            }
        },
        _ = wait_for_close(&mut cmds) => return,
    };
    let mut frozen = shared.ping_frozen.subscribe();
    let active = Arc::new(AtomicU64::new(0));
    let mut streams = JoinSet::new();
    loop {
        let is_frozen = *frozen.borrow_and_update();
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(Cmd::GoAway) => conn.graceful_shutdown(),
                Some(Cmd::Garbage) => {}
                Some(Cmd::Close) | None => return,
            },
            r = frozen.changed() => {
                if r.is_err() {
                    return;
                }
            }
            r = conn.accept(), if !is_frozen => match r {
                Some(Ok((req, respond))) => {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    shared.counters(local_ip).max_streams.fetch_max(now, Ordering::SeqCst);
                    let shared = Arc::clone(&shared);
                    let active = Arc::clone(&active);
                    streams.spawn(async move {
                        let _guard = OnDrop(Some(move || {
                            active.fetch_sub(1, Ordering::SeqCst);
                        }));
                        if let Err(e) = handle_h2_request(&shared, local_ip, req, respond).await {
                            tracing::debug!(error = %e, "h2 request failed");
                        }
                    });
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "h2 connection error");
                    return;
                }
                None => return,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
        }
    }
}

async fn handle_h2_request(
    shared: &Shared,
    local_ip: IpAddr,
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let (parts, mut body) = req.into_parts();
    record_languages(
        shared,
        local_ip,
        parts.headers.get_all(http::header::ACCEPT_LANGUAGE),
    );
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if let Some(d) = shared.delay() {
        tokio::time::sleep(d).await;
    }
    let status = http::StatusCode::from_u16(shared.status_for(parts.uri.path()))
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let response = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .header("x-served-by", served_by(shared, local_ip))
        .body(())
        .unwrap_or_default();
    let c = shared.counters(local_ip);
    shared.bump(|| {
        c.requests.fetch_add(1, Ordering::SeqCst);
    });
    let mut send = respond.send_response(response, false)?;
    send.send_data(shared.body.clone(), true)?;
    Ok(())
}

fn served_by(shared: &Shared, local_ip: IpAddr) -> String {
    SocketAddr::new(local_ip, shared.port).to_string()
}

fn record_languages<'a>(
    shared: &Shared,
    local_ip: IpAddr,
    values: impl IntoIterator<Item = &'a http::HeaderValue>,
) {
    let c = shared.counters(local_ip);
    let mut langs = lock(&c.accept_languages);
    for v in values {
        langs.push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
}

enum Http1Event {
    Data(io::Result<bool>),
    Cmd(Option<Cmd>),
}

async fn serve_http1<S>(
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
        record_languages(&shared, local_ip, req.accept_language.iter());
        if let Some(d) = shared.delay() {
            tokio::time::sleep(d).await;
        }
        let status = http::StatusCode::from_u16(shared.status_for(&req.path))
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-served-by: {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown"),
            shared.body.len(),
            served_by(&shared, local_ip),
        );
        if req.close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        let c = shared.counters(local_ip);
        shared.bump(|| {
            c.requests.fetch_add(1, Ordering::SeqCst);
        });
        let w = io.get_mut();
        let written = async {
            w.write_all(head.as_bytes()).await?;
            w.write_all(&shared.body).await?;
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
