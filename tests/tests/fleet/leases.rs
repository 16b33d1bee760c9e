//! Re-test leases across a fleet: three pools share one ban of an address that stays
//! banned, and only one of them re-tests it per `blacklist_check_interval` (`SET NX PX`),
//! not all three.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::PoolOptions;
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa, eventually};
use tokio::time::Instant;

use crate::rig::{self, WAIT};

const HOST: &str = "leases.test";
const INTERVAL: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_retest_per_interval_across_three_pools() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let ip = IpAddr::from([127, 0, 0, 175]);
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
        let cfg = rig::fleet_config(&redis, "leases:");
        let dialer = rig::dialer(&ca, true);
        let addrs = origin.socket_addrs();
        members.push(rig::member(cfg, dialer, options.clone(), HOST, &addrs).await);
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
