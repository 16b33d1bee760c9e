//! `hotpool bench` against an HTTP/2 origin that completes the handshake, answers PINGs
//! and never answers a request (`/stall`): every request ends at `pool.request_timeout`
//! and the command stops with an error instead of hanging (issue 13).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{run_hotpool, stderr};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

/// Upper bound of the run (debug build, 2 cores, other tests running): far below the
/// default 30 s deadline times the request count, far above the configured one.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// The default `pool.request_timeout`, which the config here overrides with 300 ms.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_against_a_stalling_origin_ends_with_timeouts() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 58));
    let host = "stall.cli.test";
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip], &[host], &ca))
        .await
        .unwrap();
    let dir = common::temp_dir("cli", "deadline");
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
    let config = config.to_str().unwrap();
    let started = Instant::now();
    let out = run_hotpool(
        &["bench", &url, "-n", "3", "-c", "1", "--config", config],
        &[],
        RUN_LIMIT,
    )
    .await;
    let took = started.elapsed();
    let stderr = stderr(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("every request failed"), "{stderr}");
    assert!(stderr.contains("no response within 300ms"), "{stderr}");
    // The configured 300 ms ended each request: had the default deadline applied instead,
    // the first request alone would have taken it.
    assert!(
        took < DEFAULT_REQUEST_TIMEOUT,
        "took {took:?}: the default deadline applied, not the configured one"
    );
    assert_eq!(origin.stats().requests, 0, "nothing was answered");
    assert_eq!(
        origin.stats().handshakes,
        1,
        "timed-out streams are reset, the connection is kept"
    );
    origin.shutdown().await;
}
