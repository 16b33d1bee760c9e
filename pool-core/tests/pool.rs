//! The async `Pool` shell with an in-memory test dialer and tokio's paused clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_core::{
    CloseReason, Connection, DialError, DialErrorKind, Dialer, Error, Pool, PoolOptions,
    ProbeVerdict, Target, WarmOutcome,
};
use tokio::sync::Notify;

const HOST: &str = "example.test";

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], 443))
}

/// An in-memory connection whose death the test controls.
struct MemConn {
    capacity: usize,
    dead: Arc<AtomicBool>,
    died: Arc<Notify>,
    alive: Arc<AtomicUsize>,
}

impl MemConn {
    fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        self.died.notify_waiters();
        self.died.notify_one();
    }
}

impl Drop for MemConn {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connection for MemConn {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn is_closed(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let (dead, died) = (self.dead.clone(), self.died.clone());
        async move {
            while !dead.load(Ordering::SeqCst) {
                died.notified().await;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    Accept {
        capacity: usize,
    },
    Refuse,
    /// The dialer's validation request answers the banned status.
    Ban,
}

#[derive(Clone, Default)]
struct MemDialer {
    behaviour: Arc<Mutex<HashMap<SocketAddr, Behaviour>>>,
    delay: Duration,
    dials: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
}

impl MemDialer {
    fn accepting(capacity: usize, addrs: &[SocketAddr]) -> Self {
        let dialer = Self::default();
        for a in addrs {
            dialer.set(*a, Behaviour::Accept { capacity });
        }
        dialer
    }

    fn set(&self, addr: SocketAddr, behaviour: Behaviour) {
        self.behaviour.lock().unwrap().insert(addr, behaviour);
    }
}

impl Dialer for MemDialer {
    type Conn = MemConn;

    async fn dial(&self, target: &Target) -> Result<MemConn, DialError> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let behaviour = self.behaviour.lock().unwrap().get(&target.addr).copied();
        match behaviour {
            Some(Behaviour::Accept { capacity }) => {
                self.alive.fetch_add(1, Ordering::SeqCst);
                Ok(MemConn {
                    capacity,
                    dead: Arc::default(),
                    died: Arc::default(),
                    alive: self.alive.clone(),
                })
            }
            Some(Behaviour::Ban) => Err(DialError::new(
                DialErrorKind::Banned,
                format!("validation of {} answered 403 (banned)", target.addr),
            )),
            Some(Behaviour::Refuse) | None => Err(DialError::new(
                DialErrorKind::Connect,
                format!("connection refused by {}", target.addr),
            )),
        }
    }
}

fn options() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    }
}

#[tokio::test(start_paused = true)]
async fn gets_beyond_capacity_wait_and_are_served_in_order() {
    let dialer = MemDialer::accepting(2, &[addr(2)]);
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    assert_eq!(pool.warm(HOST).await.ok, 1);
    let first = pool.get(HOST).await.unwrap();
    let second = pool.get(HOST).await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiting = Vec::new();
    for i in 0..4 {
        let (pool, order) = (pool.clone(), order.clone());
        waiting.push(tokio::spawn(async move {
            let lease = pool.get(HOST).await.unwrap();
            order.lock().unwrap().push(i);
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(lease);
        }));
        tokio::task::yield_now().await; // queue them in a known order
    }
    assert_eq!(pool.stats().waiters, 4);
    drop(first);
    drop(second);
    for task in waiting {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    let stats = pool.stats();
    assert_eq!(stats.dials_ok, 1, "one connection served all six leases");
    assert_eq!(stats.leases_total, 6);
    assert!((stats.reuse_rate() - 5.0 / 6.0).abs() < 1e-9);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn checkout_times_out_when_nothing_frees_up() {
    let dialer = MemDialer::accepting(1, &[addr(2)]);
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    let held = pool.get(HOST).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = pool.get(HOST).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(pool.stats().waiters, 0, "the timed-out waiter is gone");
    drop(held);
    assert!(pool.get(HOST).await.is_ok());
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn lease_dropped_in_a_panicking_task_returns() {
    let dialer = MemDialer::accepting(1, &[addr(2)]);
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    let task = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let _lease = pool.get(HOST).await.unwrap();
            panic!("user code panics while holding a lease");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    let stats = pool.stats();
    assert_eq!((stats.leases_out, stats.idle), (0, 1));
    let lease = pool.get(HOST).await.expect("the pool still works");
    assert_eq!(
        pool.connections()[0].error_count,
        1,
        "a panic counts as an error"
    );
    drop(lease);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_leases_and_closes_everything() {
    let addrs = [addr(2), addr(3), addr(4)];
    let dialer = MemDialer::accepting(1, &addrs);
    let alive = dialer.alive.clone();
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, addrs);
    assert_eq!(pool.warm(HOST).await.ok, 3);
    let lease = pool.get(HOST).await.unwrap();
    assert_eq!(alive.load(Ordering::SeqCst), 3);
    let closing = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!closing.is_finished(), "close waits for the lease");
    assert_eq!(
        alive.load(Ordering::SeqCst),
        1,
        "idle ones are closed at once"
    );
    assert!(matches!(pool.get(HOST).await, Err(Error::Closed)));
    drop(lease);
    closing.await.unwrap();
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    assert_eq!(pool.stats().closed_for(CloseReason::PoolClosed), 3);
}

#[tokio::test(start_paused = true)]
async fn failing_address_is_skipped_blacklisted_and_restored_by_retest() {
    let dialer = MemDialer::accepting(1, &[addr(3)]);
    dialer.set(addr(2), Behaviour::Refuse);
    let pool = Pool::new(
        dialer.clone(),
        PoolOptions {
            max_retries: 2,
            blacklist_check_interval: Duration::from_secs(60),
            max_conns_per_ip: 2,
            ..options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, [addr(2), addr(3)]);
    for _ in 0..3 {
        let lease = pool.get(HOST).await.expect("served by the good address");
        assert_eq!(lease.addr(), addr(3));
        lease.conn().kill();
        drop(lease);
    }
    assert_eq!(pool.stats().blacklisted, 1);
    assert_eq!(pool.stats().blacklisted_total, 1);
    // The address comes back: the driver's re-test restores it.
    dialer.set(addr(2), Behaviour::Accept { capacity: 1 });
    tokio::time::sleep(Duration::from_secs(61)).await;
    let stats = pool.stats();
    assert_eq!((stats.blacklisted, stats.restored_total), (0, 1));
    assert!(pool.connections().iter().any(|c| c.addr == addr(2)));
    pool.close().await;
}

/// A ban from the dialer's validation: the re-test goes through the same dialer, so it
/// validates too, and only a re-test that passes validation lifts the ban.
#[tokio::test(start_paused = true)]
async fn retest_of_a_validation_ban_validates_too() {
    let dialer = MemDialer::accepting(1, &[addr(3)]);
    dialer.set(addr(2), Behaviour::Ban);
    let options = PoolOptions {
        blacklist_check_interval: Duration::from_secs(60),
        ..options()
    };
    let pool = Pool::new(dialer.clone(), options).unwrap();
    pool.set_addrs(HOST, [addr(2), addr(3)]);
    let lease = pool.get(HOST).await.expect("served by the other address");
    assert_eq!(lease.addr(), addr(3));
    drop(lease);
    assert_eq!(pool.stats().blacklisted, 1);
    let dials = dialer.dials.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(
        dialer.dials.load(Ordering::SeqCst),
        dials + 1,
        "one re-test ran"
    );
    assert_eq!(
        pool.stats().blacklisted,
        1,
        "the re-test was validated: still banned"
    );
    // Validation passes again: the next re-test lifts the ban.
    dialer.set(addr(2), Behaviour::Accept { capacity: 1 });
    tokio::time::sleep(Duration::from_secs(60)).await;
    let stats = pool.stats();
    assert_eq!((stats.blacklisted, stats.restored_total), (0, 1));
    assert!(pool.connections().iter().any(|c| c.addr == addr(2)));
    pool.close().await;
}

/// Regression: a ban from a health probe was lifted by the first re-test whose dial
/// connected, though a dial (here one with no validation at all) cannot re-check it.
#[tokio::test(start_paused = true)]
async fn probe_ban_is_not_lifted_by_a_connecting_retest() {
    let dialer = MemDialer::accepting(1, &[addr(2)]);
    let options = PoolOptions {
        health_check_interval: Some(Duration::from_secs(30)),
        blacklist_check_interval: Duration::from_secs(60),
        blacklist_timeout: Duration::from_secs(600),
        ..options()
    };
    let pool = Pool::new(dialer, options).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    assert_eq!(pool.warm(HOST).await.ok, 1);
    tokio::time::timeout(Duration::from_secs(31), pool.probes_due())
        .await
        .expect("probes become due");
    for ticket in pool.take_probes(1) {
        ticket.report(ProbeVerdict::Banned);
    }
    assert_eq!(pool.stats().blacklisted, 1);
    tokio::time::sleep(Duration::from_secs(540)).await;
    assert_eq!(
        pool.stats().blacklisted,
        1,
        "nine re-test intervals later: still banned"
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    let stats = pool.stats();
    assert_eq!(
        (stats.blacklisted, stats.restored_total),
        (0, 1),
        "blacklist_timeout ends it"
    );
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn all_addresses_failing_is_a_clear_dial_error() {
    let dialer = MemDialer::default();
    dialer.set(addr(2), Behaviour::Refuse);
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    let err = pool.get(HOST).await.unwrap_err();
    assert!(err.is_dial(), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    let err = pool.get(HOST).await.unwrap_err();
    assert!(matches!(err, Error::NoUsableAddress { .. }), "{err}");
    assert!(matches!(
        pool.get("unknown.test").await,
        Err(Error::NoAddresses { .. })
    ));
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn driver_closes_idle_connections_on_time() {
    let dialer = MemDialer::accepting(1, &[addr(2), addr(3)]);
    let alive = dialer.alive.clone();
    let pool = Pool::new(
        dialer,
        PoolOptions {
            // Warmed only to make connections; a hot host keeps them (`tests/stay_hot.rs`).
            stay_hot: false,
            idle_timeout: Duration::from_secs(60),
            ..options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, [addr(2), addr(3)]);
    pool.warm(HOST).await;
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(alive.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    assert_eq!(pool.stats().closed_for(CloseReason::Idle), 2);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn transport_death_removes_the_connection_without_a_request() {
    let dialer = MemDialer::accepting(1, &[addr(2)]);
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    drop(lease);
    conn.kill();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let stats = pool.stats();
    assert_eq!(stats.connections, 0);
    assert_eq!(stats.closed_for(CloseReason::Broken), 1);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_closed_connection_is_never_leased_even_before_its_watcher_runs() {
    let dialer = MemDialer::accepting(1, &[addr(2), addr(3)]);
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2), addr(3)]);
    assert_eq!(pool.warm(HOST).await.ok, 2);
    let lease = pool.get(HOST).await.unwrap();
    let other = pool.get(HOST).await.unwrap();
    let (dead, dead_id) = (lease.conn_arc(), lease.conn_id());
    drop(lease);
    drop(other);
    // No await between the death and the gets: the watcher task has not run. Capacity 1:
    // the second lease finds only the dead connection left of the two, whichever the
    // first took (the lane's choice is random), so it is skipped, removed and replaced.
    dead.kill();
    let first = pool.get(HOST).await.unwrap();
    let second = pool.get(HOST).await.unwrap();
    for lease in [&first, &second] {
        assert_ne!(lease.conn_id(), dead_id);
        assert!(!lease.is_closed());
    }
    let stats = pool.stats();
    assert_eq!(stats.closed_for(CloseReason::Broken), 1);
    assert_eq!((stats.connections, stats.leases_total), (2, 4));
    drop((first, second));
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn warm_reports_progress_and_summary() {
    let addrs: Vec<_> = (2..12).map(addr).collect();
    let dialer = MemDialer::accepting(1, &addrs[..8]);
    for a in &addrs[8..] {
        dialer.set(*a, Behaviour::Refuse);
    }
    let pool = Pool::new(
        MemDialer {
            delay: Duration::from_millis(5),
            ..dialer
        },
        PoolOptions {
            max_retries: 1,
            warm_concurrency: 3,
            ..options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, addrs.clone());
    let mut events = Vec::new();
    let report = pool
        .warm_with_progress(HOST, |p| {
            events.push((p.done, p.total, matches!(p.outcome, WarmOutcome::Connected)))
        })
        .await;
    assert_eq!(
        (report.planned, report.ok, report.failed, report.blacklisted),
        (10, 8, 2, 2)
    );
    assert_eq!(events.len(), 10);
    assert_eq!(events.last().unwrap().0, 10);
    assert_eq!(events.iter().filter(|e| e.2).count(), 8);
    // Bounded concurrency: 10 dials of 5 ms, 3 at a time, take 4 rounds.
    assert_eq!(report.elapsed, Duration::from_millis(20));
    assert_eq!(pool.stats().connections, 8);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn probes_see_only_idle_connections() {
    let addrs = [addr(2), addr(3)];
    let dialer = MemDialer::accepting(1, &addrs);
    let pool = Pool::new(
        dialer,
        PoolOptions {
            health_check_interval: Some(Duration::from_secs(30)),
            ..options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, addrs);
    pool.warm(HOST).await;
    let leased = pool.get(HOST).await.unwrap();
    tokio::time::timeout(Duration::from_secs(31), pool.probes_due())
        .await
        .expect("probes become due");
    let tickets = pool.take_probes(10);
    assert_eq!(tickets.len(), 1);
    assert_ne!(tickets[0].addr(), leased.addr());
    assert_ne!(tickets[0].conn_id(), leased.conn_id());
    for ticket in tickets {
        ticket.report(ProbeVerdict::Unhealthy);
    }
    assert_eq!(pool.stats().connections, 1);
    assert_eq!(pool.stats().probe_failures, 1);
    drop(leased);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn shed_and_set_addrs_close_what_they_should() {
    let addrs: Vec<_> = (2..6).map(addr).collect();
    let dialer = MemDialer::accepting(1, &addrs);
    let alive = dialer.alive.clone();
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, addrs.clone());
    pool.warm(HOST).await;
    assert_eq!(pool.shed(0.5), 2);
    assert_eq!(alive.load(Ordering::SeqCst), 2);
    let change = pool.set_addrs(HOST, [addr(9)]);
    assert_eq!(change.removed.len(), 4);
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    assert_eq!(pool.addrs(HOST), vec![addr(9)]);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_are_recorded_under_the_hotpool_prefix() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dialer = MemDialer::accepting(1, &[addr(2)]);
    let pool = metrics::with_local_recorder(&recorder, || Pool::new(dialer, options())).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    for _ in 0..3 {
        drop(pool.get(HOST).await.unwrap());
    }
    let names: HashMap<String, u64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            metrics_util::debugging::DebugValue::Counter(n) => {
                Some((key.key().name().to_owned(), n))
            }
            _ => None,
        })
        .collect();
    assert_eq!(names.get(pool_core::metrics::LEASES_TOTAL), Some(&3));
    assert_eq!(names.get(pool_core::metrics::DIALS_TOTAL), Some(&1));
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn closed_completes_when_close_is_called() {
    let dialer = MemDialer::accepting(1, &[addr(2)]);
    let pool = Pool::new(dialer, options()).unwrap();
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.closed().await })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished(), "not closed yet");
    pool.close().await;
    tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("closed() completes after close()")
        .unwrap();
    // Already closed: completes at once.
    tokio::time::timeout(Duration::from_millis(1), pool.closed())
        .await
        .expect("closed() completes at once on a closed pool");
}

#[tokio::test(start_paused = true)]
async fn dropping_warm_part_way_leaks_no_reservation() {
    let addrs: Vec<_> = (2..12).map(addr).collect();
    let dialer = MemDialer {
        delay: Duration::from_secs(1),
        ..MemDialer::accepting(1, &addrs)
    };
    let pool = Pool::new(
        dialer,
        PoolOptions {
            warm_concurrency: 2,
            ..options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, addrs);
    // Two dials start, eight wait their turn; the warm-up is abandoned after 100 ms.
    let abandoned = tokio::time::timeout(Duration::from_millis(100), pool.warm(HOST)).await;
    assert!(abandoned.is_err());
    tokio::task::yield_now().await;
    let stats = pool.stats();
    assert_eq!(stats.dialing, 0, "every reservation was released");
    assert_eq!(stats.dial_failures, 0, "a cancelled dial is not a failure");
    // The pool still dials and closes normally.
    assert!(pool.get(HOST).await.is_ok());
    tokio::time::timeout(Duration::from_secs(5), pool.close())
        .await
        .expect("close does not hang");
}

/// A dialer that panics: the pool must not keep the reservation.
struct PanickingDialer;

impl Dialer for PanickingDialer {
    type Conn = MemConn;

    async fn dial(&self, _target: &Target) -> Result<MemConn, DialError> {
        panic!("a bug in the dialer");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_dialer_leaks_no_reservation() {
    let pool = Pool::new(PanickingDialer, options()).unwrap();
    pool.set_addrs(HOST, [addr(2)]);
    let report = pool.warm(HOST).await;
    assert_eq!((report.planned, report.failed), (1, 1));
    assert_eq!(pool.stats().dialing, 0);
    tokio::time::timeout(Duration::from_secs(5), pool.close())
        .await
        .expect("close does not hang");
}

/// Sequential leases (one at a time, every connection idle) use every connection, so each
/// stays warm: the lane's choice spreads them (random start up to 8 connections, two random
/// choices above) instead of reusing the connection returned last.
#[tokio::test(start_paused = true)]
async fn sequential_leases_use_every_connection() {
    for n in [4u8, 10] {
        let addrs: Vec<_> = (2..2 + n).map(addr).collect();
        let dialer = MemDialer::accepting(1, &addrs);
        let pool = Pool::new(dialer, options()).unwrap();
        pool.set_addrs(HOST, addrs.clone());
        assert_eq!(pool.warm(HOST).await.ok, usize::from(n));
        for _ in 0..100 * usize::from(n) {
            drop(pool.get(HOST).await.unwrap());
        }
        let used: Vec<u64> = pool.connections().iter().map(|c| c.request_count).collect();
        assert_eq!(used.len(), usize::from(n));
        assert!(
            used.iter().all(|r| *r >= 20),
            "{n} connections, leases per connection {used:?}"
        );
        pool.close().await;
    }
}
