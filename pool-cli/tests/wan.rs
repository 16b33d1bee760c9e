//! `--rtt`: the `hotpool` binary run as a user would, its origins (demo) or its target
//! (`get`) behind a `WanRelay` on loopback. What is asserted are lower bounds the relay
//! imposes (a request cannot finish before its round trips), never a speed.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::{H2Origin, H2OriginOptions, TestCa};
use serde_json::Value;

/// Upper bound of one `hotpool` run (debug build, 2 cores, other tests running).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The round trip every test asks for, in milliseconds.
const RTT_MS: u64 = 20;

/// Runs `hotpool args...` with a clean environment, killing it after [`RUN_LIMIT`].
async fn run(args: &[&str]) -> Output {
    common::run_hotpool(args, &[], RUN_LIMIT).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(out: &Output) -> Value {
    let stdout = succeeded(out);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

/// `demo --rtt 20ms --json` for `proto`: the RTT is reported, every hot request takes at
/// least one round trip and every cold one at least two (the TLS 1.3 or QUIC handshake,
/// then the request).
async fn demo_json_at_rtt(proto: &str) {
    let rtt = format!("{RTT_MS}ms");
    let out = run(&[
        "demo",
        "--json",
        "--proto",
        proto,
        "--rtt",
        &rtt,
        "--requests",
        "40",
        "-c",
        "4",
        "--cold",
        "5",
        "--addresses",
        "2",
    ])
    .await;
    let report = json(&out);
    assert_eq!(report["rtt_ms"].as_f64(), Some(RTT_MS as f64), "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let us = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {report}"))
    };
    assert!(us("hot_p50_us") >= RTT_MS * 1000, "{report}");
    assert!(us("cold_p50_us") >= 2 * RTT_MS * 1000, "{report}");
    assert!(us("cold_p99_us") >= us("cold_p50_us"), "{report}");
    // The per-address rows name the origins behind the relay, with the pool's
    // connections mapped onto them.
    let rows = report["per_address"].as_array().expect("per_address");
    assert_eq!(rows.len(), 2, "{report}");
    for row in rows {
        assert!(row["connections"].as_u64() >= Some(1), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_h2_at_rtt_reports_cold_and_hot_above_the_round_trips() {
    demo_json_at_rtt("h2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_h3_at_rtt_goes_through_the_relay_over_udp() {
    demo_json_at_rtt("h3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_at_rtt_prints_the_round_trip_with_cold_and_hot() {
    let rtt = format!("{RTT_MS}ms");
    let out = run(&[
        "demo",
        "--rtt",
        &rtt,
        "--requests",
        "20",
        "--cold",
        "3",
        "--addresses",
        "2",
    ])
    .await;
    let stdout = succeeded(&out);
    assert!(
        stdout.contains(&format!("path: RTT {RTT_MS}ms through a WAN relay")),
        "{stdout}"
    );
    let line = |label: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line: {stdout}"))
            .to_owned()
    };
    assert!(line("cold ").contains("new connection"), "{stdout}");
    assert!(line("hot ").contains("pooled connection"), "{stdout}");
    assert!(line("cold/hot").contains('x'), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_at_rtt_goes_through_the_relay_to_the_resolved_address() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 41));
    let origin = H2Origin::start(H2OriginOptions::new(&[origin_ip], &["rtt.cli.test"], &ca))
        .await
        .unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let port = origin.port();
    let url = format!("https://rtt.cli.test:{port}/hello");
    let resolve = format!("rtt.cli.test:{port}:{origin_ip}");
    let rtt = format!("{RTT_MS}ms");
    let out = run(&[
        "get",
        &url,
        "--resolve",
        &resolve,
        "--cacert",
        ca_file.to_str().unwrap(),
        "--rtt",
        &rtt,
        "--json",
    ])
    .await;
    let report = json(&out);
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(
        report["body_bytes"],
        "hello from hotpool\n".len(),
        "{report}"
    );
    // A new connection (TLS handshake) and the request: two round trips at least.
    let ms = report["elapsed_ms"].as_f64().expect("elapsed_ms");
    assert!(ms >= 2.0 * RTT_MS as f64, "{report}");
    assert!(
        text(&out.stderr).contains("through a WAN relay on 127.0.77.1"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(origin.stats_for(origin_ip).map(|s| s.requests), Some(1));
    origin.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
