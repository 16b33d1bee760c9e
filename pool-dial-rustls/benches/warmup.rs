//! Warm-up: the time `Pool::warm` takes to open a TLS + HTTP/2 connection to each of
//! 1,611 loopback addresses (127.0.x.y) of one host, with a raised open-file limit and
//! bounded concurrency (`warm_concurrency`), and the cost per connection (wall time and
//! the client's CPU time; the origin runs in a child process).
//!
//! Each round builds a new pool, warms it and closes it; figures are medians over rounds.
//! Writes `warmup.jsonl` for `cargo xtask bench`.

mod common;

use std::time::Duration;

use common::{HOST, OriginProcess};
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::H2Dialer;

const ADDRS: usize = 1_611;
const CONCURRENCY: usize = 64;

fn main() {
    common::origin_main_if_child();
    let rounds = if common::quick() { 1 } else { 5 };
    let nofile = common::raise_nofile(16_384);
    let origin = OriginProcess::start(ADDRS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // `Pool::new` spawns its driver task on the current runtime.
    let _enter = rt.enter();
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..rounds {
        let options = PoolOptions {
            max_connections: ADDRS,
            max_conns_per_host: ADDRS,
            max_idle_conns: ADDRS,
            warm_concurrency: CONCURRENCY,
            ..PoolOptions::default()
        };
        let mut h2 = origin.h2_options();
        h2.tls.conn_timeout = Duration::from_secs(60);
        let pool = Pool::new(H2Dialer::new(h2).expect("dialer"), options).expect("pool");
        pool.set_addrs(HOST, origin.addrs.iter().copied());
        let cpu_before = common::cpu_time();
        let report = rt.block_on(pool.warm(HOST));
        let cpu_used = common::cpu_time() - cpu_before;
        assert_eq!(report.ok, ADDRS, "every address warmed: {report:?}");
        wall.push(report.elapsed.as_secs_f64());
        cpu.push(cpu_used.as_secs_f64());
        rt.block_on(pool.close());
        // Let the origin see the closes before the next round.
        std::thread::sleep(Duration::from_millis(300));
    }
    let wall = common::median(&mut wall);
    let cpu = common::median(&mut cpu);
    let line = format!(
        "{{\"bench\":\"warmup\",\"addresses\":{ADDRS},\"concurrency\":{CONCURRENCY},\"rounds\":{rounds},\"nofile\":{nofile},\"seconds\":{wall:.4},\"us_per_connection\":{:.1},\"cpu_us_per_connection\":{:.1},\"connections_per_sec\":{:.0}}}",
        wall * 1e6 / ADDRS as f64,
        cpu * 1e6 / ADDRS as f64,
        ADDRS as f64 / wall,
    );
    println!("{line}");
    common::write_jsonl("warmup", &[line]);
    drop(_enter);
    drop(rt);
    drop(origin);
}
