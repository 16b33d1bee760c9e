//! Fleet rate accuracy (issue 28): four workers share one host's `fleet_rate_limit` through
//! a real `redis-server` (pool-testkit's `RedisServer`), each loading the host with more
//! demand than the whole rate (8 requests in flight each, `send_polite`, HTTP/2); the
//! origin (pool-testkit's `H2Origin`, in this process) counts the requests it answers, and
//! the rate is its count over a timed window once every worker has leased and knows the
//! four. Then Redis is killed and the same window measured again: each worker on its share
//! (rate ÷ 4), locally paced.
//!
//! The workers are four pools with four `RedisRates` (four Redis connections, four worker
//! ids) in one process: what Redis sees is what four processes would send; only the CPU
//! is shared. The same rig as the test (`tests/tests/fleet_rate/rig.rs`).
//!
//! Writes `fleet_rate.jsonl` for `cargo xtask bench` (`--only fleetrate` runs this bench
//! alone).

#[path = "../../pool-dial-rustls/benches/common/mod.rs"]
mod common;
#[path = "../tests/fleet_rate/rig.rs"]
mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pool_core::RateLimit;
use pool_testkit::{RedisServer, TestCa};
use rig::{Worker, load, origin, origin_rate};

/// Workers sharing the rate.
const WORKERS: usize = 4;
/// How long until every worker leased and knows the others, at most.
const SETTLE: Duration = Duration::from_secs(20);

/// One measured row: the fleet rate, with Redis then without.
struct Row {
    rate: &'static str,
    window: Duration,
    /// Also kill Redis and measure the fallback shares.
    kill: bool,
}

fn plan(quick: bool) -> Vec<Row> {
    let window = Duration::from_secs(if quick { 3 } else { 10 });
    let mut rows = vec![Row {
        rate: "150/s",
        window,
        kill: true,
    }];
    if !quick {
        rows.push(Row {
            rate: "600/s",
            window,
            kill: false,
        });
    }
    rows
}

/// Waits (at most [`SETTLE`]) until `done` holds, checking every 10 ms.
async fn settle(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {SETTLE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn measure(row: &Row, lines: &mut Vec<String>) {
    let mut redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(e) => {
            lines.push(format!(
                r#"{{"bench":"fleet_rate","skipped":"redis-server did not start: {e}"}}"#
            ));
            return;
        }
    };
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca).await;
    let rate: RateLimit = row.rate.parse().unwrap();
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(Worker::start(&origin, &ca, &redis.url(), i, rate).await);
    }
    let (done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = load(&workers, &done, &failed);
    settle("every worker leases and knows the others", || {
        workers
            .iter()
            .all(|w| w.stats().workers == WORKERS as u32 && w.stats().granted > 0)
    })
    .await;
    let sum = |f: fn(&pool_core::FleetRateStats) -> u64| -> u64 {
        workers.iter().map(|w| f(&w.stats())).sum()
    };
    let (leases, granted) = (sum(|s| s.leases), sum(|s| s.granted));
    let (requests, measured) = origin_rate(&origin, row.window).await;
    let (leases, granted) = (sum(|s| s.leases) - leases, sum(|s| s.granted) - granted);
    lines.push(format!(
        r#"{{"bench":"fleet_rate","phase":"redis","rate":"{}","per_sec":{},"workers":{WORKERS},"seconds":{},"requests":{requests},"measured":{measured:.2},"leases":{leases},"granted":{granted},"failed":{}}}"#,
        row.rate,
        rate.per_sec(),
        row.window.as_secs_f64(),
        failed.load(Ordering::SeqCst),
    ));
    if row.kill {
        redis.stop();
        settle("every worker on its share", || {
            workers.iter().all(|w| w.stats().on_fallback)
        })
        .await;
        let (requests, measured) = origin_rate(&origin, row.window).await;
        lines.push(format!(
            r#"{{"bench":"fleet_rate","phase":"fallback","rate":"{}","per_sec":{},"workers":{WORKERS},"seconds":{},"requests":{requests},"measured":{measured:.2},"failed":{}}}"#,
            row.rate,
            rate.per_sec(),
            row.window.as_secs_f64(),
            failed.load(Ordering::SeqCst),
        ));
    }
    done.store(true, Ordering::SeqCst);
    for task in tasks {
        let _ = task.await;
    }
    for w in &workers {
        w.pool.close().await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut lines = Vec::new();
    runtime.block_on(async {
        for row in plan(common::quick()) {
            measure(&row, &mut lines).await;
        }
    });
    for line in &lines {
        println!("{line}");
    }
    common::write_jsonl("fleet_rate", &lines);
}
