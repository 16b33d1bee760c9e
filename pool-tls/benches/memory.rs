//! Memory: client heap bytes per idle connection, per protocol, at 1, 100, 1,000 and 5,000
//! connections (quick mode: up to 1,000; 10,000 is beyond the open-file hard limit of the
//! origin process on this machine, see `main`), measured with a counting global
//! allocator. The origin runs in a child process, so only the client's heap is counted.
//!
//! Per connection = (heap after warming `n` connections and letting them go idle − heap
//! before the warm-up) / `n`. Transports (the `transport` field of each line):
//! - `tls_h2`: pooled `H2Dialer` connections — pool entry, rustls connection and buffers,
//!   h2's codec and stream store, the driver task, the GOAWAY sniffer, tokio's I/O
//!   registration;
//! - `h1`: pooled `H1Dialer` connections (hyper's HTTP/1.1 codec and connection task);
//! - `h3`: pooled `QuicDialer` connections (quinn connection state, h3 client, its driver);
//! - `tls`: pooled `TlsDialer` connections (TLS stream + idle watcher task), a breakdown;
//! - `raw_tls`: bare `tokio_rustls` client streams held in a `Vec`, no pool and no task —
//!   the floor of rustls' state and buffers plus the TCP socket's registration.
//!
//! Differences of these are the breakdown in BENCHMARKS.md and `docs/idle-memory.md`.
//! After closing each pool the heap left over is reported too (near zero: no leak).
//!
//! Writes `memory.jsonl` for `cargo xtask bench`.
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{HOST, OriginProcess};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_quic::{QuicDialer, QuicOptions};
use pool_testkit::alloc::{Counting, live_bytes};
use pool_tls::{H1Dialer, H2Dialer, TlsDialer};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How long connections settle into idle before the heap is read (drivers parked,
/// handshake buffers freed, session tickets stored).
const SETTLE: Duration = Duration::from_millis(500);

struct Measured {
    per_connection: f64,
    per_address: f64,
    left_after_close: i64,
    warm_seconds: f64,
}

/// Warms a pool of `dialer` over `addrs` and measures its heap.
fn measure<D: Dialer>(rt: &tokio::runtime::Runtime, addrs: &[SocketAddr], dialer: D) -> Measured {
    let n = addrs.len();
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
    pool.set_addrs(HOST, addrs.iter().copied());
    let before = live_bytes();
    let report = rt.block_on(pool.warm(HOST));
    assert_eq!(report.ok, n, "every address warmed: {report:?}");
    std::thread::sleep(SETTLE);
    let after = live_bytes();
    rt.block_on(pool.close());
    drop(pool);
    std::thread::sleep(SETTLE);
    let end = live_bytes();
    Measured {
        per_connection: (after - before) as f64 / n as f64,
        per_address: (before - with_pool) as f64 / n as f64,
        left_after_close: end - start,
        warm_seconds: report.elapsed.as_secs_f64(),
    }
}

/// `n` bare rustls client streams (ALPN `http/1.1`), no pool: the TLS floor.
fn measure_raw_tls(rt: &tokio::runtime::Runtime, origin: &OriginProcess, n: usize) -> Measured {
    let config = Arc::new(origin.client_config(&[b"http/1.1"]));
    let start = live_bytes();
    let connector = tokio_rustls::TlsConnector::from(config);
    let before = live_bytes();
    let started = std::time::Instant::now();
    let streams = rt.block_on(async {
        let mut streams = Vec::with_capacity(n);
        for addr in &origin.addrs[..n] {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let name = rustls_pki_types::ServerName::try_from(HOST).expect("name");
            streams.push(connector.connect(name, tcp).await.expect("TLS handshake"));
        }
        streams
    });
    let warm_seconds = started.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    // The Vec's own buffer is not a connection's.
    let after = live_bytes() - (streams.capacity() * size_of_val(&streams[0])) as i64;
    drop(streams);
    drop(connector);
    std::thread::sleep(SETTLE);
    Measured {
        per_connection: (after - before) as f64 / n as f64,
        per_address: 0.0,
        left_after_close: live_bytes() - start,
        warm_seconds,
    }
}

/// The transports measured, in report order.
const TRANSPORTS: [&str; 5] = ["tls_h2", "h1", "h3", "tls", "raw_tls"];

fn main() {
    common::origin_main_if_child();
    // `HOTPOOL_BENCH_MEMORY_SIZES=100,1000` measures only those sizes and
    // `HOTPOOL_BENCH_MEMORY_TRANSPORTS=h1,tls_h2` only those transports (for profiling).
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
    let transports: Vec<String> = match std::env::var("HOTPOOL_BENCH_MEMORY_TRANSPORTS") {
        Ok(list) => list.split(',').map(|t| t.trim().to_owned()).collect(),
        Err(_) => TRANSPORTS.iter().map(|t| (*t).to_owned()).collect(),
    };
    let max = sizes.iter().copied().max().expect("sizes");
    let nofile = common::raise_nofile(max as u64 + 8_192);
    let origin = OriginProcess::start_with_h3(max);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // `Pool::new` spawns its driver task on the current runtime.
    let _enter = rt.enter();
    let h2 = || H2Dialer::new(origin.h2_options()).expect("dialer");
    let quic = || {
        let options = QuicOptions {
            trust: origin.tls_options().trust,
            ..QuicOptions::default()
        };
        QuicDialer::new(options).expect("QUIC dialer")
    };
    // One throw-away round per stack so the runtime's and the TLS and QUIC stacks'
    // one-time allocations (thread-locals, lazily built tables, the UDP endpoint) are not
    // charged to the first size.
    let _ = measure(&rt, &origin.addrs[..1], h2());
    let _ = measure(&rt, &origin.h3_addrs[..1], quic());

    let mut lines = Vec::new();
    for &n in &sizes {
        for transport in &transports {
            // The breakdown variants stop at 1,000 (flat beyond 100).
            if matches!(transport.as_str(), "tls" | "raw_tls") && n > 1_000 {
                continue;
            }
            let tcp = &origin.addrs[..n];
            let m = match transport.as_str() {
                "tls_h2" => measure(&rt, tcp, h2()),
                "h1" => measure(
                    &rt,
                    tcp,
                    H1Dialer::new(origin.tls_options()).expect("dialer"),
                ),
                "h3" => measure(&rt, &origin.h3_addrs[..n], quic()),
                "tls" => measure(
                    &rt,
                    tcp,
                    TlsDialer::new(origin.tls_options()).expect("dialer"),
                ),
                "raw_tls" => measure_raw_tls(&rt, &origin, n),
                other => panic!("unknown transport {other:?} (one of {TRANSPORTS:?})"),
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
