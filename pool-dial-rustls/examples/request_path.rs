//! The request path's client CPU, counted in instructions with callgrind (which does not move
//! with the load of a shared machine, as wall-clock and `getrusage` figures do). See
//! `docs/perf-request-path.md` for the figures and what each change did to them.
//!
//! ```text
//! cargo build --release -p pool-dial-rustls --example request_path
//! X=target/release/examples/request_path
//! # hotpool: the measured round only (zeroed before, dumped at its end)
//! valgrind --tool=callgrind --callgrind-out-file=cg.h2.%p \
//!     --zero-before='request_path::measure_begin' --dump-before='request_path::measure_end' \
//!     $X run h2 20000
//! $X split cg.h2.<pid>.1 20000          # instructions per request, by crate
//! # the C client on the same origin and count (its per-request cost: two runs' difference)
//! $X h2load h2 20000
//! ```
//!
//! Modes:
//! - `run <h1|h2|auto> <n>`: the protocols bench's client loop — GET `/1k` (1 KiB body),
//!   64 requests in flight, one address, a 2-thread runtime — against the testkit origin in
//!   a child process (this binary again; not traced by callgrind unless asked), after a
//!   warm-up round; the `n` measured requests lie between [`measure_begin`] and
//!   [`measure_end`], which callgrind's `--zero-before` / `--dump-before` hook on.
//! - `split <callgrind.out> <n>`: the profile's self cost per request, grouped by crate
//!   (pool-core, pool-http, pool-dial-rustls, h2, hyper, rustls + ring, tokio, alloc, libc, …), plus
//!   the inclusive cost of the request path's entry points.
//! - `h2load <h1|h2> <n>`: `h2load` under callgrind against the same origin, run with `n/10`
//!   and `n + n/10` requests; the difference over `n` is its cost per request without its
//!   start-up and handshakes (`-c 1 -m 64` for h2, `--h1 -c 64 -m 1` for h1; `-t 1`).

#[path = "../benches/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::{HOST, OriginProcess};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, HttpsDialer, HttpsOptions};
use pool_http::{Empty, HttpConnection, HttpLeaseExt};

/// Requests in flight at once (as in the protocols bench).
const CONCURRENCY: usize = 64;
/// The path every request asks for: a 1 KiB body.
const PATH: &str = "/1k";

/// callgrind zeroes its counters when this is entered (`--zero-before`). Its body differs
/// from [`measure_end`]'s so that the linker cannot fold the two into one symbol.
#[inline(never)]
fn measure_begin(n: usize) -> usize {
    std::hint::black_box(n) + 1
}

/// callgrind dumps its counters when this is entered (`--dump-before`).
#[inline(never)]
fn measure_end(n: usize) -> usize {
    std::hint::black_box(n) * 3
}

fn main() {
    common::origin_main_if_child();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let count = |i: usize| -> usize {
        arg(i)
            .map_or(Ok(20_000), str::parse)
            .expect("a request count")
    };
    match (arg(0), arg(1)) {
        (Some("run"), Some(proto)) => run(proto, count(2)),
        (Some("split"), Some(file)) => split(file, count(2)),
        (Some("h2load"), Some(proto)) => h2load(proto, count(2)),
        _ => {
            eprintln!(
                "usage: request_path run <h1|h2|auto> [n] | split <callgrind.out> [n] | h2load <h1|h2> [n]"
            );
            std::process::exit(2);
        }
    }
}

/// A warm pool over the origin's one address, `per_ip` connections allowed to it.
async fn hot_pool<D: Dialer>(dialer: D, addr: std::net::SocketAddr, per_ip: usize) -> Arc<Pool<D>> {
    let options = PoolOptions {
        max_connections: 1000,
        max_conns_per_host: 1000,
        max_idle_conns: 1000,
        max_conns_per_ip: per_ip,
        ..PoolOptions::default()
    };
    let pool = Pool::new(dialer, options).expect("pool");
    pool.set_addrs(HOST, [addr]);
    assert!(pool.warm(HOST).await.ok >= 1, "warm-up");
    Arc::new(pool)
}

/// `n` GETs of [`PATH`] through `pool` by [`CONCURRENCY`] tasks, each body read whole.
async fn round<D>(pool: &Arc<Pool<D>>, n: usize)
where
    D: Dialer<Conn: HttpConnection>,
{
    let left = Arc::new(AtomicUsize::new(n));
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (pool, left) = (Arc::clone(pool), Arc::clone(&left));
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                    .is_ok()
                {
                    let lease = pool.get(HOST).await.expect("lease");
                    let request = http::Request::get(PATH)
                        .body(Empty::<Bytes>::new())
                        .expect("request");
                    let response = lease.request(request).await.expect("request");
                    assert_eq!(response.status(), 200);
                    let body = response.into_body().bytes().await.expect("body");
                    assert_eq!(body.len(), 1024);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("request task");
    }
}

/// Warm-up round, then the measured one between the two markers.
async fn measure<D>(pool: Arc<Pool<D>>, n: usize)
where
    D: Dialer<Conn: HttpConnection>,
{
    round(&pool, (n / 4).max(CONCURRENCY * 4)).await;
    measure_begin(n);
    round(&pool, n).await;
    measure_end(n);
    let stats = pool.stats();
    eprintln!(
        "request_path: {n} requests measured; pool: {} dials, {} leases",
        stats.dials_total, stats.leases_total
    );
    pool.close().await;
}

fn run(proto: &str, n: usize) {
    let origin = OriginProcess::start(1);
    let addr = origin.addrs[0];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match proto {
            "h1" => {
                let dialer = H1Dialer::new(origin.tls_options()).expect("h1 dialer");
                measure(hot_pool(dialer, addr, CONCURRENCY).await, n).await;
            }
            "h2" => {
                let dialer = H2Dialer::new(origin.h2_options()).expect("h2 dialer");
                measure(hot_pool(dialer, addr, 1).await, n).await;
            }
            "auto" => {
                let mut options = HttpsOptions::default();
                options.tls.trust = origin.tls_options().trust;
                let dialer = HttpsDialer::new(options).expect("https dialer");
                measure(hot_pool(dialer, addr, 1).await, n).await;
            }
            other => panic!("unknown protocol {other}: h1, h2 or auto"),
        }
    });
    drop(rt);
    drop(origin);
}

/// Where a function's self cost goes: a group named after the crate (or library) it is in.
fn group(function: &str, object: &str) -> &'static str {
    // `core::ptr::drop_in_place<T>` and friends: charge the type's crate.
    let name = function
        .strip_prefix("core::ptr::drop_in_place<")
        .unwrap_or(function);
    let name = name.trim_start_matches(['<', '&', '*', ' ']);
    let name = name.strip_prefix("mut ").unwrap_or(name);
    let krate = name.split("::").next().unwrap_or(name);
    let lib = object.rsplit('/').next().unwrap_or(object);
    if lib.starts_with("libc.so") || lib.starts_with("ld-linux") {
        return match function {
            f if f.contains("malloc")
                || f.contains("free")
                || f.contains("realloc")
                || f.contains("calloc")
                || f.starts_with("_int_")
                || f.starts_with("tcache")
                || f.contains("unlink_chunk") =>
            {
                "alloc (malloc/free)"
            }
            f if f.contains("memcpy")
                || f.contains("memmove")
                || f.contains("memset")
                || f.contains("memcmp")
                || f.contains("strlen") =>
            {
                "libc mem*"
            }
            _ => "libc / syscall wrappers",
        };
    }
    if lib.starts_with("vdso") || object.contains("vdso") {
        return "libc / syscall wrappers";
    }
    match krate {
        "pool_core" => "pool-core",
        "pool_http" => "pool-http",
        "pool_dial_rustls" => "pool-dial-rustls",
        "h2" | "hpack" => "h2",
        "hyper" | "httparse" | "hyper_util" => "hyper",
        "http" | "http_body" | "http_body_util" | "bytes" => "http / bytes",
        "rustls" | "tokio_rustls" | "webpki" | "rustls_webpki" => "rustls",
        "ring" => "ring (crypto)",
        // ring's assembly: `ring_core_*`, `_aesni_ctr32_ghash_6x`, `_aesni_encrypt8`, …
        _ if function.starts_with("ring_core_")
            || function.contains("aesni")
            || function.contains("ghash")
            || function.contains("gcm_")
            || function.contains("aes_") =>
        {
            "ring (crypto)"
        }
        // metrics hashes its keys with rapidhash.
        "rapidhash" => "metrics",
        "tokio" | "mio" => "tokio",
        "tracing" | "tracing_core" => "tracing",
        "metrics" => "metrics",
        "__rust_alloc" | "__rust_dealloc" | "__rust_realloc" | "__rustc" => "alloc (malloc/free)",
        "alloc" | "core" | "std" | "hashbrown" | "parking_lot" | "parking_lot_core" | "slab"
        | "indexmap" | "futures_util" | "futures_core" | "pin_project_lite" => {
            "std / core / small crates"
        }
        "request_path" => "harness (the example's loop)",
        _ => "other",
    }
}

/// The self cost per request of a callgrind profile, by [`group`]; then the inclusive cost
/// of the request path's entry points.
fn split(file: &str, n: usize) {
    let annotate = |inclusive: bool| -> String {
        let out = Command::new("callgrind_annotate")
            .args([
                format!("--inclusive={}", if inclusive { "yes" } else { "no" }),
                "--threshold=100".to_owned(),
                "--auto=no".to_owned(),
                "--show-percs=no".to_owned(),
                file.to_owned(),
            ])
            .output()
            .expect("run callgrind_annotate");
        assert!(out.status.success(), "callgrind_annotate failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut total = 0u64;
    let mut groups: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut seen = 0u64;
    let listing = annotate(false);
    // The file's `totals:` — the costs recorded since the counters were zeroed — not
    // callgrind_annotate's PROGRAM TOTALS, which is the file's `summary:` (everything since
    // the start or the last dump, the zeroed part included).
    let text = std::fs::read_to_string(file).expect("read the callgrind file");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("totals:") {
            total = number(rest);
        }
    }
    for (count, function, object) in rows(&listing) {
        // callgrind_annotate also lists the threads' entry frames with the whole cost;
        // no function's own cost comes near half of the total.
        if count > total / 2 {
            continue;
        }
        seen += count;
        *groups.entry(group(&function, &object)).or_default() += count;
    }
    let per = |c: u64| c as f64 / n as f64;
    println!(
        "total: {total} instructions, {:.0} per request ({n} requests)",
        per(total)
    );
    let mut sorted: Vec<_> = groups.into_iter().collect();
    sorted.sort_by_key(|row| std::cmp::Reverse(row.1));
    println!("| group (self cost) | instructions per request | share |");
    println!("|---|---|---|");
    for (name, count) in &sorted {
        println!(
            "| {name} | {:.0} | {:.1} % |",
            per(*count),
            100.0 * *count as f64 / total.max(1) as f64
        );
    }
    if seen < total {
        println!(
            "| (below callgrind_annotate's listing) | {:.0} | |",
            per(total - seen)
        );
    }
    println!();
    println!("inclusive, per request (entry points of the request path):");
    let wanted = [
        "h2::proto::connection::Connection<T,P,B>::poll",
        "hyper::proto::h1::dispatch::Dispatcher<D,Bs,I,T>::poll_catch",
        "rustls::conn::ConnectionCore<Data>::process_new_packets",
        "as pool_http::connection::HttpConnection>::send::{{closure}}",
        "pool_dial_rustls::h1::H1Conn::send_streaming::{{closure}}",
        "<pool_http::body::Body<D> as http_body::Body>::poll_frame",
        "pool_http::metrics::Record::headers",
        "pool_http::metrics::Record::end",
        "core::ptr::drop_in_place<pool_core::shell::lease::Lease<",
        "pool_core::proto::commands::<impl pool_core::proto::PoolState<T>>::checkout",
        "tokio::time::timeout::poll_delay",
        "tokio::runtime::task::waker::wake_by_val",
        "tokio::runtime::io::driver::Driver::turn",
    ];
    // A function has one row per source file its inlined code came from; its main row (the
    // largest) is its inclusive cost. Recursive entries (tokio's `poll'2`) overlap.
    let mut inclusive: BTreeMap<String, u64> = BTreeMap::new();
    for (count, function, _) in rows(&annotate(true)) {
        if wanted.iter().any(|w| function.contains(w)) {
            let entry = inclusive.entry(function).or_default();
            *entry = (*entry).max(count);
        }
    }
    let mut inclusive: Vec<_> = inclusive.into_iter().collect();
    inclusive.sort_by_key(|row| std::cmp::Reverse(row.1));
    for (function, count) in inclusive {
        println!("{:>10.0}  {function}", per(count));
    }
}

/// `(count, function, object)` rows of a `callgrind_annotate` listing.
fn rows(listing: &str) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for line in listing.lines() {
        let line = line.trim();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        if !count.starts_with(|c: char| c.is_ascii_digit()) || rest.contains("PROGRAM TOTALS") {
            continue;
        }
        let rest = rest.trim();
        // `file:function [object]`; the file is `???` without debug info.
        let (name, object) = match rest.rfind(" [") {
            Some(i) => (&rest[..i], rest[i + 2..].trim_end_matches(']')),
            None => (rest, ""),
        };
        let function = name.split_once(':').map_or(name, |(_, f)| f);
        out.push((number(count), function.to_owned(), object.to_owned()));
    }
    out
}

fn number(text: &str) -> u64 {
    text.trim()
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

/// h2load under callgrind against the testkit origin (see the module's doc).
fn h2load(proto: &str, n: usize) {
    let h1 = match proto {
        "h1" => true,
        "h2" => false,
        other => panic!("unknown protocol {other}: h1 or h2"),
    };
    let origin = OriginProcess::start(1);
    let addr = origin.addrs[0];
    let url = format!("https://{HOST}:{}{PATH}", addr.port());
    let dir = std::env::temp_dir();
    let mut totals = Vec::new();
    for requests in [n / 10, n + n / 10] {
        let out = dir.join(format!("callgrind.h2load.{proto}.{requests}"));
        let mut command = Command::new("valgrind");
        command
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .args(["h2load", "-n", &requests.to_string(), "-t", "1"]);
        if h1 {
            command.args(["--h1", "-c", &CONCURRENCY.to_string(), "-m", "1"]);
        } else {
            command.args(["-c", "1", "-m", &CONCURRENCY.to_string()]);
        }
        let status = command
            .arg(format!("--connect-to={addr}"))
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run valgrind h2load");
        assert!(status.success(), "valgrind h2load failed: {status}");
        let text = std::fs::read_to_string(&out).expect("callgrind output");
        let total = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .map(number)
            .expect("callgrind totals");
        println!(
            "h2load {proto}, {requests} requests: {total} instructions ({})",
            out.display()
        );
        totals.push(total);
    }
    let per = (totals[1] - totals[0]) as f64 / n as f64;
    println!(
        "h2load {proto}: {per:.0} instructions per request (difference of the two runs over {n})"
    );
    drop(origin);
}
