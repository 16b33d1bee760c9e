//! The fleet port on the real shell: two pools joined by an in-memory backend share a ban
//! and its lifting, and a re-test lease held by one pool keeps the other from dialing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pool_core::fleet::FleetFuture;
use pool_core::{
    BlacklistReason, Connection, DialError, DialErrorKind, Dialer, Error, FleetEvent, Pool,
    PoolOptions, SharedState, Target,
};
use tokio::time::Instant;

const HOST: &str = "example.test";

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], 443))
}

/// The kind of the last dial's error, when `error` is a dial failure.
fn dial_kind(error: &Error) -> Option<DialErrorKind> {
    match error {
        Error::Dial { last, .. } => Some(last.kind()),
        _ => None,
    }
}

struct Conn;
impl Connection for Conn {
    fn capacity(&self) -> usize {
        1
    }
    fn is_closed(&self) -> bool {
        false
    }
}

/// Answers "banned" while `banned` is set, counts dials.
#[derive(Clone, Default)]
struct Origin {
    banned: Arc<AtomicBool>,
    dials: Arc<AtomicUsize>,
}

impl Dialer for Origin {
    type Conn = Conn;
    async fn dial(&self, _target: &Target) -> Result<Conn, DialError> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        if self.banned.load(Ordering::SeqCst) {
            Err(DialError::new(DialErrorKind::Banned, "403"))
        } else {
            Ok(Conn)
        }
    }
}

/// An in-memory fleet: what one pool publishes the other applies; leases expire.
#[derive(Default)]
struct Bus {
    peer: OnceLock<Pool<Origin>>,
    published: Mutex<Vec<FleetEvent>>,
    leases: Arc<Mutex<HashMap<SocketAddr, Instant>>>,
}

impl SharedState for Bus {
    fn publish(&self, event: FleetEvent) {
        self.published.lock().unwrap().push(event.clone());
        if let Some(peer) = self.peer.get() {
            peer.apply_fleet_event(event);
        }
    }

    fn retest_lease(&self, addr: SocketAddr, interval: Duration) -> FleetFuture<'_, bool> {
        let mut leases = self.leases.lock().unwrap();
        let now = Instant::now();
        let free = leases.get(&addr).is_none_or(|until| *until <= now);
        if free {
            leases.insert(addr, now + interval);
        }
        Box::pin(std::future::ready(free))
    }
}

fn opts() -> PoolOptions {
    PoolOptions {
        max_retries: 1,
        blacklist_check_interval: Duration::from_secs(10),
        blacklist_timeout: Duration::from_secs(600),
        checkout_timeout: Duration::from_secs(1),
        ..PoolOptions::default()
    }
}

/// Two pools on one origin, each publishing to the other; the leases are shared.
fn pair(origin: &Origin) -> (Pool<Origin>, Pool<Origin>, Arc<Bus>, Arc<Bus>) {
    let (a_bus, b_bus) = (Arc::new(Bus::default()), Arc::new(Bus::default()));
    let b_bus = Arc::new(Bus {
        leases: a_bus.leases.clone(),
        ..Arc::into_inner(b_bus).unwrap()
    });
    let a = Pool::with_shared_state(origin.clone(), opts(), a_bus.clone()).unwrap();
    let b = Pool::with_shared_state(origin.clone(), opts(), b_bus.clone()).unwrap();
    assert!(a_bus.peer.set(b.clone()).is_ok() && b_bus.peer.set(a.clone()).is_ok());
    for pool in [&a, &b] {
        pool.set_addrs(HOST, [addr(2)]);
    }
    (a, b, a_bus, b_bus)
}

#[tokio::test(start_paused = true)]
async fn a_ban_and_its_lifting_are_shared_and_one_pool_retests() {
    let origin = Origin::default();
    let (a, b, a_bus, b_bus) = pair(&origin);
    origin.banned.store(true, Ordering::SeqCst);
    let err = a.get(HOST).await.expect_err("the banned dial fails");
    assert_eq!(dial_kind(&err), Some(DialErrorKind::Banned), "{err}");
    assert_eq!(a.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    assert_eq!(b.blacklisted(addr(2).ip()), Some(BlacklistReason::Banned));
    assert_eq!(origin.dials.load(Ordering::SeqCst), 1, "b never dialed it");
    assert_eq!(b.stats().fleet_applied, 1);
    assert!(b_bus.published.lock().unwrap().is_empty(), "no echo");

    // Both re-test timers fire; one lease, one dial (still banned: it stays on both).
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(origin.dials.load(Ordering::SeqCst), 2);
    assert!(b.blacklisted(addr(2).ip()).is_some());

    // The origin forgives; the next interval's one re-test lifts it on both.
    origin.banned.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(origin.dials.load(Ordering::SeqCst), 3);
    assert_eq!(a.blacklisted(addr(2).ip()), None);
    assert_eq!(b.blacklisted(addr(2).ip()), None);
    let published = a_bus.published.lock().unwrap().len() + b_bus.published.lock().unwrap().len();
    assert_eq!(published, 2, "one ban, one unban");
    drop(b.get(HOST).await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_pool_without_a_backend_shares_nothing() {
    let origin = Origin::default();
    let lone = Pool::new(origin.clone(), opts()).unwrap();
    lone.set_addrs(HOST, [addr(2)]);
    origin.banned.store(true, Ordering::SeqCst);
    let err = lone.get(HOST).await.expect_err("the banned dial fails");
    assert_eq!(dial_kind(&err), Some(DialErrorKind::Banned), "{err}");
    assert!(lone.blacklisted(addr(2).ip()).is_some());
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        origin.dials.load(Ordering::SeqCst),
        2,
        "re-tested without a lease"
    );
    assert_eq!(lone.hosts(), vec![HOST.to_string()]);
}
