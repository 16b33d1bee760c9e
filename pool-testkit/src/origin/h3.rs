//! An HTTP/3 origin (the `h3` crate's server over quinn) on one UDP port of several IPs,
//! answering the origins' shared paths (`routes.rs`).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http::{Request, Response};
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Endpoint, VarInt};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::routes::{self, Reply, stream_chunks};
use super::{Responses, SERVED_BY, served_by};
use crate::ca::TestCa;
use crate::net::{OnDrop, bind_shared_port, lock};
use crate::wait::until;

/// The largest request body read (the rest is discarded unread: the stream is stopped).
const MAX_REQUEST_BODY: usize = 1 << 20;
/// How long a QUIC handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first RTT estimate of server connections (all peers are on loopback).
const LOOPBACK_INITIAL_RTT: Duration = Duration::from_millis(10);
/// How long `shutdown` waits for connections to drain after closing them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `resume_listening` retries a UDP port the last endpoint still holds.
const REBIND_TIMEOUT: Duration = Duration::from_secs(2);

/// Options of a [`H3Origin`].
#[derive(Debug, Clone)]
pub struct H3OriginOptions {
    /// The addresses to listen on, all on one shared UDP port. Default: `[127.0.0.1]`.
    pub addrs: Vec<IpAddr>,
    /// Certificate names (SANs). Default: `["localhost"]`.
    pub names: Vec<String>,
    /// The issuing CA; `None` generates a fresh one (see [`H3Origin::ca`]).
    pub ca: Option<Arc<TestCa>>,
    /// ALPN protocols offered. Default: `h3`.
    pub alpn: Vec<Vec<u8>>,
    /// The peer's bidirectional stream limit (quinn's default, 100, when `None`).
    pub max_concurrent_bidi_streams: Option<u32>,
    /// Delay before each response (also changeable with [`H3Origin::set_delay`]).
    pub delay: Option<Duration>,
    /// The body of `/` and of every path without a route of its own. Default:
    /// `"hello from hotpool\n"`.
    pub body: Bytes,
    /// Send empty DATA frames around every body (legal, RFC 9114 §7.2.1; a Go server's
    /// encoder sends one when a flush writes nothing). Default: off.
    pub empty_data_frames: bool,
}

impl Default for H3OriginOptions {
    fn default() -> Self {
        Self {
            addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            names: vec!["localhost".to_owned()],
            ca: None,
            alpn: vec![H3Origin::DEFAULT_ALPN.to_vec()],
            max_concurrent_bidi_streams: None,
            delay: None,
            body: Bytes::from_static(b"hello from hotpool\n"),
            empty_data_frames: false,
        }
    }
}

impl H3OriginOptions {
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

/// A snapshot of an HTTP/3 origin's counters (for one address, or in total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H3Stats {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed or timed out.
    pub handshake_failures: u64,
    /// Connections currently open.
    pub open_connections: u64,
    /// Requests answered, counted just before the response headers are written.
    pub requests: u64,
    /// Responses whose body the client stopped (STOP_SENDING) or whose stream it reset
    /// before the end.
    pub responses_cancelled: u64,
    /// The highest number of streams in progress at once on any single connection.
    pub max_concurrent_streams_seen: u64,
    /// Client socket addresses of completed handshakes, in order.
    pub peers: Vec<SocketAddr>,
    /// HTTP/3 GOAWAYs sent (connections told to drain by [`H3Origin::reload`] or
    /// [`H3Origin::goaway_all`]).
    pub goaways_sent: u64,
    /// [`H3Origin::reload`]s of the whole origin (the same figure for every address).
    pub reloads: u64,
    /// [`H3Origin::stop_listening`]s of the whole origin (the same figure for every
    /// address).
    pub restarts: u64,
}

impl H3Stats {
    fn merge(&mut self, o: &H3Stats) {
        self.handshakes += o.handshakes;
        self.handshake_failures += o.handshake_failures;
        self.open_connections += o.open_connections;
        self.requests += o.requests;
        self.responses_cancelled += o.responses_cancelled;
        self.max_concurrent_streams_seen = self
            .max_concurrent_streams_seen
            .max(o.max_concurrent_streams_seen);
        self.peers.extend_from_slice(&o.peers);
        self.goaways_sent += o.goaways_sent;
        // Origin-wide figures: the same in every address's snapshot.
        self.reloads = o.reloads;
        self.restarts = o.restarts;
    }
}

#[derive(Default)]
struct Counters {
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
    open: AtomicU64,
    requests: AtomicU64,
    cancelled: AtomicU64,
    max_streams: AtomicU64,
    peers: Mutex<Vec<SocketAddr>>,
    goaways_sent: AtomicU64,
}

impl Counters {
    fn snapshot(&self, shared: &Shared) -> H3Stats {
        H3Stats {
            handshakes: self.handshakes.load(Ordering::SeqCst),
            handshake_failures: self.handshake_failures.load(Ordering::SeqCst),
            open_connections: self.open.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
            responses_cancelled: self.cancelled.load(Ordering::SeqCst),
            max_concurrent_streams_seen: self.max_streams.load(Ordering::SeqCst),
            peers: lock(&self.peers).clone(),
            goaways_sent: self.goaways_sent.load(Ordering::SeqCst),
            reloads: shared.reloads.load(Ordering::SeqCst),
            restarts: shared.restarts.load(Ordering::SeqCst),
        }
    }
}

struct Shared {
    notify: Notify,
    counters: BTreeMap<IpAddr, Arc<Counters>>,
    /// Status overrides, the delay and the default body.
    responses: Responses,
    conns: Mutex<HashMap<u64, quinn::Connection>>,
    /// Bumped by [`H3Origin::goaway_all`]: every connection task sends GOAWAY.
    goaway: watch::Sender<u64>,
    next_conn: AtomicU64,
    reloads: AtomicU64,
    restarts: AtomicU64,
    /// [`H3OriginOptions::empty_data_frames`].
    empty_data_frames: bool,
}

impl Shared {
    fn bump(&self, f: impl FnOnce()) {
        f();
        self.notify.notify_waiters();
    }
}

/// A local HTTP/3 origin listening on one UDP port of several addresses.
///
/// Every request is answered by the origins' shared routes (`routes.rs`: `/`, `/1k`,
/// `/status/{code}`, `/bytes/{n}` streamed, `/slow/{ms}`, `/stall`), a status set per path
/// with [`set_status`](Self::set_status) overriding it; every response carries an
/// `x-served-by: IP:PORT` header naming the listening address that served it. The request
/// body is read (at most 1 MiB) and discarded.
pub struct H3Origin {
    shared: Arc<Shared>,
    server_config: quinn::ServerConfig,
    ca: Arc<TestCa>,
    addrs: Vec<IpAddr>,
    port: u16,
    endpoints: Mutex<Vec<Endpoint>>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for H3Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H3Origin")
            .field("addrs", &self.addrs)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl H3Origin {
    /// The default ALPN protocol: `h3`.
    pub const DEFAULT_ALPN: &'static [u8] = b"h3";

    /// Starts the origin: one quinn endpoint per address, all on one shared UDP port.
    pub async fn start(options: H3OriginOptions) -> io::Result<H3Origin> {
        let ca = match options.ca {
            Some(ca) => ca,
            None => Arc::new(TestCa::new()?),
        };
        let names: Vec<&str> = options.names.iter().map(String::as_str).collect();
        let tls = ca.server_config(&names, &options.alpn, true)?;
        let crypto = QuicServerConfig::try_from(tls)
            .map_err(|e| io::Error::other(format!("HTTP/3 server TLS config: {e}")))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        // HTTP/3 needs the peer's control and QPACK streams (3 unidirectional streams).
        transport.max_concurrent_uni_streams(VarInt::from_u32(8));
        // Loopback: a realistic first RTT estimate keeps the close/drain period (3 PTO)
        // short, so shutdown releases the sockets quickly (quinn assumes 333 ms).
        transport.initial_rtt(LOOPBACK_INITIAL_RTT);
        if let Some(n) = options.max_concurrent_bidi_streams {
            transport.max_concurrent_bidi_streams(VarInt::from_u32(n));
        }
        server_config.transport_config(Arc::new(transport));

        let (port, endpoints) = bind_shared_port(
            &options.addrs,
            |addr| Endpoint::server(server_config.clone(), addr),
            |e| e.local_addr().map(|a| a.port()),
        )?;

        let shared = Arc::new(Shared {
            notify: Notify::new(),
            counters: options
                .addrs
                .iter()
                .map(|ip| (*ip, Arc::new(Counters::default())))
                .collect(),
            responses: Responses::new(options.delay, options.body),
            conns: Mutex::new(HashMap::new()),
            goaway: watch::Sender::new(0),
            next_conn: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            empty_data_frames: options.empty_data_frames,
        });
        let (shutdown_tx, _) = watch::channel(false);
        let mut tasks = Vec::new();
        for (ip, ep) in options.addrs.iter().zip(&endpoints) {
            let counters = shared.counters.get(ip).cloned().unwrap_or_default();
            tasks.push(tokio::spawn(accept_loop(
                ep.clone(),
                Arc::clone(&shared),
                counters,
                shutdown_tx.subscribe(),
            )));
        }
        tracing::debug!(addrs = ?options.addrs, port, "HTTP/3 origin listening");
        Ok(H3Origin {
            shared,
            server_config,
            ca,
            addrs: options.addrs,
            port,
            endpoints: Mutex::new(endpoints),
            shutdown_tx,
            tasks: Mutex::new(tasks),
        })
    }

    /// The shared UDP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listening IP addresses.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The listening socket addresses.
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

    /// Counters summed over all addresses (`max_concurrent_streams_seen` is the maximum).
    pub fn stats(&self) -> H3Stats {
        let mut total = H3Stats::default();
        for c in self.shared.counters.values() {
            total.merge(&c.snapshot(&self.shared));
        }
        total
    }

    /// Counters of one listening address.
    pub fn stats_for(&self, ip: IpAddr) -> Option<H3Stats> {
        self.shared
            .counters
            .get(&ip)
            .map(|c| c.snapshot(&self.shared))
    }

    /// Waits (at most `timeout`) until `cond(self)` holds; re-checked on every counter
    /// change. Returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        until(Some(&self.shared.notify), timeout, || cond(self)).await
    }

    /// Sets (or with `None` removes) a delay before every response.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.shared.responses.set_delay(delay);
    }

    /// Answers requests for exactly `path` (query string excluded) with `status`, instead
    /// of the path's route.
    pub fn set_status(&self, path: &str, status: u16) {
        self.shared.responses.set_status(path, status);
    }

    /// Removes a status override set with [`set_status`](Self::set_status).
    pub fn clear_status(&self, path: &str) {
        self.shared.responses.clear_status(path);
    }

    /// Sends an HTTP/3 GOAWAY on every open connection: requests already accepted are
    /// answered, new ones refused, and the server closes each connection once its requests
    /// are done. Returns how many connections were open.
    pub fn goaway_all(&self) -> usize {
        self.shared.goaway.send_modify(|n| *n += 1);
        lock(&self.shared.conns).len()
    }

    /// A graceful reload of the whole origin on every open connection of every address at
    /// once: each gets an HTTP/3 GOAWAY (h3's graceful shutdown: requests already
    /// accepted are answered, streams above them rejected with `H3_REQUEST_REJECTED`),
    /// then closes once its requests are done. The endpoints stay: new connections are
    /// accepted at once. Counted in [`H3Stats::reloads`] and [`H3Stats::goaways_sent`].
    /// Returns how many connections were open.
    pub fn reload(&self) -> usize {
        self.shared.bump(|| {
            self.shared.reloads.fetch_add(1, Ordering::SeqCst);
        });
        self.goaway_all()
    }

    /// Stops listening on every address (every connection closed, the endpoints and their
    /// UDP sockets gone: a client's Initial goes unanswered) and waits until the tasks
    /// ended; [`resume_listening`](Self::resume_listening) brings it back on the same
    /// addresses and port. Counted in [`H3Stats::restarts`].
    pub async fn stop_listening(&self) {
        self.shared.restarts.fetch_add(1, Ordering::SeqCst);
        self.end_tasks(b"restart").await;
        // Armed again for the accept loops `resume_listening` starts.
        self.shutdown_tx.send_replace(false);
    }

    /// Listens again on the same addresses and UDP port after
    /// [`stop_listening`](Self::stop_listening). quinn closes a dropped endpoint's socket a
    /// moment later (its driver's next poll): a port still in use is retried for at most
    /// [`REBIND_TIMEOUT`].
    pub async fn resume_listening(&self) -> io::Result<()> {
        let mut endpoints = Vec::with_capacity(self.addrs.len());
        for ip in &self.addrs {
            let addr = SocketAddr::new(*ip, self.port);
            let deadline = tokio::time::Instant::now() + REBIND_TIMEOUT;
            let endpoint = loop {
                match Endpoint::server(self.server_config.clone(), addr) {
                    Err(e)
                        if e.kind() == io::ErrorKind::AddrInUse
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    other => break other?,
                }
            };
            endpoints.push(endpoint);
        }
        let mut tasks = lock(&self.tasks);
        for (ip, ep) in self.addrs.iter().zip(&endpoints) {
            let counters = self.shared.counters.get(ip).cloned().unwrap_or_default();
            tasks.push(tokio::spawn(accept_loop(
                ep.clone(),
                Arc::clone(&self.shared),
                counters,
                self.shutdown_tx.subscribe(),
            )));
        }
        *lock(&self.endpoints) = endpoints;
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

    /// Closes every open connection (CONNECTION_CLOSE, application code 0, reason
    /// `close_all`). Returns how many.
    pub fn close_all(&self) -> usize {
        let conns = lock(&self.shared.conns);
        for c in conns.values() {
            c.close(VarInt::from_u32(0), b"close_all");
        }
        conns.len()
    }

    /// Closes every connection and endpoint, waits until all tasks ended and the
    /// connections drained (bounded: 2 s), and drops the endpoints. quinn's endpoint
    /// drivers then close the UDP sockets on their next poll. Calling it again is a no-op.
    pub async fn shutdown(&self) {
        self.end_tasks(b"shutdown").await;
    }

    /// Closes every connection and endpoint (with `reason`) and waits for the tasks and
    /// the drain (see [`shutdown`](Self::shutdown)).
    async fn end_tasks(&self, reason: &[u8]) {
        self.shutdown_tx.send_replace(true);
        let endpoints = std::mem::take(&mut *lock(&self.endpoints));
        for ep in &endpoints {
            ep.close(VarInt::from_u32(0), reason);
        }
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            if let Err(e) = t.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "HTTP/3 origin task panicked");
            }
        }
        lock(&self.shared.conns).clear();
        for ep in &endpoints {
            if tokio::time::timeout(DRAIN_TIMEOUT, ep.wait_idle())
                .await
                .is_err()
            {
                tracing::debug!("QUIC endpoint did not drain in time");
            }
        }
        // The last handles: quinn's endpoint driver then ends and closes the UDP socket
        // (on its next poll, so a moment after this returns).
        drop(endpoints);
        self.shared.notify.notify_waiters();
    }
}

impl Drop for H3Origin {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
        for ep in lock(&self.endpoints).iter() {
            ep.close(VarInt::from_u32(0), b"dropped");
        }
        for t in lock(&self.tasks).iter() {
            t.abort();
        }
    }
}

async fn accept_loop(
    endpoint: Endpoint,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let listening = endpoint
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    let mut conns = JoinSet::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let shared = Arc::clone(&shared);
                let counters = Arc::clone(&counters);
                conns.spawn(serve_conn(incoming, shared, counters, listening));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    conns.shutdown().await;
}

/// A server-side request stream over quinn.
type Stream = RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

async fn serve_conn(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    listening: SocketAddr,
) {
    let peer = incoming.remote_address();
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "QUIC handshake failed");
            shared.bump(|| {
                counters.handshake_failures.fetch_add(1, Ordering::SeqCst);
            });
            return;
        }
        Err(_) => {
            shared.bump(|| {
                counters.handshake_failures.fetch_add(1, Ordering::SeqCst);
            });
            return;
        }
    };
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    lock(&shared.conns).insert(id, conn.clone());
    lock(&counters.peers).push(peer);
    counters.open.fetch_add(1, Ordering::SeqCst);
    shared.bump(|| {
        counters.handshakes.fetch_add(1, Ordering::SeqCst);
    });
    let _guard = {
        let shared = Arc::clone(&shared);
        let counters = Arc::clone(&counters);
        let conn = conn.clone();
        OnDrop(Some(move || {
            conn.close(VarInt::from_u32(0), b"server task ended");
            lock(&shared.conns).remove(&id);
            shared.bump(|| {
                counters.open.fetch_sub(1, Ordering::SeqCst);
            });
        }))
    };
    let mut h3_conn: h3::server::Connection<h3_quinn::Connection, Bytes> =
        match h3::server::builder()
            .build(h3_quinn::Connection::new(conn.clone()))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, %peer, "HTTP/3 connection setup failed");
                return;
            }
        };
    let mut goaway = shared.goaway.subscribe();
    goaway.mark_unchanged();
    let active = Arc::new(AtomicU64::new(0));
    let mut streams = JoinSet::new();
    let mut going_away = false;
    loop {
        if going_away && streams.is_empty() {
            break;
        }
        tokio::select! {
            r = h3_conn.accept() => match r {
                Ok(Some(resolver)) => {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    counters.max_streams.fetch_max(now, Ordering::SeqCst);
                    let active = Arc::clone(&active);
                    let shared = Arc::clone(&shared);
                    let counters = Arc::clone(&counters);
                    streams.spawn(async move {
                        let _guard = OnDrop(Some(move || {
                            active.fetch_sub(1, Ordering::SeqCst);
                        }));
                        match resolver.resolve_request().await {
                            Ok((request, stream)) => {
                                serve_request(&shared, &counters, listening, request, stream).await;
                            }
                            Err(e) => tracing::debug!(error = %e, "HTTP/3 request unreadable"),
                        }
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, %peer, "HTTP/3 connection ended");
                    break;
                }
            },
            changed = goaway.changed(), if !going_away => {
                if changed.is_ok() {
                    going_away = true;
                    if let Err(e) = h3_conn.shutdown(0).await {
                        tracing::debug!(error = %e, "HTTP/3 GOAWAY failed");
                    }
                    shared.bump(|| {
                        counters.goaways_sent.fetch_add(1, Ordering::SeqCst);
                    });
                }
            }
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
        }
    }
    // Let answered requests finish (after GOAWAY the connection ends when they are done);
    // stalled ones end with the connection.
    let finished = async { while streams.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, finished).await;
    streams.shutdown().await;
    // Closing at once would drop unacknowledged response data: give the client (bounded)
    // time to close first, as it does on GOAWAY.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn.closed()).await;
}

async fn serve_request(
    shared: &Shared,
    counters: &Counters,
    listening: SocketAddr,
    request: Request<()>,
    mut stream: Stream,
) {
    // Read (and discard) the request body.
    let mut read = 0usize;
    loop {
        match stream.recv_data().await {
            Ok(Some(chunk)) => {
                read += chunk.remaining();
                if read > MAX_REQUEST_BODY {
                    stream.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "HTTP/3 request body failed");
                return;
            }
        }
    }
    let reply = routes::answer(
        &shared.responses,
        routes::Asked {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
        },
    )
    .settle()
    .await;
    let mut stall_after = false;
    let (status, headers, body, streamed) = match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, body, None),
        Reply::Stream {
            status,
            headers,
            len,
            chunk,
        } => (status, headers, Bytes::new(), Some((len, chunk))),
        Reply::StallBody {
            status,
            headers,
            first,
        } => {
            stall_after = true;
            (status, headers, first, None)
        }
        Reply::Refuse => {
            stream.stop_sending(h3::error::Code::H3_REQUEST_REJECTED);
            stream.stop_stream(h3::error::Code::H3_REQUEST_REJECTED);
            return;
        }
        Reply::Stall | Reply::Delayed { .. } => {
            // Holds the stream open without an answer until the client gives up.
            let _ = stream.recv_data().await;
            std::future::pending::<()>().await;
            return;
        }
    };
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if let Ok(value) = http::HeaderValue::try_from(served_by(listening)) {
        response.headers_mut().insert(SERVED_BY, value);
    }
    shared.bump(|| {
        counters.requests.fetch_add(1, Ordering::SeqCst);
    });
    let sent = async {
        stream.send_response(response).await?;
        let empty = if shared.empty_data_frames { 1 } else { 0 };
        for _ in 0..empty {
            stream.send_data(Bytes::new()).await?;
        }
        if !body.is_empty() {
            stream.send_data(body).await?;
        }
        if let Some((len, chunk)) = streamed {
            for data in stream_chunks(len, chunk) {
                stream.send_data(data).await?;
                for _ in 0..empty {
                    stream.send_data(Bytes::new()).await?;
                }
            }
        }
        // Two in a row before the end, as an encoder closing with nothing left may.
        for _ in 0..2 * empty {
            stream.send_data(Bytes::new()).await?;
        }
        if stall_after {
            // The rest of the body never comes, until the client gives up.
            std::future::pending::<()>().await;
        }
        stream.finish().await
    };
    if let Err(e) = sent.await {
        tracing::debug!(error = %e, "HTTP/3 response not completed");
        shared.bump(|| {
            counters.cancelled.fetch_add(1, Ordering::SeqCst);
        });
    }
}
