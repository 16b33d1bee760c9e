//! The fleet-wide connection budget (`fleet_max_conns_per_host`): two pools that each would
//! open 6 connections to one origin hold at most 3 together and lose no request, and a
//! crashed worker's claim returns by itself when its lease runs out.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::H1Dialer;
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa};

use crate::rig::{self, WAIT};

const HOST: &str = "budget.test";
const FLEET_MAX: usize = 3;

/// A pool of the budgeted fleet (claims every 20 ms, living 600 ms) for the origin.
async fn member(redis: &RedisServer, ca: &TestCa, origin: &H2Origin) -> Pool<H1Dialer> {
    let mut cfg = rig::fleet_config(redis, "budget:");
    cfg.max_conns_per_host = Some(FLEET_MAX);
    cfg.budget_tick = Duration::from_millis(20);
    cfg.budget_ttl = Duration::from_millis(600);
    let options = PoolOptions {
        max_conns_per_host: 8,
        max_conns_per_ip: 8,
        idle_timeout: Duration::from_millis(200),
        checkout_timeout: WAIT,
        ..PoolOptions::default()
    };
    let dialer = rig::dialer(ca, false);
    let (pool, _fleet) = rig::member(cfg, dialer, options, HOST, &origin.socket_addrs()).await;
    pool
}

/// `GET /slow/30` (answered after 30 ms): holds its connection a while.
async fn slow_request(pool: &Pool<H1Dialer>) -> u16 {
    rig::request(pool, HOST, "/slow/30").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_caps_the_fleets_connections_to_a_host() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let ip = IpAddr::from([127, 0, 0, 170]);
    let origin = Arc::new(
        H2Origin::start(H2OriginOptions::h1_only(&[ip], &[HOST], &ca))
            .await
            .unwrap(),
    );
    let a = member(&redis, &ca, &origin).await;
    let b = member(&redis, &ca, &origin).await;

    // The origin's open connections, sampled while the load runs.
    let (done, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sampler = {
        let (done, peak, origin) = (done.clone(), peak.clone(), origin.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(origin.stats().open_connections, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut load = Vec::new();
    for pool in [&a, &b] {
        for _ in 0..6 {
            let pool = pool.clone();
            load.push(tokio::spawn(async move {
                for _ in 0..8 {
                    assert_eq!(slow_request(&pool).await, 200);
                }
            }));
        }
    }
    for task in load {
        task.await.expect("no request failed");
    }
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak >= 2, "the load used the budget: {peak}");
    assert!(
        peak <= FLEET_MAX as u64,
        "{peak} connections open at once, budget {FLEET_MAX}"
    );
    let leases = a.stats().leases_total + b.stats().leases_total;
    assert_eq!(leases, 96);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_workers_share_returns_by_itself() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let ip = IpAddr::from([127, 0, 0, 171]);
    let origin = H2Origin::start(H2OriginOptions::h1_only(&[ip], &[HOST], &ca))
        .await
        .unwrap();
    // A worker that claimed the whole budget and died: its lease runs 2 s more.
    let mut conn = rig::redis_conn(&redis).await;
    let (now_s, now_us): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let expiry = now_s * 1000 + now_us / 1000 + 2000;
    let claims_key = format!("budget:budget:{{{HOST}}}");
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(&claims_key)
        .arg("ghost")
        .arg(FLEET_MAX)
        .ignore()
        .cmd("ZADD")
        .arg(format!("budget:budget-exp:{{{HOST}}}"))
        .arg(expiry)
        .arg("ghost")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let pool = member(&redis, &ca, &origin).await;
    let request = tokio::spawn({
        let pool = pool.clone();
        async move { slow_request(&pool).await }
    });

    // While the dead worker's claim is in Redis, nothing is dialed and the request waits.
    // (Read in that order: a claim still there after the reads was there during them.)
    let mut seen_waiting = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (accepted, served) = (origin.stats().accepted, request.is_finished());
        let ghost: bool = redis::cmd("HEXISTS")
            .arg(&claims_key)
            .arg("ghost")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !ghost {
            break;
        }
        assert_eq!(accepted, 0, "dialed while the dead worker held the budget");
        assert!(!served, "served while the dead worker held the budget");
        seen_waiting += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead claim never expired"
        );
        tokio::time::sleep(pool_testkit::wait::POLL_INTERVAL).await;
    }
    assert!(seen_waiting > 0, "the request was never seen waiting");
    // The claim expired by itself: the budget returns and the request is served.
    assert_eq!(request.await.unwrap(), 200);
    assert!(origin.stats().accepted >= 1);
    pool.close().await;
    origin.shutdown().await;
}
