//! The two TLS engines side by side on the same origin: rustls (`pool_dial_rustls::H2Dialer`)
//! and BoringSSL with the Chrome profile (`pool_dial_boring::BoringDialer`), both HTTP/2:
//!
//! - handshake: one dial = TCP connect + TLS handshake + HTTP/2 handshake + one PING
//!   round trip, sequential, to the origin's addresses in turn; median and p99;
//! - client CPU per request: a warm pool with one connection, GET `/1k` with 64 requests
//!   in flight, `getrusage(RUSAGE_SELF)` over the round / requests (median of rounds);
//! - memory per idle connection: client heap (counting allocator) after warming `n`
//!   connections to `n` addresses and letting them go idle, minus before, over `n`.
//!
//! The origin runs in a child process (`pool-dial-rustls/benches/common`, shared by path), so CPU
//! and heap are the client's only. Writes `engines.jsonl` for `cargo xtask bench`.
#[path = "../../pool-dial-rustls/benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{HOST, OriginProcess};
use pool_core::{Dialer, Pool, PoolOptions, Target};
use pool_dial_boring::{BoringDialer, BoringOptions, Trust};
use pool_dial_rustls::H2Dialer;
use pool_http::{Empty, HttpConnection, HttpLeaseExt};
use pool_testkit::alloc::{Counting, live_bytes};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONCURRENCY: usize = 64;

fn boring(origin: &OriginProcess) -> BoringDialer {
    BoringDialer::new(BoringOptions {
        trust: Trust {
            webpki_roots: false,
            extra_ca_certs: vec![origin.ca_der.to_vec()],
            ..Trust::default()
        },
        ..BoringOptions::default()
    })
    .expect("boring dialer")
}

/// `n` sequential dials; every dial's time.
async fn handshakes<D: Dialer>(dialer: &D, origin: &OriginProcess, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let target = Target {
            host: HOST.into(),
            addr: origin.addrs[i % origin.addrs.len()],
        };
        let t = Instant::now();
        let conn = dialer.dial(&target).await.expect("dial");
        times.push(t.elapsed());
        drop(conn);
    }
    times.sort();
    times
}

/// Client CPU ns per request over `rounds` rounds of `n` GETs on one warm connection.
async fn cpu_per_request<D>(dialer: D, origin: &OriginProcess, n: usize, rounds: usize) -> f64
where
    D: Dialer<Conn: HttpConnection>,
{
    let pool = Pool::new(
        dialer,
        PoolOptions {
            max_conns_per_ip: 1,
            ..PoolOptions::default()
        },
    )
    .expect("pool");
    pool.set_addrs(HOST, [origin.addrs[0]]);
    assert_eq!(pool.warm(HOST).await.ok, 1);
    let pool = Arc::new(pool);
    let send = {
        let pool = Arc::clone(&pool);
        move || {
            let pool = Arc::clone(&pool);
            async move {
                let lease = pool.get(HOST).await.expect("lease");
                let response = lease
                    .request(
                        http::Request::get("/1k")
                            .body(Empty::<Bytes>::new())
                            .unwrap(),
                    )
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                assert_eq!(
                    response.into_body().bytes().await.expect("body").len(),
                    1024
                );
            }
        }
    };
    let _warm = common::round(n / 4, CONCURRENCY, send.clone()).await;
    let mut cpu = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let round = common::round(n, CONCURRENCY, send.clone()).await;
        cpu.push(round.cpu.as_nanos() as f64 / n as f64);
    }
    pool.close().await;
    common::median(&mut cpu)
}

/// Heap bytes per idle connection with `n` connections warm.
fn memory<D: Dialer>(
    rt: &tokio::runtime::Runtime,
    origin: &OriginProcess,
    dialer: D,
    n: usize,
) -> f64 {
    let pool = Pool::new(
        dialer,
        PoolOptions {
            max_connections: n,
            max_conns_per_host: n,
            max_idle_conns: n,
            warm_concurrency: 32,
            ..PoolOptions::default()
        },
    )
    .expect("pool");
    pool.set_addrs(HOST, origin.addrs[..n].iter().copied());
    let before = live_bytes();
    let report = rt.block_on(pool.warm(HOST));
    assert_eq!(report.ok, n, "{report:?}");
    std::thread::sleep(Duration::from_millis(500));
    let after = live_bytes();
    rt.block_on(pool.close());
    (after - before) as f64 / n as f64
}

fn main() {
    common::origin_main_if_child();
    let quick = common::quick();
    let (dials, requests, rounds, idle) = if quick {
        (40, 2_000, 3, 100)
    } else {
        (300, 20_000, 5, 1_000)
    };
    let nofile = common::raise_nofile(idle as u64 + 4_096);
    let origin = OriginProcess::start(idle);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    // One throw-away dial each: one-time allocations and tables are not charged.
    let _ = memory(
        &rt,
        &origin,
        H2Dialer::new(origin.h2_options()).expect("dialer"),
        1,
    );
    let _ = memory(&rt, &origin, boring(&origin), 1);
    let mut lines = Vec::new();
    for engine in ["rustls", "boring"] {
        let (times, cpu, bytes) = if engine == "rustls" {
            let d = H2Dialer::new(origin.h2_options()).expect("dialer");
            let times = rt.block_on(handshakes(&d, &origin, dials));
            let cpu = rt.block_on(cpu_per_request(d, &origin, requests, rounds));
            let bytes = memory(
                &rt,
                &origin,
                H2Dialer::new(origin.h2_options()).unwrap(),
                idle,
            );
            (times, cpu, bytes)
        } else {
            let d = boring(&origin);
            let times = rt.block_on(handshakes(&d, &origin, dials));
            let cpu = rt.block_on(cpu_per_request(d, &origin, requests, rounds));
            let bytes = memory(&rt, &origin, boring(&origin), idle);
            (times, cpu, bytes)
        };
        let line = format!(
            "{{\"bench\":\"engines\",\"engine\":\"{engine}\",\"profile\":\"{}\",\"dials\":{dials},\"handshake_p50_us\":{:.1},\"handshake_p99_us\":{:.1},\"requests\":{requests},\"rounds\":{rounds},\"concurrency\":{CONCURRENCY},\"cpu_ns_per_request\":{cpu:.0},\"idle_connections\":{idle},\"bytes_per_idle_connection\":{bytes:.0},\"nofile\":{nofile}}}",
            if engine == "rustls" {
                "default"
            } else {
                "chrome"
            },
            common::quantile_us(&times, 0.5),
            common::quantile_us(&times, 0.99),
        );
        println!("{line}");
        lines.push(line);
    }
    common::write_jsonl("engines", &lines);
    drop(_enter);
    drop(rt);
    drop(origin);
}
