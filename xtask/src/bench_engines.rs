//! The TLS-engine part of `cargo xtask bench`: renders `pool-dial-boring/benches/engines.rs`'s
//! `engines.jsonl` (rustls vs BoringSSL with the Chrome profile, both HTTP/2 on the same
//! origin) as a section of `BENCHMARKS.md`. Reached through `bench_protocols.rs` (bench.rs
//! is at the file-size limit).

use std::fmt::Write as _;

use super::super::{Figures, Target, fmt_bytes, fmt_ns, fmt_ratio};

/// The bench this section reads (run after the others).
pub(in super::super) const TARGETS: &[Target] = &[Target {
    package: "pool-dial-boring",
    bench: "engines",
    criterion: false,
}];

/// Appends the engines section (nothing when the bench left no figures).
pub(in super::super) fn render(out: &mut String, f: &Figures, section: u32) {
    let Some(lines) = f.lines.get("engines") else {
        return;
    };
    let by = |e: &str| lines.iter().find(|l| l["engine"] == e);
    let first = lines.first();
    let get = |k: &str| {
        first
            .and_then(|l| l[k].as_u64())
            .map_or("?".into(), |v| v.to_string())
    };
    let _ = writeln!(
        out,
        "## {section}. TLS engines: rustls vs BoringSSL (`pool-dial-boring/benches/engines.rs`)\n"
    );
    let _ = writeln!(
        out,
        "Both HTTP/2 on the testkit origin in a child process: `pool_dial_rustls::H2Dialer` (rustls, \
         ring) and `pool_dial_boring::BoringDialer` with the Chrome profile (BoringSSL, `http2`). \
         Handshake = one dial (TCP + TLS + HTTP/2 handshake + one PING), {} sequential dials, \
         p50/p99. CPU per request = client `getrusage` over a round of {} GETs of `/1k` at {} \
         in flight on one warm connection / requests, median of {} rounds. Memory = client \
         heap per idle connection with {} connections warm (counting allocator). Ratio: \
         boring / rustls (> 1: BoringSSL costs more).\n",
        get("dials"),
        get("requests"),
        get("concurrency"),
        get("rounds"),
        get("idle_connections"),
    );
    out.push_str(
        "| engine | profile | handshake p50 | handshake p99 | CPU per request | heap per idle connection |\n\
         |---|---|---|---|---|---|\n",
    );
    let num = |l: &serde_json::Value, k: &str| l[k].as_f64();
    for engine in ["rustls", "boring"] {
        let Some(l) = by(engine) else { continue };
        let _ = writeln!(
            out,
            "| {engine} | {} | {} | {} | {} | {} |",
            l["profile"].as_str().unwrap_or("?"),
            fmt_ns(num(l, "handshake_p50_us").map(|us| us * 1e3)),
            fmt_ns(num(l, "handshake_p99_us").map(|us| us * 1e3)),
            fmt_ns(num(l, "cpu_ns_per_request")),
            fmt_bytes(num(l, "bytes_per_idle_connection")),
        );
    }
    if let (Some(r), Some(b)) = (by("rustls"), by("boring")) {
        let ratio = |k: &str| {
            fmt_ratio(
                num(b, k)
                    .zip(num(r, k))
                    .filter(|(_, r)| *r > 0.0)
                    .map(|(b, r)| b / r),
            )
        };
        let _ = writeln!(
            out,
            "| boring / rustls | | {} | {} | {} | {} |",
            ratio("handshake_p50_us"),
            ratio("handshake_p99_us"),
            ratio("cpu_ns_per_request"),
            ratio("bytes_per_idle_connection"),
        );
    }
    out.push('\n');
}
