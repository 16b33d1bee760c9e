//! The real-path part of `cargo xtask bench` (issue 23): runs `tests/benches/realpath.rs`
//! (every dialer and its peers behind a `WanRelay`, RTT 0–150 ms) and renders its
//! `realpath.jsonl` as a section of `BENCHMARKS.md`, with a met/missed verdict per target
//! at every RTT ≥ 10 ms.
//!
//! `cargo xtask bench --only realpath [--quick] [--no-write]` runs this bench alone and
//! splices its section into the existing `BENCHMARKS.md` (`bench_splice.rs`).

use std::fmt::Write as _;

use serde_json::Value;

use super::splice::Alone;
use super::{Figures, Row, fmt_rate, fmt_ratio, table, verdict};

/// The section's number and heading prefix.
pub(super) const SECTION: u32 = 11;
const HEADING: &str = "## 11. Real path";
/// The prefix of this section's rows in "Targets at a glance".
const SUMMARY_PREFIX: &str = "real path";

/// `--only realpath`: this section re-run alone and spliced in.
pub(super) const ALONE: Alone = Alone {
    name: "realpath",
    section: SECTION,
    heading: HEADING,
    label: "real path",
    summary_prefix: Some(SUMMARY_PREFIX),
    args: &ARGS,
    render,
    versions: peers,
};

/// `cargo bench -p hotpool-tests --bench realpath`: its own invocation (the tests crate's
/// features differ from the other benches' set; cargo keeps both builds).
pub(super) const ARGS: [&str; 5] = ["bench", "-p", "hotpool-tests", "--bench", "realpath"];

/// The program versions for the header.
pub(super) fn peers() -> String {
    let curl = super::command_line("curl", &["--version"]);
    let curl = curl.lines().next().unwrap_or("unknown").to_owned();
    format!("curl: {curl}; h2load as above")
}

/// The clients in column order: (JSON `client`, column label).
const COLUMNS: &[(&str, &str)] = &[
    ("hotpool_h1", "hotpool h1"),
    ("h2load_h1", "h2load `--h1`"),
    ("reqwest_h1", "reqwest h1"),
    ("hotpool_h2", "hotpool h2"),
    ("h2load_h2", "h2load h2"),
    ("curl_h2", "curl h2"),
    ("reqwest_h2", "reqwest h2"),
    ("boring_h2", "boring h2"),
    ("hotpool_h3", "hotpool h3"),
];

/// The workloads in row order: (JSON `workload`, label).
const WORKLOADS: &[(&str, &str)] = &[
    ("100k", "100 KB × 64"),
    ("20m", "one 20 MB body"),
    ("1k", "1 KB × 64"),
];

/// One cell's figure as the table shows it: req/s, or seconds for the 20 MB body, with
/// errors and connections when there are any.
fn figure(l: &Value) -> String {
    if let Some(why) = l["skipped"].as_str() {
        return format!("skipped ({why})");
    }
    let mut s = if l["workload"] == "20m" {
        match (l["ok"].as_u64(), l["seconds"].as_f64()) {
            (Some(1), Some(secs)) => format!("{secs:.2} s"),
            _ => "failed".into(),
        }
    } else {
        fmt_rate(l["requests_per_sec"].as_f64())
    };
    if let Some(total) = l["total_seconds"].as_f64() {
        let _ = write!(s, " ({total:.2} s with connect)");
    }
    if l["client"] == "hotpool_h1" || l["client"] == "h2load_h1" {
        if let Some(c) = l["connections"].as_u64() {
            let _ = write!(s, ", {c} conn.");
        }
    }
    if let Some(e) = l["errors"].as_u64().filter(|e| *e > 0) {
        let _ = write!(s, ", **{e} errors**");
    }
    s
}

/// A cell's value for a comparison: req/s, or for the 20 MB body its seconds; `None`
/// when skipped, failed or with errors.
fn value(l: Option<&Value>) -> Option<f64> {
    let l = l?;
    if l.get("skipped").is_some() || l["errors"].as_u64().unwrap_or(0) > 0 {
        return None;
    }
    if l["workload"] == "20m" {
        (l["ok"].as_u64() == Some(1)).then(|| l["seconds"].as_f64())?
    } else {
        l["requests_per_sec"].as_f64().filter(|r| *r > 0.0)
    }
}

/// Whether a cell ran (not skipped) and had errors: a failed or late request.
fn failed(l: Option<&Value>) -> bool {
    l.is_some_and(|l| l.get("skipped").is_none() && l["errors"].as_u64().unwrap_or(0) > 0)
}

/// One target: hotpool's client against a peer on a workload, `higher` when a larger
/// value is better (rates) and `bound` the ratio hotpool / peer must reach (or stay under).
struct Goal {
    name: &'static str,
    hot: &'static str,
    peer: &'static str,
    peer_label: &'static str,
    workload: &'static str,
    higher: bool,
    bound: f64,
}

const GOALS: &[Goal] = &[
    Goal {
        name: "h2 vs h2load, 100 KB × 64",
        hot: "hotpool_h2",
        peer: "h2load_h2",
        peer_label: "h2load",
        workload: "100k",
        higher: true,
        bound: 0.9,
    },
    Goal {
        name: "h2, one 20 MB body vs curl",
        hot: "hotpool_h2",
        peer: "curl_h2",
        peer_label: "curl --http2 (transfer)",
        workload: "20m",
        higher: false,
        bound: 1.2,
    },
    Goal {
        name: "h1 (default limits) vs h2load --h1, 100 KB × 64",
        hot: "hotpool_h1",
        peer: "h2load_h1",
        peer_label: "h2load --h1",
        workload: "100k",
        higher: true,
        bound: 0.8,
    },
    Goal {
        name: "h1 (default limits) vs h2load --h1, 1 KB × 64",
        hot: "hotpool_h1",
        peer: "h2load_h1",
        peer_label: "h2load --h1",
        workload: "1k",
        higher: true,
        bound: 0.8,
    },
    Goal {
        name: "h3 vs h2, 100 KB × 64",
        hot: "hotpool_h3",
        peer: "hotpool_h2",
        peer_label: "hotpool h2",
        workload: "100k",
        higher: true,
        bound: 0.9,
    },
    Goal {
        name: "h3 vs h2, 1 KB × 64",
        hot: "hotpool_h3",
        peer: "hotpool_h2",
        peer_label: "hotpool h2",
        workload: "1k",
        higher: true,
        bound: 0.9,
    },
];

/// Appends the real-path section (nothing when the bench left no figures) and pushes its
/// rows of "Targets at a glance".
pub(super) fn render(
    out: &mut String,
    f: &Figures,
    section: u32,
    summary: &mut Vec<(String, String)>,
) {
    let Some(lines) = f.lines.get("realpath") else {
        return;
    };
    let cells: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "cell").collect();
    let find = |rtt: u64, w: &str, c: &str| {
        cells
            .iter()
            .copied()
            .find(|l| l["rtt_ms"].as_u64() == Some(rtt) && l["workload"] == w && l["client"] == c)
    };
    let mut rtts: Vec<u64> = cells.iter().filter_map(|l| l["rtt_ms"].as_u64()).collect();
    rtts.sort_unstable();
    rtts.dedup();
    let _ = writeln!(
        out,
        "## {section}. Real path: every dialer and its peers behind a WAN relay (`tests/benches/realpath.rs`)\n"
    );
    out.push_str(
        "One process: the testkit's TLS origin (ALPN `h2, http/1.1`) and HTTP/3 origin on \
         127.0.1.1, behind `pool_testkit::WanRelay` (TCP front 127.0.30.1, UDP front \
         127.0.30.2) on a 2-thread servers' runtime; hotpool and reqwest on a 2-thread \
         clients' runtime; h2load and curl as child processes on the same fronts. Each row \
         sets the relay's RTT; clients take turns cell by cell. hotpool: a `Pool` with \
         the **defaults** a config or CLI user gets for the protocol \
         (`Config::pool_options_for`: 6 connections per address for HTTP/1.1, 1 for h2 \
         and h3) and each dialer's default options, warmed once and kept across rows (hot); h2load and curl dial anew, their figures exclude their \
         handshakes (h2load: first request → last response from its log; curl: \
         `time_total − time_pretransfer`, its whole time in brackets). h2load `--h1` uses as \
         many clients as hotpool's HTTP/1.1 pool had connections after its cell of the \
         row (its default limit). Each cell sends a fixed number of requests (fewer at \
         higher RTT), starts none after its time budget; a failed or late request is an \
         error. Caveat (`docs/wan-relay.md`): the relay terminates TCP on loopback, so \
         TCP's own windows and slow start see no delay (HTTP/2's flow control and every \
         request's round trip do; a new TCP connection pays the path's handshake RTT), \
         while QUIC's datagrams carry the whole RTT into quinn's congestion control: a \
         real path's TCP would pay slow start too, so HTTP/1.1 and curl/h1-like single \
         streams look better here than on a real path.\n\n",
    );
    // The matrix.
    out.push_str("| RTT | workload |");
    for (_, label) in COLUMNS {
        let _ = write!(out, " {label} |");
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(COLUMNS.len()));
    out.push('\n');
    for &rtt in &rtts {
        for (w, label) in WORKLOADS {
            let _ = write!(out, "| {rtt} ms | {label} |");
            for (c, _) in COLUMNS {
                let cell = find(rtt, w, c).map_or_else(|| "—".into(), figure);
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
    }
    out.push('\n');
    // The targets, at every RTT >= 10 ms.
    let mut rows = Vec::new();
    for goal in GOALS {
        let mut all_met = Some(true);
        for &rtt in rtts.iter().filter(|r| **r >= 10) {
            let hot = value(find(rtt, goal.workload, goal.hot));
            let peer = value(find(rtt, goal.workload, goal.peer));
            let shown = |v: Option<f64>, l: Option<&Value>| match (v, goal.workload) {
                (None, _) if failed(l) => l.map_or_else(String::new, figure),
                (None, _) => "no figure".to_owned(),
                (Some(s), "20m") => format!("{s:.2} s"),
                (Some(r), _) => fmt_rate(Some(r)),
            };
            let ratio = super::ratio(hot, peer);
            let met = match ratio {
                Some(r) => Some(if goal.higher {
                    r >= goal.bound
                } else {
                    r <= goal.bound
                }),
                // hotpool ran and failed (errors, a timeout) where the peer has a figure.
                None if peer.is_some() && failed(find(rtt, goal.workload, goal.hot)) => Some(false),
                None => None,
            };
            all_met = match (all_met, met) {
                (Some(a), Some(m)) => Some(a && m),
                _ => None,
            };
            let mut r = Row::new(format!("RTT {rtt} ms: {}", goal.name));
            r.hotpool = shown(hot, find(rtt, goal.workload, goal.hot));
            r.peer = format!(
                "{} {}",
                goal.peer_label,
                shown(peer, find(rtt, goal.workload, goal.peer))
            );
            r.ratio = fmt_ratio(ratio);
            r.target = format!("{} {}×", if goal.higher { "≥" } else { "≤" }, goal.bound);
            r.verdict = verdict(met);
            rows.push(r);
        }
        summary.push((format!("{SUMMARY_PREFIX}: {}", goal.name), verdict(all_met)));
    }
    table(out, &rows);
    // The warm-up row.
    if let Some(w) = lines.iter().find(|l| l["kind"] == "warm") {
        let n = w["addresses"].as_u64().unwrap_or(0);
        let rtt = w["rtt_ms"].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "Warm-up of {n} addresses at RTT {rtt} ms: a relay with {n} fronts (127.0.40.1 …), \
             each to the same origin address; `Pool::warm` of a fresh `H2Dialer` pool \
             (default options, `warm_concurrency` = {}, room for every address) over every \
             front, next to `h2load -n {n} -c {n} -m 1 -t 2` against one front: h2load opens \
             {n} connections at once and sends one request on each (its whole run, process \
             start included). Ratio = hotpool's time / h2load's.\n",
            w["warm_concurrency"].as_u64().unwrap_or(0),
        );
        let hot = w["hotpool_seconds"].as_f64();
        let peer = w["h2load_seconds"].as_f64();
        let mut r = Row::new(format!("warm {n} addresses at RTT {rtt} ms"));
        r.hotpool = match (hot, w["warmed"].as_u64()) {
            (Some(s), Some(k)) => format!("{s:.2} s ({k} connected)"),
            _ => w["skipped"].as_str().unwrap_or("no figure").to_owned(),
        };
        r.peer = match (peer, w["h2load_succeeded"].as_u64()) {
            (Some(s), Some(k)) => format!("h2load {s:.2} s ({k} requests succeeded)"),
            _ => w["h2load_skipped"]
                .as_str()
                .unwrap_or("no figure")
                .to_owned(),
        };
        r.ratio = fmt_ratio(super::ratio(hot, peer));
        r.target = "report".into();
        r.verdict = if hot.is_some() {
            "reported".into()
        } else {
            verdict(None)
        };
        table(out, &[r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lines: &[String]) -> Figures {
        let mut f = Figures::default();
        f.lines.insert(
            "realpath".into(),
            lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        );
        f
    }

    fn cell(rtt: u64, w: &str, client: &str, rps: f64, secs: f64) -> String {
        format!(
            r#"{{"kind":"cell","rtt_ms":{rtt},"workload":"{w}","client":"{client}","ok":1,"errors":0,"requests_per_sec":{rps},"seconds":{secs},"connections":6}}"#
        )
    }

    #[test]
    fn verdicts_per_rtt_and_summary() {
        let f = figures(&[
            cell(0, "100k", "hotpool_h2", 10.0, 1.0),
            cell(0, "100k", "h2load_h2", 1000.0, 1.0),
            cell(50, "100k", "hotpool_h2", 950.0, 1.0),
            cell(50, "100k", "h2load_h2", 1000.0, 1.0),
            cell(50, "20m", "hotpool_h2", 0.0, 0.5),
            cell(50, "20m", "curl_h2", 0.0, 0.2),
            cell(10, "20m", "curl_h2", 0.0, 0.2),
            cell(10, "100k", "hotpool_h2", 990.0, 1.0),
            cell(10, "100k", "h2load_h2", 1000.0, 1.0),
            r#"{"kind":"cell","rtt_ms":10,"workload":"20m","client":"hotpool_h2","ok":0,"errors":1,"seconds":30.0}"#.into(),
            r#"{"kind":"warm","rtt_ms":50,"addresses":1611,"warm_concurrency":64,"warmed":1611,"hotpool_seconds":3.0,"h2load_seconds":1.5,"h2load_succeeded":1611}"#.into(),
        ]);
        let mut out = String::new();
        let mut summary = Vec::new();
        render(&mut out, &f, SECTION, &mut summary);
        assert!(out.starts_with(HEADING), "{out}");
        assert!(
            out.contains("| RTT 50 ms: h2 vs h2load, 100 KB × 64 | 950/s | h2load 1.0 k/s | 0.95× | ≥ 0.9× | **met** |"),
            "{out}"
        );
        assert!(
            out.contains("| RTT 50 ms: h2, one 20 MB body vs curl | 0.50 s | curl --http2 (transfer) 0.20 s | 2.50× | ≤ 1.2× | **missed** |"),
            "{out}"
        );
        assert!(
            !out.contains("RTT 0 ms: h2 vs"),
            "RTT 0 has no target: {out}"
        );
        assert!(
            out.contains("| RTT 10 ms: h2, one 20 MB body vs curl | failed, **1 errors** | curl --http2 (transfer) 0.20 s | — | ≤ 1.2× | **missed** |"),
            "a timeout is a miss: {out}"
        );
        assert!(
            out.contains("| warm 1611 addresses at RTT 50 ms | 3.00 s (1611 connected) |"),
            "{out}"
        );
        assert_eq!(summary[0].1, "**met**");
        assert_eq!(summary[1].1, "**missed**");
        assert_eq!(summary[2].1, "no figure");
    }
}
