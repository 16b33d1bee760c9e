//! The fleet-wide rate (`[[hosts]] fleet_rate_limit`) on a real `redis-server` (pool-testkit's
//! `RedisServer`) against a real HTTP/2 origin that counts the requests it answers:
//! - four workers (each its own pool, `HostRates` and `RedisRates`, as four processes would
//!   have) loading one host as fast as they can send together stay within 10% of the fleet
//!   rate, measured by the origin over a five-second run; Redis killed mid-run, every
//!   request still goes, each worker on its share (rate ÷ the four workers Redis last
//!   reported), never blocked;
//! - the lease script: consecutive leases of two workers get consecutive slots, under keys
//!   tagged with the host;
//! - the config: `[[hosts]] fleet_rate_limit` with a `[fleet]` backend makes a client's
//!   politeness lease from Redis.
//!
//! The sans-IO account is tested on a fake clock in `pool-core/src/rate/fleet/tests.rs`, the
//! seam in `pool-http/src/polite/tests.rs`; the accuracy figure is in `BENCHMARKS.md`
//! (`cargo xtask bench --only fleetrate`).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use pool_core::{FleetTokens, Pool, PoolOptions, RateLimit};
use pool_dial_rustls::{H2Dialer, H2Options, Trust};
use pool_http::{Empty, HostRates, Polite, RequestOptions, StatusRetry, send_polite};
use pool_redis::{FleetConfig, RedisRates, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa, eventually};
use tokio::time::Instant;

const HOST: &str = "fleetrate.test";
const PREFIX: &str = "fleetrate-test:";
/// Every wait for an event is bounded by this.
const WAIT: Duration = Duration::from_secs(20);
/// The fleet's rate, and how many workers share it.
const RATE: &str = "150/s";
const WORKERS: usize = 4;
/// Requests each worker keeps in flight: far more demand than the rate.
const CONCURRENCY: usize = 8;

async fn origin(ca: &Arc<TestCa>) -> H2Origin {
    let ips = [
        IpAddr::from([127, 0, 0, 151]),
        IpAddr::from([127, 0, 0, 152]),
    ];
    H2Origin::start(H2OriginOptions::new(&ips, &[HOST], ca))
        .await
        .unwrap()
}

fn fleet_config(redis: &RedisServer, worker: &str) -> FleetConfig {
    let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = PREFIX.into();
    cfg.worker = worker.into();
    cfg
}

/// One worker of the fleet: its own pool of the origin and its own fleet rate client.
struct Worker {
    pool: Arc<Pool<H2Dialer>>,
    polite: Arc<Polite>,
    rates: Arc<HostRates>,
}

async fn worker(origin: &H2Origin, ca: &TestCa, redis: &RedisServer, i: usize) -> Worker {
    let mut options = H2Options::default();
    options.tls.trust = Trust {
        webpki_roots: false,
        extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
        ..Trust::default()
    };
    options.tls.conn_timeout = Duration::from_secs(5);
    let pool = Pool::new(H2Dialer::new(options).unwrap(), PoolOptions::default()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    pool.warm(HOST).await;
    let tokens = RedisRates::new(&fleet_config(redis, &format!("rate-w{i}"))).unwrap();
    let rates = Arc::new(HostRates::new(None, None).with_fleet(tokens));
    rates.set_fleet_host(HOST, Some(RATE.parse().unwrap()));
    let polite = Arc::new(Polite::new(Some(rates.clone()), StatusRetry::off()));
    Worker {
        pool: Arc::new(pool),
        polite,
        rates,
    }
}

/// Requests from every worker, `CONCURRENCY` at a time each, until `done`; the ones that
/// did not end in a 200 are counted in `failed`.
fn load(
    workers: &[Worker],
    done: &Arc<AtomicBool>,
    failed: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for w in workers {
        for _ in 0..CONCURRENCY {
            let (pool, polite, done, failed) = (
                w.pool.clone(),
                w.polite.clone(),
                done.clone(),
                failed.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let options = RequestOptions::default();
                while !done.load(Ordering::SeqCst) {
                    let request = Request::get(format!("https://{HOST}/item"))
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    match send_polite(&*pool, &polite, HOST, request, &options).await {
                        Ok(response) if response.status() == 200 => {
                            let _ = response.into_body().collect(1 << 16).await;
                        }
                        Ok(response) => {
                            eprintln!("answered {}", response.status());
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            eprintln!("failed: {e}");
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
    }
    tasks
}

/// The rate the origin answered over `window`, requests/s.
async fn origin_rate(origin: &H2Origin, window: Duration) -> f64 {
    let (before, start) = (origin.stats().requests, Instant::now());
    tokio::time::sleep(window).await;
    let (after, elapsed) = (origin.stats().requests, start.elapsed());
    (after - before) as f64 / elapsed.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_hold_the_fleet_rate_and_go_on_at_their_share_when_redis_is_killed() {
    let mut redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca).await;
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(worker(&origin, &ca, &redis, i).await);
    }
    let (done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = load(&workers, &done, &failed);
    let stats = |w: &Worker| w.rates.fleet_stats(HOST).unwrap();
    eventually("every worker leases and knows the four", WAIT, || {
        workers
            .iter()
            .all(|w| stats(w).workers == WORKERS as u32 && stats(w).granted > 0)
    })
    .await
    .unwrap();

    let rate = origin_rate(&origin, Duration::from_secs(5)).await;
    let leases: u64 = workers.iter().map(|w| stats(w).leases).sum();
    let granted: u64 = workers.iter().map(|w| stats(w).granted).sum();
    eprintln!(
        "fleet of {WORKERS} at {RATE}: the origin saw {rate:.1}/s; {granted} requests on {leases} leases"
    );
    assert!(
        (135.0..=165.0).contains(&rate),
        "within 10% of {RATE}: {rate:.1}/s"
    );
    assert!(
        leases * 2 < granted,
        "batches, not a Redis round trip per request: {leases} leases for {granted}"
    );
    assert_eq!(failed.load(Ordering::SeqCst), 0);

    redis.stop();
    eventually("every worker is on its share", WAIT, || {
        workers.iter().all(|w| stats(w).on_fallback)
    })
    .await
    .unwrap();
    let on_share = origin_rate(&origin, Duration::from_secs(3)).await;
    eprintln!("Redis killed: the origin saw {on_share:.1}/s, each worker on {RATE} / {WORKERS}");
    done.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "never blocked: every request answered"
    );
    for w in &workers {
        let s = stats(w);
        assert!(s.fallback_granted > 0 && s.failures > 0, "{s:?}");
    }
    assert!(
        (75.0..=165.0).contains(&on_share),
        "the requests go on, at most at the fleet rate: {on_share:.1}/s"
    );
    for w in &workers {
        w.pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_of_two_workers_take_consecutive_slots_under_keys_tagged_with_the_host() {
    let redis = RedisServer::start().unwrap();
    let a = RedisRates::new(&fleet_config(&redis, "lease-a")).unwrap();
    let b = RedisRates::new(&fleet_config(&redis, "lease-b")).unwrap();
    let limit: RateLimit = "100/s".parse().unwrap();
    let first = a.lease(HOST, limit, 10).await.unwrap();
    let started = Instant::now();
    let second = b.lease(HOST, limit, 10).await.unwrap();
    let between = started.elapsed();
    assert_eq!((first.granted, second.granted), (10, 10));
    assert_eq!(first.interval, Duration::from_millis(10));
    assert!(first.first_in < Duration::from_millis(5), "{first:?}");
    // b's first slot is the 11th of the fleet: 100 ms after a's first.
    let expected = Duration::from_millis(100);
    assert!(
        second.first_in + between + first.first_in >= expected - Duration::from_millis(2)
            && second.first_in <= expected,
        "{second:?} after {between:?}"
    );
    assert_eq!(second.workers, 2, "both workers registered");
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{PREFIX}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("{PREFIX}rate-workers:{{{HOST}}}"),
            format!("{PREFIX}rate:{{{HOST}}}"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rate_in_the_config_leases_from_the_fleet_backend() {
    use hotpool::ConfigOptions;
    let redis = RedisServer::start().unwrap();
    let mut cfg = pool_config::Config::default();
    cfg.fleet.backend = pool_config::FleetBackend::Redis;
    cfg.fleet.url = redis.url();
    let mut host = pool_config::HostConfig::new(HOST);
    host.fleet_rate_limit = Some(pool_config::Rate(RATE.parse().unwrap()));
    cfg.hosts.push(host);
    let polite = cfg.polite();
    let rates = polite.rates().expect("paced");
    assert!(rates.has_fleet());
    let deadline = Instant::now() + WAIT;
    rates.acquire(HOST, deadline).await.unwrap();
    let stats = rates.fleet_stats(HOST).unwrap();
    assert_eq!(stats.configured, 150.0);
    assert_eq!((stats.leases, stats.granted), (1, 1), "{stats:?}");
}
