//! The fleet on a real three-master Redis Cluster (pool-testkit's `RedisCluster`): a ban
//! reaches the other pool and a new worker loads it from the host's node, budget claims run
//! (their two keys share the host's slot), and a killed node never blocks a request: its
//! failures are counted, a ban still propagates, and a worker that could not load that
//! node's keys loads them when it returns.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pool_core::{BlacklistReason, Pool};
use pool_dial_rustls::H1Dialer;
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, RedisCluster, TestCa, eventually, redis_command};

use crate::bans::options;
use crate::rig::{self, WAIT};

const HOST: &str = "cluster.test";
const PREFIX: &str = "cluster:";

/// A bad origin (validation answers 403) and a good one for [`HOST`].
async fn origins(ca: &Arc<TestCa>, bad: u8, good: u8) -> (H2Origin, H2Origin) {
    origins_for(ca, HOST, bad, good).await
}

/// A bad origin (validation answers 403) on 127.0.0.`bad` and a good one on
/// 127.0.0.`good` for `host`.
pub async fn origins_for(ca: &Arc<TestCa>, host: &str, bad: u8, good: u8) -> (H2Origin, H2Origin) {
    let start = |last: u8| {
        let ip = IpAddr::from([127, 0, 0, last]);
        H2Origin::start(H2OriginOptions::h1_only(&[ip], &[host], ca))
    };
    let (bad, good) = (start(bad).await.unwrap(), start(good).await.unwrap());
    bad.set_status("/check", 403);
    (bad, good)
}

/// The fleet on `cluster`, seeds in the order given (the subscriber starts on the first);
/// with `budget`, claiming a fleet budget of 8 connections per host.
fn cluster_config(cluster: &RedisCluster, seeds: &[usize], budget: bool) -> FleetConfig {
    let urls = cluster.urls();
    let seeds = seeds
        .iter()
        .map(|&i| RedisUrl::parse(&urls[i]).unwrap())
        .collect();
    let mut cfg = FleetConfig::cluster(seeds);
    cfg.prefix = PREFIX.into();
    cfg.max_conns_per_host = budget.then_some(8);
    cfg
}

async fn member(
    cfg: FleetConfig,
    ca: &TestCa,
    addrs: &[SocketAddr],
) -> (Pool<H1Dialer>, Arc<RedisFleet>) {
    rig::member(cfg, rig::dialer(ca, true), options(), HOST, addrs).await
}

/// The key of a ban, as docs/fleet.md lists it: the host is the hash tag.
fn ban_key(addr: SocketAddr) -> String {
    format!("{PREFIX}ban:{{{HOST}}}:{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_reaches_the_other_pool_and_a_new_worker_on_a_three_node_cluster() {
    let cluster = tokio::task::block_in_place(RedisCluster::start).unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let (bad, good) = origins(&ca, 182, 183).await;
    let addrs = [bad.socket_addrs()[0], good.socket_addrs()[0]];
    let (a, a_fleet) = member(cluster_config(&cluster, &[0, 1, 2], false), &ca, &addrs).await;
    let (b, b_fleet) = member(cluster_config(&cluster, &[2, 1, 0], false), &ca, &addrs).await;
    let bad_ip = addrs[0].ip();
    let owner = cluster
        .node(cluster.node_of(&format!("{{{HOST}}}")).unwrap())
        .addr();

    let report = a.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (1, 1), "{report:?}");
    eventually("b applies a's ban", WAIT, || {
        b.blacklisted(bad_ip).is_some()
    })
    .await
    .unwrap();
    assert_eq!(b.blacklisted(bad_ip), Some(BlacklistReason::Banned));

    // The ban key lives on the node of the host's slot (where the budget script keeps
    // its two keys too), under the hash-tagged name.
    let stored = redis_command(owner, &["GET", &ban_key(addrs[0])]).unwrap();
    assert!(
        stored.starts_with(&format!("v1 ban {HOST} {}", addrs[0])),
        "{stored}"
    );

    // A worker started after the ban loads it by scanning every master. It claims a
    // budget: the script's two keys share the host's slot, on the same node.
    let (c, c_fleet) = member(cluster_config(&cluster, &[1, 0, 2], true), &ca, &addrs).await;
    assert_eq!(c.blacklisted(bad_ip), Some(BlacklistReason::Banned));
    assert_eq!(rig::request(&c, HOST, "/").await, 200);
    for key in ["budget", "budget-exp"] {
        let key = format!("{PREFIX}{key}:{{{HOST}}}");
        assert_eq!(
            redis_command(owner, &["EXISTS", &key]).unwrap(),
            "1",
            "{key}"
        );
    }
    assert_eq!(
        bad.stats().accepted,
        1,
        "one dial of the bad IP, fleet-wide"
    );
    for fleet in [&a_fleet, &b_fleet, &c_fleet] {
        assert_eq!(fleet.stats().errors, 0, "{:?}", fleet.stats());
    }
    // `hotpool fleet status` reads every master: the ban, the workers, c's budget claim.
    let status = pool_redis::status_of(&cluster_config(&cluster, &[2, 0, 1], false), WAIT)
        .await
        .unwrap();
    assert_eq!(status.bans.len(), 1, "{status:?}");
    let workers: Vec<&str> = status.workers.iter().map(|w| w.worker.as_str()).collect();
    for fleet in [&a_fleet, &b_fleet] {
        assert!(workers.contains(&fleet.worker()), "{status:?}");
    }
    assert_eq!(status.budgets.len(), 1, "{status:?}");
    assert_eq!(status.budgets[0].host, HOST);
    assert_eq!(status.malformed, 0);
    for pool in [a, b, c] {
        pool.close().await;
    }
    bad.shutdown().await;
    good.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_never_blocks_a_request_is_counted_and_is_loaded_when_it_returns() {
    let mut cluster = tokio::task::block_in_place(RedisCluster::start).unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let (bad, good) = origins(&ca, 184, 185).await;
    let good_addr = good.socket_addrs()[0];
    let addrs = [bad.socket_addrs()[0], good_addr];
    // The node holding the host's keys dies; the workers read the channel elsewhere.
    let dead = cluster.node_of(&format!("{{{HOST}}}")).unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != dead).collect();
    let seeds = [others[0], others[1], dead];
    let (a, a_fleet) = member(cluster_config(&cluster, &seeds, true), &ca, &[good_addr]).await;
    let (b, b_fleet) = member(cluster_config(&cluster, &seeds, true), &ca, &[good_addr]).await;

    // Load on both pools until told to stop; every request must succeed.
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
    eventually("requests flow", WAIT, || {
        served.load(Ordering::SeqCst) >= 20
    })
    .await
    .unwrap();
    cluster.kill(dead);
    let at_kill = served.load(Ordering::SeqCst);
    // The budget claims (the host's slot) fail on both: counted, local limits only.
    eventually("both count the lost node", WAIT, || {
        a_fleet.stats().errors > 0 && b_fleet.stats().errors > 0
    })
    .await
    .unwrap();
    eventually("requests flow with a node down", WAIT, || {
        served.load(Ordering::SeqCst) >= at_kill + 50
    })
    .await
    .unwrap();

    // A ban still reaches the other worker (the message goes through a live node; its key
    // cannot be stored, which is counted). Only a knows the bad address.
    a.set_addrs(HOST, addrs);
    a.warm(HOST).await;
    eventually("b applies the ban with a node down", WAIT, || {
        a.blacklisted(addrs[0].ip()).is_some() && b.blacklisted(addrs[0].ip()).is_some()
    })
    .await
    .unwrap();
    assert_eq!(bad.stats().accepted, 1, "only a dialed it");

    // A worker joining now cannot load the dead node's keys: its load is partial (not
    // counted) until the node returns, then completes.
    let late = RedisFleet::start(cluster_config(&cluster, &seeds, true)).unwrap();
    let c = Pool::with_shared_state(rig::dialer(&ca, true), options(), late.clone()).unwrap();
    c.set_addrs(HOST, [good_addr]);
    late.attach(&c);
    eventually("the late worker meets the dead node", WAIT, || {
        late.stats().errors > 0
    })
    .await
    .unwrap();
    assert_eq!(late.stats().syncs, 0, "no full load with a master down");
    assert_eq!(rig::request(&c, HOST, "/").await, 200);

    tokio::task::block_in_place(|| cluster.restart(dead)).unwrap();
    eventually(
        "the late worker loads every master once it is back",
        WAIT,
        || late.stats().syncs >= 1,
    )
    .await
    .unwrap();
    let claims = format!("{PREFIX}budget:{{{HOST}}}");
    let back = cluster.node(dead).addr();
    eventually(
        "budget claims are stored again on the returned node",
        WAIT,
        || redis_command(back, &["EXISTS", &claims]).is_ok_and(|n| n == "1"),
    )
    .await
    .unwrap();
    done.store(true, Ordering::SeqCst);
    load_a.await.expect("no request of a failed");
    load_b.await.expect("no request of b failed");
    for pool in [a, b, c] {
        pool.close().await;
    }
    bad.shutdown().await;
    good.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_moves_to_another_node_when_its_node_dies() {
    let mut cluster = tokio::task::block_in_place(RedisCluster::start).unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let (bad, good) = origins(&ca, 189, 190).await;
    let addrs = [bad.socket_addrs()[0], good.socket_addrs()[0]];
    // b reads the channel on a node that does not hold the host's keys, and loses it.
    let keys_at = cluster.node_of(&format!("{{{HOST}}}")).unwrap();
    let lost = (keys_at + 1) % 3;
    let seeds = [lost, keys_at, (keys_at + 2) % 3];
    let (a, _a_fleet) = member(
        cluster_config(&cluster, &[keys_at], false),
        &ca,
        &addrs[1..],
    )
    .await;
    let (b, b_fleet) = member(cluster_config(&cluster, &seeds, false), &ca, &addrs[1..]).await;
    cluster.kill(lost);
    eventually("b's subscriber notices its node is gone", WAIT, || {
        b_fleet.stats().disconnects >= 1
    })
    .await
    .unwrap();

    // b subscribed on another node: a's ban (stored on the live node of the host) reaches it.
    a.set_addrs(HOST, addrs);
    a.warm(HOST).await;
    eventually("b applies a's ban after moving", WAIT, || {
        a.blacklisted(addrs[0].ip()).is_some() && b.blacklisted(addrs[0].ip()).is_some()
    })
    .await
    .unwrap();
    // Its load after the move was partial (a master is down); it completes on its return.
    assert_eq!(b_fleet.stats().syncs, 1, "{:?}", b_fleet.stats());
    tokio::task::block_in_place(|| cluster.restart(lost)).unwrap();
    eventually("b loads every master once the node is back", WAIT, || {
        b_fleet.stats().syncs >= 2
    })
    .await
    .unwrap();
    assert_eq!(rig::request(&b, HOST, "/").await, 200);
    assert_eq!(bad.stats().accepted, 1, "only a dialed the bad address");
    a.close().await;
    b.close().await;
    bad.shutdown().await;
    good.shutdown().await;
}
