//! Two `hotpool` processes sharing a ban through `[fleet] backend = "redis"` (a real
//! `redis-server` from pool-testkit, a real origin on 127.0.0.172 whose validation answers
//! 403): the first bans the address, `hotpool fleet status --json` shows the ban, and the
//! second process loads it at start and never dials the address.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::{H2Origin, H2OriginOptions, RedisServer, TestCa};
use serde_json::Value;
use tokio::process::Command;

const RUN_LIMIT: Duration = Duration::from_secs(120);
const HOST: &str = "fleet.cli.test";

async fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpool"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HOTPOOL_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    let child = cmd
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
