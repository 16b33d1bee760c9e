//! Memory: heap bytes of the pool's bookkeeping per tracked connection, at 1, 100, 1,000
//! and 10,000 connections, measured with a counting global allocator. The transport handle
//! is `()`, so this is the pool's own cost (entry, lists, maps, timers).
//!
//! Addresses are counted apart from connections (a host's address list exists with or
//! without connections). Prints one JSON object per line
//! (`{"bench":"bookkeeping","connections":N,"bytes_per_connection":B,"bytes_per_address":A}`)
//! and appends them to `target/hotpool-bench/bookkeeping.jsonl` for `cargo xtask bench`.
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pool_core::PoolOptions;
use pool_core::proto::{Opened, PoolState};
use pool_testkit::alloc::{Counting, live_bytes};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes per known address (after `set_addrs`) and per connection (after warming
/// one connection to each address), for `n` addresses.
fn measure(n: usize) -> (f64, f64) {
    let now = Instant::now();
    let start = live_bytes();
    let mut core: PoolState<()> = PoolState::new(PoolOptions {
        max_connections: n,
        max_conns_per_host: n,
        max_idle_conns: n,
        health_check_interval: Some(Duration::from_secs(30)),
        ..PoolOptions::default()
    });
    let addrs = (0..n).map(|i| {
        let i = u32::try_from(i).expect("fits");
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 443))
    });
    core.set_addrs("bench.test", addrs);
    let before = live_bytes();
    for dial in core.plan_warm("bench.test").dials {
        core.handle_dial_result(dial.id, Ok(((), Opened::with_capacity(1))), now);
    }
    while core.poll_action().is_some() {}
    assert_eq!(core.stats().connections, n);
    let after = live_bytes();
    drop(core);
    let per_addr = (before - start) as f64 / n as f64;
    let per_conn = (after - before) as f64 / n as f64;
    (per_addr, per_conn)
}

fn main() {
    // `cargo bench` passes `--bench`; criterion-style filters are ignored here.
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/hotpool-bench");
    let _ = std::fs::create_dir_all(&out_dir);
    let mut lines = String::new();
    for n in [1usize, 100, 1_000, 10_000] {
        let (per_addr, per_conn) = measure(n);
        let line = format!(
            "{{\"bench\":\"bookkeeping\",\"connections\":{n},\"bytes_per_connection\":{per_conn:.0},\"bytes_per_address\":{per_addr:.0}}}"
        );
        println!("{line}");
        lines.push_str(&line);
        lines.push('\n');
    }
    if let Ok(mut file) = std::fs::File::create(out_dir.join("bookkeeping.jsonl")) {
        let _ = file.write_all(lines.as_bytes());
    }
}
