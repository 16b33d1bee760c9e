//! `cargo xtask bench [--quick]`: runs every benchmark of the workspace, collects the
//! figures and rewrites `BENCHMARKS.md`.
//!
//! - criterion benches (`pool-core`: `lease`, `scale`; `pool-dial-rustls`: `h2_lease`) leave their
//!   estimates under `target/hotpool-bench/criterion/<group>/<bench>/new/estimates.json`
//!   (`CRITERION_HOME` is set to that folder);
//! - the benches with their own harness (`pool-core`: `bookkeeping`; `pool-dial-rustls`:
//!   `throughput`, `warmup`, `memory`, `protocols`; `pool-redis`: `fleet`) write JSON lines to `target/hotpool-bench/*.jsonl`
//!   (`HOTPOOL_BENCH_OUT`), and read `HOTPOOL_BENCH_QUICK` for their smaller quick sizes.
//!
//! - the real-path bench (`hotpool-tests`: `realpath`, see `bench_realpath.rs`) and the
//!   proxies bench (`hotpool-tests`: `proxy`, see `bench_proxy.rs`) run in their own
//!   `cargo bench` invocations, as does the fleet rate bench (`hotpool-tests`:
//!   `fleet_rate`, see `bench_fleet_rate.rs`); `--only realpath`, `--only proxy` or
//!   `--only fleetrate` runs one alone and splices its section into the existing report
//!   (`bench_splice.rs`).
//!
//! `--quick` uses short criterion warm-up/measurement times and smaller sizes: a smoke
//! run of under two minutes once built. Everything from the `## Profiling notes` heading
//! of the existing `BENCHMARKS.md` to its end is written by hand and carried over.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::CargoRun;

/// The per-protocol bench's peer (`h2load`) and its section of the report.
#[path = "bench_protocols.rs"]
mod protocols;

/// The fleet bench's `redis-server` and its section of the report.
#[path = "bench_fleet.rs"]
mod fleet;

/// Section 6: memory per idle connection, per protocol, and the pool's bookkeeping.
#[path = "bench_memory.rs"]
mod memory;

/// Section 11: the real path (every dialer behind a WAN relay); `--only realpath`.
#[path = "bench_realpath.rs"]
mod realpath;

/// Section 12: requests and dials through proxies vs direct; `--only proxy`.
#[path = "bench_proxy.rs"]
mod proxy;

/// Sections 13–16: rate limiter cost, adaptation time, client overhead, decompression;
/// `--only rate|adapt|client|decode`.
#[path = "bench_polite.rs"]
mod polite;

/// Section 17: fleet rate accuracy with four workers; `--only fleetrate`.
#[path = "bench_fleet_rate.rs"]
mod fleet_rate;

/// `--only NAME`: one section re-run alone and spliced into the report.
#[path = "bench_splice.rs"]
mod splice;

/// The heading from which `BENCHMARKS.md` is kept as written by hand.
const NOTES_HEADING: &str = "## Profiling notes";

/// One bench target: package, bench name, whether it is a criterion bench.
struct Target {
    package: &'static str,
    bench: &'static str,
    criterion: bool,
}

/// The packages of every `cargo bench` run: one feature set for the shared dependencies
/// (dev-dependencies turn on tokio features), so nothing is rebuilt between benches.
const PACKAGES: [&str; 4] = [
    "pool-core",
    "pool-dial-rustls",
    "pool-redis",
    "pool-dial-boring",
];

const TARGETS: &[Target] = &[
    Target {
        package: "pool-core",
        bench: "lease",
        criterion: true,
    },
    Target {
        package: "pool-core",
        bench: "scale",
        criterion: true,
    },
    Target {
        package: "pool-core",
        bench: "bookkeeping",
        criterion: false,
    },
    Target {
        package: "pool-dial-rustls",
        bench: "h2_lease",
        criterion: true,
    },
    Target {
        package: "pool-dial-rustls",
        bench: "throughput",
        criterion: false,
    },
    Target {
        package: "pool-dial-rustls",
        bench: "warmup",
        criterion: false,
    },
    Target {
        package: "pool-dial-rustls",
        bench: "memory",
        criterion: false,
    },
    Target {
        package: "pool-dial-rustls",
        bench: "protocols",
        criterion: false,
    },
    Target {
        package: "pool-redis",
        bench: "fleet",
        criterion: false,
    },
];

/// Runs the command with its arguments (`--quick`, `--no-write`, `--only NAME`: `realpath`,
/// `proxy`, `rate`, `adapt`, `client`, `decode`, `fleetrate`).
pub fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut write = true;
    let mut only = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--no-write" => write = false,
            "--only" => only = args.next().map(String::as_str),
            other => {
                return Err(format!(
                    "bench: unknown argument `{other}` (expected --quick, --no-write, --only realpath|proxy|rate|adapt|client|decode|fleetrate)"
                ));
            }
        }
    }
    let root = crate::workspace_root()?;
    match only {
        None => {}
        Some("realpath") => {
            let _ = protocols::ensure_h2load();
            return splice::run_only(&root, quick, write, &realpath::ALONE);
        }
        Some("proxy") => return splice::run_only(&root, quick, write, &proxy::ALONE),
        Some(name) => {
            if name == fleet_rate::ALONE.name {
                let _ = fleet::ensure_redis();
            }
            let mut sections = polite::ALL.iter().chain([&fleet_rate::ALONE]);
            return match sections.find(|a| a.name == name) {
                Some(alone) => splice::run_only(&root, quick, write, alone),
                None => Err(format!(
                    "bench: --only {name}: only realpath, proxy, rate, adapt, client, decode and fleetrate run alone"
                )),
            };
        }
    }
    let out = root.join("target").join("hotpool-bench");
    // Old figures must never be reported as new ones.
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut env: Vec<(&str, String)> = vec![
        (
            "CRITERION_HOME",
            out.join("criterion").display().to_string(),
        ),
        ("HOTPOOL_BENCH_OUT", out.display().to_string()),
    ];
    if quick {
        env.push(("HOTPOOL_BENCH_QUICK", "1".to_owned()));
    }
    let h2load = protocols::ensure_h2load();
    let redis = fleet::ensure_redis();
    let load_before = load_average();
    let started = Instant::now();
    let mut build = vec!["bench", "--no-run"];
    for package in PACKAGES {
        build.extend(["-p", package]);
    }
    cargo_env(&root, &build, &env)?;
    let built = Instant::now();

    let criterion_flags: &[&str] = if quick {
        &[
            "--warm-up-time",
            "0.5",
            "--measurement-time",
            "1",
            "--sample-size",
            "10",
        ]
    } else {
        &["--warm-up-time", "3", "--measurement-time", "8"]
    };
    let mut commands = Vec::new();
    for target in TARGETS.iter().chain(protocols::engines::TARGETS) {
        let _ = target.package;
        let mut args = vec!["bench"];
        for package in PACKAGES {
            args.extend(["-p", package]);
        }
        args.extend(["--bench", target.bench]);
        if target.criterion {
            args.push("--");
            args.extend(criterion_flags);
        }
        let t = Instant::now();
        cargo_env(&root, &args, &env)?;
        commands.push((
            format!("cargo {}", args.join(" ")),
            t.elapsed().as_secs_f64(),
        ));
    }
    let alone_args = polite::ALL
        .iter()
        .chain([&fleet_rate::ALONE])
        .map(|a| a.args);
    for args in [&realpath::ARGS[..], &proxy::ARGS[..]]
        .into_iter()
        .chain(alone_args)
    {
        let t = Instant::now();
        cargo_env(&root, args, &env)?;
        commands.push((
            format!("cargo {}", args.join(" ")),
            t.elapsed().as_secs_f64(),
        ));
    }
    let ran = built.elapsed().as_secs_f64();
    let load_after = load_average();

    let figures = Figures::load(&out)?;
    let report = render(
        &root,
        &figures,
        &Run {
            quick,
            commands,
            build_seconds: (built - started).as_secs_f64(),
            run_seconds: ran,
            load_before,
            load_after,
            h2load,
            redis,
        },
    );
    if write {
        let path = root.join("BENCHMARKS.md");
        std::fs::write(&path, report)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("xtask: wrote {} (benches ran {ran:.0} s)", path.display());
    } else {
        println!("{report}");
    }
    Ok(())
}

/// `cargo <args>` from the workspace root with extra environment variables.
fn cargo_env(root: &Path, args: &[&str], env: &[(&str, String)]) -> Result<(), String> {
    env.iter()
        .fold(CargoRun::new(args).dir(root), |run, (k, v)| {
            run.env(k, v.as_str())
        })
        .run()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// How the run went, for the report's header.
struct Run {
    quick: bool,
    commands: Vec<(String, f64)>,
    build_seconds: f64,
    run_seconds: f64,
    load_before: String,
    load_after: String,
    /// The `h2load` the per-protocol bench ran, or why it did not.
    h2load: String,
    /// The `redis-server` the fleet bench ran, or why it did not.
    redis: String,
}

/// Every figure the benches left behind.
#[derive(Default)]
struct Figures {
    /// `group/bench` → median estimate in nanoseconds per iteration.
    criterion: BTreeMap<String, f64>,
    /// `name.jsonl` → its JSON objects.
    lines: BTreeMap<String, Vec<Value>>,
}

impl Figures {
    fn load(out: &Path) -> Result<Self, String> {
        let mut figures = Figures::default();
        let criterion = out.join("criterion");
        for estimates in find_files(&criterion, "estimates.json") {
            // <criterion>/<group>/<bench>/new/estimates.json
            let Ok(rel) = estimates.strip_prefix(&criterion) else {
                continue;
            };
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.len() != 4 || parts[2] != "new" {
                continue;
            }
            let text = std::fs::read_to_string(&estimates)
                .map_err(|e| format!("cannot read {}: {e}", estimates.display()))?;
            let json: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", estimates.display()))?;
            if let Some(median) = json["median"]["point_estimate"].as_f64() {
                figures
                    .criterion
                    .insert(format!("{}/{}", parts[0], parts[1]), median);
            }
        }
        for file in find_files(out, ".jsonl") {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let values = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            figures.lines.insert(name, values);
        }
        Ok(figures)
    }

    /// A criterion median in ns.
    fn ns(&self, key: &str) -> Option<f64> {
        self.criterion.get(key).copied()
    }

    /// The first object of `file` whose fields match `filter`.
    fn line(&self, file: &str, filter: &[(&str, Value)]) -> Option<&Value> {
        self.lines
            .get(file)?
            .iter()
            .find(|v| filter.iter().all(|(k, want)| &v[*k] == want))
    }

    fn field(&self, file: &str, filter: &[(&str, Value)], field: &str) -> Option<f64> {
        self.line(file, filter)?[field].as_f64()
    }
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn find_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// One row of a results table.
struct Row {
    measure: String,
    hotpool: String,
    peer: String,
    ratio: String,
    target: String,
    verdict: String,
}

impl Row {
    fn new(measure: impl Into<String>) -> Self {
        Row {
            measure: measure.into(),
            hotpool: "—".into(),
            peer: "—".into(),
            ratio: "—".into(),
            target: "—".into(),
            verdict: "—".into(),
        }
    }
}

fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "**met**".into(),
        Some(false) => "**missed**".into(),
        None => "no figure".into(),
    }
}

fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "no figure".into(),
        Some(ns) if ns < 1_000.0 => format!("{ns:.0} ns"),
        Some(ns) if ns < 1_000_000.0 => format!("{:.2} µs", ns / 1e3),
        Some(ns) if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        Some(ns) => format!("{:.2} s", ns / 1e9),
    }
}

fn fmt_rate(per_sec: Option<f64>) -> String {
    match per_sec {
        None => "no figure".into(),
        Some(r) if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        Some(r) if r >= 1e3 => format!("{:.1} k/s", r / 1e3),
        Some(r) => format!("{r:.0}/s"),
    }
}

fn fmt_bytes(b: Option<f64>) -> String {
    match b {
        None => "no figure".into(),
        Some(b) if b.abs() >= 10.0 * 1024.0 => format!("{:.1} KiB", b / 1024.0),
        Some(b) => format!("{b:.0} B"),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{r:.2}×"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn table(out: &mut String, rows: &[Row]) {
    out.push_str("| measure | hotpool | peer | ratio | target | result |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.measure, r.hotpool, r.peer, r.ratio, r.target, r.verdict
        );
    }
    out.push('\n');
}

/// Contended rounds: 64 tasks × 100 get+release.
const STORM_OPS: f64 = 6_400.0;

fn render(root: &Path, f: &Figures, run: &Run) -> String {
    let mut out = String::new();
    let mut summary: Vec<(String, String)> = Vec::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Written by `cargo xtask bench` (do not edit above the profiling notes: the next run \
         rewrites it). Every figure below comes from the run described here; ratios compare \
         hotpool with the peer measured in the same run, on the same machine.\n\n",
    );
    let _ = writeln!(out, "## Machine and run\n");
    let _ = writeln!(out, "- date: {}", date());
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(out, "- toolchain: {}", command_line("rustc", &["-V"]));
    let _ = writeln!(out, "- h2load (peer in section 8): {}", run.h2load);
    let _ = writeln!(out, "- redis-server (section 9): {}", run.redis);
    let _ = writeln!(
        out,
        "- section {}: {}",
        realpath::SECTION,
        realpath::peers()
    );
    let _ = writeln!(out, "- section {}: {}", proxy::SECTION, proxy::versions());
    let _ = writeln!(
        out,
        "- mode: {} (`cargo xtask bench{}`); build {:.0} s, benches {:.0} s",
        if run.quick { "quick" } else { "full" },
        if run.quick { " --quick" } else { "" },
        run.build_seconds,
        run.run_seconds
    );
    let _ = writeln!(
        out,
        "- load average (1/5/15 min) before: {}, after: {} — the machine is shared; \
         criterion medians and the instruction counts in the notes are the robust figures",
        run.load_before, run.load_after
    );
    out.push_str("- commands (from the workspace root):\n");
    for (cmd, secs) in &run.commands {
        let _ = writeln!(out, "  - `{cmd}` ({secs:.0} s)");
    }
    out.push('\n');
    let _ = root;

    // 1. Pool overhead.
    out.push_str(
        "## 1. Pool overhead: get + release of a warm lease (`pool-core/benches/lease.rs`)\n\n",
    );
    out.push_str(
        "In-memory trivial connections; peers are deadpool 0.13 and bb8 0.9 with equivalent \
         managers (no recycle check). Ratio = hotpool's rate / the peer's rate (> 1: hotpool \
         faster).\n\n",
    );
    let hot = f.ns("get_release_uncontended/hotpool");
    let dead = f.ns("get_release_uncontended/deadpool");
    let bb = f.ns("get_release_uncontended/bb8");
    let mut rows = Vec::new();
    let mut r = Row::new("uncontended, current-thread: median per get+release vs deadpool");
    r.hotpool = fmt_ns(hot);
    r.peer = format!("deadpool {}", fmt_ns(dead));
    r.ratio = fmt_ratio(ratio(dead, hot));
    r.target = "≤ 100 ns; ≥ 2× deadpool's rate".into();
    r.verdict = verdict(hot.zip(dead).map(|(h, d)| h <= 100.0 && d / h >= 2.0));
    summary.push(("pool get+release uncontended".into(), r.verdict.clone()));
    rows.push(r);
    let mut r = Row::new("uncontended, current-thread: vs bb8");
    r.hotpool = fmt_ns(hot);
    r.peer = format!("bb8 {}", fmt_ns(bb));
    r.ratio = fmt_ratio(ratio(bb, hot));
    rows.push(r);
    let rate = |k: &str| f.ns(k).map(|ns| STORM_OPS / ns * 1e9);
    let hot_c = rate("get_release_64_tasks_2_threads/hotpool");
    let dead_c = rate("get_release_64_tasks_2_threads/deadpool");
    let bb_c = rate("get_release_64_tasks_2_threads/bb8");
    let per_op = |r: Option<f64>| r.map(|r| 1e9 / r);
    let mut r = Row::new("64 tasks, 2-thread runtime, 16 connections: rate vs deadpool");
    r.hotpool = format!("{} ({} per op)", fmt_rate(hot_c), fmt_ns(per_op(hot_c)));
    r.peer = format!(
        "deadpool {} ({} per op)",
        fmt_rate(dead_c),
        fmt_ns(per_op(dead_c))
    );
    r.ratio = fmt_ratio(ratio(hot_c, dead_c));
    r.target = "≥ 1.5× deadpool's rate".into();
    r.verdict = verdict(ratio(hot_c, dead_c).map(|x| x >= 1.5));
    summary.push(("pool get+release, 64 tasks".into(), r.verdict.clone()));
    rows.push(r);
    let mut r = Row::new("64 tasks, 2-thread runtime: rate vs bb8");
    r.hotpool = fmt_rate(hot_c);
    r.peer = format!("bb8 {} ({} per op)", fmt_rate(bb_c), fmt_ns(per_op(bb_c)));
    r.ratio = fmt_ratio(ratio(hot_c, bb_c));
    rows.push(r);
    table(&mut out, &rows);

    // 2. Hot request latency.
    out.push_str("## 2. Hot request latency: pooled h2 lease vs a raw h2 connection (`pool-dial-rustls/benches/h2_lease.rs`, group `h2_request`)\n\n");
    out.push_str(
        "One GET of a 19-byte body against the local rustls + h2 origin on 127.0.0.2 (same \
         process, 2-thread runtime). Raw: an `h2::client::SendRequest` the bench holds. \
         Ratio = hotpool / raw latency.\n\n",
    );
    let lease = f.ns("h2_request/pool_lease");
    let raw = f.ns("h2_request/raw_h2");
    let mut r = Row::new("median latency of one request");
    r.hotpool = fmt_ns(lease);
    r.peer = format!("raw h2 {}", fmt_ns(raw));
    r.ratio = fmt_ratio(ratio(lease, raw));
    r.target = "≤ 1.1×".into();
    r.verdict = verdict(ratio(lease, raw).map(|x| x <= 1.1));
    summary.push(("hot request vs raw h2".into(), r.verdict.clone()));
    table(&mut out, &[r]);

    // 3. Throughput.
    out.push_str("## 3. Hot throughput at 64 concurrent requests vs reqwest (`pool-dial-rustls/benches/throughput.rs`)\n\n");
    out.push_str(
        "64 tasks sending requests back to back on a 2-thread client runtime; the origin \
         (rustls + h2, 16 addresses of one host) runs in a child process, so the client's \
         CPU time is `getrusage(RUSAGE_SELF)` of the bench process. Medians over rounds. \
         reqwest 0.13 (hyper, rustls + ring, HTTP/2 by ALPN) resolves the host to the same \
         16 addresses and, as it does, keeps one HTTP/2 connection per host; \
         `hotpool, 1 address` gives the pool one address too, to separate spreading from \
         the client stack. Ratios: throughput hotpool / reqwest (> 1: hotpool faster); \
         CPU hotpool / reqwest (< 1: hotpool cheaper).\n\n",
    );
    let tp = |client: &str, field: &str| {
        f.field("throughput", &[("client", Value::from(client))], field)
    };
    let mut rows = Vec::new();
    for (client, label) in [("hotpool", "16 addresses"), ("hotpool_1_addr", "1 address")] {
        let h = tp(client, "requests_per_sec");
        let q = tp("reqwest", "requests_per_sec");
        let mut r = Row::new(format!("throughput, hotpool over {label}"));
        r.hotpool = fmt_rate(h);
        r.peer = format!("reqwest {}", fmt_rate(q));
        r.ratio = fmt_ratio(ratio(h, q));
        if client == "hotpool" {
            r.target = "≥ 1.0×".into();
            r.verdict = verdict(ratio(h, q).map(|x| x >= 1.0));
            summary.push(("throughput vs reqwest".into(), r.verdict.clone()));
        }
        rows.push(r);
        let h = tp(client, "cpu_ns_per_request");
        let q = tp("reqwest", "cpu_ns_per_request");
        let mut r = Row::new(format!("client CPU per request, hotpool over {label}"));
        r.hotpool = fmt_ns(h);
        r.peer = format!("reqwest {}", fmt_ns(q));
        r.ratio = fmt_ratio(ratio(h, q));
        if client == "hotpool" {
            r.target = "≤ 0.8×".into();
            r.verdict = verdict(ratio(h, q).map(|x| x <= 0.8));
            summary.push((
                "client CPU per request vs reqwest".into(),
                r.verdict.clone(),
            ));
        }
        rows.push(r);
    }
    table(&mut out, &rows);

    // 4. Cold vs hot.
    out.push_str(
        "## 4. Cold vs hot (`pool-dial-rustls/benches/h2_lease.rs`, group `h2_cold_vs_hot`)\n\n",
    );
    out.push_str(
        "Cold: a new TCP + TLS 1.3 + HTTP/2 connection per request (ECDSA P-256 certificate, \
         X25519), the request, then close — what a client without a pool pays. Hot: the \
         same request through a warm pool lease. Ratio = cold / hot.\n\n",
    );
    let cold = f.ns("h2_cold_vs_hot/cold_new_connection");
    let hot = f.ns("h2_cold_vs_hot/hot_pool_lease");
    let mut r = Row::new("median latency of one request");
    r.hotpool = format!("hot {}", fmt_ns(hot));
    r.peer = format!("cold {}", fmt_ns(cold));
    r.ratio = format!("cold is {}", fmt_ratio(ratio(cold, hot)));
    r.target = "report the ratio".into();
    r.verdict = if cold.is_some() && hot.is_some() {
        "reported".into()
    } else {
        verdict(None)
    };
    table(&mut out, &[r]);

    // 5. Warm-up.
    out.push_str(
        "## 5. Warm-up of 1,611 addresses of one host (`pool-dial-rustls/benches/warmup.rs`)\n\n",
    );
    out.push_str(
        "`Pool::warm` dialing TLS + HTTP/2 to 127.0.1.1 … 127.0.7.87 (one origin in a child \
         process listening on all of them), `warm_concurrency` = 64, open-file limit raised \
         with `setrlimit`. Each round is a fresh pool; medians over rounds. No peer: no \
         other pool warms every address of a host.\n\n",
    );
    let w = |k: &str| f.field("warmup", &[], k);
    let mut r = Row::new("time to warm 1,611 addresses");
    r.hotpool = w("seconds").map_or("no figure".into(), |s| format!("{s:.2} s"));
    r.peer = "—".into();
    r.target = "report per-connection cost".into();
    r.verdict = if w("seconds").is_some() {
        "reported".into()
    } else {
        verdict(None)
    };
    let mut rows = vec![r];
    let mut r = Row::new("per connection: wall time (at 64 in flight) / client CPU");
    r.hotpool = format!(
        "{} / {}",
        fmt_ns(w("us_per_connection").map(|u| u * 1e3)),
        fmt_ns(w("cpu_us_per_connection").map(|u| u * 1e3))
    );
    rows.push(r);
    let mut r = Row::new("connections per second");
    r.hotpool = fmt_rate(w("connections_per_sec"));
    rows.push(r);
    table(&mut out, &rows);

    // 6. Memory.
    memory::render(&mut out, f, 6, &mut summary);

    // 7. Scale.
    out.push_str("## 7. Scale: a cleanup tick with nothing due (`pool-core/benches/scale.rs`)\n\n");
    out.push_str(
        "`PoolState::handle_timeout` + `poll_timeout` on the sans-IO core (fake dialer), \
         1,000 to 100,000 idle connections over 1,000-address hosts. Ratio = the tick at \
         this size / the tick at 1,000 (≈ 1: does not grow with the pool).\n\n",
    );
    let base = f.ns("cleanup_tick_nothing_due/1000");
    let mut rows = Vec::new();
    for n in [1_000u32, 10_000, 100_000] {
        let t = f.ns(&format!("cleanup_tick_nothing_due/{n}"));
        let mut r = Row::new(format!("tick at {n} connections"));
        r.hotpool = fmt_ns(t);
        r.peer = format!("at 1,000: {}", fmt_ns(base));
        r.ratio = fmt_ratio(ratio(t, base));
        if n == 100_000 {
            r.target = "≤ 10 µs, flat".into();
            let met = t
                .zip(ratio(t, base))
                .map(|(t, g)| t <= 10_000.0 && g <= 2.0);
            r.verdict = verdict(met);
            summary.push(("cleanup tick at 100,000".into(), r.verdict.clone()));
        }
        rows.push(r);
    }
    table(&mut out, &rows);

    // 8. Per protocol.
    protocols::render(&mut out, f, 8);
    // 9. Fleet; 10. TLS engines (rustls vs BoringSSL).
    if let Some(v) = fleet::render(&mut out, f, 9) {
        summary.push(("fleet: lease cost, sharing on / off".into(), v));
    }
    protocols::engines::render(&mut out, f, 10);
    realpath::render(&mut out, f, realpath::SECTION, &mut summary);
    proxy::render(&mut out, f, proxy::SECTION, &mut summary);
    for alone in polite::ALL.iter().chain([&fleet_rate::ALONE]) {
        (alone.render)(&mut out, f, alone.section, &mut summary);
    }

    // Summary, placed after the header.
    let mut head = String::from("## Targets at a glance\n\n| target | result |\n|---|---|\n");
    for (name, v) in &summary {
        let _ = writeln!(head, "| {name} | {v} |");
    }
    head.push('\n');
    let at = out.find("## 1.").unwrap_or(out.len());
    out.insert_str(at, &head);

    // Hand-written notes, carried over.
    let previous = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap_or_default();
    match previous.find(NOTES_HEADING) {
        Some(at) => out.push_str(&previous[at..]),
        None => {
            let _ = writeln!(
                out,
                "{NOTES_HEADING}\n\n(none yet: profile every missed target and write what was \
                 found here; `cargo xtask bench` keeps this section.)"
            );
        }
    }
    out
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn date() -> String {
    command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

/// Cores, CPU model and memory from `/proc`, plus the kernel release.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("{cores} cores, {model}, {mem} memory, Linux {kernel}")
}
