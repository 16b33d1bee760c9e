//! The per-protocol part of `cargo xtask bench`: makes sure `h2load` (Debian package
//! `nghttp2-client`) is there for `pool-dial-rustls/benches/protocols.rs`, and renders that
//! bench's `protocols.jsonl` as a section of `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use super::{Figures, fmt_ns, fmt_rate};

/// The TLS-engine bench's target and section (rustls vs BoringSSL): declared here because
/// bench.rs is at the file-size limit.
#[path = "bench_engines.rs"]
pub(super) mod engines;

/// The Debian package that has `h2load`.
const H2LOAD_PACKAGE: &str = "nghttp2-client";

/// `h2load --version`'s first line, when it runs.
fn h2load_version() -> Option<String> {
    let out = Command::new("h2load")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next().unwrap_or("h2load").trim().to_owned())
}

/// `apt-get ARGS` without questions; whether it succeeded.
fn apt_get(args: &[&str]) -> bool {
    Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the Debian `package` with apt-get when `version()` finds its program missing
/// (once more after `apt-get update` if the first try fails). Returns the line for the
/// report's header: the version in use, or why `skipped` (e.g. "h2load rows") are skipped.
pub(super) fn ensure_package(
    package: &str,
    version: impl Fn() -> Option<String>,
    skipped: &str,
) -> String {
    if let Some(version) = version() {
        return version;
    }
    eprintln!("xtask: a program is missing; installing {package} with apt-get");
    let install = ["install", "-y", "--no-install-recommends", package];
    if !apt_get(&install) {
        let _ = apt_get(&["update"]);
        let _ = apt_get(&install);
    }
    match version() {
        Some(version) => format!("{version} (installed by this run: {package})"),
        None => {
            eprintln!("xtask: could not install {package}; the {skipped} are skipped");
            format!("not installed (apt-get install {package} failed): {skipped} skipped")
        }
    }
}

/// `h2load`'s version line, installing nghttp2-client first when it is missing.
pub(super) fn ensure_h2load() -> String {
    ensure_package(H2LOAD_PACKAGE, h2load_version, "h2load rows")
}

/// The clients in table order: (JSON `client`, label, the hotpool client it is the peer
/// of, if it is a peer).
const ROWS: &[(&str, &str, Option<&str>)] = &[
    ("hotpool_h1", "hotpool `H1Dialer`", None),
    ("reqwest_h1", "reqwest, HTTP/1.1 only", Some("hotpool_h1")),
    ("h2load_h1", "h2load `--h1`, 64 clients", Some("hotpool_h1")),
    ("hotpool_h2", "hotpool `H2Dialer`", None),
    ("reqwest_h2", "reqwest, HTTP/2", Some("hotpool_h2")),
    (
        "h2load_h2",
        "h2load, 1 client × 64 streams",
        Some("hotpool_h2"),
    ),
    ("hotpool_auto", "hotpool `HttpsDialer` (auto)", None),
    ("hotpool_h3", "hotpool `QuicDialer`", None),
    (
        "raw_h3",
        "raw h3 (one h3-quinn connection)",
        Some("hotpool_h3"),
    ),
];

/// The peer the auto row is compared with: what auto negotiates with this origin.
const AUTO_PEER: &str = "reqwest_h2";

/// Appends the per-protocol section (nothing when the bench left no figures).
pub(super) fn render(out: &mut String, f: &Figures, section: u32) {
    let Some(lines) = f.lines.get("protocols") else {
        return;
    };
    let by_client = |c: &str| lines.iter().find(|l| l["client"] == c);
    let num = |c: &str, k: &str| by_client(c).and_then(|l| l[k].as_f64());
    let first = lines.first();
    let per_round = first.and_then(|l| l["requests_per_round"].as_u64());
    let rounds = first.and_then(|l| l["rounds"].as_u64());
    let _ = writeln!(
        out,
        "## {section}. Per protocol: hotpool and its peers on the same origin (`pool-dial-rustls/benches/protocols.rs`)\n"
    );
    let _ = writeln!(
        out,
        "GET `/1k` (1 KiB body), {} requests in flight, one address (127.0.1.1: the testkit's \
         TLS origin with ALPN `h2, http/1.1` on one TCP port, its HTTP/3 origin on one UDP \
         port) in a child process; a 2-thread client runtime; {} rounds of {} requests per \
         client, clients alternating, after one warm-up round. Requests/s and client CPU per \
         request (`getrusage`; for h2load, its own process) are medians over the rounds, \
         p50/p99 over every request; connections = TLS handshakes the origin saw for the \
         client over the whole run (QUIC: the client's own count, the pool's dials or the one \
         raw connection; reuse = 1 − connections / requests). HTTP/1.1 is exclusive, so \
         every HTTP/1.1 client opens about one connection per request in flight (hotpool: \
         `max_conns_per_ip` = 64; reqwest may open more when a request finds no idle \
         connection). reqwest over HTTP/2 learns that the origin speaks HTTP/2 only from the \
         first handshake's ALPN, so the first burst dials one connection per request. \
         h2load opens its connections anew each round: its rate runs from its first request \
         to its last response, its CPU includes the handshakes. Ratios: \
         hotpool's rate / the peer's (> 1: hotpool faster), hotpool's CPU / the peer's (< 1: \
         hotpool cheaper).\n",
        first
            .and_then(|l| l["concurrency"].as_u64())
            .map_or("?".into(), |c| c.to_string()),
        rounds.map_or("?".into(), |r| r.to_string()),
        per_round.map_or("?".into(), |n| n.to_string()),
    );
    out.push_str(
        "| protocol | client | requests/s | p50 | p99 | connections (reuse) | CPU per request | hotpool / peer: rate, CPU |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let total = per_round.zip(rounds).map(|(n, r)| (n * (r + 1)) as f64);
    for (client, label, peer_of) in ROWS {
        let Some(line) = by_client(client) else {
            continue;
        };
        let protocol = line["protocol"].as_str().unwrap_or("?");
        if let Some(why) = line["skipped"].as_str() {
            let _ = writeln!(
                out,
                "| {protocol} | {label} | skipped: {why} | — | — | — | — | — |"
            );
            continue;
        }
        let us = |k: &str| num(client, k).map(|u| u * 1e3);
        let conns = num(client, "connections");
        let reuse = conns
            .zip(total)
            .map_or("—".into(), |(c, t)| format!("{:.4}", 1.0 - c / t));
        let compare = |hot: &str, peer: &str| {
            let r = |k: &str| match (num(hot, k), num(peer, k)) {
                (Some(h), Some(p)) if p > 0.0 => format!("{:.2}×", h / p),
                _ => "—".into(),
            };
            format!("{}, {}", r("requests_per_sec"), r("cpu_ns_per_request"))
        };
        let ratio = match (peer_of, *client) {
            (Some(hot), _) => compare(hot, client),
            (None, "hotpool_auto") => format!(
                "vs reqwest HTTP/2: {}{}",
                compare(client, AUTO_PEER),
                line["negotiated"]
                    .as_str()
                    .map_or(String::new(), |p| format!(" (auto chose {p})"))
            ),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {protocol} | {label} | {} | {} | {} | {} ({reuse}) | {} | {ratio} |",
            fmt_rate(num(client, "requests_per_sec")),
            fmt_ns(us("p50_us")),
            fmt_ns(us("p99_us")),
            conns.map_or("—".into(), |c| format!("{c:.0}")),
            fmt_ns(num(client, "cpu_ns_per_request")),
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lines: &[&str]) -> Figures {
        let mut f = Figures::default();
        f.lines.insert(
            "protocols".into(),
            lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        );
        f
    }

    #[test]
    fn renders_ratios_against_the_peer_of_the_same_protocol_and_skipped_rows() {
        let head = r#""bench":"protocols","concurrency":64,"requests_per_round":1000,"rounds":1"#;
        let f = figures(&[
            &format!(
                r#"{{{head},"client":"hotpool_h1","protocol":"h1","requests_per_sec":20000,"p50_us":3000,"p99_us":9000,"cpu_ns_per_request":40000,"connections":64}}"#
            ),
            &format!(
                r#"{{{head},"client":"reqwest_h1","protocol":"h1","requests_per_sec":10000,"p50_us":6000,"p99_us":12000,"cpu_ns_per_request":80000,"connections":64}}"#
            ),
            &format!(
                r#"{{{head},"client":"h2load_h1","protocol":"h1","skipped":"h2load not installed"}}"#
            ),
        ]);
        let mut out = String::new();
        render(&mut out, &f, 8);
        assert!(out.starts_with("## 8. Per protocol"), "{out}");
        assert!(
            out.contains(
                "| h1 | hotpool `H1Dialer` | 20.0 k/s | 3.00 ms | 9.00 ms | 64 (0.9680) | 40.00 µs | — |"
            ),
            "{out}"
        );
        assert!(
            out.contains("| h1 | reqwest, HTTP/1.1 only | 10.0 k/s | 6.00 ms | 12.00 ms | 64 (0.9680) | 80.00 µs | 2.00×, 0.50× |"),
            "{out}"
        );
        assert!(
            out.contains("| h1 | h2load `--h1`, 64 clients | skipped: h2load not installed |"),
            "{out}"
        );
    }

    #[test]
    fn no_figures_no_section() {
        let mut out = String::new();
        render(&mut out, &Figures::default(), 8);
        assert!(out.is_empty());
    }
}
