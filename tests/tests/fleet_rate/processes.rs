//! The fleet rate across two OS processes on a three-master Redis Cluster and on Redis
//! Sentinel (pool-testkit's `RedisCluster`, `RedisSentinel`). Each test re-executes its own
//! binary (that test alone, with [`CHILD`] set) as a second process; each process runs
//! [`PER_PROCESS`] workers (their own pool, `HostRates` and `RedisRates`), all loading one
//! origin in the parent, which counts what it answers:
//! - on the cluster, the four workers hold the fleet rate within 10% over five seconds;
//!   the node holding the host's slot (`node_of`) is killed: no request fails, every worker
//!   goes on at its share; the node returns: every worker leases again and the fleet rate
//!   holds again;
//! - on Sentinel, the same through a master failover: leases go on against the promoted
//!   master and the fleet rate holds again, no request failing meanwhile.
//!
//! The child takes its orders on stdin, one line each, and answers on stdout after
//! [`MARK`]: `leasing` (every worker of it has leased since the order, knows the four and is
//! off its share), `fallback` (every worker is on its share) and `stop` (answered
//! `stopped FAILED FALLBACK`: its requests that did not end in a 200, and those sent on
//! the share). Every wait is bounded by [`WAIT`].

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pool_redis::{FleetConfig, RedisUrl};
use pool_testkit::{RedisCluster, RedisSentinel, TestCa, eventually, redis_command};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout, Command};

use crate::rig::{HOST, PREFIX, Worker, load, origin_on, origin_rate};

/// Set in the child: the deployment (`cluster URL,URL,URL` or `sentinel MASTER URL`).
const CHILD: &str = "HOTPOOL_FLEET_RATE_CHILD";
/// Set in the child: the origin's addresses, comma-separated.
const CHILD_ORIGIN: &str = "HOTPOOL_FLEET_RATE_CHILD_ORIGIN";
/// Set in the child: the test CA's certificate (DER, hex).
const CHILD_CA: &str = "HOTPOOL_FLEET_RATE_CHILD_CA";
const MARK: &str = "fleet-rate-child: ";
const CLUSTER_TEST: &str =
    "processes::two_processes_hold_the_fleet_rate_on_a_cluster_through_a_killed_node";
const SENTINEL_TEST: &str =
    "processes::two_processes_hold_the_fleet_rate_on_sentinel_through_a_master_failover";

/// Every wait for an event is bounded by this.
const WAIT: Duration = Duration::from_secs(20);
/// The fleet's rate, and how many workers share it (two processes of two).
const RATE: &str = "150/s";
const PER_PROCESS: usize = 2;
const WORKERS: u32 = 4;
/// The window the fleet rate is measured over.
const WINDOW: Duration = Duration::from_secs(5);

/// The fleet of `deployment` (see [`CHILD`]) as worker `worker`.
fn fleet_of(deployment: &str, worker: &str) -> FleetConfig {
    let (mode, rest) = deployment.split_once(' ').expect("mode and servers");
    let mut cfg = match mode {
        "cluster" => FleetConfig::cluster(RedisUrl::parse_list(rest).unwrap()),
        "sentinel" => {
            let (master, url) = rest.split_once(' ').expect("master and sentinel");
            FleetConfig::sentinel(vec![RedisUrl::parse(url).unwrap()], master)
        }
        other => panic!("no deployment {other:?}"),
    };
    cfg.prefix = PREFIX.into();
    cfg.worker = worker.into();
    cfg
}

/// The key of the host's next free slot, as docs/rate-limits.md names it.
fn rate_key() -> String {
    format!("{PREFIX}rate:{{{HOST}}}")
}

/// [`PER_PROCESS`] workers named `{side}{i}` of the fleet on `deployment`.
async fn workers(deployment: &str, side: &str, addrs: &[SocketAddr], ca_der: &[u8]) -> Vec<Worker> {
    let mut workers = Vec::new();
    for i in 0..PER_PROCESS {
        let fleet = fleet_of(deployment, &format!("rate-{side}{i}"));
        workers.push(Worker::join(addrs, ca_der, &fleet, RATE.parse().unwrap()).await);
    }
    workers
}

/// Waits until every worker has had a lease answered since this was called, knows the
/// four workers and is off its share.
async fn leasing(what: &str, workers: &[Worker]) {
    let before: Vec<u64> = workers.iter().map(|w| w.stats().leases).collect();
    eventually(what, WAIT, || {
        workers.iter().zip(&before).all(|(w, &before)| {
            let s = w.stats();
            s.leases > before && s.workers == WORKERS && !s.on_fallback
        })
    })
    .await
    .unwrap();
}

/// Waits until every worker is on its share.
async fn on_share(what: &str, workers: &[Worker]) {
    eventually(what, WAIT, || workers.iter().all(|w| w.stats().on_fallback))
        .await
        .unwrap();
}

/// Asserts the origin's rate over [`WINDOW`] is within 10% of the fleet's, saying `when`.
async fn assert_fleet_rate(origin: &pool_testkit::H2Origin, when: &str) {
    let (n, rate) = origin_rate(origin, WINDOW).await;
    eprintln!("{when}: the origin saw {rate:.1}/s ({n} requests) at a fleet rate of {RATE}");
    assert!(
        (135.0..=165.0).contains(&rate),
        "{when}: within 10% of {RATE}: {rate:.1}/s"
    );
}

/// The second process, as the parent sees it.
struct Child {
    process: tokio::process::Child,
    orders: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

impl Child {
    /// Re-executes this binary as test `name`'s child on `deployment`.
    fn spawn(name: &str, deployment: &str, addrs: &[SocketAddr], ca: &TestCa) -> Self {
        let addrs: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD, deployment)
            .env(CHILD_ORIGIN, addrs.join(","))
            .env(CHILD_CA, hex(&ca.ca_cert_der()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("re-execute the test binary as the second process");
        Self {
            orders: process.stdin.take().unwrap(),
            answers: BufReader::new(process.stdout.take().unwrap()).lines(),
            process,
        }
    }

    /// Sends `order` and returns the child's answer, within [`WAIT`].
    async fn ask(&mut self, order: &str) -> String {
        self.orders
            .write_all(format!("{order}\n").as_bytes())
            .await
            .expect("the child reads its orders");
        let answer = async {
            while let Some(line) = self.answers.next_line().await.expect("the child's output") {
                // libtest writes `test NAME ... ` before the test's first line, unended.
                if let Some((_, said)) = line.split_once(MARK) {
                    return said.to_string();
                }
            }
            panic!("the child ended without answering {order:?}");
        };
        tokio::time::timeout(WAIT, answer)
            .await
            .unwrap_or_else(|_| panic!("the child answers {order:?} in time"))
    }

    /// Stops the child's load; its failed requests and those sent on its share. It must
    /// exit cleanly.
    async fn stop(mut self) -> (u64, u64) {
        let answer = self.ask("stop").await;
        let counts: Vec<u64> = answer
            .strip_prefix("stopped ")
            .unwrap_or_else(|| panic!("{answer:?}"))
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        let status = tokio::time::timeout(WAIT, self.process.wait())
            .await
            .expect("the child exits in time");
        assert!(status.unwrap().success(), "the child failed");
        (counts[0], counts[1])
    }
}

/// The second process: [`PER_PROCESS`] workers loading the origin, obeying orders on
/// stdin until `stop`.
async fn child(deployment: &str) {
    let addrs: Vec<SocketAddr> = std::env::var(CHILD_ORIGIN)
        .expect("the origin")
        .split(',')
        .map(|a| a.parse().unwrap())
        .collect();
    let ca_der = unhex(&std::env::var(CHILD_CA).expect("the CA"));
    let workers = workers(deployment, "c", &addrs, &ca_der).await;
    let (done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = load(&workers, &done, &failed);
    let mut orders = BufReader::new(tokio::io::stdin()).lines();
    while let Some(order) = orders.next_line().await.expect("orders") {
        match order.as_str() {
            "leasing" => leasing("the child's workers lease", &workers).await,
            "fallback" => on_share("the child's workers are on their share", &workers).await,
            "stop" => break,
            other => panic!("no order {other:?}"),
        }
        println!("{MARK}{order}");
    }
    done.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let on_share: u64 = workers.iter().map(|w| w.stats().fallback_granted).sum();
    println!("{MARK}stopped {} {on_share}", failed.load(Ordering::SeqCst));
    for w in &workers {
        w.pool.close().await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_hold_the_fleet_rate_on_a_cluster_through_a_killed_node() {
    if let Ok(deployment) = std::env::var(CHILD) {
        return child(&deployment).await;
    }
    let mut cluster = tokio::task::block_in_place(RedisCluster::start).unwrap();
    let deployment = format!("cluster {}", cluster.urls().join(","));
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin_on(&ca, 153, 154).await;
    let addrs = origin.socket_addrs();
    let mut child = Child::spawn(CLUSTER_TEST, &deployment, &addrs, &ca);
    let workers = workers(&deployment, "p", &addrs, &ca.ca_cert_der()).await;
    let (done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = load(&workers, &done, &failed);
    assert_eq!(child.ask("leasing").await, "leasing");
    leasing("the parent's workers lease", &workers).await;
    assert_fleet_rate(&origin, "two processes on the cluster").await;
    let leases: u64 = workers.iter().map(|w| w.stats().leases).sum();
    let granted: u64 = workers.iter().map(|w| w.stats().granted).sum();
    assert!(
        leases * 2 < granted,
        "batches, not a Redis round trip per request: {leases} leases for {granted}"
    );

    // The node holding the host's slot dies: every worker goes on at its share.
    let dead = cluster.node_of(&format!("{{{HOST}}}")).unwrap();
    cluster.kill(dead);
    on_share("the parent's workers are on their share", &workers).await;
    assert_eq!(child.ask("fallback").await, "fallback");
    let (_, shared) = origin_rate(&origin, Duration::from_secs(3)).await;
    eprintln!("node {dead} killed: the origin saw {shared:.1}/s, each worker on its share");
    assert!(
        (75.0..=165.0).contains(&shared),
        "the requests go on, at most at the fleet rate: {shared:.1}/s"
    );
    assert_eq!(failed.load(Ordering::SeqCst), 0, "no request failed");

    // It returns (empty): leasing resumes and the fleet rate holds again.
    tokio::task::block_in_place(|| cluster.restart(dead)).unwrap();
    leasing("the parent's workers lease again", &workers).await;
    assert_eq!(child.ask("leasing").await, "leasing");
    let back = cluster.node(dead).addr();
    assert_eq!(
        redis_command(back, &["EXISTS", &rate_key()]).unwrap(),
        "1",
        "the fleet's next slot is kept on the returned node again"
    );
    assert_fleet_rate(&origin, "the node back").await;

    let (child_failed, child_on_share) = child.stop().await;
    done.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0, "every request answered");
    assert_eq!(child_failed, 0, "every request of the child answered");
    assert!(child_on_share > 0, "the child went on at its share");
    for w in &workers {
        let s = w.stats();
        assert!(s.fallback_granted > 0 && s.failures > 0, "{s:?}");
        w.pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_hold_the_fleet_rate_on_sentinel_through_a_master_failover() {
    if let Ok(deployment) = std::env::var(CHILD) {
        return child(&deployment).await;
    }
    let mut redis = tokio::task::block_in_place(|| RedisSentinel::start("rate-master")).unwrap();
    let deployment = format!("sentinel {} {}", redis.master_name(), redis.sentinel_url());
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin_on(&ca, 155, 156).await;
    let addrs = origin.socket_addrs();
    let mut child = Child::spawn(SENTINEL_TEST, &deployment, &addrs, &ca);
    let workers = workers(&deployment, "p", &addrs, &ca.ca_cert_der()).await;
    let (done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = load(&workers, &done, &failed);
    assert_eq!(child.ask("leasing").await, "leasing");
    leasing("the parent's workers lease", &workers).await;
    assert_fleet_rate(&origin, "two processes on sentinel").await;

    // The master dies and the sentinel promotes the replica (waited for): from then on
    // every lease answered is the new master's.
    tokio::task::block_in_place(|| redis.kill_master()).unwrap();
    leasing("the parent's workers lease from the new master", &workers).await;
    assert_eq!(child.ask("leasing").await, "leasing");
    let promoted = redis.replica().addr();
    assert_eq!(
        redis_command(promoted, &["EXISTS", &rate_key()]).unwrap(),
        "1",
        "the fleet's next slot is on the promoted master"
    );
    assert_fleet_rate(&origin, "after the failover").await;

    let (child_failed, _) = child.stop().await;
    done.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0, "every request answered");
    assert_eq!(child_failed, 0, "every request of the child answered");
    let failures: u64 = workers.iter().map(|w| w.stats().failures).sum();
    assert!(
        failures > 0,
        "the failover was felt: leases failed meanwhile"
    );
    for w in &workers {
        w.pool.close().await;
    }
}
