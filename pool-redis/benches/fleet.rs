//! The fleet's costs on a real `redis-server` (pool-testkit):
//! - ban propagation **across processes**: the bench re-executes itself as a child
//!   (`HOTPOOL_FLEET_CHILD` = the Redis URL) holding pool B; the parent's pool A publishes
//!   one ban at a time; the child polls `blacklisted` (with a yield) and writes one line on
//!   its stdout when the ban is applied; the parent times publish → that line: "ban
//!   applied + 1 pipe hop", p50 / p99 / max;
//! - the same propagation between two pools in one process (no pipe hop), on one server and
//!   on a three-master Redis Cluster (pool-testkit's `RedisCluster`; the two pools read the
//!   channel on different nodes, so each ban crosses the cluster bus; JSON scope
//!   `cluster`);
//! - the request path with sharing on vs off: `get` + drop of a warm lease, ns per lease,
//!   for a pool without a backend and one with a `RedisFleet` attached (nothing on that
//!   path touches Redis, so the two should be within noise).
//!
//! `cargo bench -p pool-redis --bench fleet` (needs `redis-server`; without it the bench
//! writes a `skipped` line). Prints its figures and writes them as JSON lines to
//! `$HOTPOOL_BENCH_OUT/fleet.jsonl` for `cargo xtask bench` (`HOTPOOL_BENCH_QUICK=1`: fewer
//! bans and leases).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{
    BlacklistReason, Connection, DialError, Dialer, FleetBan, FleetEvent, Pool, PoolOptions,
    SharedState, Target,
};
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::{RedisCluster, RedisServer};

const HOST: &str = "bench.test";
/// Set in the child: the Redis URL to attach pool B to.
const ENV_CHILD: &str = "HOTPOOL_FLEET_CHILD";
/// Set in the child: how many bans to wait for.
const ENV_CHILD_BANS: &str = "HOTPOOL_FLEET_CHILD_BANS";
/// Key prefix of the in-process pair.
const PREFIX_LOCAL: &str = "bench:";
/// Key prefix of the cross-process pair (its own, so the child syncs no earlier bans).
const PREFIX_CROSS: &str = "bench-x:";
/// Bans of the cross-process pair start at this address number.
const CROSS_FIRST: u32 = 100_000;
/// How long one ban may take before the bench fails.
const LOST: Duration = Duration::from_secs(10);

struct Conn;
impl Connection for Conn {
    fn capacity(&self) -> usize {
        1
    }
    fn is_closed(&self) -> bool {
        false
    }
}

struct Mem;
impl Dialer for Mem {
    type Conn = Conn;
    async fn dial(&self, _: &Target) -> Result<Conn, DialError> {
        Ok(Conn)
    }
}

fn addr(n: u32) -> SocketAddr {
    SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 443))
}

fn ban(ip: SocketAddr) -> FleetEvent {
    FleetEvent::Ban(FleetBan {
        host: HOST.into(),
        addr: ip,
        reason: BlacklistReason::Banned,
        retestable: true,
        ttl: Duration::from_secs(60),
    })
}

fn quick() -> bool {
    std::env::var_os("HOTPOOL_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty())
}

/// A pool of the fleet at `url` (one server, or a comma-separated list of cluster nodes).
async fn member(url: &str, prefix: &str) -> (Pool<Mem>, Arc<RedisFleet>) {
    let urls = RedisUrl::parse_list(url).unwrap();
    let mut cfg = if urls.len() > 1 {
        FleetConfig::cluster(urls)
    } else {
        FleetConfig::new(urls[0].clone())
    };
    cfg.prefix = prefix.into();
    let fleet = RedisFleet::start(cfg).unwrap();
    let pool = Pool::with_shared_state(Mem, PoolOptions::default(), fleet.clone()).unwrap();
    pool.set_addrs(HOST, [addr(1)]);
    fleet.attach(&pool);
    assert!(fleet.wait_synced(Duration::from_secs(10)).await, "synced");
    (pool, fleet)
}

/// Waits (spinning with a yield) until `pool` has applied the ban of `ip`.
async fn applied(pool: &Pool<Mem>, ip: SocketAddr, started: Instant, n: u32) {
    while pool.blacklisted(ip.ip()).is_none() {
        assert!(started.elapsed() < LOST, "ban {n} lost");
        tokio::task::yield_now().await;
    }
}

/// p50 / p99 / max in nanoseconds.
fn summary(mut took: Vec<Duration>) -> [u128; 3] {
    took.sort();
    let at = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize].as_nanos();
    [at(0.50), at(0.99), took[took.len() - 1].as_nanos()]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The child role: pool B on `url`; one line `ready`, then one line per applied ban.
fn child(url: &str) {
    let bans: u32 = std::env::var(ENV_CHILD_BANS)
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("HOTPOOL_FLEET_CHILD_BANS");
    runtime().block_on(async {
        let (b, _fleet) = member(url, PREFIX_CROSS).await;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        let started = Instant::now();
        for n in 0..bans {
            applied(&b, addr(CROSS_FIRST + n), started, n).await;
            writeln!(out, "{n}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// Parent side of the cross-process figure: publish → the child's line, per ban.
async fn across_processes(url: &str, bans: u32) -> Vec<Duration> {
    let (_a, a_fleet) = member(url, PREFIX_CROSS).await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ENV_CHILD, url)
        .env(ENV_CHILD_BANS, bans.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-execute the bench as the child");
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut next = |line: &mut String| {
        line.clear();
        // Blocking read on the `block_on` thread, not a runtime worker: the fleet's tasks
        // keep running.
        lines.read_line(line).unwrap();
        line.trim().to_owned()
    };
    assert_eq!(next(&mut line), "ready", "child did not start");
    let mut took = Vec::new();
    for n in 0..bans {
        let started = Instant::now();
        a_fleet.publish(ban(addr(CROSS_FIRST + n)));
        assert_eq!(next(&mut line), n.to_string(), "child's line for ban {n}");
        took.push(started.elapsed());
    }
    assert!(child.wait().unwrap().success(), "child failed");
    took
}

/// Publish → applied, per ban, from `a` to `b` (one process).
async fn in_process(a: &RedisFleet, b: &Pool<Mem>, bans: u32) -> Vec<Duration> {
    let mut took = Vec::new();
    for n in 0..bans {
        let ip = addr(100 + n);
        let started = Instant::now();
        a.publish(ban(ip));
        applied(b, ip, started, n).await;
        took.push(started.elapsed());
    }
    took
}

/// `get` + drop of a warm lease, ns per lease.
async fn lease_ns(pool: &Pool<Mem>, n: u32) -> f64 {
    drop(pool.get(HOST).await.unwrap()); // warm
    let started = Instant::now();
    for _ in 0..n {
        drop(pool.get(HOST).await.unwrap());
    }
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

/// `HOTPOOL_BENCH_OUT`, else `<workspace>/target/hotpool-bench`.
fn out_dir() -> PathBuf {
    let dir = std::env::var_os("HOTPOOL_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hotpool-bench")
        });
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn write_jsonl(lines: &[String]) {
    let path = out_dir().join("fleet.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn propagation_line(scope: &str, bans: u32, [p50, p99, max]: [u128; 3]) -> String {
    format!(
        r#"{{"bench":"fleet","measure":"propagation","scope":"{scope}","bans":{bans},"p50_ns":{p50},"p99_ns":{p99},"max_ns":{max}}}"#
    )
}

fn main() {
    if let Ok(url) = std::env::var(ENV_CHILD) {
        return child(&url);
    }
    let redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(e) => {
            eprintln!("fleet bench skipped: {e} (apt-get install redis-server)");
            write_jsonl(&[format!(
                r#"{{"bench":"fleet","skipped":"redis-server did not start: {}"}}"#,
                e.to_string().replace(['"', '\\'], "'")
            )]);
            return;
        }
    };
    let url = redis.url();
    let (bans, leases) = if quick() {
        (100, 50_000)
    } else {
        (500, 200_000)
    };
    let mut jsonl = Vec::new();
    runtime().block_on(async {
        let cross = summary(across_processes(&url, bans).await);
        println!(
            "ban propagation ({bans} bans, two processes, applied + 1 pipe hop): p50 {:?}  p99 {:?}  max {:?}",
            Duration::from_nanos(cross[0] as u64),
            Duration::from_nanos(cross[1] as u64),
            Duration::from_nanos(cross[2] as u64),
        );
        jsonl.push(propagation_line("processes", bans, cross));

        let (_a, a_fleet) = member(&url, PREFIX_LOCAL).await;
        let (b, _b_fleet) = member(&url, PREFIX_LOCAL).await;
        let local = summary(in_process(&a_fleet, &b, bans).await);
        println!(
            "ban propagation ({bans} bans, two pools, one process): p50 {:?}  p99 {:?}  max {:?}",
            Duration::from_nanos(local[0] as u64),
            Duration::from_nanos(local[1] as u64),
            Duration::from_nanos(local[2] as u64),
        );
        jsonl.push(propagation_line("process", bans, local));

        match tokio::task::block_in_place(RedisCluster::start) {
            Ok(cluster) => {
                let urls = cluster.urls();
                let (first, second) = (urls.join(","), [&urls[2], &urls[0], &urls[1]].map(String::as_str).join(","));
                let (_ca, ca_fleet) = member(&first, PREFIX_LOCAL).await;
                let (cb, _cb_fleet) = member(&second, PREFIX_LOCAL).await;
                let on_cluster = summary(in_process(&ca_fleet, &cb, bans).await);
                println!(
                    "ban propagation ({bans} bans, two pools, one process, Redis Cluster of 3, subscribers on two nodes): p50 {:?}  p99 {:?}  max {:?}",
                    Duration::from_nanos(on_cluster[0] as u64),
                    Duration::from_nanos(on_cluster[1] as u64),
                    Duration::from_nanos(on_cluster[2] as u64),
                );
                jsonl.push(propagation_line("cluster", bans, on_cluster));
            }
            Err(e) => eprintln!("cluster propagation skipped: {e}"),
        }

        let lone = Pool::new(Mem, PoolOptions::default()).unwrap();
        lone.set_addrs(HOST, [addr(1)]);
        let off = lease_ns(&lone, leases).await;
        let on = lease_ns(&b, leases).await;
        let off2 = lease_ns(&lone, leases).await;
        let ratio = on / ((off + off2) / 2.0);
        println!(
            "get + drop of a warm lease: sharing off {off:.0} ns, on {on:.0} ns, off again {off2:.0} ns (on / off {ratio:.3})"
        );
        jsonl.push(format!(
            r#"{{"bench":"fleet","measure":"lease","leases":{leases},"off_ns":{off:.1},"on_ns":{on:.1},"off_again_ns":{off2:.1},"ratio":{ratio:.4}}}"#
        ));
    });
    write_jsonl(&jsonl);
}
