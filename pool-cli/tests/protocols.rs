//! `hotpool bench --proto h1|h3` and `hotpool demo --proto h1|auto` run as a user would,
//! against local origins on 127.0.0.x only, each run bounded in time: the figures every
//! protocol must print (requests/s, latency percentiles, reuse, connections) and what the
//! origins saw.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa};
use serde_json::Value;

/// Upper bound of one `hotpool` run (debug build, 2 cores, other tests running).
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Runs `hotpool args...` with a clean environment plus `env`, killed after [`RUN_LIMIT`].
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = common::run_hotpool(args, env, RUN_LIMIT).await;
    assert!(
        out.status.success(),
        "hotpool {args:?}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {text}"))
}

/// The figures `bench --json` must report whatever the protocol, checked for `n` requests
/// that all succeeded over `version` through at most `max_conns` connections.
fn assert_bench_figures(r: &Value, n: u64, version: &str, max_conns: u64) {
    assert_eq!(r["ok"], n, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["statuses"]["200"], n, "{r}");
    assert_eq!(
        r["versions"][version], n,
        "every response over {version}: {r}"
    );
    assert!(r["requests_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    let l = &r["latency"];
    let us = |k: &str| l[k].as_u64().unwrap_or_else(|| panic!("latency.{k}: {r}"));
    assert_eq!(l["count"], n, "{r}");
    assert!(us("p50_us") > 0, "{r}");
    assert!(us("min_us") <= us("p50_us"), "{r}");
    assert!(
        us("p50_us") <= us("p90_us") && us("p90_us") <= us("p99_us"),
        "{r}"
    );
    assert!(us("p99_us") <= us("max_us"), "{r}");
    let dials = r["dials"].as_u64().unwrap();
    assert!(dials >= 1 && dials <= max_conns, "connections opened: {r}");
    assert!(r["leases"].as_u64().unwrap() >= n, "{r}");
    let reuse = r["reuse_rate"].as_f64().unwrap();
    let expected = 1.0 - dials as f64 / r["leases"].as_f64().unwrap();
    assert!(
        (reuse - expected).abs() < 1e-9,
        "reuse = 1 - dials/leases: {r}"
    );
    assert!(reuse >= 0.97, "{r}");
}

/// `bench --proto h1`, `--proto auto` and `--proto h3` against HTTP/1.1-only and HTTP/3
/// origins on the same two addresses, located with `--resolve` and trusted with
/// `--cacert`: each prints its rate, percentiles and reuse; over HTTP/1.1 a concurrency
/// above the exclusive connections allowed is named, with the setting to raise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_over_h1_auto_and_h3_reports_rate_percentiles_and_reuse() {
    let host = "proto.cli.test";
    let ips = [ip(40), ip(41)];
    let ca = Arc::new(TestCa::new().unwrap());
    let h1 = H2Origin::start(H2OriginOptions::h1_only(&ips, &[host], &ca))
        .await
        .unwrap();
    let h3 = H3Origin::start(H3OriginOptions::new(&ips, &[host], &ca))
        .await
        .unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{}-protocols", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let ca_file = ca_file.to_str().unwrap();

    // HTTP/1.1: two exclusive connections per address for 4 requests in flight.
    let port = h1.port();
    let url = format!("https://{host}:{port}/1k");
    let resolve = format!("{host}:{port}:127.0.0.40,127.0.0.41");
    let target = ["--resolve", &resolve, "--cacert", ca_file];
    let mut args = vec!["bench", &url, "--proto", "h1", "-n", "200", "-c", "4"];
    args.extend(target);
    let with_json = [args.as_slice(), &["--json"]].concat();
    let out = run(&with_json, &[("HOTPOOL_POOL__MAX_CONNS_PER_IP", "2")]).await;
    let r = json(&out);
    assert_eq!(r["transport"], "h1", "{r}");
    assert_bench_figures(&r, 200, "HTTP/1.1", 4);
    assert_eq!(r["body_bytes"], 200 * 1024, "{r}");
    assert!(r.get("exclusive_cap").is_none(), "4 connections for 4: {r}");
    let s = h1.stats();
    assert_eq!(s.http1_connections, s.handshakes, "{s:?}");
    assert_eq!(s.handshakes, r["dials"].as_u64().unwrap(), "{s:?} {r}");
    assert!(s.requests >= 200, "{s:?}");

    // The same run at the defaults: HTTP/1.1 gets 6 connections per address (capped by
    // max_conns_per_host 10), so 4 requests in flight are not capped and no note is shown.
    let out = run(&with_json, &[]).await;
    let r = json(&out);
    assert_bench_figures(&r, 200, "HTTP/1.1", 4);
    assert_eq!(r["max_conns_per_ip"], 6, "{r}");
    assert!(r.get("exclusive_cap").is_none(), "{r}");

    // An explicit one connection per address still caps it: the report says why only 2.
    let out = run(&args, &[("HOTPOOL_POOL__MAX_CONNS_PER_IP", "1")]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    for wanted in [
        "over h1: 200 requests, concurrency 4",
        "req/s, 200 ok, 0 errors",
        "protocols      HTTP/1.1: 200",
        "reuse rate     0.99",
        "connections opened)",
        "p50 ",
        "p99 ",
        "HTTP/1.1 connections are exclusive: at most 2 (2 addresses × pool.max_conns_per_ip 1, \
         within pool.max_conns_per_host 10) for 4 requests in flight; raise them (and the \
         limits they must fit), e.g. HOTPOOL_POOL__MAX_CONNS_PER_HOST=4 \
         HOTPOOL_POOL__MAX_CONNS_PER_IP=2 HOTPOOL_POOL__MAX_IDLE_CONNS=4",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing:\n{text}");
    }

    // auto against the HTTP/1.1-only origin: ALPN picks HTTP/1.1; by default auto allows 6
    // per address too (its connections may be exclusive); with an explicit 1 the JSON names
    // the exclusive cap (4 requests in flight on 2 connections).
    let mut auto = args.clone();
    auto[3] = "auto";
    let auto_json = [auto.as_slice(), &["--json"]].concat();
    let r = json(&run(&auto_json, &[]).await);
    assert_eq!(r["transport"], "auto", "{r}");
    assert_bench_figures(&r, 200, "HTTP/1.1", 4);
    assert!(r.get("exclusive_cap").is_none(), "{r}");
    let r = json(&run(&auto_json, &[("HOTPOOL_POOL__MAX_CONNS_PER_IP", "1")]).await);
    assert_bench_figures(&r, 200, "HTTP/1.1", 2);
    assert_eq!(r["exclusive_cap"], 2, "{r}");

    // HTTP/3: one multiplexed connection per address.
    let port = h3.port();
    let url = format!("https://{host}:{port}/1k");
    let resolve = format!("{host}:{port}:127.0.0.40,127.0.0.41");
    let out = run(
        &[
            "bench",
            &url,
            "--proto",
            "h3",
            "-n",
            "200",
            "-c",
            "4",
            "--resolve",
            &resolve,
            "--cacert",
            ca_file,
            "--json",
        ],
        &[],
    )
    .await;
    let r = json(&out);
    assert_eq!(r["transport"], "h3", "{r}");
    assert_bench_figures(&r, 200, "HTTP/3.0", 2);
    assert_eq!(r["connections"], 2, "one per address: {r}");
    assert_eq!(h3.stats().handshakes, 2);
    assert!(h3.stats().requests >= 200);
    h1.shutdown().await;
    h3.shutdown().await;
}

/// The demo's figures that every protocol reports the same way.
fn assert_demo_figures(r: &Value, requests: f64, cold: f64) {
    let f = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{k} not a number: {r}"))
    };
    assert_eq!(f("requests"), requests, "{r}");
    assert_eq!(f("errors"), 0.0, "{r}");
    assert!(f("reuse_rate") >= 0.99, "{r}");
    assert!(
        f("hot_p50_us") < f("cold_p50_us"),
        "hot p50 below cold p50: {r}"
    );
    assert!(f("hot_p50_us") <= f("hot_p99_us"), "{r}");
    assert!(f("hot_requests_per_sec") > 0.0, "{r}");
    assert_eq!(f("cold_samples"), cold, "{r}");
    assert_eq!(
        f("cold_handshakes"),
        cold,
        "one handshake per cold sample: {r}"
    );
    assert!(f("bytes_per_connection") > 0.0, "{r}");
    let per: f64 = r["per_address"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["requests"].as_f64().unwrap())
        .sum();
    assert_eq!(per, requests, "every hot request reached an origin: {r}");
}

/// `demo --proto h1`: HTTP/1.1-only origins; with 4 requests in flight over 2 addresses
/// the built-in config allows 2 exclusive connections per address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_over_http1_reports_cold_vs_hot() {
    let out = run(
        &[
            "demo",
            "--proto",
            "h1",
            "--json",
            "--requests",
            "800",
            "-c",
            "4",
            "--cold",
            "10",
            "--addresses",
            "2",
        ],
        &[],
    )
    .await;
    let r = json(&out);
    assert_eq!(r["transport"], "h1", "{r}");
    assert_demo_figures(&r, 800.0, 10.0);
    let handshakes = r["handshakes"].as_u64().unwrap();
    assert!((2..=4).contains(&handshakes), "2 warm, at most 2 more: {r}");
    assert_eq!(
        r["protocols"],
        serde_json::json!({ "http/1.1": handshakes }),
        "{r}"
    );
    assert!(r["connections"].as_u64().unwrap() <= 4, "{r}");

    // The table a user reads.
    let out = run(
        &[
            "demo",
            "--proto",
            "h1",
            "--requests",
            "200",
            "--cold",
            "5",
            "--addresses",
            "2",
        ],
        &[],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    for wanted in [
        "hotpool demo: h1 to demo.hotpool.test",
        "cold/hot",
        "2 http/1.1",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing:\n{text}");
    }
}

/// `demo --proto auto`: half the addresses speak `h2, http/1.1`, half HTTP/1.1 only; the
/// auto dialer pools each connection as what its origin chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_over_auto_pools_each_connection_as_its_origin_chose() {
    let out = run(
        &[
            "demo",
            "--proto",
            "auto",
            "--json",
            "--requests",
            "800",
            "--cold",
            "8",
            "--addresses",
            "4",
        ],
        &[],
    )
    .await;
    let r = json(&out);
    assert_eq!(r["transport"], "auto", "{r}");
    assert_demo_figures(&r, 800.0, 8.0);
    assert_eq!(r["handshakes"], 4, "one per address: {r}");
    assert_eq!(r["hot_handshakes"], 0, "{r}");
    assert_eq!(r["connections"], 4, "{r}");
    assert_eq!(
        r["protocols"],
        serde_json::json!({ "h2": 2, "http/1.1": 2 }),
        "{r}"
    );
    assert!(
        r["per_address"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["requests"].as_u64().unwrap() > 0),
        "load on every address, h2 and HTTP/1.1 alike: {r}"
    );
}
