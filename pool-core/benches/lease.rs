//! Pool overhead: get + release of a warm lease, hotpool vs deadpool and bb8 with the same
//! trivial in-memory connections — uncontended on a current-thread runtime, and 64 tasks
//! on a 2-thread runtime sharing 16 exclusive connections.

use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};

/// An in-memory connection: the bench measures the pools, not a transport.
struct MemConn;

impl Connection for MemConn {
    fn capacity(&self) -> usize {
        1
    }
    fn is_closed(&self) -> bool {
        false
    }
}

struct MemDialer;

impl Dialer for MemDialer {
    type Conn = MemConn;
    async fn dial(&self, _target: &Target) -> Result<MemConn, DialError> {
        Ok(MemConn)
    }
}

struct DeadpoolManager;

impl deadpool::managed::Manager for DeadpoolManager {
    type Type = MemConn;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<MemConn, Self::Error> {
        Ok(MemConn)
    }

    async fn recycle(
        &self,
        _conn: &mut MemConn,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        Ok(())
    }
}

struct Bb8Manager;

impl bb8::ManageConnection for Bb8Manager {
    type Connection = MemConn;
    type Error = std::convert::Infallible;

    async fn connect(&self) -> Result<MemConn, Self::Error> {
        Ok(MemConn)
    }

    async fn is_valid(&self, _conn: &mut MemConn) -> Result<(), Self::Error> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut MemConn) -> bool {
        false
    }
}

const HOST: &str = "bench.test";

/// A warm hotpool with `size` exclusive connections (one per address).
async fn hotpool(size: u8) -> Pool<MemDialer> {
    let options = PoolOptions {
        max_connections: 1000,
        max_conns_per_host: 1000,
        max_idle_conns: 1000,
        ..PoolOptions::default()
    };
    let pool = Pool::new(MemDialer, options).expect("valid options");
    let addrs: Vec<SocketAddr> = (0..size)
        .map(|i| SocketAddr::from(([127, 0, 0, 2 + i], 443)))
        .collect();
    pool.set_addrs(HOST, addrs);
    assert_eq!(pool.warm(HOST).await.ok, usize::from(size));
    pool
}

/// A deadpool of `size` objects, all created up front.
async fn deadpool(size: usize) -> deadpool::managed::Pool<DeadpoolManager> {
    let pool = deadpool::managed::Pool::builder(DeadpoolManager)
        .max_size(size)
        .build()
        .expect("deadpool");
    let objects: Vec<_> = futures_all(size, || pool.get()).await;
    drop(objects);
    pool
}

/// A bb8 pool of `size` connections, no validation on checkout (like the others).
async fn bb8(size: u32) -> bb8::Pool<Bb8Manager> {
    bb8::Pool::builder()
        .max_size(size)
        .min_idle(Some(size))
        .test_on_check_out(false)
        .build(Bb8Manager)
        .await
        .expect("bb8")
}

async fn futures_all<F, Fut, T, E>(n: usize, mut make: F) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(make().await.expect("create"));
    }
    items
}

fn uncontended(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("get_release_uncontended");
    let hot = rt.block_on(hotpool(4));
    group.bench_function("hotpool", |b| {
        b.to_async(&rt).iter(|| async {
            drop(hot.get(HOST).await.expect("warm lease"));
        })
    });
    let dead = rt.block_on(deadpool(4));
    group.bench_function("deadpool", |b| {
        b.to_async(&rt).iter(|| async {
            drop(dead.get().await.expect("object"));
        })
    });
    let bb = rt.block_on(bb8(4));
    group.bench_function("bb8", |b| {
        b.to_async(&rt).iter(|| async {
            drop(bb.get().await.expect("connection"));
        })
    });
    group.finish();
}

const TASKS: usize = 64;
const PER_TASK: usize = 100;
const SHARED: usize = 16;

/// Runs TASKS tasks doing PER_TASK get+release each through `get_release`.
async fn storm<P, F, Fut>(pool: Arc<P>, get_release: F)
where
    P: Send + Sync + 'static,
    F: Fn(Arc<P>) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut tasks = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..PER_TASK {
                get_release(pool.clone()).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

fn contended(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("get_release_64_tasks_2_threads");
    group.throughput(Throughput::Elements((TASKS * PER_TASK) as u64));
    let hot = Arc::new(rt.block_on(hotpool(SHARED as u8)));
    group.bench_function(BenchmarkId::from_parameter("hotpool"), |b| {
        b.to_async(&rt).iter(|| {
            storm(hot.clone(), |p: Arc<Pool<MemDialer>>| async move {
                drop(p.get(HOST).await.expect("lease"));
            })
        })
    });
    let dead = Arc::new(rt.block_on(deadpool(SHARED)));
    group.bench_function(BenchmarkId::from_parameter("deadpool"), |b| {
        b.to_async(&rt).iter(|| {
            storm(
                dead.clone(),
                |p: Arc<deadpool::managed::Pool<DeadpoolManager>>| async move {
                    drop(p.get().await.expect("object"));
                },
            )
        })
    });
    let bb = Arc::new(rt.block_on(bb8(SHARED as u32)));
    group.bench_function(BenchmarkId::from_parameter("bb8"), |b| {
        b.to_async(&rt).iter(|| {
            storm(bb.clone(), |p: Arc<bb8::Pool<Bb8Manager>>| async move {
                drop(p.get().await.expect("connection"));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
