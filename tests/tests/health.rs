//! pool-health end to end, and the pool's blacklist re-test: real TLS + HTTP/2 origins on
//! 127.0.0.x, pool-dial-rustls's `H2Dialer` (its probe is an HTTP/2 PING).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pool_core::{CloseReason, Connection, Pool, PoolOptions, ProbeVerdict};
use pool_dial_rustls::{H2Conn, H2Dialer, H2Options};
use pool_health::{FnProbe, HealthChecker, HealthOptions, HttpProbe, ProbeFuture, TransportProbe};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, wait_for};

const HOST: &str = "www.hotpool.test";
/// Every wait in these tests is bounded by this.
const DEADLINE: Duration = Duration::from_secs(10);
const INTERVAL: Duration = Duration::from_millis(300);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn dialer(ca: &TestCa) -> H2Dialer {
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.tls.conn_timeout = Duration::from_secs(5);
    // Bounds the PING of `H2Conn::probe`.
    options.tls.test_timeout = Duration::from_millis(200);
    H2Dialer::new(options).unwrap()
}

fn pool_options(interval: Duration) -> PoolOptions {
    PoolOptions {
        health_check_interval: Some(interval),
        keep_warm: false,
        // Probes and thresholds removing connections are the subject; a warmed host's
        // background re-warming is tests/stay_hot.rs'.
        stay_hot: false,
        ..PoolOptions::default()
    }
}

fn health_options() -> HealthOptions {
    HealthOptions {
        test_timeout: Duration::from_secs(1),
        concurrency: 4,
        ..HealthOptions::default()
    }
}

async fn origin(ca: &Arc<TestCa>, lasts: &[u8]) -> H2Origin {
    let addrs: Vec<IpAddr> = lasts.iter().map(|n| ip(*n)).collect();
    H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], ca))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_pings_and_closed_peers_remove_connections_at_their_next_probe() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[2, 3]).await;
    let pool = Pool::new(dialer(&ca), pool_options(INTERVAL)).unwrap();
    let checker = HealthChecker::start(&pool, TransportProbe, health_options());
    pool.set_addrs(HOST, origin.socket_addrs());
    assert_eq!(pool.warm(HOST).await.ok, 2);

    // Answered PINGs: probed, kept.
    wait_for("both connections pass a probe twice", DEADLINE, || {
        checker.stats().healthy >= 4
    })
    .await;
    assert_eq!(pool.stats().connections, 2);
    assert_eq!(checker.stats().failed, 0);

    // The origin stops answering PINGs: each connection goes at its next probe, ended by
    // the PING's own timeout. Counted, not timed: when a probe is due (one interval after
    // the last check) is the core's, tested on its fake clock
    // (pool-core/src/proto/tests/health.rs, `an_untouched_connection_is_probed_every_interval`).
    let before = checker.stats();
    origin.set_ping_frozen(true);
    wait_for("unresponsive connections are removed", DEADLINE, || {
        pool.stats().connections == 0
    })
    .await;
    assert_eq!(pool.stats().closed_for(CloseReason::Unhealthy), 2);
    let stats = checker.stats();
    assert_eq!(stats.failed, 2, "{stats:?}");
    // At most the probes already answered when the PINGs froze passed; the next failed.
    assert!(
        stats.healthy - before.healthy <= 2,
        "{before:?} -> {stats:?}"
    );
    assert_eq!(
        stats.probes - before.probes,
        stats.healthy - before.healthy + 2
    );
    // The PING's 200 ms ended them, not the checker's 1 s `test_timeout`.
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");

    // Thawed, the origin sees them closed (a frozen server does not read its sockets).
    origin.set_ping_frozen(false);
    wait_for("the origin sees them closed", DEADLINE, || {
        origin.stats().open_connections == 0
    })
    .await;

    // A peer that closes its connections: removed as well (noticed by the transport).
    assert_eq!(pool.warm(HOST).await.ok, 2);
    assert_eq!(origin.close_all(), 2);
    wait_for("closed connections are removed", DEADLINE, || {
        pool.stats().connections == 0
    })
    .await;

    pool.close().await;
    wait_for("the checker stops with the pool", DEADLINE, || {
        checker.is_stopped()
    })
    .await;
    checker.stop().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leased_connection_is_never_probed() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[4]).await;
    let interval = Duration::from_millis(100);
    let pool = Pool::new(dialer(&ca), pool_options(interval)).unwrap();
    let checker = HealthChecker::start(&pool, TransportProbe, health_options());
    pool.set_addrs(HOST, origin.socket_addrs());
    let lease = pool.get(HOST).await.unwrap();

    // Any probe now would fail (PINGs go unanswered) and remove the connection.
    origin.set_ping_frozen(true);
    // Eight intervals with the lease held: nothing is probed, nothing removed.
    for _ in 0..8 {
        tokio::time::sleep(interval).await;
        let stats = pool.stats();
        assert_eq!(stats.probing, 0);
        assert_eq!(stats.connections, 1);
        assert_eq!(checker.stats().probes, 0);
    }

    // Back in the pool (the successful lease counts as a check): probed one interval
    // later, fails, removed.
    drop(lease);
    wait_for(
        "the idle connection is probed and removed",
        DEADLINE,
        || pool.stats().connections == 0,
    )
    .await;
    assert_eq!(checker.stats().failed, 1);

    checker.stop().await;
    assert!(checker.is_stopped());
    pool.close().await;
    origin.shutdown().await;
}

/// The HTTP probe: `GET /health` on the pooled HTTP/2 connection.
fn http_probe(conn: &H2Conn) -> ProbeFuture<'_, Result<u16, pool_http::RequestError>> {
    Box::pin(async move {
        let request = http::Request::get("/health")
            .body(pool_http::Empty::<Bytes>::new())
            .unwrap();
        pool_http::HttpConnection::send(conn, request)
            .await
            .map(|r| r.status().as_u16())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_thresholds_and_the_banned_status() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[5]).await;
    let pool = Pool::new(dialer(&ca), pool_options(Duration::from_millis(100))).unwrap();
    let checker = HealthChecker::start(
        &pool,
        HttpProbe::new(http_probe),
        HealthOptions {
            failure_threshold: 3,
            ..health_options()
        },
    );
    pool.set_addrs(HOST, origin.socket_addrs());
    assert_eq!(pool.warm(HOST).await.ok, 1);
    wait_for("a healthy probe", DEADLINE, || checker.stats().healthy >= 1).await;

    // Non-success answers: two are tolerated, the third removes the connection.
    origin.set_status("/health", 503);
    wait_for("the failing connection is removed", DEADLINE, || {
        pool.stats().connections == 0
    })
    .await;
    let stats = checker.stats();
    assert_eq!(stats.tolerated, 2, "{stats:?}");
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(pool.stats().closed_for(CloseReason::Unhealthy), 1);
    assert_eq!(pool.stats().blacklisted, 0, "503 does not blacklist");

    // The banned status: closed at once (no threshold) and the IP blacklisted.
    origin.set_status("/health", 403);
    assert_eq!(pool.warm(HOST).await.ok, 1);
    wait_for("the banned connection is removed", DEADLINE, || {
        pool.stats().connections == 0
    })
    .await;
    let stats = checker.stats();
    assert_eq!(stats.banned, 1, "{stats:?}");
    assert_eq!(stats.blacklisted, 1, "{stats:?}");
    assert_eq!(stats.blacklisted_total, 1, "{stats:?}");
    let err = pool
        .get(HOST)
        .await
        .expect_err("the only IP is blacklisted");
    assert!(
        matches!(err, pool_core::Error::NoUsableAddress { .. }),
        "{err}"
    );
    checker.stop().await;
    pool.close().await;

    // The pool's own error threshold: lease errors beyond `max_errors` remove it.
    let pool = Pool::new(
        dialer(&ca),
        PoolOptions {
            max_errors: 2,
            ..pool_options(Duration::from_secs(3600))
        },
    )
    .unwrap();
    origin.clear_status("/health");
    let other = self::origin(&ca, &[6]).await;
    pool.set_addrs(HOST, other.socket_addrs());
    for errors in 1..=3 {
        let mut lease = pool.get(HOST).await.unwrap();
        lease.report_error();
        drop(lease);
        let expected = if errors <= 2 { 1 } else { 0 };
        assert_eq!(pool.stats().connections, expected, "after {errors} errors");
    }
    assert_eq!(pool.stats().closed_for(CloseReason::Errors), 1);
    pool.close().await;
    origin.shutdown().await;
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_address_is_blacklisted_then_restored_by_the_retest() {
    // A port nothing listens on (yet): dials are refused.
    let free = std::net::TcpListener::bind((ip(8), 0)).unwrap();
    let addr: SocketAddr = free.local_addr().unwrap();
    drop(free);

    let ca = Arc::new(TestCa::new().unwrap());
    let pool = Pool::new(
        dialer(&ca),
        PoolOptions {
            max_retries: 2,
            blacklist_check_interval: Duration::from_millis(200),
            blacklist_timeout: Duration::from_secs(3600),
            ..pool_options(Duration::from_secs(3600))
        },
    )
    .unwrap();
    let checker = HealthChecker::start(&pool, TransportProbe, health_options());
    pool.set_addrs(HOST, [addr]);

    // `max_retries` refused dials in a row: blacklisted.
    let first = pool.warm(HOST).await;
    assert_eq!((first.failed, first.blacklisted), (1, 0));
    let second = pool.warm(HOST).await;
    assert_eq!((second.failed, second.blacklisted), (1, 1));
    let stats = checker.stats();
    assert_eq!((stats.blacklisted, stats.blacklisted_total), (1, 1));
    assert_eq!(
        pool.warm(HOST).await.planned,
        0,
        "a blacklisted IP is not dialed"
    );

    // The re-test keeps dialing it every interval; refused, it stays blacklisted.
    let dials = pool.stats().dials_total;
    wait_for("two re-tests run", DEADLINE, || {
        pool.stats().dials_total >= dials + 2
    })
    .await;
    assert_eq!(pool.stats().blacklisted, 1);
    assert_eq!(pool.stats().restored_total, 0);

    // A server starts there: the next re-test restores the address.
    let origin = H2Origin::start(H2OriginOptions {
        port: addr.port(),
        ..H2OriginOptions::new(&[addr.ip()], &[HOST], &ca)
    })
    .await
    .unwrap();
    wait_for("the re-test restores the address", DEADLINE, || {
        pool.stats().restored_total == 1
    })
    .await;
    let stats = checker.stats();
    assert_eq!(stats.blacklisted, 0, "{stats:?}");
    assert_eq!(stats.restored_total, 1, "{stats:?}");
    let lease = pool.get(HOST).await.unwrap();
    assert_eq!(lease.addr(), addr);
    drop(lease);
    assert!(origin.stats().handshakes >= 1);

    checker.stop().await;
    pool.close().await;
    origin.shutdown().await;
}

/// Whether [`panics_once`] has panicked yet.
static PROBE_PANICKED: AtomicBool = AtomicBool::new(false);

/// A buggy probe: panics the first time it runs, then checks like [`TransportProbe`].
fn panics_once<'a>(
    conn: &'a H2Conn,
    _host: &'a str,
    _addr: SocketAddr,
) -> ProbeFuture<'a, ProbeVerdict> {
    let first = !PROBE_PANICKED.swap(true, Ordering::SeqCst);
    Box::pin(async move {
        assert!(!first, "a buggy probe panics");
        conn.probe().await
    })
}

/// The guard around a probe: a probe that panics reports its connection unhealthy (closed,
/// counted in `panics`), and neither the pool nor the checker is poisoned — the checker
/// goes on probing, the pool goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_probe_closes_its_connection_and_the_checker_goes_on() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[9]).await;
    let pool = Pool::new(dialer(&ca), pool_options(Duration::from_millis(100))).unwrap();
    let checker = HealthChecker::start(&pool, FnProbe::new(panics_once), health_options());
    pool.set_addrs(HOST, origin.socket_addrs());
    assert_eq!(pool.warm(HOST).await.ok, 1);

    wait_for(
        "the panicking probe's connection is removed",
        DEADLINE,
        || pool.stats().closed_for(CloseReason::Unhealthy) == 1,
    )
    .await;
    let stats = checker.stats();
    assert_eq!(
        (stats.panics, stats.failed, stats.probes),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(
        stats.in_flight, 0,
        "a panicked probe is no longer in flight: {stats:?}"
    );
    assert!(!checker.is_stopped(), "a panicking probe stops nothing");

    // The checker goes on: a new connection is probed (healthy) and kept; the pool serves.
    assert_eq!(pool.warm(HOST).await.ok, 1);
    wait_for("the next probe passes", DEADLINE, || {
        checker.stats().healthy >= 1
    })
    .await;
    assert_eq!(pool.stats().connections, 1);
    assert_eq!(checker.stats().panics, 1);
    drop(pool.get(HOST).await.unwrap());

    checker.stop().await;
    pool.close().await;
    origin.shutdown().await;
}
