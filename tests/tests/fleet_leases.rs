//! Re-test leases across a fleet (real `redis-server`, real HTTP/1.1 origin on
//! 127.0.0.168): three pools share one ban of an address that stays banned, and only one
//! of them re-tests it per `blacklist_check_interval` (`SET NX PX`), not all three.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions, Validation};
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa, eventually};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(20);
const HOST: &str = "leases.test";
const INTERVAL: Duration = Duration::from_millis(400);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_retest_per_interval_across_three_pools() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let ip = IpAddr::from([127, 0, 0, 168]);
    let origin = H2Origin::start(H2OriginOptions::h1_only(&[ip], &[HOST], &ca))
        .await
        .unwrap();
    origin.set_status("/check", 403); // banned, and it stays so
    let options = PoolOptions {
        blacklist_check_interval: INTERVAL,
        blacklist_timeout: Duration::from_secs(600),
        ..PoolOptions::default()
    };
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
        cfg.prefix = "leases:".into();
        let fleet = RedisFleet::start(cfg).unwrap();
        let pool = Pool::with_shared_state(dialer(&ca), options.clone(), fleet.clone()).unwrap();
        pool.set_addrs(HOST, origin.socket_addrs());
        fleet.attach(&pool);
        eventually("synced", WAIT, || fleet.stats().syncs >= 1)
            .await
            .unwrap();
        members.push((pool, fleet));
    }
    let report = members[0].0.warm(HOST).await;
    assert_eq!(report.blacklisted, 1);
    let banned_at = Instant::now();
    eventually("all three hold the ban", WAIT, || {
        members.iter().all(|(p, _)| p.blacklisted(ip).is_some())
    })
    .await
    .unwrap();

    // Four re-tests after the ban. With a lease per interval they take about four
    // intervals; without one, three pools would make them in two.
    let retests = || origin.stats().accepted.saturating_sub(1);
    eventually("four re-tests", WAIT, || retests() >= 4)
        .await
        .unwrap();
    let took = banned_at.elapsed();
    assert!(
        took >= INTERVAL * 3,
        "4 re-tests in {took:?}: more than one per interval of {INTERVAL:?}"
    );
    let refused: u64 = members.iter().map(|(_, f)| f.stats().leases_refused).sum();
    assert!(
        refused >= 4,
        "the other pools were refused the lease: {refused}"
    );
    for (pool, _) in &members {
        assert!(pool.blacklisted(ip).is_some(), "still banned everywhere");
    }
    for (pool, _) in members {
        pool.close().await;
    }
    origin.shutdown().await;
}
