//! A TLS origin on one port of several IPs: HTTP/2 (its requests: `h2_request.rs`) and
//! HTTP/1.1 (`h1.rs`), by ALPN.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::h1::{Http1Options, serve_http1};
use super::h2_request::{ActiveStream, handle_h2_request};
use super::h2_stats::{Counters, OriginStats};
use super::{Cmd, ConnEntry, Responses, Shared};
use crate::ca::TestCa;
use crate::net::{OnDrop, bind_shared_port, lock};
use crate::wait::until;

/// How long a TLS handshake or the HTTP/2 preface may take before the server gives up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

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
    /// How HTTP/1.1 connections are answered (keep-alive, `Connection: close`, HTTP/1.0,
    /// chunked).
    pub http1: Http1Options,
    /// Mutual TLS: require a client certificate issued by the origin's CA (a handshake
    /// without one fails). Default: false.
    pub require_client_cert: bool,
    /// No TLS: an `http://` origin on plain TCP, serving HTTP/1.1, or HTTP/2 to a client
    /// that opens with the HTTP/2 preface (h2c with prior knowledge, RFC 9113 §3.3) —
    /// told apart by sniffing, as a TLS connection without ALPN is. The same routes,
    /// counters and commands (no TLS `handshakes`: `accepted` counts connections).
    /// Default: false.
    pub plain: bool,
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
            http1: Http1Options::default(),
            require_client_cert: false,
            plain: false,
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

    /// [`new`](Self::new) with ALPN `http/1.1` only: an HTTP/1.1-only origin.
    pub fn h1_only(addrs: &[IpAddr], names: &[&str], ca: &Arc<TestCa>) -> Self {
        Self {
            alpn: vec![b"http/1.1".to_vec()],
            ..Self::new(addrs, names, ca)
        }
    }

    /// An `http://` origin (no TLS, [`plain`](Self::plain)) listening on `addrs`: HTTP/1.1,
    /// and h2c for clients that open with the HTTP/2 preface.
    pub fn plain(addrs: &[IpAddr]) -> Self {
        Self {
            addrs: addrs.to_vec(),
            plain: true,
            ..Self::default()
        }
    }

    /// [`new`](Self::new) with ALPN `h2` only: an HTTP/2-only origin.
    pub fn h2_only(addrs: &[IpAddr], names: &[&str], ca: &Arc<TestCa>) -> Self {
        Self {
            alpn: vec![b"h2".to_vec()],
            ..Self::new(addrs, names, ca)
        }
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
    /// `None`: a plain (`http://`) origin.
    acceptor: Option<TlsAcceptor>,
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
        let mut tls = ca.server_config(&names, &options.alpn, false)?;
        if options.require_client_cert {
            tls = ca.requiring_client_certs(tls)?;
        }
        let acceptor = (!options.plain).then(|| TlsAcceptor::from(Arc::new(tls)));

        let (port, listeners) = if options.port == 0 {
            bind_shared_port(&options.addrs, bind_listener, |l| {
                l.local_addr().map(|a| a.port())
            })?
        } else {
            let listeners = options
                .addrs
                .iter()
                .map(|ip| bind_listener(SocketAddr::new(*ip, options.port)))
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
            responses: Responses::new(options.delay, options.body),
            max_concurrent_streams: options.max_concurrent_streams,
            http1: options.http1,
            port,
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            ping_frozen: watch::Sender::new(false),
            reloads: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            close_draws: Mutex::new(options.http1.random_close.map_or(0, |r| r.seed)),
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
            acceptor,
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

    /// One address's counters, with the origin-wide figures.
    fn snapshot(&self, c: &Counters) -> OriginStats {
        let shared = &self.shared;
        c.snapshot(
            shared.reloads.load(Ordering::SeqCst),
            shared.restarts.load(Ordering::SeqCst),
        )
    }

    /// Counters summed over all addresses (`max_concurrent_streams_seen` is the maximum).
    pub fn stats(&self) -> OriginStats {
        let mut total = OriginStats::default();
        for c in self.shared.counters.values() {
            total.merge(&self.snapshot(c));
        }
        total
    }

    /// Counters of one listening address (`None` if the origin does not listen there).
    pub fn stats_for(&self, ip: IpAddr) -> Option<OriginStats> {
        self.shared.counters.get(&ip).map(|c| self.snapshot(c))
    }

    /// Counters of every listening address.
    pub fn per_addr_stats(&self) -> BTreeMap<IpAddr, OriginStats> {
        self.shared
            .counters
            .iter()
            .map(|(ip, c)| (*ip, self.snapshot(c)))
            .collect()
    }

    /// Waits (at most `timeout`) until `cond(self)` holds; re-checked on every counter
    /// change. Returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        until(Some(&self.shared.notify), timeout, || cond(self)).await
    }

    /// Answers requests for exactly `path` (query string excluded) with `status` from now
    /// on. An invalid status code is answered as 500.
    pub fn set_status(&self, path: &str, status: u16) {
        self.shared.responses.set_status(path, status);
    }

    /// Removes a status override set with [`set_status`](Self::set_status).
    pub fn clear_status(&self, path: &str) {
        self.shared.responses.clear_status(path);
    }

    /// Sets (or with `None` removes) a delay before every response.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.shared.responses.set_delay(delay);
    }

    /// Enforces `limit` (or with `None` none) on paths under `/limited`
    /// ([`LIMITED_PREFIX`](super::LIMITED_PREFIX)), as a web server's rate limit: above the
    /// rate, its status (429) and `Retry-After`.
    pub fn set_rate_limit(&self, limit: Option<super::OriginRateLimit>) {
        self.shared.responses.limiter.set(limit);
    }

    /// What the rate limit did: requests passed and refused.
    pub fn rate_limit_counts(&self) -> super::RateLimitCounts {
        self.shared.responses.limiter.counts()
    }

    /// Sends a graceful GOAWAY on every open HTTP/2 connection (in-flight streams finish,
    /// then the connection closes); idle HTTP/1.1 connections are closed with a TLS
    /// close_notify. Returns how many connections were signalled.
    pub fn goaway_all(&self) -> usize {
        self.shared.signal_all(Cmd::GoAway)
    }

    /// A graceful reload of the whole origin, as nginx's or Go's servers do it, on every
    /// open connection of every address at once: an HTTP/2 connection gets GOAWAY (h2's
    /// graceful shutdown: GOAWAY with the last stream id, then a second one with the last
    /// stream it processed once a PING round trip has passed), finishes its in-flight
    /// streams and closes; an HTTP/1.1 connection closes at once when idle, after its
    /// response (with `connection: close`) when busy. The listeners stay: new connections
    /// are accepted at once. Counted in [`OriginStats::reloads`],
    /// [`OriginStats::goaways_sent`] and [`OriginStats::http1_reload_closes`]. Returns how
    /// many connections were signalled.
    pub fn reload(&self) -> usize {
        self.shared.bump(|| {
            self.shared.reloads.fetch_add(1, Ordering::SeqCst);
        });
        self.shared.signal_all(Cmd::GoAway)
    }

    /// Stops listening on every address (the listening sockets closed: a connect is
    /// refused) and closes every connection (TCP FIN, no GOAWAY), as a server that stops;
    /// waits until all of its tasks ended. [`resume_listening`](Self::resume_listening)
    /// brings it back on the same addresses and port. Counted in
    /// [`OriginStats::restarts`].
    pub async fn stop_listening(&self) {
        self.shared.restarts.fetch_add(1, Ordering::SeqCst);
        self.end_tasks().await;
        // Armed again for the accept loops `resume_listening` starts.
        self.shutdown_tx.send_replace(false);
    }

    /// Listens again on the same addresses and port after
    /// [`stop_listening`](Self::stop_listening) (fails if another socket took the port
    /// meanwhile).
    pub async fn resume_listening(&self) -> io::Result<()> {
        let listeners = self
            .addrs
            .iter()
            .map(|ip| bind_listener(SocketAddr::new(*ip, self.port)))
            .collect::<io::Result<Vec<_>>>()?;
        let mut tasks = lock(&self.tasks);
        for l in listeners {
            tasks.push(tokio::spawn(accept_loop(
                l,
                Arc::clone(&self.shared),
                self.acceptor.clone(),
                self.shutdown_tx.subscribe(),
            )));
        }
        tracing::debug!(addrs = ?self.addrs, port = self.port, "h2 origin listening again");
        self.shared.notify.notify_waiters();
        Ok(())
    }

    /// A restart: [`stop_listening`](Self::stop_listening), `down` of silence, then
    /// [`resume_listening`](Self::resume_listening) on the same addresses and port.
    pub async fn restart(&self, down: Duration) -> io::Result<()> {
        self.stop_listening().await;
        tokio::time::sleep(down).await;
        self.resume_listening().await
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
        self.end_tasks().await;
    }

    /// Ends the accept loops (their listeners closed) and every connection task, and
    /// waits for them.
    async fn end_tasks(&self) {
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

/// A listening socket on `addr` (std's bind sets `SO_REUSEADDR`: a restart binds again
/// while the closed connections of the last run are in TIME_WAIT).
fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = std::net::TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    sock.set_nonblocking(true)?;
    TcpListener::from_std(sock)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
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
    acceptor: Option<TlsAcceptor>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) {
    let Some(acceptor) = acceptor else {
        // A plain origin: HTTP/1.1 or h2c, told apart by the preface.
        return serve_protocol(shared, BufReader::new(tcp), None, local_ip, cmds).await;
    };
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
    serve_protocol(shared, BufReader::new(tls), alpn, local_ip, cmds).await;
}

/// Serves HTTP/2 or HTTP/1.1 on an established connection (TLS, or plain TCP): as `alpn`
/// chose, else by sniffing for the HTTP/2 connection preface (prior knowledge).
async fn serve_protocol<S>(
    shared: Arc<Shared>,
    mut io: BufReader<S>,
    alpn: Option<Vec<u8>>,
    local_ip: IpAddr,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let counters = shared.counters(local_ip);
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
            let mut sniff = std::pin::pin!(sniff);
            // The origin's commands meanwhile (a client may keep a fresh connection idle
            // before its first byte): a close at once, the others once the protocol is
            // known.
            let mut early = Vec::new();
            let sniffed = loop {
                tokio::select! {
                    r = &mut sniff => break matches!(r, Ok(Ok(true))),
                    cmd = cmds.recv() => match cmd {
                        Some(Cmd::Close) | None => return,
                        Some(other) => early.push(other),
                    },
                }
            };
            if !early.is_empty() {
                cmds = prepend(early, cmds);
            }
            sniffed
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

/// `first`, then whatever `rest` yields (forwarded by a task that ends with `rest`: when
/// the origin forgets the connection).
fn prepend(
    first: Vec<Cmd>,
    mut rest: mpsc::UnboundedReceiver<Cmd>,
) -> mpsc::UnboundedReceiver<Cmd> {
    let (tx, rx) = mpsc::unbounded_channel();
    for cmd in first {
        let _ = tx.send(cmd);
    }
    tokio::spawn(async move {
        while let Some(cmd) = rest.recv().await {
            if tx.send(cmd).is_err() {
                return;
            }
        }
    });
    rx
}

/// Resolves on `Close` (or when the origin forgets the connection); ignores the rest.
pub(super) async fn wait_for_close(cmds: &mut mpsc::UnboundedReceiver<Cmd>) -> Option<Cmd> {
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
                Some(Cmd::GoAway) => {
                    conn.graceful_shutdown();
                    shared.count_goaway(local_ip);
                }
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
                    let (stream, now) = ActiveStream::new(&active);
                    shared.counters(local_ip).max_streams.fetch_max(now, Ordering::SeqCst);
                    let shared = Arc::clone(&shared);
                    streams.spawn(async move {
                        let served = handle_h2_request(&shared, local_ip, req, respond, stream);
                        if let Err(e) = served.await {
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
