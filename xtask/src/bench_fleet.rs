//! The fleet part of `cargo xtask bench`: makes sure `redis-server` is there for
//! `pool-redis/benches/fleet.rs`, and renders that bench's `fleet.jsonl` as a section of
//! `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use super::{Figures, fmt_ns, verdict};

/// The Debian package (and the binary) the fleet bench runs.
const REDIS_PACKAGE: &str = "redis-server";

/// Sharing on may cost at most this much more per lease than sharing off ("within noise").
const LEASE_RATIO_MAX: f64 = 1.10;

/// `redis-server --version`, when it runs.
fn redis_version() -> Option<String> {
    let out = Command::new(REDIS_PACKAGE)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .next()
            .unwrap_or(REDIS_PACKAGE)
            .trim()
            .to_owned(),
    )
}

/// `redis-server`'s version, installing the package first when it is missing.
pub(super) fn ensure_redis() -> String {
    super::protocols::ensure_package(REDIS_PACKAGE, redis_version, "fleet figures")
}

/// The propagation rows in table order: (JSON `scope`, label).
const SCOPES: &[(&str, &str)] = &[
    (
        "processes",
        "ban propagation across processes: pool A's `publish` → pool B (child process) applied it + 1 pipe hop back",
    ),
    (
        "process",
        "ban propagation in one process: pool A's `publish` → pool B applied it",
    ),
];

/// Appends the fleet section (nothing when the bench left no figures). Returns the
/// verdict on the lease cost with sharing on vs off, when there is a figure.
pub(super) fn render(out: &mut String, f: &Figures, section: u32) -> Option<String> {
    let lines = f.lines.get("fleet")?;
    let _ = writeln!(out, "## {section}. Fleet (`pool-redis/benches/fleet.rs`)\n");
    let _ = writeln!(
        out,
        "`cargo bench -p pool-redis --bench fleet`: a real `redis-server` on loopback \
         (pool-testkit's `RedisServer`), pools with an in-memory dialer, a 2-thread runtime. \
         Propagation: pool A bans one address at a time (`RedisFleet::publish`: a key with a \
         TTL + a pub/sub message); pool B, attached to the same Redis, polls \
         `blacklisted(ip)` with a yield until the ban is applied. Across processes the bench \
         re-executes itself as a child holding pool B, which writes one line on a pipe per \
         applied ban; the parent times its publish → that line, so the figure is \"ban \
         applied + 1 pipe hop\" (no clock shared between processes is needed). Lease cost: \
         `get` + drop of a warm lease on a lone pool (sharing off), then on pool B (a \
         `RedisFleet` attached: sharing on), then the lone pool again; nothing on that path \
         waits on Redis, so on / off (off = the mean of both off runs) should be within \
         noise (target ≤ {LEASE_RATIO_MAX:.2}).\n"
    );
    if let Some(why) = lines.iter().find_map(|l| l["skipped"].as_str()) {
        let _ = writeln!(
            out,
            "| measure | result |\n|---|---|\n| fleet bench | skipped: {why} |\n"
        );
        return Some(format!("skipped: {why}"));
    }
    out.push_str("| measure | p50 | p99 | max | bans |\n|---|---|---|---|---|\n");
    for (scope, label) in SCOPES {
        let Some(line) = lines
            .iter()
            .find(|l| l["measure"] == "propagation" && l["scope"] == *scope)
        else {
            continue;
        };
        let ns = |k: &str| line[k].as_f64();
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} |",
            fmt_ns(ns("p50_ns")),
            fmt_ns(ns("p99_ns")),
            fmt_ns(ns("max_ns")),
            line["bans"].as_u64().map_or("?".into(), |b| b.to_string()),
        );
    }
    out.push('\n');
    let lease = lines.iter().find(|l| l["measure"] == "lease");
    let num = |k: &str| lease.and_then(|l| l[k].as_f64());
    let ratio = num("ratio");
    let met = ratio.map(|r| r <= LEASE_RATIO_MAX);
    out.push_str(
        "| `get` + drop of a warm lease | sharing off | sharing on | off again | on / off | target | verdict |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let _ = writeln!(
        out,
        "| ns per lease ({} leases each) | {} | {} | {} | {} | ≤ {LEASE_RATIO_MAX:.2} | {} |\n",
        lease
            .and_then(|l| l["leases"].as_u64())
            .map_or("?".into(), |n| n.to_string()),
        fmt_ns(num("off_ns")),
        fmt_ns(num("on_ns")),
        fmt_ns(num("off_again_ns")),
        ratio.map_or("—".into(), |r| format!("{r:.3}")),
        verdict(met),
    );
    lease.map(|_| verdict(met))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lines: &[&str]) -> Figures {
        let mut f = Figures::default();
        f.lines.insert(
            "fleet".into(),
            lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        );
        f
    }

    #[test]
    fn renders_propagation_across_and_within_processes_and_the_lease_ratio() {
        let f = figures(&[
            r#"{"bench":"fleet","measure":"propagation","scope":"processes","bans":500,"p50_ns":85126,"p99_ns":414585,"max_ns":3665464}"#,
            r#"{"bench":"fleet","measure":"propagation","scope":"process","bans":500,"p50_ns":43851,"p99_ns":2227820,"max_ns":3596134}"#,
            r#"{"bench":"fleet","measure":"lease","leases":200000,"off_ns":168.9,"on_ns":164.7,"off_again_ns":163.9,"ratio":0.9894}"#,
        ]);
        let mut out = String::new();
        let v = render(&mut out, &f, 9);
        assert!(out.starts_with("## 9. Fleet"), "{out}");
        assert!(
            out.contains("`cargo bench -p pool-redis --bench fleet`"),
            "{out}"
        );
        assert!(
            out.contains("+ 1 pipe hop back | 85.13 µs | 414.58 µs | 3.67 ms | 500 |"),
            "{out}"
        );
        assert!(
            out.contains("pool B applied it | 43.85 µs | 2.23 ms | 3.60 ms | 500 |"),
            "{out}"
        );
        assert!(
            out.contains(
                "| ns per lease (200000 leases each) | 169 ns | 165 ns | 164 ns | 0.989 | ≤ 1.10 |"
            ),
            "{out}"
        );
        assert_eq!(v, Some(verdict(Some(true))));
    }

    #[test]
    fn a_lease_ratio_over_the_target_is_missed() {
        let f = figures(&[
            r#"{"bench":"fleet","measure":"lease","leases":10,"off_ns":100,"on_ns":150,"off_again_ns":100,"ratio":1.5}"#,
        ]);
        let mut out = String::new();
        assert_eq!(render(&mut out, &f, 9), Some(verdict(Some(false))));
    }

    #[test]
    fn skipped_without_redis_is_a_clear_row() {
        let f =
            figures(&[r#"{"bench":"fleet","skipped":"redis-server did not start: not found"}"#]);
        let mut out = String::new();
        let v = render(&mut out, &f, 9);
        assert!(
            out.contains("| fleet bench | skipped: redis-server did not start: not found |"),
            "{out}"
        );
        assert_eq!(
            v.as_deref(),
            Some("skipped: redis-server did not start: not found")
        );
    }

    #[test]
    fn no_figures_no_section() {
        let mut out = String::new();
        assert_eq!(render(&mut out, &Figures::default(), 9), None);
        assert!(out.is_empty());
    }
}
