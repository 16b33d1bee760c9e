//! `hotpool bench` against an HTTP/2 origin that completes the handshake, answers PINGs
//! and never answers a request (`/stall`): every request ends at `pool.request_timeout`
//! and the command stops with an error instead of hanging (issue 13).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_testkit::{H2Origin, H2OriginOptions, TestCa};
use tokio::process::Command;

/// Upper bound of the run (debug build, 2 cores, other tests running): far below the
/// default 30 s deadline times the request count, far above the configured one.
const RUN_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_against_a_stalling_origin_ends_with_timeouts() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 58));
    let host = "stall.cli.test";
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip], &[host], &ca))
        .await
        .unwrap();
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}-deadline", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = dir.join("hotpool.toml");
    std::fs::write(
        &config,
        format!(
            r#"[pool]
conn_timeout = "5s"
request_timeout = "300ms"

[[hosts]]
name = "{host}"
port = {port}
transport = "h2"
addrs = ["{ip}"]

[tls]
ca_files = ["ca.pem"]
use_webpki_roots = false
"#,
            port = origin.port(),
        ),
    )
    .unwrap();
    let url = format!("https://{host}:{}/stall", origin.port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpool"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOTPOOL_") {
            cmd.env_remove(&key);
        }
    }
    let child = cmd
        .args(["bench", &url, "-n", "3", "-c", "1", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("bench stops instead of hanging")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("every request failed"), "{stderr}");
    assert!(stderr.contains("no response within 300ms"), "{stderr}");
    assert!(started.elapsed() < RUN_LIMIT);
    assert_eq!(origin.stats().requests, 0, "nothing was answered");
    assert_eq!(
        origin.stats().handshakes,
        1,
        "timed-out streams are reset, the connection is kept"
    );
    origin.shutdown().await;
}
