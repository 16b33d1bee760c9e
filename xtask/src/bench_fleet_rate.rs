//! Section 17 of `BENCHMARKS.md`: fleet rate accuracy with four workers
//! (`tests/benches/fleet_rate.rs`), run with the full report or alone with
//! `cargo xtask bench --only fleetrate` (spliced in, `bench_splice.rs`).

use std::fmt::Write as _;

use super::splice::Alone;
use super::{Figures, verdict};

pub(super) const SECTION: u32 = 17;
const HEADING: &str = "## 17. Fleet rate";
/// The prefix of this section's rows in "Targets at a glance".
const SUMMARY_PREFIX: &str = "fleet rate accuracy";
/// The issue's target: the fleet's rate within this share of the configured one.
const TOLERANCE: f64 = 0.10;

/// `cargo bench -p hotpool-tests --bench fleet_rate`.
pub(super) const ARGS: [&str; 5] = ["bench", "-p", "hotpool-tests", "--bench", "fleet_rate"];

/// `--only fleetrate`: this section re-run alone and spliced in.
pub(super) const ALONE: Alone = Alone {
    name: "fleetrate",
    section: SECTION,
    heading: HEADING,
    label: "fleet rate",
    summary_prefix: Some(SUMMARY_PREFIX),
    args: &ARGS,
    render,
    versions,
};

/// The `redis-server` the bench ran.
pub(super) fn versions() -> String {
    super::fleet::ensure_redis()
}

/// Appends the section (nothing without figures) and its rows of "Targets at a glance".
pub(super) fn render(
    out: &mut String,
    f: &Figures,
    section: u32,
    summary: &mut Vec<(String, String)>,
) {
    let Some(lines) = f.lines.get("fleet_rate") else {
        return;
    };
    let _ = writeln!(
        out,
        "## {section}. Fleet rate: four workers sharing a `fleet_rate_limit` (`tests/benches/fleet_rate.rs`)\n"
    );
    let _ = writeln!(
        out,
        "`cargo bench -p hotpool-tests --bench fleet_rate`: four workers (each its own pool, \
         `HostRates` and `pool_redis::RedisRates`: four Redis connections and worker ids, in \
         one process) share one host's `fleet_rate_limit` on a real `redis-server`, each \
         sending 8 requests at a time (`send_polite`, HTTP/2) — far more than the rate. The \
         origin (pool-testkit's `H2Origin`) counts what it answers; the rate is its count \
         over the window, once every worker has leased and knows the four. Leases: Redis \
         round trips in the window (each reserves a batch of the fleet's next slots). Then \
         Redis is killed: each worker falls back to its share (rate ÷ 4) and the window is \
         measured again. Target: within {:.0}% of the rate.\n",
        TOLERANCE * 100.0
    );
    if let Some(why) = lines.iter().find_map(|l| l["skipped"].as_str()) {
        let _ = writeln!(
            out,
            "| measure | result |\n|---|---|\n| fleet rate bench | skipped: {why} |\n"
        );
        summary.push((
            format!("{SUMMARY_PREFIX}, 4 workers"),
            format!("skipped: {why}"),
        ));
        return;
    }
    out.push_str(
        "| fleet rate | Redis | window | requests | origin saw | error | leases | requests per lease | failed | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for line in lines {
        let (Some(phase), Some(rate), Some(per_sec), Some(measured)) = (
            line["phase"].as_str(),
            line["rate"].as_str(),
            line["per_sec"].as_f64(),
            line["measured"].as_f64(),
        ) else {
            continue;
        };
        let error = (measured - per_sec) / per_sec;
        let met = error.abs() <= TOLERANCE;
        let redis = if phase == "redis" {
            "up"
        } else {
            "killed: each on its share"
        };
        let leases = line["leases"].as_u64();
        let granted = line["granted"].as_u64();
        let per_lease = match (leases, granted) {
            (Some(l), Some(g)) if l > 0 => format!("{:.1}", g as f64 / l as f64),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {rate} | {redis} | {:.0} s | {} | {measured:.1}/s | {:+.1}% | {} | {per_lease} | {} | {} |",
            line["seconds"].as_f64().unwrap_or(0.0),
            line["requests"].as_u64().unwrap_or(0),
            error * 100.0,
            leases.map_or("—".into(), |l| l.to_string()),
            line["failed"].as_u64().unwrap_or(0),
            verdict(Some(met)),
        );
        if phase == "redis" {
            summary.push((
                format!("{SUMMARY_PREFIX}, 4 workers at {rate} (±10%)"),
                format!("{} ({:+.1}%)", verdict(Some(met)), error * 100.0),
            ));
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lines: &[&str]) -> Figures {
        let mut f = Figures::default();
        f.lines.insert(
            "fleet_rate".into(),
            lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        );
        f
    }

    #[test]
    fn renders_the_accuracy_with_redis_and_on_the_shares() {
        let f = figures(&[
            r#"{"bench":"fleet_rate","phase":"redis","rate":"150/s","per_sec":150,"workers":4,"seconds":10,"requests":1497,"measured":149.7,"leases":330,"granted":1497,"failed":0}"#,
            r#"{"bench":"fleet_rate","phase":"fallback","rate":"150/s","per_sec":150,"workers":4,"seconds":10,"requests":1800,"measured":180.0,"failed":0}"#,
        ]);
        let (mut out, mut summary) = (String::new(), Vec::new());
        render(&mut out, &f, SECTION, &mut summary);
        assert!(out.starts_with(HEADING), "{out}");
        assert!(
            out.contains(
                "| 150/s | up | 10 s | 1497 | 149.7/s | -0.2% | 330 | 4.5 | 0 | **met** |"
            ),
            "{out}"
        );
        assert!(
            out.contains("| 150/s | killed: each on its share | 10 s | 1800 | 180.0/s | +20.0% | — | — | 0 | **missed** |"),
            "{out}"
        );
        assert_eq!(
            summary,
            [(
                "fleet rate accuracy, 4 workers at 150/s (±10%)".to_owned(),
                "**met** (-0.2%)".to_owned()
            )]
        );
    }

    #[test]
    fn skipped_without_redis_is_a_clear_row() {
        let f = figures(&[r#"{"bench":"fleet_rate","skipped":"redis-server did not start"}"#]);
        let (mut out, mut summary) = (String::new(), Vec::new());
        render(&mut out, &f, SECTION, &mut summary);
        assert!(
            out.contains("| fleet rate bench | skipped: redis-server did not start |"),
            "{out}"
        );
        assert_eq!(summary.len(), 1);
    }

    #[test]
    fn no_figures_no_section() {
        let (mut out, mut summary) = (String::new(), Vec::new());
        render(&mut out, &Figures::default(), SECTION, &mut summary);
        assert!(out.is_empty() && summary.is_empty());
    }
}
