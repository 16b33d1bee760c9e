//! Sections 13–16 of `BENCHMARKS.md` (issues 27 and 28), each runnable alone with
//! `cargo xtask bench --only NAME` and spliced into the report (`bench_splice.rs`):
//!
//! - 13, `rate`: the per-host rate limiter's cost per request (`pool-core/benches/rate.rs`,
//!   criterion);
//! - 14, `adapt`: the time the adaptation takes to meet a server's rate limit, against the
//!   testkit origin's `/limited` route (`hotpool/benches/adapt.rs`, `adapt.jsonl`);
//! - 15, `client`: `hotpool::Client`'s overhead per request over the bare pool, same origin,
//!   same run (`hotpool/benches/client_overhead.rs`, criterion);
//! - 16, `decode`: decompression throughput per coding (`pool-http/benches/decode.rs`,
//!   criterion).

use std::fmt::Write as _;

use super::splice::Alone;
use super::{Figures, fmt_ns, ratio, verdict};

/// Criterion's settings of these sections (the full run's).
macro_rules! criterion_args {
    ($package:literal, $bench:literal) => {
        &[
            "bench",
            "-p",
            $package,
            "--bench",
            $bench,
            "--",
            "--warm-up-time",
            "3",
            "--measurement-time",
            "8",
        ]
    };
}

/// Every section of this file, in report order.
pub(super) const ALL: [Alone; 4] = [RATE, ADAPT, CLIENT, DECODE];

/// Section 13: the limiter's cost.
pub(super) const RATE: Alone = Alone {
    name: "rate",
    section: 13,
    heading: "## 13. Rate limiter",
    label: "rate limiter",
    summary_prefix: Some("rate limiter"),
    args: criterion_args!("pool-core", "rate"),
    render: render_rate,
    versions: criterion_medians,
};

/// Section 14: the adaptation's time to a server's limit.
pub(super) const ADAPT: Alone = Alone {
    name: "adapt",
    section: 14,
    heading: "## 14. Adaptation",
    label: "adaptation",
    summary_prefix: Some("adaptation"),
    args: &["bench", "-p", "hotpool", "--bench", "adapt"],
    render: render_adapt,
    versions: testkit_origin,
};

/// Section 15: the client's overhead over the bare pool.
pub(super) const CLIENT: Alone = Alone {
    name: "client",
    section: 15,
    heading: "## 15. Client overhead",
    label: "client overhead",
    summary_prefix: Some("client overhead"),
    args: criterion_args!("hotpool", "client_overhead"),
    render: render_client,
    versions: criterion_medians,
};

/// Section 16: decompression throughput.
pub(super) const DECODE: Alone = Alone {
    name: "decode",
    section: 16,
    heading: "## 16. Decompression",
    label: "decompression",
    summary_prefix: Some("decompression"),
    args: criterion_args!("pool-http", "decode"),
    render: render_decode,
    versions: criterion_medians,
};

fn criterion_medians() -> String {
    "criterion medians".to_owned()
}

fn testkit_origin() -> String {
    "the testkit's HTTP/2 origin in the bench process".to_owned()
}

/// 13: the decision alone, with the mutex and clock read, and a warm get + release
/// without and with the limiter in front.
fn render_rate(out: &mut String, f: &Figures, section: u32, summary: &mut Vec<(String, String)>) {
    let decide = f.ns("rate/decide_fake_clock");
    let locked = f.ns("rate/mutex_clock_decide");
    let none = f.ns("get_release/no_limiter");
    let with = f.ns("get_release/with_limiter");
    if [decide, locked, none, with].iter().all(Option::is_none) {
        return;
    }
    let _ = writeln!(
        out,
        "## {section}. Rate limiter: cost per request (`pool-core/benches/rate.rs`)\n"
    );
    out.push_str(
        "`pool_core::HostRate` (GCRA, sans-IO) at a rate high enough that no request waits: \
         the cost, not the pacing. The decision alone on a fake clock; with a mutex and a \
         clock read, as `pool_http::HostRates::acquire` takes it; and a warm get + release \
         of an in-memory pool (current-thread runtime) without and with that in front.\n\n",
    );
    out.push_str("| measure | median |\n|---|---|\n");
    let _ = writeln!(out, "| decision alone (fake clock) | {} |", fmt_ns(decide));
    let _ = writeln!(
        out,
        "| decision + mutex + clock read (what a request pays) | {} |",
        fmt_ns(locked)
    );
    let _ = writeln!(out, "| get + release, no limiter | {} |", fmt_ns(none));
    let _ = writeln!(
        out,
        "| get + release, limiter in front | {} |",
        fmt_ns(with)
    );
    let added = with.zip(none).map(|(w, n)| w - n);
    let _ = writeln!(
        out,
        "| **added by the limiter per request** | **{}** ({} of the bare get + release) |\n",
        added.map_or("no figure".into(), signed_time),
        ratio(with, none).map_or("—".into(), |r| format!("{:.2}×", r)),
    );
    summary.push((
        "rate limiter: cost per request reported".into(),
        if added.is_some() {
            "reported".into()
        } else {
            verdict(None)
        },
    ));
}

/// 14: the adaptation against a rate-limited origin.
fn render_adapt(out: &mut String, f: &Figures, section: u32, summary: &mut Vec<(String, String)>) {
    let Some(line) = f.line("adapt", &[]) else {
        return;
    };
    let num = |k: &str| line[k].as_f64();
    let limit = num("limit_per_sec").unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "## {section}. Adaptation: time to meet a server's rate limit (`hotpool/benches/adapt.rs`)\n"
    );
    let _ = writeln!(
        out,
        "Measured against a real server, not simulated: the testkit's HTTP/2 origin (in the \
         bench process) limits `/limited/…` to {limit:.0} requests/s (token bucket, burst \
         {}, 429 above it: `OriginRateLimit`); a default `hotpool::Client` (no configured \
         rate; adaptation and status retries on) crawls it with {} workers sending back to \
         back for {:.0} s. \"Met\": the first time the host's adapted rate \
         (`HostRates::stats`, sampled every 5 ms) is at or under the limit, from the first \
         request. Medians over {} rounds (a fresh client each).\n",
        line["burst"],
        line["workers"],
        num("run_ms").unwrap_or(0.0) / 1e3,
        line["rounds"],
    );
    let met = num("met_ms");
    let met_rounds = line["met_rounds"].as_u64().unwrap_or(0);
    let rounds = line["rounds"].as_u64().unwrap_or(0);
    out.push_str("| measure | median |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| time until the adapted rate meets the limit | {} (met in {met_rounds} of {rounds} rounds) |",
        met.map_or("never".into(), |ms| format!("{ms:.0} ms"))
    );
    let count = |k: &str| num(k).map_or("no figure".into(), |v| format!("{v:.0}"));
    let _ = writeln!(
        out,
        "| 429s the server sent until then | {} |",
        count("refused_until_met")
    );
    let _ = writeln!(
        out,
        "| 429s over the run / pages served (200) | {} / {} |",
        count("refused"),
        count("passed")
    );
    let share = num("served_last_second").map(|r| r / limit);
    let _ = writeln!(
        out,
        "| rate served over the run's last second | {}/s: {} of the limit ({limit:.0}/s) |",
        count("served_last_second"),
        share.map_or("—".into(), |s| format!("{:.0} %", s * 100.0)),
    );
    let _ = writeln!(
        out,
        "| adapted rate at the end | {}/s |\n",
        count("final_rate")
    );
    if share.is_some_and(|s| s < 0.8) {
        let _ = writeln!(
            out,
            "Below the limit, not at it: the first throttle starts pacing at half the rate \
             sent over the last 1–2 s (at least 100 ms of it), and the adaptation then grows \
             by 5 requests/s per second (`Adaptation::default()`), so after the cut the host \
             is crawled at {} of what it allows for a while (at +5/s per second, tens of \
             seconds to climb back). Polite, but slow to use the room it has.\n",
            share.map_or("—".into(), |s| format!("{:.0} %", s * 100.0)),
        );
    }
    let ok = met.map(|ms| ms <= 500.0 && met_rounds == rounds);
    let _ = writeln!(
        out,
        "Target (issue 28): a host limiting at 200 requests/s is met within a few hundred \
         milliseconds (≤ 500 ms here, in every round): {}.\n",
        verdict(ok)
    );
    summary.push((
        "adaptation: a 200/s limit met within 500 ms".into(),
        verdict(ok),
    ));
}

/// 15: the client over the bare pool.
fn render_client(out: &mut String, f: &Figures, section: u32, summary: &mut Vec<(String, String)>) {
    let pool = f.ns("client_overhead/pool_lease_request");
    let client = f.ns("client_overhead/client_get");
    if pool.is_none() && client.is_none() {
        return;
    }
    let _ = writeln!(
        out,
        "## {section}. Client overhead: `hotpool::Client` over the bare pool (`hotpool/benches/client_overhead.rs`)\n"
    );
    out.push_str(
        "One GET of the testkit's HTTP/2 origin on 127.0.0.2 (same process, 2-thread \
         runtime), one at a time, both in one run: through a warm `Pool<H2Dialer>` lease \
         and `pool_http`'s `lease.request`, and through a `hotpool::Client` whose host is \
         already started (`client.get(url).send()`: URL parsing, the host table, the polite \
         layer's rate lookup, `Accept-Encoding` and the decoder's pass-through, the redirect \
         check). Both read the whole body.\n\n",
    );
    out.push_str("| measure | median |\n|---|---|\n");
    let _ = writeln!(out, "| bare pool: lease + request | {} |", fmt_ns(pool));
    let _ = writeln!(out, "| `hotpool::Client::get` | {} |", fmt_ns(client));
    let added = client.zip(pool).map(|(c, p)| c - p);
    let _ = writeln!(
        out,
        "| **added by the client per request** | **{}** ({}) |\n",
        added.map_or("no figure".into(), signed_time),
        ratio(client, pool).map_or("—".into(), |r| format!("{r:.2}× the bare pool's")),
    );
    summary.push((
        "client overhead over the bare pool reported".into(),
        if added.is_some() {
            "reported".into()
        } else {
            verdict(None)
        },
    ));
}

/// The bench's content: 8 MiB of text (`pool-http/benches/decode.rs`, `content()`).
const DECODED_BYTES: f64 = (8u64 << 20) as f64;

/// 16: decoded MB/s per coding.
fn render_decode(out: &mut String, f: &Figures, section: u32, summary: &mut Vec<(String, String)>) {
    let codings = ["gzip", "deflate", "br", "zstd"];
    let times: Vec<Option<f64>> = codings
        .iter()
        .map(|c| f.ns(&format!("decode/{c}")))
        .collect();
    if times.iter().all(Option::is_none) {
        return;
    }
    let _ = writeln!(
        out,
        "## {section}. Decompression: decoded throughput per coding (`pool-http/benches/decode.rs`)\n"
    );
    out.push_str(
        "`pool_http::Decoded` (the decoder `hotpool::Client` puts on every response body) \
         over 8 MiB of page-like text held in memory, handed over in 16 KiB frames as a \
         transport does; no I/O, one thread. MB/s = decoded bytes (10^6) per second.\n\n",
    );
    out.push_str("| coding | time for 8 MiB | decoded MB/s |\n|---|---|---|\n");
    for (coding, ns) in codings.iter().zip(&times) {
        let mbs = ns.map(|ns| DECODED_BYTES / ns * 1e9 / 1e6);
        let _ = writeln!(
            out,
            "| {coding} | {} | {} |",
            fmt_ns(*ns),
            mbs.map_or("no figure".into(), |m| format!("{m:.0}"))
        );
    }
    out.push('\n');
    summary.push((
        "decompression throughput reported".into(),
        if times.iter().all(Option::is_some) {
            "reported".into()
        } else {
            verdict(None)
        },
    ));
}

/// A time difference with its sign, in the unit [`fmt_ns`] picks (`+132 ns`, `+17.50 µs`).
fn signed_time(ns: f64) -> String {
    let sign = if ns < 0.0 { "-" } else { "+" };
    format!("{sign}{}", fmt_ns(Some(ns.abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adaptation_verdict_needs_every_round_within_500_ms() {
        let mut f = Figures::default();
        f.lines.insert(
            "adapt".into(),
            vec![serde_json::from_str(
                r#"{"limit_per_sec":200,"burst":10,"workers":16,"run_ms":3000,"rounds":5,"met_rounds":5,"met_ms":310.0,"refused_until_met":40,"refused":60,"passed":600,"served_last_second":190.0,"final_rate":180.0}"#,
            )
            .unwrap()],
        );
        let (mut out, mut summary) = (String::new(), Vec::new());
        render_adapt(&mut out, &f, 14, &mut summary);
        assert!(out.starts_with(ADAPT.heading), "{out}");
        assert!(
            out.contains(
                "| time until the adapted rate meets the limit | 310 ms (met in 5 of 5 rounds) |"
            ),
            "{out}"
        );
        assert_eq!(summary[0].1, "**met**");

        f.lines.get_mut("adapt").unwrap()[0]["met_rounds"] = 4.into();
        let (mut out, mut summary) = (String::new(), Vec::new());
        render_adapt(&mut out, &f, 14, &mut summary);
        assert_eq!(summary[0].1, "**missed**");
    }

    #[test]
    fn decoded_megabytes_per_second() {
        let mut f = Figures::default();
        // 8 MiB in 10 ms: 838.9 MB/s.
        f.criterion.insert("decode/zstd".into(), 1e7);
        let (mut out, mut summary) = (String::new(), Vec::new());
        render_decode(&mut out, &f, 16, &mut summary);
        assert!(out.starts_with(DECODE.heading), "{out}");
        assert!(out.contains("| zstd | 10.00 ms | 839 |"), "{out}");
        assert!(out.contains("| gzip | no figure | no figure |"), "{out}");
        assert_eq!(summary[0].1, "no figure");
    }

    #[test]
    fn sections_without_figures_render_nothing() {
        let f = Figures::default();
        for alone in ALL {
            let (mut out, mut summary) = (String::new(), Vec::new());
            (alone.render)(&mut out, &f, alone.section, &mut summary);
            assert!(out.is_empty() && summary.is_empty(), "{}", alone.name);
        }
    }
}
