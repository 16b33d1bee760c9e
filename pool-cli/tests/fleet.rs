//! Two `hotpool` processes sharing a ban through `[fleet] backend = "redis"` (a real
//! `redis-server` from pool-testkit, real origins on 127.0.0.172-174 whose validation
//! answers 403 on the banned one): the first bans the address, `hotpool fleet status
//! --json` shows the ban, and a second process loads it at start and never dials the
//! address; a process running a bench applies another process's ban (read from its
//! Prometheus metrics; how fast is `pool-redis/benches/fleet.rs`'s measure); and on a
//! three-master Redis Cluster (`[fleet] mode = "cluster"`), `fleet status` reads the ban
//! from the master holding the host's slot, not the first seed.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use common::{RUN_LIMIT, hotpool_command, json, run_hotpool, stderr, stdout};
use pool_testkit::{H2Origin, H2OriginOptions, RedisCluster, RedisServer, TestCa};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

const HOST: &str = "fleet.cli.test";

/// Runs `hotpool args...` to completion with a clean environment, killed after
/// [`RUN_LIMIT`].
async fn run(args: &[&str]) -> Output {
    run_hotpool(args, &[], RUN_LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_ban_and_fleet_status_shows_it() {
    let redis = RedisServer::start_with_password("s3cret").unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 172));
    let origin = H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca))
        .await
        .unwrap();
    origin.set_status("/check", 403);
    let dir = common::temp_dir("fleet", "share");
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = dir.join("hotpool.toml");
    // The URL carries the server's password: it must never be printed.
    let url = redis.url().replace("redis://", "redis://:s3cret@");
    std::fs::write(
        &config,
        format!(
            r#"[pool]
conn_timeout = "5s"
checkout_timeout = "5s"

[[hosts]]
name = "{HOST}"
port = {port}
transport = "h2"
addrs = ["{ip}"]

[validation]
enabled = true
path = "/check"

[tls]
ca_files = ["ca.pem"]
use_webpki_roots = false

[fleet]
backend = "redis"
url = "{url}"
prefix = "cli:"
"#,
            port = origin.port(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let first = run(&["warm", HOST, "--config", config, "--json"]).await;
    let report = json(&first);
    assert_eq!(report["blacklisted"], 1, "{report}");
    assert_eq!(origin.stats().accepted, 1);

    let status = run(&["fleet", "status", "--config", config, "--json"]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    let s = json(&status);
    let bans = s["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1, "{s}");
    assert_eq!(bans[0]["host"], HOST);
    assert_eq!(bans[0]["addr"], format!("{ip}:{}", origin.port()));
    assert_eq!(bans[0]["reason"], "banned");
    assert!(bans[0]["ttl_ms"].as_u64().unwrap() > 0);
    let text = run(&["fleet", "status", "--config", config]).await;
    let shown = stdout(&text);
    assert!(shown.contains("bans: 1") && shown.contains(HOST), "{shown}");
    for out in [&first, &status, &text] {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert!(!all.contains("s3cret"), "the password was printed: {all}");
    }

    // The second process loads the fleet's ban before its first dial.
    let second = run(&["warm", HOST, "--config", config, "--json"]).await;
    let report = json(&second);
    assert_eq!(report["ok"], 0, "{report}");
    assert_eq!(
        origin.stats().accepted,
        1,
        "the banned address was not dialed again"
    );
    origin.shutdown().await;
}

/// The config of one process: `HOST` at `addr` only, validation on, the fleet on `url`.
fn write_config(dir: &Path, name: &str, addr: SocketAddr, url: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            r#"[pool]
conn_timeout = "5s"
checkout_timeout = "5s"

[[hosts]]
name = "{HOST}"
port = {port}
transport = "h2"
addrs = ["{ip}"]

[validation]
enabled = true
path = "/check"

[tls]
ca_files = ["ca.pem"]
use_webpki_roots = false

[fleet]
backend = "redis"
url = "{url}"
prefix = "cli2:"
"#,
            port = addr.port(),
            ip = addr.ip(),
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// The body of `GET /metrics` from `addr`.
async fn scrape(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// The value of an unlabelled series in a Prometheus text page.
fn series(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Scrapes `metrics` until `done` holds for the page, at most [`RUN_LIMIT`]; the test fails
/// naming `what` (with the last page) when it never does.
async fn wait_for_page(metrics: SocketAddr, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let page = scrape(metrics).await;
        if done(&page) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {page}");
        tokio::time::sleep(pool_testkit::wait::POLL_INTERVAL).await;
    }
}

/// A process running a bench applies the ban another process published, read from its
/// metrics. Waited for, not timed: how fast a ban crosses processes is measured by
/// `pool-redis/benches/fleet.rs` (scope "processes").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_process_applies_another_processes_ban() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let start = |last| {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca))
    };
    let (bad, good) = (start(173).await.unwrap(), start(174).await.unwrap());
    bad.set_status("/check", 403);
    let dir = common::temp_dir("fleet", "running");
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let a_config = write_config(&dir, "a.toml", bad.socket_addrs()[0], &redis.url());
    let b_config = write_config(&dir, "b.toml", good.socket_addrs()[0], &redis.url());

    // B: a long bench against the good address, its metrics on a local port.
    let mut b = hotpool_command()
        .args([
            "bench",
            &format!("https://{HOST}/"),
            "-n",
            "10000000",
            "-c",
            "1",
        ])
        .args(["--config", &b_config, "--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(b.stderr.take().unwrap()).lines();
    let metrics: SocketAddr = tokio::time::timeout(RUN_LIMIT, async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("stderr ended early");
            if let Some(rest) = line.strip_prefix("metrics: serving http://") {
                return rest.trim_end_matches("/metrics").parse().unwrap();
            }
        }
    })
    .await
    .expect("B serves metrics");
    wait_for_page(metrics, "B synced and served", |page| {
        series(page, "hotpool_fleet_syncs_total").is_some_and(|n| n >= 1.0)
            && series(page, "hotpool_leases_total").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(
        series(&scrape(metrics).await, "hotpool_fleet_applied_total"),
        None
    );

    // A bans the bad address and exits (after publishing); B applies it while it runs.
    let a = run(&["warm", HOST, "--config", &a_config, "--json"]).await;
    assert_eq!(json(&a)["blacklisted"], 1);
    wait_for_page(metrics, "B applied A's ban", |page| {
        series(page, "hotpool_fleet_applied_total").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(bad.stats().accepted, 1, "only A dialed the bad address");
    b.kill().await.unwrap();
    bad.shutdown().await;
    good.shutdown().await;
}

/// `fleet status` in cluster mode: the ban `warm` stored lives on the master of the host's
/// slot, which is not the first seed listed; the status scans every master and reads it
/// there, naming the mode and every seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_status_reads_every_master_of_a_cluster() {
    let cluster = tokio::task::block_in_place(RedisCluster::start).unwrap();
    let owner = cluster.node_of(&format!("{{{HOST}}}")).unwrap();
    // The seeds listed with the host's node last.
    let urls = cluster.urls();
    let mut seeds: Vec<&str> = (0..3)
        .filter(|&i| i != owner)
        .map(|i| urls[i].as_str())
        .collect();
    seeds.push(&urls[owner]);
    let ca = Arc::new(TestCa::new().unwrap());
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 175));
    let origin = H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca))
        .await
        .unwrap();
    origin.set_status("/check", 403);
    let dir = common::temp_dir("fleet", "cluster");
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = write_config(
        &dir,
        "cluster.toml",
        origin.socket_addrs()[0],
        &seeds.join(","),
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[fleet]\n", "[fleet]\nmode = \"cluster\"\n");
    std::fs::write(&config, text).unwrap();

    let warm = run(&["warm", HOST, "--config", &config, "--json"]).await;
    assert_eq!(json(&warm)["blacklisted"], 1, "{}", stderr(&warm));
    let status = run(&["fleet", "status", "--config", &config, "--json"]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    let s = json(&status);
    assert_eq!(s["mode"], "cluster", "{s}");
    assert_eq!(s["url"], seeds.join(","), "every seed named");
    let bans = s["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1, "{s}");
    assert_eq!(bans[0]["host"], HOST);
    assert_eq!(bans[0]["addr"], origin.socket_addrs()[0].to_string());
    assert_eq!(s["malformed"], 0);
    origin.shutdown().await;
}
