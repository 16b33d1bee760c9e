//! A QUIC origin (quinn) on one UDP port of several IPs, speaking a private test protocol
//! (one request per bidirectional stream, answered with an echo); HTTP/3 comes as its own
//! origin.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Endpoint, VarInt};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::Responses;
use crate::ca::TestCa;
use crate::net::{OnDrop, bind_shared_port, lock};
use crate::wait::until;

/// The largest request a stream may carry.
const MAX_REQUEST: usize = 64 * 1024;
/// How long a QUIC handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first RTT estimate of server connections (all peers are on loopback).
const LOOPBACK_INITIAL_RTT: Duration = Duration::from_millis(10);
/// How long `shutdown` waits for connections to drain after closing them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Options of a [`QuicOrigin`].
#[derive(Debug, Clone)]
pub struct QuicOriginOptions {
    /// The addresses to listen on, all on one shared UDP port. Default: `[127.0.0.1]`.
    pub addrs: Vec<IpAddr>,
    /// Certificate names (SANs). Default: `["localhost"]`.
    pub names: Vec<String>,
    /// The issuing CA; `None` generates a fresh one (see [`QuicOrigin::ca`]).
    pub ca: Option<Arc<TestCa>>,
    /// ALPN protocols offered. Default: `hotpool`.
    pub alpn: Vec<Vec<u8>>,
    /// The peer's bidirectional stream limit (quinn's default, 100, when `None`).
    pub max_concurrent_bidi_streams: Option<u32>,
    /// Delay before each response (also changeable with [`QuicOrigin::set_delay`]).
    pub delay: Option<Duration>,
}

impl Default for QuicOriginOptions {
    fn default() -> Self {
        Self {
            addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            names: vec!["localhost".to_owned()],
            ca: None,
            alpn: vec![QuicOrigin::DEFAULT_ALPN.to_vec()],
            max_concurrent_bidi_streams: None,
            delay: None,
        }
    }
}

impl QuicOriginOptions {
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

/// A snapshot of a QUIC origin's counters (for one address, or in total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuicStats {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed or timed out.
    pub handshake_failures: u64,
    /// Connections currently open.
    pub open_connections: u64,
    /// Streams (requests) answered, counted just before the response is written.
    pub streams: u64,
    /// The highest number of streams in progress at once on any single connection.
    pub max_concurrent_streams_seen: u64,
    /// Client socket addresses of completed handshakes, in order.
    pub peers: Vec<SocketAddr>,
}

impl QuicStats {
    fn merge(&mut self, o: &QuicStats) {
        self.handshakes += o.handshakes;
        self.handshake_failures += o.handshake_failures;
        self.open_connections += o.open_connections;
        self.streams += o.streams;
        self.max_concurrent_streams_seen = self
            .max_concurrent_streams_seen
            .max(o.max_concurrent_streams_seen);
        self.peers.extend_from_slice(&o.peers);
    }
}

#[derive(Default)]
struct Counters {
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
    open: AtomicU64,
    streams: AtomicU64,
    max_streams: AtomicU64,
    peers: Mutex<Vec<SocketAddr>>,
}

impl Counters {
    fn snapshot(&self) -> QuicStats {
        QuicStats {
            handshakes: self.handshakes.load(Ordering::SeqCst),
            handshake_failures: self.handshake_failures.load(Ordering::SeqCst),
            open_connections: self.open.load(Ordering::SeqCst),
            streams: self.streams.load(Ordering::SeqCst),
            max_concurrent_streams_seen: self.max_streams.load(Ordering::SeqCst),
            peers: lock(&self.peers).clone(),
        }
    }
}

struct Shared {
    notify: Notify,
    counters: BTreeMap<IpAddr, Arc<Counters>>,
    /// The delay (the echo protocol has no paths and no body of its own).
    responses: Responses,
    conns: Mutex<HashMap<u64, quinn::Connection>>,
    next_conn: AtomicU64,
}

impl Shared {
    fn bump(&self, f: impl FnOnce()) {
        f();
        self.notify.notify_waiters();
    }
}

/// A local QUIC origin listening on one UDP port of several addresses.
///
/// Protocol: every bidirectional stream the client opens is one request. The server
/// reads it to the end (at most 64 KiB), answers `200 ` followed by the request bytes
/// (an echo), and finishes the stream. Unidirectional streams are not allowed.
pub struct QuicOrigin {
    shared: Arc<Shared>,
    ca: Arc<TestCa>,
    addrs: Vec<IpAddr>,
    port: u16,
    endpoints: Mutex<Vec<Endpoint>>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for QuicOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicOrigin")
            .field("addrs", &self.addrs)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl QuicOrigin {
    /// The default ALPN protocol: `hotpool`.
    pub const DEFAULT_ALPN: &'static [u8] = b"hotpool";

    /// Starts the origin: one quinn endpoint per address, all on one shared UDP port.
    pub async fn start(options: QuicOriginOptions) -> io::Result<QuicOrigin> {
        let ca = match options.ca {
            Some(ca) => ca,
            None => Arc::new(TestCa::new()?),
        };
        let names: Vec<&str> = options.names.iter().map(String::as_str).collect();
        let tls = ca.server_config(&names, &options.alpn, true)?;
        let crypto = QuicServerConfig::try_from(tls)
            .map_err(|e| io::Error::other(format!("QUIC server TLS config: {e}")))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_uni_streams(VarInt::from_u32(0));
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
            responses: Responses::new(options.delay, Bytes::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
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
        tracing::debug!(addrs = ?options.addrs, port, "QUIC origin listening");
        Ok(QuicOrigin {
            shared,
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
    pub fn stats(&self) -> QuicStats {
        let mut total = QuicStats::default();
        for c in self.shared.counters.values() {
            total.merge(&c.snapshot());
        }
        total
    }

    /// Counters of one listening address.
    pub fn stats_for(&self, ip: IpAddr) -> Option<QuicStats> {
        self.shared.counters.get(&ip).map(|c| c.snapshot())
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
        self.shutdown_tx.send_replace(true);
        let endpoints = std::mem::take(&mut *lock(&self.endpoints));
        for ep in &endpoints {
            ep.close(VarInt::from_u32(0), b"shutdown");
        }
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            if let Err(e) = t.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "QUIC origin task panicked");
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

impl Drop for QuicOrigin {
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
                conns.spawn(serve_conn(incoming, shared, counters));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    conns.shutdown().await;
}

async fn serve_conn(incoming: quinn::Incoming, shared: Arc<Shared>, counters: Arc<Counters>) {
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
    let active = Arc::new(AtomicU64::new(0));
    let mut streams = JoinSet::new();
    loop {
        tokio::select! {
            r = conn.accept_bi() => match r {
                Ok((send, recv)) => {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    counters.max_streams.fetch_max(now, Ordering::SeqCst);
                    let active = Arc::clone(&active);
                    let shared = Arc::clone(&shared);
                    let counters = Arc::clone(&counters);
                    streams.spawn(async move {
                        let _guard = OnDrop(Some(move || {
                            active.fetch_sub(1, Ordering::SeqCst);
                        }));
                        if let Err(e) = serve_stream(&shared, &counters, send, recv).await {
                            tracing::debug!(error = %e, "QUIC stream failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, %peer, "QUIC connection ended");
                    return;
                }
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
        }
    }
}

async fn serve_stream(
    shared: &Shared,
    counters: &Counters,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> io::Result<()> {
    let req = recv
        .read_to_end(MAX_REQUEST)
        .await
        .map_err(|e| io::Error::other(format!("reading request: {e}")))?;
    shared.responses.delay().await;
    let mut resp = Vec::with_capacity(req.len() + 4);
    resp.extend_from_slice(b"200 ");
    resp.extend_from_slice(&req);
    shared.bump(|| {
        counters.streams.fetch_add(1, Ordering::SeqCst);
    });
    send.write_all(&resp)
        .await
        .map_err(|e| io::Error::other(format!("writing response: {e}")))?;
    send.finish()
        .map_err(|e| io::Error::other(format!("finishing stream: {e}")))?;
    // Dropping a finished stream is fine: quinn still delivers (and retransmits) its data.
    Ok(())
}
