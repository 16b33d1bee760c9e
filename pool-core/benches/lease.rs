//! get + release of a warm lease: uncontended, and 64 tasks on a 2-thread runtime.

use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};

/// An in-memory connection: the bench measures the pool, not a transport.
struct MemConn {
    capacity: usize,
}

impl Connection for MemConn {
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn is_closed(&self) -> bool {
        false
    }
}

struct MemDialer {
    capacity: usize,
}

impl Dialer for MemDialer {
    type Conn = MemConn;
    async fn dial(&self, _target: &Target) -> Result<MemConn, DialError> {
        Ok(MemConn {
            capacity: self.capacity,
        })
    }
}

const HOST: &str = "bench.test";

fn warm_pool(rt: &tokio::runtime::Runtime, addrs: u8, capacity: usize) -> Pool<MemDialer> {
    rt.block_on(async {
        let options = PoolOptions {
            max_connections: 1000,
            max_conns_per_host: 1000,
            max_idle_conns: 1000,
            ..PoolOptions::default()
        };
        let pool = Pool::new(MemDialer { capacity }, options).expect("valid options");
        let list: Vec<SocketAddr> = (0..addrs)
            .map(|i| SocketAddr::from(([127, 0, 0, 2 + i], 443)))
            .collect();
        pool.set_addrs(HOST, list);
        let report = pool.warm(HOST).await;
        assert_eq!(report.ok, usize::from(addrs));
        pool
    })
}

fn bench_uncontended(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pool = warm_pool(&rt, 4, 1);
    c.bench_function("pool_core/get_release/uncontended", |b| {
        b.to_async(&rt).iter(|| async {
            let lease = pool.get(HOST).await.expect("warm lease");
            drop(lease);
        })
    });
}

fn bench_contended(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // 64 tasks over 16 addresses of capacity 8 (HTTP/2-like): 128 slots, no waiting.
    let pool = Arc::new(warm_pool(&rt, 16, 8));
    const TASKS: usize = 64;
    const PER_TASK: usize = 100;
    let mut group = c.benchmark_group("pool_core/get_release");
    group.throughput(criterion::Throughput::Elements((TASKS * PER_TASK) as u64));
    group.bench_function("64_tasks_2_threads", |b| {
        b.to_async(&rt).iter(|| {
            let pool = pool.clone();
            async move {
                let mut tasks = Vec::with_capacity(TASKS);
                for _ in 0..TASKS {
                    let pool = pool.clone();
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..PER_TASK {
                            let lease = pool.get(HOST).await.expect("warm lease");
                            drop(lease);
                        }
                    }));
                }
                for task in tasks {
                    task.await.expect("task");
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_uncontended, bench_contended);
criterion_main!(benches);
