//! Scale: a cleanup tick with nothing due, on the sans-IO core with 1,000 to 100,000
//! tracked connections. The cost must not grow with the pool's size.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pool_core::PoolOptions;
use pool_core::proto::{Opened, PoolState};

/// A core holding `n` idle connections over `n / 1000` hosts of 1,000 addresses each.
fn core_with(n: usize, now: Instant) -> PoolState<()> {
    let mut core = PoolState::new(PoolOptions {
        max_connections: n,
        max_conns_per_host: n,
        max_idle_conns: n,
        health_check_interval: Some(Duration::from_secs(30)),
        ..PoolOptions::default()
    });
    let hosts = n.div_ceil(1000);
    for h in 0..hosts {
        let host = format!("host{h}.test");
        let addrs = (0..1000.min(n - h * 1000)).map(|i| {
            let i = u32::try_from(i + h * 1000).expect("fits");
            SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 443))
        });
        core.set_addrs(&host, addrs);
        for dial in core.plan_warm(&host).dials {
            core.handle_dial_result(dial.id, Ok(((), Opened::with_capacity(1))), now);
        }
    }
    while core.poll_action().is_some() {}
    assert_eq!(core.stats().connections, n);
    core
}

fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("cleanup_tick_nothing_due");
    for n in [1_000usize, 10_000, 100_000] {
        let start = Instant::now();
        let mut core = core_with(n, start);
        let now = start + Duration::from_secs(1);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                core.handle_timeout(black_box(now));
                black_box(core.poll_timeout())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
