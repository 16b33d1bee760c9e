//! The per-host request rate's cost per request (`pool_core::HostRate`): the sans-IO
//! decision alone on a fake clock; with what the async side adds (a mutex and a clock
//! read, as `pool_http::HostRates::acquire` does when no wait is due); and a warm
//! get + release of the pool without and with it in front — the limiter's share of a
//! request's pool overhead. Rates high enough that no request waits: the cost, not the
//! pacing, is measured.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pool_core::{
    Adaptation, Connection, Decision, DialError, Dialer, HostRate, Pool, PoolOptions, RateLimit,
    Target,
};

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

fn rate() -> HostRate {
    HostRate::new(
        Some(RateLimit::per_second(1_000_000)),
        Some(Adaptation::default()),
    )
}

fn decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate");
    group.bench_function("decide_fake_clock", |b| {
        let mut rate = rate();
        let mut now = Instant::now();
        let step = Duration::from_micros(1);
        b.iter(|| {
            now += step;
            black_box(rate.decide(black_box(now), Some(now + step)))
        });
    });
    group.bench_function("mutex_clock_decide", |b| {
        let rate = Mutex::new(HostRate::new(
            Some(RateLimit::per_second(u32::MAX)),
            Some(Adaptation::default()),
        ));
        b.iter(|| {
            let now = Instant::now();
            let decided = rate
                .lock()
                .unwrap()
                .decide(now, Some(now + Duration::from_secs(30)));
            // Far above any rate this loop reaches: never a wait.
            assert!(matches!(decided, Ok(Decision::Ready)));
        });
    });
    group.finish();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = runtime.block_on(async {
        let pool = Pool::new(MemDialer, PoolOptions::default()).unwrap();
        pool.set_addrs("bench.test", ["127.0.0.1:443".parse().unwrap()]);
        pool.warm("bench.test").await;
        pool
    });
    let mut group = c.benchmark_group("get_release");
    group.bench_function("no_limiter", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(pool.get("bench.test").await.unwrap());
        });
    });
    group.bench_function("with_limiter", |b| {
        let rate = Mutex::new(HostRate::new(
            Some(RateLimit::per_second(u32::MAX)),
            Some(Adaptation::default()),
        ));
        b.to_async(&runtime).iter(|| async {
            let now = Instant::now();
            let decided = rate
                .lock()
                .unwrap()
                .decide(now, Some(now + Duration::from_secs(30)));
            black_box(decided.unwrap());
            black_box(pool.get("bench.test").await.unwrap());
        });
    });
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
