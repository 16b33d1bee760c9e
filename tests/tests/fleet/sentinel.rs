//! The fleet on Redis Sentinel (pool-testkit's `RedisSentinel`: a master, a replica, one
//! sentinel): bans propagate, the master is killed and the sentinel promotes the replica,
//! no request fails meanwhile, both workers follow the new master (re-subscribe and load
//! again) and a ban made after the failover still reaches the other worker.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pool_core::{BlacklistReason, Pool};
use pool_dial_rustls::H1Dialer;
use pool_redis::{FleetConfig, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, RedisSentinel, TestCa, eventually, redis_command};

use crate::bans::options;
use crate::rig::{self, WAIT};

const HOST: &str = "sentinel.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_propagate_before_and_after_a_master_failover() {
    let mut redis = tokio::task::block_in_place(|| RedisSentinel::start("fleet-master")).unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = |last: u8, status: u16| {
        let ip = IpAddr::from([127, 0, 0, last]);
        let ca = ca.clone();
        async move {
            let origin = H2Origin::start(H2OriginOptions::h1_only(&[ip], &[HOST], &ca))
                .await
                .unwrap();
            origin.set_status("/check", status);
            origin
        }
    };
    let (bad, good, bad_later) = (
        origin(186, 403).await,
        origin(187, 200).await,
        origin(188, 403).await,
    );
    let (sentinel, master) = (redis.sentinel_url(), redis.master_name().to_string());
    let config = || {
        let sentinel = RedisUrl::parse(&sentinel).unwrap();
        let mut cfg = FleetConfig::sentinel(vec![sentinel], &master);
        cfg.prefix = "sentinel:".into();
        cfg
    };
    let addrs = [bad.socket_addrs()[0], good.socket_addrs()[0]];
    let dialer = || rig::dialer(&ca, true);
    let (a, a_fleet) = rig::member(config(), dialer(), options(), HOST, &addrs).await;
    let (b, b_fleet) = rig::member(config(), dialer(), options(), HOST, &addrs).await;
    let report = a.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (1, 1), "{report:?}");
    eventually("b applies a's ban", WAIT, || {
        b.blacklisted(addrs[0].ip()).is_some()
    })
    .await
    .unwrap();

    // Replication is asynchronous: the failover is tested, not the loss of the last
    // writes, so the replica has the ban before the master dies.
    let key = format!("sentinel:ban:{{{HOST}}}:{}", addrs[0]);
    let replica = redis.replica().addr();
    eventually("the replica has the ban", WAIT, || {
        redis_command(replica, &["EXISTS", &key]).is_ok_and(|n| n == "1")
    })
    .await
    .unwrap();
    // Load on both pools through the failover; every request must succeed.
    let (done, served) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let load = |pool: Pool<H1Dialer>| {
        let (done, served) = (done.clone(), served.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                assert_eq!(rig::request(&pool, HOST, "/").await, 200);
                served.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let (load_a, load_b) = (load(a.clone()), load(b.clone()));
    tokio::task::block_in_place(|| redis.kill_master()).unwrap();
    let after_failover = served.load(Ordering::SeqCst);
    eventually("both follow the new master and load again", WAIT, || {
        a_fleet.stats().syncs >= 2 && b_fleet.stats().syncs >= 2
    })
    .await
    .unwrap();
    assert!(a_fleet.stats().disconnects >= 1 && b_fleet.stats().errors >= 1);
    eventually("requests flow after the failover", WAIT, || {
        served.load(Ordering::SeqCst) >= after_failover + 20
    })
    .await
    .unwrap();
    done.store(true, Ordering::SeqCst);
    load_a.await.expect("no request of a failed");
    load_b.await.expect("no request of b failed");

    // The ban made before the failover is still in Redis (the replica had it), and a ban
    // made after it reaches the other worker.
    let (c, _c_fleet) = rig::member(config(), dialer(), options(), HOST, &addrs).await;
    assert_eq!(c.blacklisted(addrs[0].ip()), Some(BlacklistReason::Banned));
    // Only a knows the new address: b learns its ban from the channel, never dialing it.
    let later = bad_later.socket_addrs()[0];
    a.set_addrs(HOST, [addrs[0], addrs[1], later]);
    a.warm(HOST).await;
    eventually("b applies the ban made after the failover", WAIT, || {
        a.blacklisted(later.ip()).is_some() && b.blacklisted(later.ip()).is_some()
    })
    .await
    .unwrap();
    assert_eq!(bad_later.stats().accepted, 1, "only a dialed it");
    for pool in [a, b, c] {
        pool.close().await;
    }
    for origin in [bad, good, bad_later] {
        origin.shutdown().await;
    }
}
