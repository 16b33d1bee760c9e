//! `hotpool bench` against an origin that rate-limits `/limited` (answering 429 above its
//! rate): with `--rate` the requests wait for their slots and the report says how many
//! and how long; without it the report counts the throttles, the retries and the rate
//! cuts, and they match what the origin did.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{json, run_hotpool, stderr, stdout};
use pool_testkit::{H2Origin, H2OriginOptions, OriginRateLimit, TestCa};
use serde_json::Value;

/// Upper bound of a run (debug build, 2 cores, other tests running).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// An HTTP/2 origin on two addresses and a config reaching it.
async fn origin(name: &str, host: &str, ips: [u8; 2]) -> (H2Origin, PathBuf) {
    let ips = ips.map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)));
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips, &[host], &ca))
        .await
        .unwrap();
    let dir = common::temp_dir("cli", name);
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = dir.join("hotpool.toml");
    std::fs::write(
        &config,
        format!(
            r#"[pool]
conn_timeout = "5s"
request_timeout = "60s"

[[hosts]]
name = "{host}"
port = {port}
transport = "h2"
addrs = ["{a}", "{b}"]

[tls]
ca_files = ["ca.pem"]
use_webpki_roots = false
"#,
            port = origin.port(),
            a = ips[0],
            b = ips[1],
        ),
    )
    .unwrap();
    (origin, config)
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_with_a_rate_reports_the_waits_and_stays_under_the_origin_limit() {
    let host = "paced.cli.test";
    let (origin, config) = origin("rate-paced", host, [66, 67]).await;
    // Well above the client's pace, with room for requests bunched up on the way by a
    // busy machine (20 back to back).
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 20,
        ..OriginRateLimit::new(50.0)
    }));
    let url = format!("https://{host}:{}/limited/x", origin.port());
    let config = config.to_str().unwrap();
    let args = [
        "bench", &url, "-n", "40", "-c", "8", "--rate", "20/s", "--config", config,
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = run_hotpool(&with_json, &[], RUN_LIMIT).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["statuses"]["200"], 40, "{r}");
    let counts = origin.rate_limit_counts();
    assert_eq!((counts.passed, counts.refused), (40, 0), "{r}");
    let p = &r["polite"];
    assert_eq!(p["configured_per_sec"].as_f64(), Some(20.0), "{p}");
    // Eight at a time over 20/s: most requests waited for their slot.
    let waits = count(&p["waits"]);
    assert!((20..=40).contains(&waits), "{p}");
    let total = p["wait_total_ms"].as_f64().unwrap();
    let mean = p["wait_mean_ms"].as_f64().unwrap();
    assert!(total > 0.0, "{p}");
    assert!(
        (mean * waits as f64 - total).abs() < 1e-6 * total.max(1.0),
        "{p}"
    );
    // The p99 of the waits lies between their mean and their total.
    let p99 = p["wait_p99_ms"].as_f64().unwrap();
    assert!(p99 >= mean * 0.999 && p99 <= total * 1.001, "{p}");
    assert_eq!(count(&p["rate_limited"]), 0, "{p}");
    assert_eq!(count(&p["throttled"]), 0, "{p}");
    assert_eq!(count(&p["retried"]), 0, "{p}");

    // The text report says it too.
    let out = run_hotpool(&args, &[], RUN_LIMIT).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rate "))
        .unwrap_or_else(|| panic!("no rate line in:\n{text}"));
    assert!(line.contains("20.0/s configured"), "{line}");
    assert!(line.contains("0 refused past their deadline"), "{line}");
    assert!(line.contains(", p99 "), "{line}");
    assert!(
        !text.contains("throttled "),
        "nothing was throttled:\n{text}"
    );
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_without_a_rate_counts_the_throttles_and_retries_the_origin_sent() {
    let host = "throttled.cli.test";
    let (origin, config) = origin("rate-throttled", host, [68, 69]).await;
    origin.set_rate_limit(Some(OriginRateLimit::new(20.0)));
    let url = format!("https://{host}:{}/limited/y", origin.port());
    let config = config.to_str().unwrap();
    let out = run_hotpool(
        &[
            "bench", &url, "-n", "40", "-c", "8", "--config", config, "--json",
        ],
        &[],
        RUN_LIMIT,
    )
    .await;
    let r = json(&out);
    assert_eq!(r["errors"], 0, "{r}\n{}", stderr(&out));
    let counts = origin.rate_limit_counts();
    let p = &r["polite"];
    let throttled = count(&p["throttled"]);
    // Eight at once against a burst of one: the origin refused some, and every 429 it
    // sent was counted.
    assert!(counts.refused > 0, "{counts:?}");
    assert_eq!(throttled, counts.refused, "{p} {counts:?}");
    assert_eq!(count(&r["statuses"]["200"]), counts.passed, "{r}");
    // Each throttling answer was either sent again or returned as the final answer.
    let final_429 = count(&r["statuses"]["429"]);
    assert_eq!(throttled, count(&p["retried"]) + final_429, "{r}");
    // By status and by reason: all 429s, as the origin answers.
    assert_eq!(
        p["throttled_by_status"],
        serde_json::json!({ "429": throttled }),
        "{p}"
    );
    let retried = count(&p["retried"]);
    let by_reason = if retried == 0 {
        serde_json::json!({})
    } else {
        serde_json::json!({ "429": retried })
    };
    assert_eq!(p["retried_by_reason"], by_reason, "{p}");
    assert!(count(&p["budget_exhausted"]) <= final_429, "{p}");
    // No rate was configured: the throttles cut the host's rate.
    assert!(p["configured_per_sec"].is_null(), "{p}");
    assert!(count(&p["rate_cuts"]) >= 1, "{p}");
    assert!(p["current_per_sec"].as_f64().is_some(), "{p}");
    origin.shutdown().await;
}
