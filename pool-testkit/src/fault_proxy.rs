//! A fault-injecting TCP proxy for tests, on loopback.
//!
//! [`FaultProxy`] listens on several `127.0.0.x` addresses on one shared port and forwards
//! every accepted connection to an upstream address (an origin). A test points the pool at
//! the proxy's addresses as "the IPs of the host" and injects faults per listening address
//! or per connection:
//!
//! - [`FaultProxy::set_fault`]: the fault every *new* connection on an address gets
//!   ([`Fault::Refuse`] stops listening there: connects are refused by the kernel);
//! - [`FaultProxy::push_next`]: a fault for just the next accepted connection(s), in order;
//! - [`FaultProxy::inject`]: a fault applied *now* to every open connection of an address
//!   (reset, stall, close after N more bytes, …).
//!
//! Per-address counters ([`ProxyStats`]) count accepted connections, open ones, resets sent
//! and bytes forwarded each way; [`FaultProxy::wait_until`] waits (bounded) on them, so a
//! test never sleeps and hopes.
//!
//! A stalled or black-holed connection still reads from the pool's side (and holds or
//! drops what it reads), so it notices when the pool closes its socket and closes too:
//! after the pool is closed no socket of the proxy stays open for it.
//!
//! ```no_run
//! use std::net::IpAddr;
//! use pool_testkit::fault_proxy::{Fault, FaultProxy};
//!
//! # async fn demo(origin: std::net::SocketAddr) -> std::io::Result<()> {
//! let ips: Vec<IpAddr> = vec!["127.0.9.2".parse().unwrap(), "127.0.9.3".parse().unwrap()];
//! let proxy = FaultProxy::start(&ips, origin).await?;
//! proxy.set_fault(ips[1], Fault::BlackHole); // new connections to .3 are never answered
//! proxy.inject(ips[0], Fault::Reset); // open connections to .2 get a TCP RST now
//! proxy.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use crate::net::{bind_shared_port, lock};
use crate::wait::until;

/// Read buffer per direction and connection.
const BUF: usize = 16 * 1024;

/// What the proxy does to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways, unchanged.
    Pass,
    /// Forward both ways, each chunk after this delay.
    Delay(Duration),
    /// Forward nothing either way; what arrives is held and delivered if the connection is
    /// later switched back to a forwarding fault.
    Stall,
    /// Forward the pool's bytes to the origin, hold the origin's answers (as [`Stall`]
    /// does, one way): a request is processed but its response never arrives.
    ///
    /// [`Stall`]: Fault::Stall
    StallResponses,
    /// Reset: SO_LINGER 0, then close, so the pool's side gets a TCP RST. For a new
    /// connection: right after accepting it.
    Reset,
    /// Forward this many more bytes (both directions together), then close (FIN).
    CloseAfter(u64),
    /// Forward this many more bytes (both directions together), then reset (RST).
    ResetAfter(u64),
    /// Accept and never answer: the pool's bytes are read and dropped, nothing is sent
    /// back, no upstream connection is made.
    BlackHole,
    /// For an address: stop listening, so connects are refused, until another fault is
    /// set. For open connections: close them (FIN).
    Refuse,
}

/// Counters of one listening address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted, ever.
    pub accepted: u64,
    /// Connections open now (accepted and not yet closed by the proxy).
    pub open: u64,
    /// Connections the proxy reset (RST), ever.
    pub resets: u64,
    /// Bytes forwarded from the pool to the origin.
    pub bytes_up: u64,
    /// Bytes forwarded from the origin to the pool.
    pub bytes_down: u64,
    /// Times the listener was (re)bound.
    pub binds: u64,
    /// Listening addresses now (0 or 1 for one address): 0 while it refuses connects.
    pub listening: u64,
}

impl ProxyStats {
    fn add(&mut self, o: &ProxyStats) {
        self.accepted += o.accepted;
        self.open += o.open;
        self.resets += o.resets;
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
        self.binds += o.binds;
        self.listening += o.listening;
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    resets: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    binds: AtomicU64,
    listening: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.accepted.load(Ordering::SeqCst),
            open: self.open.load(Ordering::SeqCst),
            resets: self.resets.load(Ordering::SeqCst),
            bytes_up: self.bytes_up.load(Ordering::SeqCst),
            bytes_down: self.bytes_down.load(Ordering::SeqCst),
            binds: self.binds.load(Ordering::SeqCst),
            listening: self.listening.load(Ordering::SeqCst),
        }
    }
}

/// One listening address.
struct Addr {
    counters: Counters,
    /// The fault new connections get.
    fault: watch::Sender<Fault>,
    /// Faults for the next accepted connections, in order (before `fault`).
    next: Mutex<VecDeque<Fault>>,
    /// Open connections: their control channels.
    conns: Mutex<HashMap<u64, watch::Sender<Fault>>>,
}

struct Shared {
    addrs: BTreeMap<IpAddr, Addr>,
    upstream: SocketAddr,
    port: u16,
    notify: Notify,
    next_conn: AtomicU64,
}

impl Shared {
    fn addr(&self, ip: IpAddr) -> &Addr {
        self.addrs
            .get(&ip)
            .unwrap_or_else(|| panic!("the proxy does not listen on {ip}"))
    }

    fn bump(&self, f: impl FnOnce()) {
        f();
        self.notify.notify_waiters();
    }
}

/// The proxy: listens on several addresses on one port, forwards to one upstream address,
/// injects faults. Shut it down with [`FaultProxy::shutdown`] (dropping it stops the
/// listeners and closes its connections too, without waiting).
pub struct FaultProxy {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addrs", &self.shared.addrs.keys().collect::<Vec<_>>())
            .field("port", &self.shared.port)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts listening on every address of `ips` on one shared port (chosen by the
    /// kernel), forwarding to `upstream`. Every address starts with [`Fault::Pass`].
    pub async fn start(ips: &[IpAddr], upstream: SocketAddr) -> io::Result<FaultProxy> {
        let (port, listeners) = bind_shared_port(ips, bind, |l| l.local_addr().map(|a| a.port()))?;
        let shared = Arc::new(Shared {
            addrs: ips
                .iter()
                .map(|ip| {
                    let addr = Addr {
                        counters: Counters::default(),
                        fault: watch::Sender::new(Fault::Pass),
                        next: Mutex::new(VecDeque::new()),
                        conns: Mutex::new(HashMap::new()),
                    };
                    addr.counters.binds.store(1, Ordering::SeqCst);
                    addr.counters.listening.store(1, Ordering::SeqCst);
                    (*ip, addr)
                })
                .collect(),
            upstream,
            port,
            notify: Notify::new(),
            next_conn: AtomicU64::new(0),
        });
        let (shutdown, _) = watch::channel(false);
        let tasks = ips
            .iter()
            .zip(listeners)
            .map(|(ip, listener)| {
                tokio::spawn(serve_addr(
                    shared.clone(),
                    *ip,
                    listener,
                    shutdown.subscribe(),
                ))
            })
            .collect();
        Ok(FaultProxy {
            shared,
            shutdown,
            tasks: Mutex::new(tasks),
        })
    }

    /// The shared port.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The listening addresses with the port: what the pool dials.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.shared
            .addrs
            .keys()
            .map(|ip| SocketAddr::new(*ip, self.shared.port))
            .collect()
    }

    /// The listening address of `ip` with the port.
    pub fn socket_addr(&self, ip: IpAddr) -> SocketAddr {
        SocketAddr::new(ip, self.shared.port)
    }

    /// Sets the fault new connections on `ip` get (see [`Fault`]). [`Fault::Refuse`]
    /// closes the listener until another fault is set.
    pub fn set_fault(&self, ip: IpAddr, fault: Fault) {
        self.shared.addr(ip).fault.send_replace(fault);
    }

    /// The fault new connections on `ip` get.
    pub fn fault(&self, ip: IpAddr) -> Fault {
        *self.shared.addr(ip).fault.borrow()
    }

    /// Queues `fault` for the next connection accepted on `ip` (one connection per call,
    /// in order); after the queue, connections get the address's fault again.
    /// ([`Fault::Refuse`] queued this way closes that connection at once.)
    pub fn push_next(&self, ip: IpAddr, fault: Fault) {
        lock(&self.shared.addr(ip).next).push_back(fault);
    }

    /// Applies `fault` now to every open connection on `ip`; returns how many.
    pub fn inject(&self, ip: IpAddr, fault: Fault) -> usize {
        let conns = lock(&self.shared.addr(ip).conns);
        conns
            .values()
            .filter(|tx| {
                tx.send_replace(fault);
                true
            })
            .count()
    }

    /// Applies `fault` now to every open connection on every address; returns how many.
    pub fn inject_all(&self, fault: Fault) -> usize {
        self.shared
            .addrs
            .keys()
            .map(|ip| self.inject(*ip, fault))
            .sum()
    }

    /// Counters of `ip`.
    pub fn stats_for(&self, ip: IpAddr) -> ProxyStats {
        self.shared.addr(ip).counters.snapshot()
    }

    /// Counters summed over every address.
    pub fn stats(&self) -> ProxyStats {
        let mut total = ProxyStats::default();
        for addr in self.shared.addrs.values() {
            total.add(&addr.counters.snapshot());
        }
        total
    }

    /// Waits until `cond` holds (re-checked whenever a counter changes, and every
    /// [`POLL_INTERVAL`](crate::wait::POLL_INTERVAL)), for at most `timeout`; returns whether
    /// it held.
    pub async fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        until(Some(&self.shared.notify), timeout, || cond(self)).await
    }

    /// Stops listening, closes every connection and waits (at most 10 s) until they are
    /// gone. Calling it again is a no-op.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        for addr in self.shared.addrs.values() {
            for tx in lock(&addr.conns).values() {
                tx.send_replace(Fault::Refuse);
            }
        }
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
        self.wait_until(Duration::from_secs(10), |p| p.stats().open == 0)
            .await;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for addr in self.shared.addrs.values() {
            for tx in lock(&addr.conns).values() {
                tx.send_replace(Fault::Refuse);
            }
        }
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Rebinding after `Refuse` while accepted connections of the port still exist.
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}

/// Accepts on one address; closes the listener while the address's fault is `Refuse`.
async fn serve_addr(
    shared: Arc<Shared>,
    ip: IpAddr,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let addr = shared.addr(ip);
    let mut fault = addr.fault.subscribe();
    let mut listener = Some(listener);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let refusing = *fault.borrow_and_update() == Fault::Refuse;
        match (&listener, refusing) {
            (Some(_), true) => {
                listener = None;
                shared.bump(|| {
                    addr.counters.listening.store(0, Ordering::SeqCst);
                });
            }
            (None, false) => match bind(SocketAddr::new(ip, shared.port)) {
                Ok(l) => {
                    listener = Some(l);
                    shared.bump(|| {
                        addr.counters.binds.fetch_add(1, Ordering::SeqCst);
                        addr.counters.listening.store(1, Ordering::SeqCst);
                    });
                }
                Err(e) => {
                    tracing::warn!(%ip, error = %e, "proxy: rebinding failed; retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ => {}
        }
        let Some(l) = &listener else {
            tokio::select! {
                _ = fault.changed() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        tokio::select! {
            _ = fault.changed() => {}
            _ = shutdown.changed() => {}
            accepted = l.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let first = lock(&addr.next).pop_front().unwrap_or(*fault.borrow());
                    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
                    let (tx, rx) = watch::channel(first);
                    lock(&addr.conns).insert(id, tx);
                    shared.bump(|| {
                        addr.counters.accepted.fetch_add(1, Ordering::SeqCst);
                        addr.counters.open.fetch_add(1, Ordering::SeqCst);
                    });
                    let guard = ConnGuard { shared: shared.clone(), ip, id };
                    tokio::spawn(run_conn(guard, stream, rx));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%ip, error = %e, "proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Unregisters a connection and updates the counters when its task ends (or is dropped).
struct ConnGuard {
    shared: Arc<Shared>,
    ip: IpAddr,
    id: u64,
}

impl ConnGuard {
    fn counters(&self) -> &Counters {
        &self.shared.addr(self.ip).counters
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let addr = self.shared.addr(self.ip);
        lock(&addr.conns).remove(&self.id);
        self.shared.bump(|| {
            addr.counters.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// How a connection ends.
enum End {
    Close,
    Reset,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

/// The forwarding state of one connection.
struct Pipe {
    fault: Fault,
    client_w: OwnedWriteHalf,
    upstream_w: Option<OwnedWriteHalf>,
    /// Bytes still to forward before closing / resetting.
    budget: Option<u64>,
    held_up: Vec<u8>,
    held_down: Vec<u8>,
}

impl Pipe {
    /// Handles bytes read in direction `dir` under the current fault.
    async fn deliver(&mut self, guard: &ConnGuard, dir: Dir, data: &[u8]) -> Result<(), End> {
        match (self.fault, dir) {
            (Fault::BlackHole, _) => Ok(()),
            (Fault::Stall, Dir::Up) => {
                self.held_up.extend_from_slice(data);
                Ok(())
            }
            (Fault::Stall | Fault::StallResponses, Dir::Down) => {
                self.held_down.extend_from_slice(data);
                Ok(())
            }
            (Fault::Delay(d), _) => {
                tokio::time::sleep(d).await;
                self.forward(guard, dir, data).await
            }
            _ => self.forward(guard, dir, data).await,
        }
    }

    /// Writes `data` on, within the byte budget.
    async fn forward(&mut self, guard: &ConnGuard, dir: Dir, data: &[u8]) -> Result<(), End> {
        let (data, exhausted) = match self.budget {
            Some(left) if (data.len() as u64) >= left => (&data[..left as usize], true),
            Some(left) => {
                self.budget = Some(left - data.len() as u64);
                (data, false)
            }
            None => (data, false),
        };
        let written = match dir {
            Dir::Up => match &mut self.upstream_w {
                Some(w) => w.write_all(data).await,
                None => Ok(()),
            },
            Dir::Down => self.client_w.write_all(data).await,
        };
        if written.is_err() {
            return Err(End::Close);
        }
        let counters = guard.counters();
        guard.shared.bump(|| {
            let counter = match dir {
                Dir::Up => &counters.bytes_up,
                Dir::Down => &counters.bytes_down,
            };
            counter.fetch_add(data.len() as u64, Ordering::SeqCst);
        });
        if exhausted {
            return Err(match self.fault {
                Fault::ResetAfter(_) => End::Reset,
                _ => End::Close,
            });
        }
        Ok(())
    }

    /// Switches to `fault`; delivers what was held if it now flows.
    async fn switch(&mut self, guard: &ConnGuard, fault: Fault) -> Result<(), End> {
        self.fault = fault;
        match fault {
            Fault::Reset => return Err(End::Reset),
            Fault::Refuse => return Err(End::Close),
            Fault::CloseAfter(n) | Fault::ResetAfter(n) => {
                self.budget = Some(n);
                if n == 0 {
                    return Err(if matches!(fault, Fault::ResetAfter(_)) {
                        End::Reset
                    } else {
                        End::Close
                    });
                }
            }
            _ => self.budget = None,
        }
        if !matches!(fault, Fault::Stall | Fault::BlackHole) && !self.held_up.is_empty() {
            let held = std::mem::take(&mut self.held_up);
            self.deliver(guard, Dir::Up, &held).await?;
        }
        if !matches!(
            fault,
            Fault::Stall | Fault::StallResponses | Fault::BlackHole
        ) && !self.held_down.is_empty()
        {
            let held = std::mem::take(&mut self.held_down);
            self.deliver(guard, Dir::Down, &held).await?;
        }
        Ok(())
    }
}

/// Sets SO_LINGER 0 on the socket and drops it: the peer gets a TCP RST.
fn reset(read: OwnedReadHalf, write: OwnedWriteHalf, guard: &ConnGuard) {
    if let Ok(stream) = read.reunite(write) {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        drop(stream);
        guard.shared.bump(|| {
            guard.counters().resets.fetch_add(1, Ordering::SeqCst);
        });
    }
}

async fn run_conn(guard: ConnGuard, client: TcpStream, mut ctl: watch::Receiver<Fault>) {
    let _ = client.set_nodelay(true);
    let first = *ctl.borrow_and_update();
    let (mut client_r, client_w) = client.into_split();
    if matches!(first, Fault::Reset | Fault::ResetAfter(0)) {
        reset(client_r, client_w, &guard);
        return;
    }
    if matches!(first, Fault::Refuse | Fault::CloseAfter(0)) {
        return;
    }
    let mut upstream_r = None;
    let mut upstream_w = None;
    if first != Fault::BlackHole {
        match TcpStream::connect(guard.shared.upstream).await {
            Ok(up) => {
                let _ = up.set_nodelay(true);
                let (r, w) = up.into_split();
                upstream_r = Some(r);
                upstream_w = Some(w);
            }
            Err(e) => {
                tracing::debug!(error = %e, "proxy: upstream connect failed; resetting");
                reset(client_r, client_w, &guard);
                return;
            }
        }
    }
    let mut pipe = Pipe {
        fault: Fault::Pass,
        client_w,
        upstream_w,
        budget: None,
        held_up: Vec::new(),
        held_down: Vec::new(),
    };
    let mut end = pipe.switch(&guard, first).await.err();
    let mut buf_up = vec![0u8; BUF];
    let mut buf_down = vec![0u8; BUF];
    while end.is_none() {
        // Biased: a fault injected before bytes arrive applies to those bytes.
        let result = tokio::select! {
            biased;
            changed = ctl.changed() => match changed {
                Ok(()) => {
                    let fault = *ctl.borrow_and_update();
                    pipe.switch(&guard, fault).await
                }
                Err(_) => Err(End::Close),
            },
            read = client_r.read(&mut buf_up) => match read {
                Ok(0) | Err(_) => Err(End::Close),
                Ok(n) => pipe.deliver(&guard, Dir::Up, &buf_up[..n]).await,
            },
            read = async {
                match &mut upstream_r {
                    Some(r) => r.read(&mut buf_down).await,
                    None => std::future::pending().await,
                }
            } => match read {
                Ok(0) | Err(_) => Err(End::Close),
                Ok(n) => pipe.deliver(&guard, Dir::Down, &buf_down[..n]).await,
            },
        };
        end = result.err();
    }
    if let Some(End::Reset) = end {
        reset(client_r, pipe.client_w, &guard);
    }
}
