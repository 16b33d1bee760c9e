//! Redis failing under the fleet: killed mid-load (no request lost, both pools re-sync when
//! it returns), frozen with `SIGSTOP` (noticed, re-synced after the thaw).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pool_core::Pool;
use pool_dial_rustls::H1Dialer;
use pool_testkit::{RedisServer, TestCa, eventually};
use tokio::time::Instant;

use crate::bans::{HOST, Origins, PREFIX, member, options, request};
use crate::rig::{self, WAIT};

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
    let mut cfg = rig::fleet_config(&redis, PREFIX);
    cfg.heartbeat = Duration::from_millis(50);
    let call_timeout = cfg.call_timeout;
    let good = [origins.good.socket_addrs()[0]];
    let (pool, fleet) = rig::member(cfg, rig::dialer(&ca, true), options(), HOST, &good).await;

    redis.pause().unwrap();
    // Requests do not wait on the frozen Redis. One that did would wait at least a Redis
    // call's deadline (`call_timeout`, 250 ms), so 20 of them at least 20 of those; a
    // request that never touches Redis takes a small fraction of that.
    const REQUESTS: u32 = 20;
    let started = Instant::now();
    for _ in 0..REQUESTS {
        assert_eq!(request(&pool).await, 200);
    }
    let took = started.elapsed();
    assert!(
        took < call_timeout * REQUESTS,
        "{REQUESTS} requests took {took:?} with Redis frozen: they waited on it"
    );
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
