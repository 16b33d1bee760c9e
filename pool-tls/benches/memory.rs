//! Memory: client heap bytes per idle pooled TLS + HTTP/2 connection at 1, 100, 1,000 and
//! 5,000 connections (quick mode: up to 1,000; 10,000 is beyond the open-file hard limit of
//! the origin process on this machine, see `main`), measured with a counting global
//! allocator. The origin runs in a child process, so only the client's heap is counted.
//!
//! Per connection = (heap after warming `n` connections and letting them go idle − heap
//! before the warm-up) / `n`: the pool's bookkeeping, the rustls connection with its
//! buffers, the h2 connection state, the spawned driver task and tokio's I/O registration.
//! The same is measured for a plain TLS connection (`TlsDialer`, HTTP/1.1, with its idle
//! watcher task) up to 1,000 connections, as a breakdown. After closing the pool the heap
//! left over is reported too (it should be back near zero).
//!
//! Writes `memory.jsonl` for `cargo xtask bench`.
mod common;

use std::time::Duration;

use common::{HOST, OriginProcess};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_testkit::alloc::{Counting, live_bytes};
use pool_tls::{H2Dialer, TlsDialer, TlsOptions};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Measured {
    per_connection: f64,
    per_address: f64,
    left_after_close: i64,
    warm_seconds: f64,
}

/// Warms a pool of `dialer` over the first `n` addresses and measures its heap.
fn measure<D: Dialer>(
    rt: &tokio::runtime::Runtime,
    origin: &OriginProcess,
    dialer: D,
    n: usize,
) -> Measured {
    let options = PoolOptions {
        max_connections: n,
        max_conns_per_host: n,
        max_idle_conns: n,
        warm_concurrency: 64,
        ..PoolOptions::default()
    };
    let start = live_bytes();
    let pool = Pool::new(dialer, options).expect("pool");
    let with_pool = live_bytes();
    pool.set_addrs(HOST, origin.addrs[..n].iter().copied());
    let before = live_bytes();
    let report = rt.block_on(pool.warm(HOST));
    assert_eq!(report.ok, n, "every address warmed: {report:?}");
    // Let every connection settle into idle (drivers parked, handshake buffers freed).
    std::thread::sleep(Duration::from_millis(500));
    let after = live_bytes();
    rt.block_on(pool.close());
    drop(pool);
    std::thread::sleep(Duration::from_millis(500));
    let end = live_bytes();
    Measured {
        per_connection: (after - before) as f64 / n as f64,
        per_address: (before - with_pool) as f64 / n as f64,
        left_after_close: end - start,
        warm_seconds: report.elapsed.as_secs_f64(),
    }
}

fn main() {
    common::origin_main_if_child();
    // `HOTPOOL_BENCH_MEMORY_SIZES=100,1000` measures only those sizes (for profiling).
    let sizes: Vec<usize> = match std::env::var("HOTPOOL_BENCH_MEMORY_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("HOTPOOL_BENCH_MEMORY_SIZES: numbers")
            })
            .collect(),
        Err(_) if common::quick() => vec![1, 100, 1_000],
        // Not 10,000: the origin process would need 10,000 listening sockets plus 10,000
        // accepted ones, above this machine's hard open-file limit of 20,000, which a
        // container's root cannot raise (`setrlimit` → EPERM); past ≈ 5,000 dials fail.
        Err(_) => vec![1, 100, 1_000, 5_000],
    };
    let max = sizes.iter().copied().max().expect("sizes");
    let nofile = common::raise_nofile(max as u64 + 8_192);
    let origin = OriginProcess::start(max);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // `Pool::new` spawns its driver task on the current runtime.
    let _enter = rt.enter();
    // One throw-away round so the runtime's and the TLS stack's one-time allocations
    // (thread-locals, lazily built tables) are not charged to the first size.
    let _ = measure(
        &rt,
        &origin,
        H2Dialer::new(origin.h2_options()).expect("dialer"),
        1,
    );

    let mut lines = Vec::new();
    for &n in &sizes {
        for transport in ["tls_h2", "tls"] {
            if transport == "tls" && n > 1_000 {
                continue;
            }
            let m = if transport == "tls_h2" {
                measure(
                    &rt,
                    &origin,
                    H2Dialer::new(origin.h2_options()).expect("dialer"),
                    n,
                )
            } else {
                let mut options = TlsOptions::default();
                options.trust.webpki_roots = false;
                options.trust.extra_ca_certs = vec![origin.ca_der.clone()];
                measure(&rt, &origin, TlsDialer::new(options).expect("dialer"), n)
            };
            let line = format!(
                "{{\"bench\":\"memory\",\"transport\":\"{transport}\",\"connections\":{n},\"bytes_per_connection\":{:.0},\"bytes_per_address\":{:.0},\"bytes_left_after_close\":{},\"warm_seconds\":{:.3},\"nofile\":{nofile}}}",
                m.per_connection, m.per_address, m.left_after_close, m.warm_seconds,
            );
            println!("{line}");
            lines.push(line);
        }
    }
    common::write_jsonl("memory", &lines);
    drop(_enter);
    drop(rt);
    drop(origin);
}
