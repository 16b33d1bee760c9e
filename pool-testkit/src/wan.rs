//! A wide-area path on loopback: [`WanRelay`] forwards TCP and UDP from front addresses
//! to upstream ones, adding a one-way delay in each direction, an optional bandwidth cap
//! and, for UDP, an optional loss rate — what a path to a host tens of milliseconds away
//! does to a client, without `tc netem` (which this kernel lacks).
//!
//! # How the path is modelled
//! - **Delay**: every chunk read from one side is written to the other `one_way_delay`
//!   after it was read. The relay keeps reading while earlier chunks are in flight, so a
//!   path carries a full window per round trip (as a real link does), not one read.
//! - **Bandwidth**: each direction of each connection (UDP: of each client session)
//!   serialises its bytes at `bandwidth` bytes per second before the delay, like a link
//!   of that rate: a chunk departs when the previous ones have, then arrives a delay later.
//! - **Loss** (UDP only): each datagram, either way, is dropped with probability `loss`,
//!   from a seeded generator (the same seed drops the same datagrams in the same order).
//! - **Memory**: what is in flight in one direction of one connection is bounded by
//!   [`MAX_IN_FLIGHT`] bytes; past it the relay stops reading that side (back-pressure),
//!   as a full link would.
//!
//! Options can change while the relay runs ([`WanRelay::set_options`]); chunks already in
//! flight keep the delay they were given.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::net::{bind_shared_port, lock};

/// The most bytes in flight in one direction of one connection (or UDP session): 64 MiB,
/// above the bandwidth-delay product of a 1 Gbit/s path at 500 ms.
pub const MAX_IN_FLIGHT: usize = 64 << 20;

/// How many UDP client sessions one front address keeps at most; datagrams of further
/// clients are dropped (and counted).
pub const MAX_UDP_SESSIONS: usize = 4096;

/// The largest TCP chunk read at once, and the largest datagram relayed.
const CHUNK: usize = 64 << 10;

/// What the relay does to the path (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WanOptions {
    /// Added to every byte and datagram in each direction (RTT = twice this).
    pub one_way_delay: Duration,
    /// Bytes per second in each direction of each connection; `None`: no cap.
    pub bandwidth: Option<u64>,
    /// The probability (0.0 ..= 1.0) that a UDP datagram is dropped, in each direction.
    pub loss: f64,
    /// The seed of the loss generator.
    pub seed: u64,
}

impl Default for WanOptions {
    fn default() -> Self {
        Self {
            one_way_delay: Duration::ZERO,
            bandwidth: None,
            loss: 0.0,
            seed: 0x5eed,
        }
    }
}

impl WanOptions {
    /// A path of this round-trip time (half of it each way), no cap, no loss.
    pub fn rtt(rtt: Duration) -> Self {
        Self {
            one_way_delay: rtt / 2,
            ..Self::default()
        }
    }

    /// The same path capped at `bytes_per_sec` in each direction.
    pub fn with_bandwidth(self, bytes_per_sec: u64) -> Self {
        Self {
            bandwidth: Some(bytes_per_sec.max(1)),
            ..self
        }
    }

    /// The same path dropping UDP datagrams with probability `loss` (clamped to 0 ..= 1).
    pub fn with_loss(self, loss: f64) -> Self {
        Self {
            loss: loss.clamp(0.0, 1.0),
            ..self
        }
    }
}

/// What went through a [`WanRelay`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WanStats {
    /// TCP connections accepted.
    pub tcp_accepted: u64,
    /// TCP connections open now (both halves not yet finished).
    pub tcp_open: u64,
    /// TCP connections whose upstream connect failed (the client's was closed).
    pub tcp_connect_failed: u64,
    /// Bytes relayed from clients to upstreams (TCP and UDP).
    pub bytes_up: u64,
    /// Bytes relayed from upstreams to clients (TCP and UDP).
    pub bytes_down: u64,
    /// UDP datagrams relayed, either way.
    pub datagrams: u64,
    /// UDP datagrams dropped by the loss rate, either way.
    pub datagrams_lost: u64,
    /// UDP datagrams dropped because a front address had [`MAX_UDP_SESSIONS`] sessions.
    pub datagrams_refused: u64,
}

#[derive(Default)]
struct Counters {
    tcp_accepted: AtomicU64,
    tcp_open: AtomicU64,
    tcp_connect_failed: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    datagrams: AtomicU64,
    datagrams_lost: AtomicU64,
    datagrams_refused: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WanStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WanStats {
            tcp_accepted: get(&self.tcp_accepted),
            tcp_open: get(&self.tcp_open),
            tcp_connect_failed: get(&self.tcp_connect_failed),
            bytes_up: get(&self.bytes_up),
            bytes_down: get(&self.bytes_down),
            datagrams: get(&self.datagrams),
            datagrams_lost: get(&self.datagrams_lost),
            datagrams_refused: get(&self.datagrams_refused),
        }
    }
}

struct Shared {
    options: watch::Sender<WanOptions>,
    counters: Counters,
    /// The loss generator's state (xorshift64*), shared by every session.
    rng: Mutex<u64>,
}

impl Shared {
    fn options(&self) -> WanOptions {
        *self.options.borrow()
    }

    /// Whether the next datagram is lost.
    fn lose(&self) -> bool {
        let loss = self.options().loss;
        if loss <= 0.0 {
            return false;
        }
        let mut state = lock(&self.rng);
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let x = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 11) as f64 / (1u64 << 53) as f64) < loss
    }
}

/// A TCP and UDP relay with a delay, a bandwidth cap and UDP loss: put it in front of any
/// origin to give the path a real round trip.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use std::time::Duration;
/// use pool_testkit::{WanOptions, WanRelay};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let origin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let front: IpAddr = "127.0.0.2".parse().unwrap();
/// let relay = WanRelay::start(
///     &[(front, origin.local_addr()?)],
///     WanOptions::rtt(Duration::from_millis(20)),
/// )
/// .await?;
/// let _client = tokio::net::TcpStream::connect(relay.socket_addr(front)).await?;
/// relay.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct WanRelay {
    shared: Arc<Shared>,
    port: u16,
    fronts: Vec<IpAddr>,
    tasks: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for WanRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WanRelay")
            .field("fronts", &self.fronts)
            .field("port", &self.port)
            .field("options", &self.shared.options())
            .finish_non_exhaustive()
    }
}

impl WanRelay {
    /// Starts relaying: for each `(front, upstream)` pair, TCP and UDP on `front` (one port
    /// shared by every front, chosen by the kernel) go to `upstream`.
    pub async fn start(routes: &[(IpAddr, SocketAddr)], options: WanOptions) -> io::Result<Self> {
        let fronts: Vec<IpAddr> = routes.iter().map(|(ip, _)| *ip).collect();
        let (port, sockets) = bind_shared_port(&fronts, bind_pair, |(tcp, _)| {
            tcp.local_addr().map(|a| a.port())
        })?;
        let shared = Arc::new(Shared {
            options: watch::Sender::new(options),
            counters: Counters::default(),
            rng: Mutex::new(options.seed | 1),
        });
        let mut tasks = JoinSet::new();
        for ((tcp, udp), (_, upstream)) in sockets.into_iter().zip(routes) {
            tcp.set_nonblocking(true)?;
            udp.set_nonblocking(true)?;
            let tcp = TcpListener::from_std(tcp)?;
            let udp = Arc::new(UdpSocket::from_std(udp)?);
            tasks.spawn(accept_tcp(shared.clone(), tcp, *upstream));
            tasks.spawn(serve_udp(shared.clone(), udp, *upstream));
        }
        Ok(Self {
            shared,
            port,
            fronts,
            tasks: Mutex::new(tasks),
        })
    }

    /// The shared port of every front address.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The front addresses with the port: what a client dials.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.fronts
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect()
    }

    /// The front address `ip` with the port.
    pub fn socket_addr(&self, ip: IpAddr) -> SocketAddr {
        SocketAddr::new(ip, self.port)
    }

    /// The path's options now.
    pub fn options(&self) -> WanOptions {
        self.shared.options()
    }

    /// Changes the path for every byte and datagram read from now on.
    pub fn set_options(&self, options: WanOptions) {
        self.shared.options.send_replace(options);
    }

    /// What went through the relay so far.
    pub fn stats(&self) -> WanStats {
        self.shared.counters.snapshot()
    }

    /// Stops relaying and closes every connection and session (their tasks are aborted,
    /// which drops their sockets). Calling it again is a no-op.
    pub async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        tasks.shutdown().await;
    }
}

impl Drop for WanRelay {
    fn drop(&mut self) {
        lock(&self.tasks).abort_all();
    }
}

/// A TCP listener and a UDP socket on the same address and port (port 0: the kernel's
/// choice for TCP, taken for UDP too, tried again when UDP has it already).
fn bind_pair(addr: SocketAddr) -> io::Result<(std::net::TcpListener, std::net::UdpSocket)> {
    let mut last = None;
    for _ in 0..16 {
        let tcp = std::net::TcpListener::bind(addr)?;
        let port = tcp.local_addr()?.port();
        match std::net::UdpSocket::bind(SocketAddr::new(addr.ip(), port)) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// A chunk on its way: when it may be delivered, and its bytes (empty: end of stream).
struct InFlight {
    due: Instant,
    data: Bytes,
}

/// The departure clock of one direction: serialises chunks at the bandwidth cap, then adds
/// the delay.
struct Link {
    shared: Arc<Shared>,
    next_free: Instant,
    /// Nothing departs before this (a TCP connection's handshake, see [`relay_tcp`]).
    not_before: Instant,
}

impl Link {
    fn new(shared: Arc<Shared>) -> Self {
        Self::starting_at(shared, Instant::now())
    }

    fn starting_at(shared: Arc<Shared>, not_before: Instant) -> Self {
        Self {
            shared,
            next_free: not_before,
            not_before,
        }
    }

    /// When `len` bytes read now arrive on the other side.
    fn due(&mut self, len: usize) -> Instant {
        let options = self.shared.options();
        let now = Instant::now().max(self.not_before);
        let depart = match options.bandwidth {
            Some(rate) => {
                let start = self.next_free.max(now);
                let on_wire = Duration::from_secs_f64(len as f64 / rate as f64);
                self.next_free = start + on_wire;
                self.next_free
            }
            None => now,
        };
        depart + options.one_way_delay
    }
}

/// Waits until `due`; no wait (not even a timer tick) when it has passed.
async fn arrive(due: Instant) {
    if due > Instant::now() {
        tokio::time::sleep_until(due).await;
    }
}

async fn accept_tcp(shared: Arc<Shared>, listener: TcpListener, upstream: SocketAddr) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                shared.counters.tcp_accepted.fetch_add(1, Ordering::Relaxed);
                conns.spawn(relay_tcp(shared.clone(), client, upstream));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Decrements the open-connection count when a connection's task ends or is aborted.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.counters.tcp_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One TCP connection: dial the upstream within 10 s, then one delayed pipe each way.
///
/// The kernel completed the client's TCP handshake on loopback, at once; a real path
/// takes a round trip for it. So the client's first bytes depart no earlier than one RTT
/// after the accept, as they would after a SYN / SYN-ACK on the path: a cold connection
/// pays TCP's round trip, then TLS's. (TCP's own windows and slow start still run on
/// loopback: only the delay and the cap are the path's.)
async fn relay_tcp(shared: Arc<Shared>, client: TcpStream, upstream: SocketAddr) {
    let handshake_done = Instant::now() + shared.options().one_way_delay * 2;
    shared.counters.tcp_open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(shared.clone());
    let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(upstream));
    let server = match connect.await {
        Ok(Ok(server)) => server,
        _ => {
            shared
                .counters
                .tcp_connect_failed
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_rd, client_wr) = client.into_split();
    let (server_rd, server_wr) = server.into_split();
    // Each half ends on its own (end of stream, or a failed write); the sockets close
    // when both have.
    let up = Link::starting_at(shared.clone(), handshake_done);
    let down = Link::new(shared.clone());
    let _ = tokio::join!(
        pipe(up, client_rd, server_wr, Direction::Up),
        pipe(down, server_rd, client_wr, Direction::Down),
    );
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

impl Direction {
    fn count(self, shared: &Shared, n: usize) {
        let counter = match self {
            Direction::Up => &shared.counters.bytes_up,
            Direction::Down => &shared.counters.bytes_down,
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One direction of a TCP connection: a reader stamping chunks with their due time and a
/// writer delivering them then; end of stream is delivered (as a write shutdown) with the
/// same delay. Returns when the direction is finished or failed.
async fn pipe(
    mut link: Link,
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    direction: Direction,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(InFlight, tokio::sync::OwnedSemaphorePermit)>();
    let budget = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let shared = link.shared.clone();
    let reader = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let permits = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
            let Ok(permit) = budget.clone().acquire_many_owned(permits).await else {
                return;
            };
            let chunk = InFlight {
                due: link.due(n),
                data: Bytes::copy_from_slice(&buf[..n]),
            };
            if tx.send((chunk, permit)).is_err() || n == 0 {
                return;
            }
        }
    };
    let writer = async {
        while let Some((chunk, permit)) = rx.recv().await {
            arrive(chunk.due).await;
            if chunk.data.is_empty() {
                return to.shutdown().await;
            }
            to.write_all(&chunk.data).await?;
            direction.count(&shared, chunk.data.len());
            drop(permit);
        }
        Ok(())
    };
    tokio::pin!(writer);
    tokio::select! {
        () = reader => writer.await,
        result = &mut writer => result,
    }
}

/// One front address's UDP: a session (its own upstream socket) per client address.
async fn serve_udp(shared: Arc<Shared>, front: Arc<UdpSocket>, upstream: SocketAddr) {
    let mut sessions: HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let Ok((n, client)) = front.recv_from(&mut buf).await else {
            continue;
        };
        if shared.lose() {
            shared
                .counters
                .datagrams_lost
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        sessions.retain(|_, tx| !tx.is_closed());
        if !sessions.contains_key(&client) && sessions.len() >= MAX_UDP_SESSIONS {
            shared
                .counters
                .datagrams_refused
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let tx = match sessions.get(&client) {
            Some(tx) => tx.clone(),
            None => {
                let Ok(tx) = open_session(&shared, &front, client, upstream, &mut tasks).await
                else {
                    continue;
                };
                sessions.insert(client, tx.clone());
                tx
            }
        };
        let _ = tx.send(Bytes::copy_from_slice(&buf[..n]));
    }
}

/// A UDP session: an upstream socket connected to `upstream`, a task delivering the
/// client's datagrams to it with the path's delay and cap, and one delivering its answers
/// back to `client` from the front socket.
async fn open_session(
    shared: &Arc<Shared>,
    front: &Arc<UdpSocket>,
    client: SocketAddr,
    upstream: SocketAddr,
    tasks: &mut JoinSet<()>,
) -> io::Result<mpsc::UnboundedSender<Bytes>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
    };
    let socket = Arc::new(UdpSocket::bind(local).await?);
    socket.connect(upstream).await?;
    let (up_tx, up_rx) = mpsc::unbounded_channel::<Bytes>();
    tasks.spawn(deliver_up(shared.clone(), socket.clone(), up_rx));
    tasks.spawn(relay_down(shared.clone(), socket, front.clone(), client));
    Ok(up_tx)
}

/// Client → upstream for one session: the cap and the delay, then `send`.
async fn deliver_up(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    let (delayed_tx, mut delayed_rx) = mpsc::unbounded_channel::<InFlight>();
    let stamp = async {
        let mut link = Link::new(shared.clone());
        while let Some(data) = rx.recv().await {
            let due = link.due(data.len());
            if delayed_tx.send(InFlight { due, data }).is_err() {
                return;
            }
        }
    };
    let send = async {
        while let Some(datagram) = delayed_rx.recv().await {
            arrive(datagram.due).await;
            if socket.send(&datagram.data).await.is_ok() {
                shared.counters.datagrams.fetch_add(1, Ordering::Relaxed);
                Direction::Up.count(&shared, datagram.data.len());
            }
        }
    };
    tokio::join!(stamp, send);
}

/// Upstream → client for one session: loss, the cap and the delay, then `send_to` from
/// the front socket (so the client sees the address it dialed).
async fn relay_down(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<InFlight>();
    let receive = async {
        let mut link = Link::new(shared.clone());
        let mut buf = vec![0u8; CHUNK];
        loop {
            let Ok(n) = socket.recv(&mut buf).await else {
                return;
            };
            if shared.lose() {
                shared
                    .counters
                    .datagrams_lost
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let datagram = InFlight {
                due: link.due(n),
                data: Bytes::copy_from_slice(&buf[..n]),
            };
            if tx.send(datagram).is_err() {
                return;
            }
        }
    };
    let send = async {
        while let Some(datagram) = rx.recv().await {
            arrive(datagram.due).await;
            if front.send_to(&datagram.data, client).await.is_ok() {
                shared.counters.datagrams.fetch_add(1, Ordering::Relaxed);
                Direction::Down.count(&shared, datagram.data.len());
            }
        }
    };
    tokio::join!(receive, send);
}
