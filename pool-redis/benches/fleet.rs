//! The fleet's costs on a real `redis-server` (pool-testkit), in one process:
//! - ban propagation: from pool A's `publish` of a ban to pool B having applied it, p50 /
//!   p99 / max over 500 bans (each a different address);
//! - the request path with sharing on vs off: `get` + drop of a warm lease, ns per lease,
//!   for a pool without a backend and one with a `RedisFleet` attached (nothing on that
//!   path touches Redis, so the two should be within noise).
//!
//! `cargo bench -p pool-redis --bench fleet` (needs `redis-server`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{
    BlacklistReason, Connection, DialError, Dialer, FleetBan, FleetEvent, Pool, PoolOptions,
    SharedState, Target,
};
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::RedisServer;

const HOST: &str = "bench.test";

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

async fn member(redis: &RedisServer) -> (Pool<Mem>, Arc<RedisFleet>) {
    let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = "bench:".into();
    let fleet = RedisFleet::start(cfg).unwrap();
    let pool = Pool::with_shared_state(Mem, PoolOptions::default(), fleet.clone()).unwrap();
    pool.set_addrs(HOST, [addr(1)]);
    fleet.attach(&pool);
    assert!(fleet.wait_synced(Duration::from_secs(10)).await, "synced");
    (pool, fleet)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn leases_per_second(pool: &Pool<Mem>, n: u32) -> f64 {
    drop(pool.get(HOST).await.unwrap()); // warm
    let started = Instant::now();
    for _ in 0..n {
        drop(pool.get(HOST).await.unwrap());
    }
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let redis = RedisServer::start().expect("redis-server (apt-get install redis-server)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (_a, a_fleet) = member(&redis).await;
        let (b, _b_fleet) = member(&redis).await;
        let mut took = Vec::new();
        for n in 0..500 {
            let ip = addr(100 + n);
            let started = Instant::now();
            a_fleet.publish(FleetEvent::Ban(FleetBan {
                host: HOST.into(),
                addr: ip,
                reason: BlacklistReason::Banned,
                retestable: true,
                ttl: Duration::from_secs(60),
            }));
            while b.blacklisted(ip.ip()).is_none() {
                assert!(started.elapsed() < Duration::from_secs(10), "ban {n} lost");
                tokio::task::yield_now().await;
            }
            took.push(started.elapsed());
        }
        took.sort();
        println!(
            "ban propagation (500 bans, two pools, one process): p50 {:?}  p99 {:?}  max {:?}",
            percentile(&took, 0.50),
            percentile(&took, 0.99),
            took[took.len() - 1]
        );

        let lone = Pool::new(Mem, PoolOptions::default()).unwrap();
        lone.set_addrs(HOST, [addr(1)]);
        let n = 200_000;
        let off = leases_per_second(&lone, n).await;
        let on = leases_per_second(&b, n).await;
        let off2 = leases_per_second(&lone, n).await;
        println!(
            "get + drop of a warm lease: sharing off {off:.0} ns, on {on:.0} ns, off again {off2:.0} ns"
        );
    });
}
