//! Sharing bans: a ban reaches the other pools (event-driven: its latency is
//! `pool-redis/benches/fleet.rs`'s) and a new worker loads it, an expired ban lifts on every
//! pool and in Redis, garbage on the channel changes nothing and is counted. Also the
//! origins, options and member the outage tests use.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::BlacklistReason;
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::H1Dialer;
use pool_redis::RedisFleet;
use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa, eventually};

use crate::rig::{self, WAIT};

pub const HOST: &str = "fleet.test";
pub const PREFIX: &str = "hotpool-test:";

/// A bad origin (its validation answers 403: banned) and a good one, one IP each.
pub struct Origins {
    pub bad: H2Origin,
    pub good: H2Origin,
}

impl Origins {
    pub async fn start(ca: &Arc<TestCa>, bad: u8, good: u8) -> Self {
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

    pub fn addrs(&self) -> Vec<SocketAddr> {
        vec![self.bad.socket_addrs()[0], self.good.socket_addrs()[0]]
    }

    pub fn bad_ip(&self) -> IpAddr {
        self.bad.socket_addrs()[0].ip()
    }

    pub async fn shutdown(self) {
        self.bad.shutdown().await;
        self.good.shutdown().await;
    }
}

pub fn options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: WAIT,
        max_conns_per_host: 8,
        blacklist_check_interval: Duration::from_secs(600),
        blacklist_timeout: Duration::from_secs(600),
        ..PoolOptions::default()
    }
}

/// A pool of this fleet (validation on: the bad origin's 403 bans it), attached and synced.
pub async fn member(
    redis: &RedisServer,
    ca: &TestCa,
    origins: &Origins,
    options: PoolOptions,
) -> (Pool<H1Dialer>, Arc<RedisFleet>) {
    let cfg = rig::fleet_config(redis, PREFIX);
    rig::member(cfg, rig::dialer(ca, true), options, HOST, &origins.addrs()).await
}

/// `GET /` to [`HOST`]; the status.
pub async fn request(pool: &Pool<H1Dialer>) -> u16 {
    rig::request(pool, HOST, "/").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_reaches_the_other_pool_and_a_new_worker_loads_it() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 160, 161).await;
    let (a, _a_fleet) = member(&redis, &ca, &origins, options()).await;
    let (b, b_fleet) = member(&redis, &ca, &origins, options()).await;
    let bad = origins.bad_ip();

    let report = a.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (1, 1));
    // Waited for, not timed: how fast it arrives is the fleet bench's figure.
    eventually("b applies a's ban", WAIT, || b.blacklisted(bad).is_some())
        .await
        .unwrap();
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
    let mut conn = rig::redis_conn(&redis).await;
    let key = format!("{PREFIX}ban:{{{HOST}}}:{}", origins.bad.socket_addrs()[0]);
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
    let mut conn = rig::redis_conn(&redis).await;
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
