//! Memory: heap bytes of the pool's bookkeeping per tracked connection, at 1, 100, 1,000
//! and 10,000 connections, measured with a counting global allocator. The transport handle
//! is `()`, so this is the pool's own cost (entry, lists, maps, timers).
//!
//! Addresses are counted apart from connections (a host's address list exists with or
//! without connections). Prints one JSON object per line
//! (`{"bench":"bookkeeping","connections":N,"bytes_per_connection":B,"bytes_per_address":A}`)
//! and appends them to `target/hotpool-bench/bookkeeping.jsonl` for `cargo xtask bench`.
// A `GlobalAlloc` can only be implemented with `unsafe impl`; this bench binary is the one
// place that needs it, and it only forwards to the system allocator while counting.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use pool_core::PoolOptions;
use pool_core::proto::PoolState;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter update has no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes per known address (after `set_addrs`) and per connection (after warming
/// one connection to each address), for `n` addresses.
fn measure(n: usize) -> (f64, f64) {
    let now = Instant::now();
    let start = LIVE.load(Ordering::Relaxed);
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
    let before = LIVE.load(Ordering::Relaxed);
    for dial in core.plan_warm("bench.test") {
        core.handle_dial_result(dial.id, Ok(((), 1)), now);
    }
    while core.poll_action().is_some() {}
    assert_eq!(core.stats().connections, n);
    let after = LIVE.load(Ordering::Relaxed);
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
