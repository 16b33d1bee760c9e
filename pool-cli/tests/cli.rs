//! End-to-end tests of the `hotpool` binary: the built executable is run as a user would,
//! against local servers on 127.0.0.x only (`pool_testkit`), each run bounded in time.
//!
//! These live in `pool-cli/tests/` rather than in the workspace `tests` crate because
//! `CARGO_BIN_EXE_hotpool` (the path of the built binary, and cargo building it before the
//! tests) is only provided to integration tests of the package that defines the binary.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::Arc;

use common::{RUN_LIMIT, hotpool_command, json, run_hotpool, stderr, stdout};
use pool_testkit::{DnsFamily, DnsMode, DnsServer, H2Origin, H2OriginOptions, TestCa};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Runs `hotpool args...` to completion with a clean environment, killed after
/// [`RUN_LIMIT`].
async fn run(args: &[&str]) -> Output {
    run_hotpool(args, &[], RUN_LIMIT).await
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("cli", name)
}

/// A local TLS/h2 origin for `host` on `ips` and a DNS server answering `host` with them,
/// plus a config file pointing the CLI at both.
struct Site {
    origin: H2Origin,
    dns: DnsServer,
    config: PathBuf,
}

impl Site {
    async fn start(name: &str, host: &str, ips: &[IpAddr]) -> Site {
        let ca = Arc::new(TestCa::new().unwrap());
        let origin = H2Origin::start(H2OriginOptions::new(ips, &[host], &ca))
            .await
            .unwrap();
        let dns = DnsServer::start_zone("cli.test").await.unwrap();
        dns.set_addrs(host, ips, 60).await.unwrap();
        let dir = temp_dir(name);
        ca.write_ca_pem(dir.join("ca.pem")).unwrap();
        let config = dir.join("hotpool.toml");
        std::fs::write(
            &config,
            format!(
                r#"[pool]
conn_timeout = "5s"
checkout_timeout = "5s"

[[hosts]]
name = "{host}"
port = {port}
transport = "h2"

[dns]
name_servers = ["{dns}"]
timeout = "2s"

[tls]
ca_files = ["ca.pem"]          # relative to this file
use_webpki_roots = false
"#,
                port = origin.port(),
                dns = dns.addr(),
            ),
        )
        .unwrap();
        Site {
            origin,
            dns,
            config,
        }
    }

    fn config(&self) -> &str {
        self.config.to_str().unwrap()
    }

    async fn stop(self) {
        self.origin.shutdown().await;
        self.dns.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_json_reports_reuse_and_hot_faster_than_cold() {
    let out = run(&[
        "demo",
        "--json",
        "--requests",
        "2000",
        "--cold",
        "20",
        "--addresses",
        "4",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let r = json(&out);
    for field in [
        "reuse_rate",
        "cold_p50_us",
        "cold_p99_us",
        "hot_p50_us",
        "hot_p99_us",
        "requests",
        "handshakes",
        "connections",
        "addresses",
        "bytes_per_connection",
    ] {
        assert!(r.get(field).is_some(), "field {field} missing: {r}");
    }
    let f = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{k} not a number: {r}"))
    };
    assert!(f("reuse_rate") >= 0.99, "reuse rate: {r}");
    assert!(
        f("hot_p50_us") < f("cold_p50_us"),
        "hot p50 not below cold p50: {r}"
    );
    assert_eq!(f("requests"), 2000.0);
    assert_eq!(f("errors"), 0.0);
    assert_eq!(f("addresses"), 4.0);
    assert_eq!(f("connections"), 4.0, "one connection per address: {r}");
    // The origin saw one handshake per address, none while the requests ran.
    assert_eq!(f("handshakes"), 4.0, "{r}");
    assert_eq!(f("hot_handshakes"), 0.0, "{r}");
    assert_eq!(f("cold_handshakes"), 20.0, "{r}");
    assert!(f("bytes_per_connection") > 0.0, "{r}");
    let per: Vec<&Value> = r["per_address"].as_array().unwrap().iter().collect();
    assert_eq!(per.len(), 4);
    let total: f64 = per.iter().map(|a| a["requests"].as_f64().unwrap()).sum();
    assert_eq!(
        total, 2000.0,
        "every request reached an origin address: {r}"
    );
    assert!(
        per.iter().all(|a| a["requests"].as_f64().unwrap() > 0.0),
        "load spread over every address: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_a_table_and_a_plain_warm_summary() {
    let out = run(&[
        "demo",
        "--requests",
        "300",
        "--cold",
        "3",
        "--addresses",
        "2",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let text = stdout(&out);
    for needle in [
        "cold",
        "hot",
        "reuse rate",
        "handshakes",
        "memory/connection",
        "127.0.0.2",
        "127.0.0.3",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // stderr is not a terminal here: indicatif draws nothing, the summary line is plain.
    let err = stderr(&out);
    assert!(
        err.contains("warmed demo.hotpool.test: 2/2 connected, 0 failed"),
        "stderr: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_dials_every_address_from_the_local_dns_server() {
    let ips = [ip(2), ip(3), ip(4)];
    let site = Site::start("warm", "warm.cli.test", &ips).await;
    let out = run(&["warm", "warm.cli.test", "--config", site.config(), "--json"]).await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let r = json(&out);
    assert_eq!(r["ok"], 3, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["transport"], "h2");
    let mut addrs: Vec<String> = r["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    addrs.sort();
    let port = site.origin.port();
    assert_eq!(
        addrs,
        ips.iter()
            .map(|ip| format!("{ip}:{port}"))
            .collect::<Vec<_>>()
    );
    assert!(
        r["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["connections"] == 1 && c["protocols"] == serde_json::json!(["h2"])),
        "{r}"
    );
    // Every address saw exactly one TLS handshake, and the DNS server was asked.
    for ip in ips {
        assert_eq!(site.origin.stats_for(ip).unwrap().handshakes, 1, "{ip}");
    }
    assert!(site.dns.queries() >= 1);
    assert!(stderr(&out).contains("warmed warm.cli.test: 3/3 connected"));

    // The text report names every address.
    let out = run(&["warm", "warm.cli.test", "--config", site.config()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for ip in ips {
        assert!(text.contains(&ip.to_string()), "{text}");
    }
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_succeeds_when_the_dns_server_refuses_aaaa_and_names_the_family() {
    // What a forwarder serving a hosts file does: A answered, AAAA refused.
    let ips = [ip(2), ip(3)];
    let site = Site::start("aaaa-refused", "refused.cli.test", &ips).await;
    site.dns.set_family_mode(DnsFamily::V6, DnsMode::Refused);
    let out = run(&["warm", "refused.cli.test", "--config", site.config()]).await;
    let err = stderr(&out);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(
        err.contains("warmed refused.cli.test: 2/2 connected"),
        "{err}"
    );
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("lookup failed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0]
            .starts_with("hotpool: warning: refused.cli.test: ipv6 (AAAA) lookup failed: refused"),
        "{err}"
    );

    // -v shows each family's state; --json carries it.
    let out = run(&[
        "warm",
        "refused.cli.test",
        "--config",
        site.config(),
        "--json",
        "-v",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("dns refused.cli.test ipv4: 2 addresses, ttl 60s, last error none"),
        "{err}"
    );
    assert!(
        err.contains("dns refused.cli.test ipv6: 0 addresses, ttl -, last error refused"),
        "{err}"
    );
    let r = json(&out);
    assert_eq!(r["ok"], 2, "{r}");
    assert_eq!(r["dns"][0]["family"], "ipv4", "{r}");
    assert_eq!(r["dns"][0]["addresses"], 2, "{r}");
    assert_eq!(r["dns"][1]["family"], "ipv6", "{r}");
    assert_eq!(r["dns"][1]["error_kind"], "refused", "{r}");

    // Both families refused: one error line naming the failure.
    site.dns.set_mode(DnsMode::Refused);
    let out = run(&["warm", "refused.cli.test", "--config", site.config()]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("hotpool: error: cannot resolve refused.cli.test: ipv4 (A): refused"),
        "{err}"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_says_when_max_conns_per_host_caps_it() {
    let ips = [ip(2), ip(3), ip(4), ip(5)];
    let site = Site::start("warmcap", "capped.cli.test", &ips).await;
    let text = std::fs::read_to_string(site.config()).unwrap();
    std::fs::write(
        site.config(),
        text.replacen("[pool]\n", "[pool]\nmax_conns_per_host = 2\n", 1),
    )
    .unwrap();
    let out = run(&[
        "warm",
        "capped.cli.test",
        "--config",
        site.config(),
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let r = json(&out);
    assert_eq!(r["ok"], 2, "{r}");
    assert_eq!(r["allowed_addresses"], 4, "{r}");
    assert_eq!(r["capped_by"]["key"], "max_conns_per_host", "{r}");
    assert_eq!(r["capped_by"]["value"], 2, "{r}");
    let err = stderr(&out);
    assert!(
        err.contains("warmed capped.cli.test: 2/2 connected, 0 failed, 0 blacklisted in "),
        "stderr: {err}"
    );
    assert!(
        err.contains(" (2 of 4 addresses: max_conns_per_host = 2)"),
        "stderr: {err}"
    );

    // The text report says so too.
    let out = run(&["warm", "capped.cli.test", "--config", site.config()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("(2 of 4 addresses: max_conns_per_host = 2)"),
        "{text}"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_with_no_reachable_address_fails_with_one_line() {
    // Static address where nothing listens: connect is refused at once.
    let dir = temp_dir("refused");
    let config = dir.join("hotpool.toml");
    let port = {
        let l = std::net::TcpListener::bind((ip(5), 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        &config,
        format!(
            "[[hosts]]\nname = \"down.cli.test\"\nport = {port}\naddrs = [\"127.0.0.5\"]\n\n[tls]\nuse_webpki_roots = true\n"
        ),
    )
    .unwrap();
    let out = run(&[
        "warm",
        "down.cli.test",
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("hotpool: error: warm down.cli.test: no connection made"),
        "stderr: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_latency_and_reuse() {
    let ips = [ip(6), ip(7)];
    let site = Site::start("bench", "bench.cli.test", &ips).await;
    let url = format!("https://bench.cli.test:{}/hello", site.origin.port());
    let out = run(&[
        "bench",
        &url,
        "-n",
        "400",
        "-c",
        "8",
        "--config",
        site.config(),
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let r = json(&out);
    assert_eq!(r["ok"], 400, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["statuses"]["200"], 400, "{r}");
    assert!(r["reuse_rate"].as_f64().unwrap() >= 0.99, "{r}");
    let l = &r["latency"];
    assert!(l["p50_us"].as_u64().unwrap() <= l["p99_us"].as_u64().unwrap());
    assert!(l["p99_us"].as_u64().unwrap() <= l["max_us"].as_u64().unwrap());
    assert!(r["requests_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(
        site.origin.stats().handshakes,
        2,
        "one connection per address"
    );
    assert_eq!(site.origin.stats().requests, 400);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_accepts_good_files_and_names_line_and_key_of_bad_ones() {
    let dir = temp_dir("check");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[pool]\nmax_connections = 100\nconn_timeout = \"1m30s\"\n\n[whitelist]\nips = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let out = run(&["config", "check", good.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("{}: ok", good.display()));

    // The documented default file is itself valid.
    let out = run(&["config", "default"]).await;
    assert!(out.status.success());
    let default = dir.join("default.toml");
    std::fs::write(&default, &out.stdout).unwrap();
    let out = run(&["config", "check", default.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Two problems: both reported, each on one line with file, line and key.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[pool]\nmax_connections = 10\nmax_idle_conns = 20\nmax_retries = 0\n",
    )
    .unwrap();
    let name = bad.to_str().unwrap();
    let out = run(&["config", "check", name]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{name}:3:")) && l.contains("pool.max_idle_conns")),
        "inconsistent limit not reported at line 3: {err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{name}:4:")) && l.contains("pool.max_retries")),
        "zero max_retries not reported at line 4: {err}"
    );
    assert!(err.contains("2 errors"), "{err}");
    assert!(stdout(&out).is_empty());

    // An unknown key (e.g. a typo) names the line, the key and the known keys.
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[pool]\nmax_conections = 10\n").unwrap();
    let out = run(&["config", "check", typo.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "{}:2:1: pool.max_conections: unknown key",
            typo.display()
        )),
        "{err}"
    );
    assert!(err.contains("max_connections"), "{err}");

    // --json: the same, as data.
    let out = run(&["config", "check", name, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["valid"], false);
    let keys: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["pool.max_idle_conns", "pool.max_retries"], "{r}");
    assert_eq!(r["errors"][0]["line"], 3, "{r}");

    // A missing file: one line, exit 1.
    let missing = dir.join("missing.toml");
    let out = run(&["config", "check", missing.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("hotpool: error: cannot read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_with_a_non_zero_exit() {
    let out = run(&["bench", "http://plain.cli.test/"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("https://"));

    // A bad override names the variable.
    let out = run_hotpool(
        &["warm", "x.cli.test"],
        &[("HOTPOOL_POOL__MAX_CONNECTIONS", "lots")],
        RUN_LIMIT,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("HOTPOOL_POOL__MAX_CONNECTIONS"), "{err}");

    // Usage errors are clap's (exit 2).
    let out = run(&["demo", "--requests", "0"]).await;
    assert_eq!(out.status.code(), Some(2));
}

/// GET `path` from `addr` over plain HTTP/1.1; the body.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_hotpool_series() {
    let mut child = hotpool_command()
        .args([
            "demo",
            "--requests",
            "200",
            "--cold",
            "2",
            "--addresses",
            "2",
            "--metrics-addr",
            "127.0.0.1:0",
            "--metrics-hold",
            "60s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // "metrics: serving http://127.0.0.1:PORT/metrics", then, after the demo, "still serving".
    let addr: SocketAddr = tokio::time::timeout(RUN_LIMIT, async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("stderr ended early");
            if let Some(rest) = line.strip_prefix("metrics: serving http://") {
                break rest.trim_end_matches("/metrics").parse().unwrap();
            }
        }
    })
    .await
    .expect("no metrics address printed");
    assert!(addr.ip().is_loopback());
    tokio::time::timeout(RUN_LIMIT, async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("stderr ended early");
            if line.starts_with("metrics: still serving") {
                break;
            }
        }
    })
    .await
    .expect("demo did not finish");
    let body = http_get(addr, "/metrics").await.unwrap();
    for series in [
        "hotpool_leases_total",
        "hotpool_dials_total",
        "hotpool_connections{state=\"idle\"}",
        "hotpool_reuse_rate",
        "hotpool_dial_seconds",
        "hotpool_dns_resolutions_total{family=\"ipv4\"}",
        "hotpool_dns_resolutions_total{family=\"ipv6\"}",
    ] {
        assert!(body.contains(series), "{series} missing from:\n{body}");
    }
    let leases: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("hotpool_leases_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no hotpool_leases_total sample:\n{body}"));
    assert_eq!(leases, 200.0);
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_over_http3_reports_the_same_figures() {
    let out = run(&[
        "demo",
        "--proto",
        "h3",
        "--json",
        "--requests",
        "1000",
        "--cold",
        "10",
        "--addresses",
        "3",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let r = json(&out);
    assert_eq!(r["transport"], "h3");
    let f = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{k} not a number: {r}"))
    };
    assert!(f("reuse_rate") >= 0.99, "{r}");
    assert!(f("hot_p50_us") < f("cold_p50_us"), "{r}");
    assert_eq!(f("errors"), 0.0, "{r}");
    assert_eq!(f("handshakes"), 3.0, "{r}");
    assert_eq!(f("hot_handshakes"), 0.0, "{r}");
}

/// `hotpool get` with curl's options and no config file: `--resolve` / `--connect-to` say
/// where the host is, `--cacert` whom to trust; `-i` prints the status line and headers,
/// `-o` writes the body; a certificate from an unknown CA is refused in one line.
/// `warm` and `bench` over HTTP/3: a `[[hosts]]` entry with `transport = "quic"` (the
/// alias of `"h3"`) against the local HTTP/3 origin, with static addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_and_bench_over_http3() {
    use pool_testkit::{H3Origin, H3OriginOptions};
    let host = "h3.cli.test";
    let ips = [ip(30), ip(31)];
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(&ips, &[host], &ca))
        .await
        .unwrap();
    let dir = temp_dir("h3");
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = dir.join("hotpool.toml");
    std::fs::write(
        &config,
        format!(
            r#"[pool]
conn_timeout = "5s"
checkout_timeout = "5s"

[[hosts]]
name = "{host}"
port = {port}
transport = "quic"
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
    let config = config.to_str().unwrap();
    let out = run(&["warm", host, "--config", config, "--json"]).await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let warmed = json(&out);
    assert_eq!(warmed["ok"], 2, "{}", stdout(&out));
    for row in warmed["connections"].as_array().unwrap() {
        assert_eq!(row["protocols"], serde_json::json!(["h3"]), "{warmed}");
    }

    let url = format!("https://{host}:{}/1k", origin.port());
    let out = run(&[
        "bench", &url, "-n", "200", "-c", "4", "--config", config, "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let r = json(&out);
    assert_eq!(r["ok"], 200, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["statuses"]["200"], 200, "{r}");
    assert!(r["reuse_rate"].as_f64().unwrap() >= 0.98, "{r}");
    assert_eq!(origin.stats().requests, 200);
    origin.shutdown().await;
}
