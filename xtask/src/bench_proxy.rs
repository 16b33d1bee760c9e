//! The proxies part of `cargo xtask bench` (issue 26): runs `tests/benches/proxy.rs`
//! (requests and dials direct, through squid's HTTP CONNECT and through microsocks' and
//! Dante's SOCKS5, on loopback and behind a 50 ms `WanRelay`) and renders its
//! `proxy.jsonl` as a section of `BENCHMARKS.md`: figures per route, ratios against direct,
//! and a few generated lines saying what they show.
//!
//! `cargo xtask bench --only proxy [--quick] [--no-write]` runs this bench alone and splices
//! its section into the existing `BENCHMARKS.md` (`bench_splice.rs`).

use std::fmt::Write as _;

use serde_json::Value;

use super::splice::Alone;
use super::{Figures, fmt_ns, fmt_rate, fmt_ratio, ratio, verdict};

/// The section's number.
pub(super) const SECTION: u32 = 12;
const HEADING: &str = "## 12. Proxies";
/// The prefix of this section's row in "Targets at a glance".
const SUMMARY_PREFIX: &str = "proxies";

/// `cargo bench -p hotpool-tests --bench proxy` (the tests crate's build, as the real path).
pub(super) const ARGS: [&str; 5] = ["bench", "-p", "hotpool-tests", "--bench", "proxy"];

/// `--only proxy`: this section re-run alone and spliced in.
pub(super) const ALONE: Alone = Alone {
    name: "proxy",
    section: SECTION,
    heading: HEADING,
    label: "proxies",
    summary_prefix: Some(SUMMARY_PREFIX),
    args: &ARGS,
    render,
    versions,
};

/// The proxies' versions for the header.
pub(super) fn versions() -> String {
    let squid = super::command_line("squid", &["-v"]);
    let squid = squid.lines().next().unwrap_or("unknown").to_owned();
    let debian =
        |package: &str| super::command_line("dpkg-query", &["-W", "-f=${Version}", package]);
    format!(
        "{squid}; microsocks (Debian) {}; dante-server (Debian) {}",
        debian("microsocks"),
        debian("dante-server")
    )
}

/// The routes in column order: (JSON `route`, column label).
const ROUTES: &[(&str, &str)] = &[
    ("direct", "direct"),
    ("squid", "squid (HTTP CONNECT)"),
    ("microsocks", "microsocks (SOCKS5)"),
    ("dante", "Dante (SOCKS5, no login)"),
];

/// What a row shows of a cell.
#[derive(Clone, Copy)]
enum Measure {
    /// Requests (or dials) per second.
    Rate,
    /// Client CPU per request (or dial).
    Cpu,
    /// Median latency of a request (or dial).
    P50,
    /// The client's context switches per request (or dial).
    Switches,
}

/// The loopback rows: (cell, measure, label).
const ROWS: &[(&str, Measure, &str)] = &[
    (
        "h2_64",
        Measure::Rate,
        "h2, 64 streams on one connection: requests/s",
    ),
    (
        "h2_64",
        Measure::Cpu,
        "h2, 64 streams: client CPU per request",
    ),
    (
        "h2_64",
        Measure::Switches,
        "h2, 64 streams: client context switches per request",
    ),
    (
        "h2_1",
        Measure::P50,
        "h2, one request at a time: median latency",
    ),
    (
        "h2_1",
        Measure::Cpu,
        "h2, one at a time: client CPU per request",
    ),
    (
        "h1_6",
        Measure::Rate,
        "h1, 6 connections, 6 in flight: requests/s",
    ),
    (
        "h1_6",
        Measure::Cpu,
        "h1, 6 connections: client CPU per request",
    ),
    (
        "h1_6",
        Measure::Switches,
        "h1, 6 connections: client context switches per request",
    ),
    (
        "dial",
        Measure::P50,
        "dial (TCP + proxy step + TLS 1.3 + h2): median time",
    ),
    ("dial", Measure::Cpu, "dial: client CPU per dial"),
];

/// A cell's value for `measure` in ns (CPU, latency) or per second (rate); `None` when
/// skipped, failed, or absent.
fn value(cell: Option<&Value>, measure: Measure) -> Option<f64> {
    let cell = cell?;
    if cell.get("skipped").is_some() || cell["errors"].as_u64().unwrap_or(0) > 0 {
        return None;
    }
    match measure {
        Measure::Rate => cell["per_sec"].as_f64(),
        Measure::Cpu => cell["cpu_ns"].as_f64(),
        Measure::P50 => cell["p50_us"].as_f64().map(|us| us * 1e3),
        Measure::Switches => cell["switches"].as_f64(),
    }
}

/// A cell as the table shows it.
fn shown(cell: Option<&Value>, measure: Measure) -> String {
    match cell {
        None => "—".into(),
        Some(c) if c.get("skipped").is_some() => {
            format!("skipped ({})", c["skipped"].as_str().unwrap_or("?"))
        }
        Some(c) if c["errors"].as_u64().unwrap_or(0) > 0 => {
            format!("**{} errors**", c["errors"])
        }
        Some(_) => match measure {
            Measure::Rate => fmt_rate(value(cell, measure)),
            Measure::Switches => {
                value(cell, measure).map_or("no figure".into(), |v| format!("{v:.2}"))
            }
            _ => fmt_ns(value(cell, measure)),
        },
    }
}

/// Appends the proxies section (nothing when the bench left no figures) and pushes its row
/// of "Targets at a glance".
pub(super) fn render(
    out: &mut String,
    f: &Figures,
    section: u32,
    summary: &mut Vec<(String, String)>,
) {
    let Some(lines) = f.lines.get("proxy") else {
        return;
    };
    let find = |kind: &str, cell: &str, route: &str| {
        lines
            .iter()
            .find(|l| l["kind"] == kind && l["cell"] == cell && l["route"] == route)
    };
    let rounds = lines.iter().find_map(|l| l["rounds"].as_u64()).unwrap_or(0);
    let _ = writeln!(
        out,
        "## {section}. Proxies: requests and dials through squid, microsocks and Dante vs direct (`tests/benches/proxy.rs`)\n"
    );
    out.push_str(
        "One origin (the testkit's rustls + HTTP/2 origin, ALPN `h2, http/1.1`, on \
         127.0.1.1) in a child process; Debian's squid (HTTP `CONNECT ip:port`, Basic auth), \
         microsocks (SOCKS5, username/password) and Dante (SOCKS5, no login) in theirs, on \
         127.0.0.1; the client on a \
         2-thread runtime in the bench process, so the CPU figures \
         (`getrusage(RUSAGE_SELF)`) are the client's alone — the proxy's own CPU is not in \
         them; nor in the client's context switches per request (its threads' \
         `ctxt_switches` in `/proc/self/task/*/status`: how often they slept and woke). The same dialers (`H2Dialer`, `H1Dialer`, rustls) with `TlsOptions::proxy` \
         set or not; pools warmed before measuring (one h2 connection, six h1 ones). A dial \
         is `H2Dialer::dial` back to back, each connection dropped at once (TLS resumed \
         with the previous dial's ticket, as a re-dial is). Routes take turns cell by cell \
         within each round; ",
    );
    let _ = write!(
        out,
        "figures are medians over {rounds} rounds. Ratios are the route's figure / direct's \
         (rate < 1: slower; CPU and time > 1: costlier). \
         On this shared 2-core machine the loopback rates through a proxy moved by up to a \
         quarter from one run to the next (client, origin and proxy share the cores); the \
         round trips of the WAN rows are the stable figures.\n\n"
    );
    // The loopback table.
    out.push_str("| loopback |");
    for (i, (_, label)) in ROUTES.iter().enumerate() {
        let _ = write!(out, " {label} |");
        if i > 0 {
            out.push_str(" ratio |");
        }
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(2 * ROUTES.len() - 1));
    out.push('\n');
    for (cell, measure, label) in ROWS {
        let direct = find("cell", cell, "direct");
        let _ = write!(out, "| {label} |");
        for (i, (route, _)) in ROUTES.iter().enumerate() {
            let c = find("cell", cell, route);
            let _ = write!(out, " {} |", shown(c, *measure));
            if i > 0 {
                let r = ratio(value(c, *measure), value(direct, *measure));
                let _ = write!(out, " {} |", fmt_ratio(r));
            }
        }
        out.push('\n');
    }
    out.push('\n');
    // The WAN table.
    let rtt = lines
        .iter()
        .find_map(|l| (l["kind"] == "wan").then(|| l["rtt_ms"].as_u64())?);
    let mut warm_adds_no_rtt = None;
    if let Some(rtt) = rtt {
        let rtt_ns = rtt as f64 * 1e6;
        let _ = writeln!(
            out,
            "Behind a `WanRelay` at RTT {rtt} ms, the proxy on the relay's far side (client → \
             relay → proxy → origin, the proxy next to the origin): median of a dial, and of \
             a warm h2 request sent one at a time. \"+RTT\" is (route − direct) / RTT: the \
             round trips the route adds.\n"
        );
        out.push_str(&format!("| RTT {rtt} ms |"));
        for (i, (_, label)) in ROUTES.iter().enumerate() {
            let _ = write!(out, " {label} |");
            if i > 0 {
                out.push_str(" +RTT |");
            }
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(2 * ROUTES.len() - 1));
        out.push('\n');
        for (cell, label) in [
            ("wan_dial", "dial (TCP + proxy step + TLS 1.3 + h2)"),
            ("wan_h2_1", "warm h2 request"),
        ] {
            let direct = value(find("wan", cell, "direct"), Measure::P50);
            let _ = write!(out, "| {label} |");
            let mut all_within = Some(true);
            for (i, (route, _)) in ROUTES.iter().enumerate() {
                let c = find("wan", cell, route);
                let _ = write!(out, " {} |", shown(c, Measure::P50));
                if i > 0 {
                    let added = value(c, Measure::P50)
                        .zip(direct)
                        .map(|(v, d)| (v - d) / rtt_ns);
                    let _ = write!(
                        out,
                        " {} |",
                        added.map_or_else(|| "—".into(), |a| format!("{a:+.1}"))
                    );
                    all_within = match (all_within, added) {
                        (Some(ok), Some(a)) => Some(ok && a < 0.25),
                        _ => None,
                    };
                }
            }
            out.push('\n');
            if cell == "wan_h2_1" {
                warm_adds_no_rtt = all_within;
            }
        }
        out.push('\n');
    }
    summary.push((
        format!("{SUMMARY_PREFIX}: a warm request through a proxy adds no round trip"),
        verdict(warm_adds_no_rtt),
    ));
    // What the figures say, generated from them.
    reading(out, &find, rtt);
}

/// A few lines saying what the figures show, written from them (so they stay true when the
/// section is re-run).
fn reading<'a>(
    out: &mut String,
    find: &dyn Fn(&str, &str, &str) -> Option<&'a Value>,
    rtt: Option<u64>,
) {
    let pct = |cell: &str, route: &str, m: Measure| {
        ratio(
            value(find("cell", cell, route), m),
            value(find("cell", cell, "direct"), m),
        )
    };
    // One figure per proxy, "a / b / c" in column order ("—" where a route has none).
    let each = |f: &dyn Fn(&str) -> Option<String>| -> String {
        ROUTES[1..]
            .iter()
            .map(|(route, _)| f(route).unwrap_or_else(|| "—".into()))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let names = ROUTES[1..]
        .iter()
        .map(|(route, _)| *route)
        .collect::<Vec<_>>()
        .join(" / ");
    let percent = |cell: &'static str, m: Measure| {
        each(&move |route: &str| pct(cell, route, m).map(|r| format!("{:.0} %", r * 100.0)))
    };
    let times = |cell: &'static str, m: Measure| {
        each(&move |route: &str| pct(cell, route, m).map(|r| fmt_ratio(Some(r))))
    };
    let mut said = Vec::new();
    if value(find("cell", "h2_64", "direct"), Measure::Rate).is_some() {
        let hop = each(&|route: &str| {
            let p = value(find("cell", "h2_1", route), Measure::P50)?;
            let d = value(find("cell", "h2_1", "direct"), Measure::P50)?;
            Some(format!("+{}", fmt_ns(Some(p - d))))
        });
        said.push(format!(
            "- Warm, on loopback, through {names}: a pool runs at {} of direct's h2 rate (64 \
             streams) and {} of its h1 rate (6 connections), at {} (h2) and {} (h1) the \
             client's CPU per request; one request at a time pays the proxy's hop: {}.",
            percent("h2_64", Measure::Rate),
            percent("h1_6", Measure::Rate),
            times("h2_64", Measure::Cpu),
            times("h1_6", Measure::Cpu),
            hop,
        ));
        said.push(format!(
            "- The client handles the same requests and TLS records on every route (the \
             tunnel carries them unchanged); what a proxy changes for it is how the bytes \
             arrive, in more or fewer pieces: its context switches per request are {} of \
             direct's on h2, {} on h1.",
            times("h2_64", Measure::Switches),
            times("h1_6", Measure::Switches),
        ));
    }
    let p50 = |kind: &str, cell: &str, route: &str| value(find(kind, cell, route), Measure::P50);
    if let Some(direct) = p50("cell", "dial", "direct") {
        let through: Vec<String> = ROUTES[1..]
            .iter()
            .filter_map(|(route, label)| {
                let v = p50("cell", "dial", route)?;
                Some(format!("{label} {}", fmt_ratio(Some(v / direct))))
            })
            .collect();
        said.push(format!(
            "- A dial on loopback takes {} direct; through {}.",
            fmt_ns(Some(direct)),
            through.join(", ")
        ));
    }
    if let (Some(rtt), Some(dial), Some(warm)) = (
        rtt,
        p50("wan", "wan_dial", "direct"),
        p50("wan", "wan_h2_1", "direct"),
    ) {
        let rtts = |ns: f64| ns / (rtt as f64 * 1e6);
        let through = |cell: &str| -> Vec<String> {
            ROUTES[1..]
                .iter()
                .filter_map(|(route, label)| {
                    Some(format!("{label} {:.1}", rtts(p50("wan", cell, route)?)))
                })
                .collect()
        };
        said.push(format!(
            "- At RTT {rtt} ms a proxy's cost is round trips, paid when dialing: a dial takes \
             {:.1} RTT direct, through {} (the proxy step is one round trip for CONNECT; for \
             SOCKS5 two, greeting and connect, three with a login, each awaiting its reply); a \
             warm request takes {:.1} RTT direct, through {}.",
            rtts(dial),
            through("wan_dial").join(", "),
            rtts(warm),
            through("wan_h2_1").join(", "),
        ));
    }
    if find("cell", "h2_64", "microsocks").is_some_and(|c| c.get("skipped").is_none()) {
        said.push(
            "- microsocks sets no `TCP_NODELAY` on its sockets (seen with `strace`), so a small \
             write it relays can wait for the peer's delayed ACK (40 ms): its h2 rate at 64 \
             streams, its dial time on loopback and its p99 (`proxy.jsonl`) are that proxy's \
             stalls, not the client's."
                .to_owned(),
        );
    }
    for line in said {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lines: &[&str]) -> Figures {
        let mut f = Figures::default();
        f.lines.insert(
            "proxy".into(),
            lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        );
        f
    }

    fn cell(cell: &str, route: &str, per_sec: f64, cpu_ns: f64, p50_us: f64) -> String {
        format!(
            r#"{{"kind":"cell","cell":"{cell}","route":"{route}","rounds":5,"per_sec":{per_sec},"cpu_ns":{cpu_ns},"switches":1.5,"p50_us":{p50_us},"p99_us":1,"errors":0}}"#
        )
    }

    fn wan(cell: &str, route: &str, p50_us: f64) -> String {
        format!(
            r#"{{"kind":"wan","cell":"{cell}","route":"{route}","rtt_ms":50,"p50_us":{p50_us},"p99_us":1,"errors":0}}"#
        )
    }

    #[test]
    fn ratios_round_trips_and_the_verdict() {
        let lines = [
            cell("h2_64", "direct", 80_000.0, 10_000.0, 700.0),
            cell("h2_64", "squid", 40_000.0, 12_000.0, 1_400.0),
            cell("h1_6", "direct", 20_000.0, 20_000.0, 300.0),
            cell("h1_6", "squid", 10_000.0, 22_000.0, 600.0),
            cell("h2_1", "direct", 8_000.0, 30_000.0, 100.0),
            cell("h2_1", "squid", 5_000.0, 31_000.0, 150.0),
            cell("dial", "direct", 1_000.0, 500_000.0, 800.0),
            cell("dial", "squid", 600.0, 550_000.0, 1_200.0),
            r#"{"kind":"cell","cell":"h2_64","route":"microsocks","skipped":"not installed"}"#
                .into(),
            wan("wan_dial", "direct", 100_000.0),
            wan("wan_dial", "squid", 150_000.0),
            wan("wan_h2_1", "direct", 50_500.0),
            wan("wan_h2_1", "squid", 51_000.0),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let f = figures(&refs);
        let mut out = String::new();
        let mut summary = Vec::new();
        render(&mut out, &f, SECTION, &mut summary);
        assert!(out.starts_with(HEADING), "{out}");
        assert!(
            out.contains("| h2, 64 streams on one connection: requests/s | 80.0 k/s | 40.0 k/s | 0.50× | skipped (not installed) | — |"),
            "{out}"
        );
        assert!(
            out.contains(
                "| dial (TCP + proxy step + TLS 1.3 + h2) | 100.00 ms | 150.00 ms | +1.0 |"
            ),
            "{out}"
        );
        assert!(
            out.contains("| warm h2 request | 50.50 ms | 51.00 ms | +0.0 |"),
            "{out}"
        );
        assert!(
            out.contains(
                "| h2, 64 streams: client context switches per request | 1.50 | 1.50 | 1.00× |"
            ),
            "{out}"
        );
        assert!(
            out.contains("a pool runs at 50 % / — / — of direct's h2 rate"),
            "{out}"
        );
        assert!(
            out.contains("a dial takes 2.0 RTT direct, through squid (HTTP CONNECT) 3.0 (the"),
            "{out}"
        );
        assert!(
            out.contains("a warm request takes 1.0 RTT direct, through squid (HTTP CONNECT) 1.0."),
            "{out}"
        );
        assert!(
            !out.contains("TCP_NODELAY"),
            "microsocks did not run: {out}"
        );
        // microsocks has no WAN figure: no verdict.
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].1, "no figure");
    }
}
