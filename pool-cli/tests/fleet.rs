//! Two `hotpool` processes sharing a ban through `[fleet] backend = "redis"` (a real
//! `redis-server` from pool-testkit, real origins on 127.0.0.172-174 whose validation
//! answers 403 on the banned one): the first bans the address, `hotpool fleet status
//! --json` shows the ban, and a second process loads it at start and never dials the
//! address; a process running a bench applies another process's ban within 100 ms (read
//! from its Prometheus metrics).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

const RUN_LIMIT: Duration = Duration::from_secs(120);
const HOST: &str = "fleet.cli.test";

/// `hotpool` with no `HOTPOOL_*` or `RUST_LOG` of the caller's environment.
fn hotpool() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpool"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HOTPOOL_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    cmd
}

async fn run(args: &[&str]) -> Output {
    let child = hotpool()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hotpool");
    match tokio::time::timeout(RUN_LIMIT, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for hotpool"),
        Err(_) => panic!("hotpool {args:?} did not finish within {RUN_LIMIT:?}"),
    }
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let s = json(&status);
    let bans = s["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1, "{s}");
    assert_eq!(bans[0]["host"], HOST);
    assert_eq!(bans[0]["addr"], format!("{ip}:{}", origin.port()));
    assert_eq!(bans[0]["reason"], "banned");
    assert!(bans[0]["ttl_ms"].as_u64().unwrap() > 0);
    let text = run(&["fleet", "status", "--config", config]).await;
    let shown = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(shown.contains("bans: 1") && shown.contains(HOST), "{shown}");
    for out in [&first, &status, &text] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_process_applies_another_processes_ban_within_100_ms() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let start = |last| {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca))
    };
    let (bad, good) = (start(173).await.unwrap(), start(174).await.unwrap());
    bad.set_status("/check", 403);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fleet2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let a_config = write_config(&dir, "a.toml", bad.socket_addrs()[0], &redis.url());
    let b_config = write_config(&dir, "b.toml", good.socket_addrs()[0], &redis.url());

    // B: a long bench against the good address, its metrics on a local port.
    let mut b = hotpool()
        .args([
            "bench",
            &format!("https://{HOST}/"),
            "-n",
            "10000000",
            "-c",
            "1",
        ])
        .args(["--config", &b_config, "--metrics-addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
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
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let page = scrape(metrics).await;
        if series(&page, "hotpool_fleet_syncs_total").is_some_and(|n| n >= 1.0)
            && series(&page, "hotpool_leases_total").is_some_and(|n| n >= 1.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never synced and served: {page}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        series(&scrape(metrics).await, "hotpool_fleet_applied_total"),
        None
    );

    // A bans the bad address and exits (after publishing); B applies it while it runs.
    let a = run(&["warm", HOST, "--config", &a_config, "--json"]).await;
    assert_eq!(json(&a)["blacklisted"], 1);
    let a_done = Instant::now();
    loop {
        let page = scrape(metrics).await;
        if series(&page, "hotpool_fleet_applied_total").is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(
            a_done.elapsed() < Duration::from_secs(5),
            "B never applied the ban: {page}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = a_done.elapsed();
    eprintln!("B applied the ban {took:?} after A exited");
    assert!(
        took < Duration::from_millis(100),
        "B applied A's ban {took:?} after A exited"
    );
    assert_eq!(bad.stats().accepted, 1, "only A dialed the bad address");
    b.kill().await.unwrap();
    bad.shutdown().await;
    good.shutdown().await;
}
