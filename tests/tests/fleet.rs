//! The fleet on a real `redis-server` (pool-testkit's `RedisServer`) with real HTTP/1.1
//! origins on 127.0.0.16x: pools share a ban within 100 ms and a new worker loads it, an
//! expired ban lifts on both, garbage on the channel changes nothing and is counted, and
//! killing Redis mid-load loses no request while both pools re-sync when it returns, and a
//! frozen (`SIGSTOP`) Redis is noticed and re-synced with when it thaws.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pool_core::{BlacklistReason, Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions, Validation};
use pool_http::{Empty, HttpLeaseExt};
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa, eventually};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "fleet.test";
const PREFIX: &str = "hotpool-test:";

/// A bad origin (its validation answers 403: banned) and a good one, one IP each.
struct Origins {
    bad: H2Origin,
    good: H2Origin,
}

impl Origins {
    async fn start(ca: &Arc<TestCa>, bad: u8, good: u8) -> Self {
        let start = |last: u8| {
            H2Origin::start(H2OriginOptions::h1_only(
                &[IpAddr::from([127, 0, 0, last])],
                &[HOST],
                ca,
            ))
        };
        let origins = Self {
            bad: start(bad).await.unwrap(),
            good: start(good).await.unwrap(),
        };
        origins.bad.set_status("/check", 403);
        origins
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        vec![self.bad.socket_addrs()[0], self.good.socket_addrs()[0]]
    }

    fn bad_ip(&self) -> IpAddr {
        self.bad.socket_addrs()[0].ip()
    }

    async fn shutdown(self) {
        self.bad.shutdown().await;
        self.good.shutdown().await;
    }
}

fn dialer(ca: &TestCa) -> H1Dialer {
    let mut options = TlsOptions::default();
    options.trust.webpki_roots = false;
    options.trust.extra_ca_certs = vec![ca.ca_cert_der()];
    options.conn_timeout = Duration::from_secs(5);
    options.test_timeout = Duration::from_secs(5);
    options.validation = Some(Validation {
        path: "/check".into(),
        ..Validation::default()
    });
    H1Dialer::new(options).unwrap()
}

fn options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: WAIT,
        max_conns_per_host: 8,
        blacklist_check_interval: Duration::from_secs(600),
        blacklist_timeout: Duration::from_secs(600),
        ..PoolOptions::default()
    }
}

/// A pool of this fleet, attached and synced with Redis.
async fn member(
    redis: &RedisServer,
    ca: &TestCa,
    origins: &Origins,
    options: PoolOptions,
) -> (Pool<H1Dialer>, Arc<RedisFleet>) {
    let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = PREFIX.into();
    let fleet = RedisFleet::start(cfg).unwrap();
    let pool = Pool::with_shared_state(dialer(ca), options, fleet.clone()).unwrap();
    pool.set_addrs(HOST, origins.addrs());
    fleet.attach(&pool);
    eventually("the fleet member synced", WAIT, || fleet.stats().syncs >= 1)
        .await
        .unwrap();
    (pool, fleet)
}

async fn request(pool: &Pool<H1Dialer>) -> u16 {
    let lease = pool.get(HOST).await.expect("a lease");
    let req = http::Request::get("/").body(Empty::<Bytes>::new()).unwrap();
    let resp = tokio::time::timeout(WAIT, lease.request(req))
        .await
        .expect("in time")
        .expect("a response");
    let status = resp.status().as_u16();
    resp.into_body().bytes().await.expect("the body");
    status
}

async fn redis_conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_reaches_the_other_pool_within_100_ms_and_a_new_worker_loads_it() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 160, 161).await;
    let (a, _a_fleet) = member(&redis, &ca, &origins, options()).await;
    let (b, b_fleet) = member(&redis, &ca, &origins, options()).await;
    let bad = origins.bad_ip();

    let report = a.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (1, 1));
    let banned_at = Instant::now();
    eventually("b applies a's ban", WAIT, || b.blacklisted(bad).is_some())
        .await
        .unwrap();
    let took = banned_at.elapsed();
    assert!(
        took < Duration::from_millis(100),
        "propagation took {took:?}"
    );
    assert_eq!(b.blacklisted(bad), Some(BlacklistReason::Banned));
    assert_eq!(b_fleet.stats().received, 1);

    // b never pays the handshake a already paid: its warm-up dials the good address only.
    let report = b.warm(HOST).await;
    assert_eq!((report.ok, report.failed), (1, 0));
    assert_eq!(
        origins.bad.stats().accepted,
        1,
        "one dial of the bad IP, fleet-wide"
    );

    // A worker started after the ban loads it from the keys (no message is replayed).
    let (c, _c_fleet) = member(&redis, &ca, &origins, options()).await;
    assert_eq!(c.blacklisted(bad), Some(BlacklistReason::Banned));
    assert_eq!(request(&c).await, 200);
    assert_eq!(origins.bad.stats().accepted, 1);

    for pool in [a, b, c] {
        pool.close().await;
    }
    origins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ban_lifts_on_both_pools_and_in_redis() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 162, 163).await;
    let short = PoolOptions {
        blacklist_timeout: Duration::from_millis(700),
        // The expiry is the subject: a hot (warmed) host would re-warm the address as
        // its ban lifts, be banned again by its 403, and count more restores.
        stay_hot: false,
        ..options()
    };
    let (a, _) = member(&redis, &ca, &origins, short.clone()).await;
    let (b, _) = member(&redis, &ca, &origins, short).await;
    let bad = origins.bad_ip();
    a.warm(HOST).await;
    eventually("both banned", WAIT, || {
        a.blacklisted(bad).is_some() && b.blacklisted(bad).is_some()
    })
    .await
    .unwrap();
    let mut conn = redis_conn(&redis).await;
    let key = format!("{PREFIX}ban:{HOST}:{}", origins.bad.socket_addrs()[0]);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 700,
        "the key carries the ban's TTL: {ttl}"
    );

    eventually("the ban lifts on both", WAIT, || {
        a.blacklisted(bad).is_none() && b.blacklisted(bad).is_none()
    })
    .await
    .unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "Redis expired the key by itself");
    assert_eq!(a.stats().restored_total + b.stats().restored_total, 2);
    a.close().await;
    b.close().await;
    origins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_channel_changes_nothing_and_is_counted() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 164, 165).await;
    let (pool, fleet) = member(&redis, &ca, &origins, options()).await;
    let bad = origins.bad.socket_addrs()[0];
    let channel = format!("{PREFIX}events");
    let malformed = [
        "hello".to_string(),
        format!("v2 ban {HOST} {bad} banned 60000 mallory"),
        format!("v1 ban {HOST} {bad} banned 0 mallory"),
        format!("v1 ban {HOST} {bad} hated 60000 mallory"),
        format!("v1 ban {HOST} {} banned 60000 mallory", bad.ip()),
        format!("v1 ban {HOST} {bad} banned 60000 mallory trailing"),
    ];
    let oversized = format!("v1 unban {} {bad} mallory", "a".repeat(1000));
    let foreign = format!("v1 ban elsewhere.test {bad} banned 60000 mallory");
    let mut conn = redis_conn(&redis).await;
    for message in malformed.iter().chain([&oversized, &foreign]) {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(message)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(&[0xffu8, 0xfe, 0x00][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    eventually("every message is counted", WAIT, || {
        let s = fleet.stats();
        (
            s.dropped_malformed,
            s.dropped_oversized,
            s.dropped_unknown_host,
        ) == (malformed.len() as u64 + 1, 1, 1)
    })
    .await
    .unwrap();
    assert_eq!(pool.blacklisted(bad.ip()), None, "nothing was trusted");
    let stats = pool.stats();
    assert_eq!(
        (stats.blacklisted, stats.fleet_applied, stats.fleet_ignored),
        (0, 0, 1)
    );
    assert_eq!(fleet.stats().received, 0);

    // A well-formed ban still works after all that.
    let good = format!("v1 ban {HOST} {bad} banned 60000 alice");
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(&good)
        .query_async(&mut conn)
        .await
        .unwrap();
    eventually("the good ban applies", WAIT, || {
        pool.blacklisted(bad.ip()).is_some()
    })
    .await
    .unwrap();
    pool.close().await;
    origins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_load_loses_no_request_and_both_pools_resync() {
    let mut redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 166, 167).await;
    let (a, a_fleet) = member(&redis, &ca, &origins, options()).await;
    let (b, b_fleet) = member(&redis, &ca, &origins, options()).await;
    // Both pools only know the good address for the load: the bad one comes later.
    let good = origins.good.socket_addrs()[0];
    a.set_addrs(HOST, [good]);
    b.set_addrs(HOST, [good]);

    // Load on both pools until told to stop; every request must succeed.
    let (done, served) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let load = |pool: Pool<H1Dialer>| {
        let (done, served) = (done.clone(), served.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                assert_eq!(request(&pool).await, 200);
                served.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let (load_a, load_b) = (load(a.clone()), load(b.clone()));
    eventually("requests flow", WAIT, || {
        served.load(Ordering::SeqCst) >= 20
    })
    .await
    .unwrap();
    redis.stop();
    let at_stop = served.load(Ordering::SeqCst);
    eventually("both notice Redis is gone", WAIT, || {
        a_fleet.stats().errors > 0 && b_fleet.stats().errors > 0
    })
    .await
    .unwrap();
    eventually("requests flow while Redis is down", WAIT, || {
        served.load(Ordering::SeqCst) >= at_stop + 50
    })
    .await
    .unwrap();
    redis.restart().unwrap();
    eventually("both re-synced", WAIT, || {
        a_fleet.stats().syncs >= 2 && b_fleet.stats().syncs >= 2
    })
    .await
    .unwrap();
    done.store(true, Ordering::SeqCst);
    load_a.await.expect("no request of a failed");
    load_b.await.expect("no request of b failed");

    // After the outage the fleet works again, both ways.
    a.set_addrs(HOST, origins.addrs());
    b.set_addrs(HOST, origins.addrs());
    let bad = origins.bad_ip();
    let report = a.warm(HOST).await;
    assert_eq!(report.blacklisted, 1);
    eventually("b applies a's ban after the outage", WAIT, || {
        b.blacklisted(bad).is_some()
    })
    .await
    .unwrap();
    a.close().await;
    b.close().await;
    origins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_is_noticed_and_the_pool_resyncs_when_it_thaws() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 168, 169).await;
    let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = PREFIX.into();
    cfg.heartbeat = Duration::from_millis(50);
    cfg.call_timeout = Duration::from_millis(100);
    let fleet = RedisFleet::start(cfg).unwrap();
    let pool = Pool::with_shared_state(dialer(&ca), options(), fleet.clone()).unwrap();
    pool.set_addrs(HOST, [origins.good.socket_addrs()[0]]);
    fleet.attach(&pool);
    eventually("synced", WAIT, || fleet.stats().syncs >= 1)
        .await
        .unwrap();

    redis.pause().unwrap();
    // Requests do not wait on the frozen Redis.
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(request(&pool).await, 200);
    }
    assert!(started.elapsed() < WAIT);
    eventually("the frozen subscriber is noticed", WAIT, || {
        fleet.stats().disconnects > 0
    })
    .await
    .unwrap();
    redis.resume().unwrap();
    eventually("re-synced after the thaw", WAIT, || {
        fleet.stats().syncs >= 2
    })
    .await
    .unwrap();
    pool.close().await;
    origins.shutdown().await;
}
