//! The fleet-wide connection budget (`fleet_max_conns_per_host`) on a real `redis-server`
//! with a real HTTP/1.1 origin on 127.0.0.17x: two pools that each would open 6
//! connections hold at most 3 together, lose no request, and a crashed worker's claim
//! returns by itself when its lease runs out.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions};
use pool_http::{Empty, HttpLeaseExt};
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa, eventually};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(20);
const HOST: &str = "budget.test";
const FLEET_MAX: usize = 3;

fn dialer(ca: &TestCa) -> H1Dialer {
    let mut options = TlsOptions::default();
    options.trust.webpki_roots = false;
    options.trust.extra_ca_certs = vec![ca.ca_cert_der()];
    options.conn_timeout = Duration::from_secs(5);
    H1Dialer::new(options).unwrap()
}

async fn member(redis: &RedisServer, ca: &TestCa, origin: &H2Origin) -> Pool<H1Dialer> {
    let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = "budget:".into();
    cfg.max_conns_per_host = Some(FLEET_MAX);
    cfg.budget_tick = Duration::from_millis(20);
    cfg.budget_ttl = Duration::from_millis(600);
    let fleet = RedisFleet::start(cfg).unwrap();
    let options = PoolOptions {
        max_conns_per_host: 8,
        max_conns_per_ip: 8,
        idle_timeout: Duration::from_millis(200),
        checkout_timeout: WAIT,
        ..PoolOptions::default()
    };
    let pool = Pool::with_shared_state(dialer(ca), options, fleet.clone()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    fleet.attach(&pool);
    eventually("synced", WAIT, || fleet.stats().syncs >= 1)
        .await
        .unwrap();
    pool
}

async fn slow_request(pool: &Pool<H1Dialer>) -> u16 {
    let lease = pool.get(HOST).await.expect("a lease within the budget");
    let req = http::Request::get("/slow/30")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = lease.request(req).await.expect("a response");
    let status = resp.status().as_u16();
    resp.into_body().bytes().await.expect("the body");
    status
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
    // A worker that claimed the whole budget and died: its lease runs 800 ms more.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (now_s, now_us): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let expiry = now_s * 1000 + now_us / 1000 + 800;
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(format!("budget:budget:{HOST}"))
        .arg("ghost")
        .arg(FLEET_MAX)
        .ignore()
        .cmd("ZADD")
        .arg(format!("budget:budget-exp:{HOST}"))
        .arg(expiry)
        .arg("ghost")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let claimed = Instant::now();
    let pool = member(&redis, &ca, &origin).await;
    assert_eq!(slow_request(&pool).await, 200);
    let waited = claimed.elapsed();
    assert!(
        waited >= Duration::from_millis(600),
        "served after {waited:?}: before the dead worker's lease ran out"
    );
    let claims: Vec<(String, u64)> = redis::cmd("HGETALL")
        .arg(format!("budget:budget:{HOST}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        claims.iter().all(|(w, _)| w != "ghost"),
        "the dead claim is gone: {claims:?}"
    );
    pool.close().await;
    origin.shutdown().await;
}
