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
//!   politeness lease from Redis;
//! - [`processes`]: two OS processes of two workers each on a three-master Redis Cluster
//!   (the host's node killed and restarted mid-run) and on Sentinel (a master failover
//!   mid-run): the fleet rate holds before and after, no request fails.
//!
//! The sans-IO account is tested on a fake clock in `pool-core/src/rate/fleet/tests.rs`, the
//! seam in `pool-http/src/polite/tests.rs`; the accuracy figure is in `BENCHMARKS.md`
//! (`cargo xtask bench --only fleetrate`).

mod processes;
mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pool_core::{FleetTokens, RateLimit};
use pool_redis::RedisRates;
use pool_testkit::{RedisServer, TestCa, eventually};
use tokio::time::Instant;

use crate::rig::{HOST, PREFIX, Worker, fleet_config, load, origin, origin_rate};

/// Every wait for an event is bounded by this.
const WAIT: Duration = Duration::from_secs(20);
/// The fleet's rate, and how many workers share it.
const RATE: &str = "150/s";
const WORKERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_hold_the_fleet_rate_and_go_on_at_their_share_when_redis_is_killed() {
    let mut redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca).await;
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(Worker::start(&origin, &ca, &redis.url(), i, RATE.parse().unwrap()).await);
    }
    let (done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = load(&workers, &done, &failed);
    let stats = Worker::stats;
    eventually("every worker leases and knows the four", WAIT, || {
        workers
            .iter()
            .all(|w| stats(w).workers == WORKERS as u32 && stats(w).granted > 0)
    })
    .await
    .unwrap();

    let (_, rate) = origin_rate(&origin, Duration::from_secs(5)).await;
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
    let (_, on_share) = origin_rate(&origin, Duration::from_secs(3)).await;
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
    let a = RedisRates::new(&fleet_config(&redis.url(), "lease-a")).unwrap();
    let b = RedisRates::new(&fleet_config(&redis.url(), "lease-b")).unwrap();
    let limit: RateLimit = "100/s".parse().unwrap();
    let started = Instant::now();
    let first = a.lease(HOST, limit, 10).await.unwrap();
    let second = b.lease(HOST, limit, 10).await.unwrap();
    let both = started.elapsed();
    assert_eq!((first.granted, second.granted), (10, 10));
    assert_eq!(first.interval, Duration::from_millis(10));
    assert_eq!(first.first_in, Duration::ZERO, "a fresh fleet: at once");
    // b's first slot is the fleet's 11th, 100 ms after a's first; b asked at most `both`
    // later (Redis's clock between the two scripts; 1 ms for rounding).
    let expected = Duration::from_millis(100);
    assert!(
        second.first_in <= expected
            && second.first_in + both + Duration::from_millis(1) >= expected,
        "{second:?}, both leases within {both:?}"
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
    // The one slot leased and spent (the next batch may already be leased behind it).
    assert_eq!(stats.granted, 1, "{stats:?}");
    assert!(stats.leases >= 1 && stats.failures == 0, "{stats:?}");
}
