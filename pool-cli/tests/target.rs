//! `hotpool get`'s curl-style target options (`--resolve`, `--connect-to`, `--cacert`,
//! `--insecure`) and the transports the CLI sends requests over: the built binary run as a
//! user would, against local origins on 127.0.0.21-24, each run bounded in time.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Output;
use std::sync::Arc;

use common::{RUN_LIMIT, run_hotpool, stderr, stdout, temp_dir};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Runs `hotpool args...` to completion with a clean environment, killed after
/// [`RUN_LIMIT`].
async fn run(args: &[&str]) -> Output {
    run_hotpool(args, &[], RUN_LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_resolve_connect_to_and_cacert() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(
        &[ip(21), ip(22)],
        &["get.cli.test"],
        &ca,
    ))
    .await
    .unwrap();
    let dir = temp_dir("target", "get");
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let ca_file = ca_file.to_str().unwrap();
    let port = origin.port();
    let url = format!("https://get.cli.test:{port}/hello");

    let resolve = format!("get.cli.test:{port}:127.0.0.21");
    let out = run(&[
        "get",
        &url,
        "--resolve",
        &resolve,
        "--cacert",
        ca_file,
        "-i",
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/2.0 200"), "{text}");
    assert!(text.ends_with("\n\nhello from hotpool\n"), "{text}");
    assert_eq!(origin.stats_for(ip(21)).map(|s| s.requests), Some(1));

    // --connect-to: the URL names port 443, the connection goes to 127.0.0.22 at the
    // origin's port, verified for the URL's host; -o writes the body to a file.
    let connect_to = format!("get.cli.test:443:127.0.0.22:{port}");
    let body_file = dir.join("body.txt");
    let out = run(&[
        "get",
        "https://get.cli.test/hello",
        "--connect-to",
        &connect_to,
        "--cacert",
        ca_file,
        "-o",
        body_file.to_str().unwrap(),
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stdout(&out), "", "the body went to the file");
    assert_eq!(
        std::fs::read_to_string(&body_file).unwrap(),
        "hello from hotpool\n"
    );
    assert_eq!(origin.stats_for(ip(22)).map(|s| s.requests), Some(1));

    // Without --cacert the test CA is unknown: refused, one line, exit 1.
    let out = run(&["get", &url, "--resolve", &resolve]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("UnknownIssuer") || err.contains("certificate"),
        "{err}"
    );
    origin.shutdown().await;
}

/// `--insecure`: a server whose certificate nothing trusts is accepted, and the command
/// says so on stderr every time (the documented warning).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_accepts_an_untrusted_certificate_and_warns() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(23)], &["insecure.cli.test"], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let url = format!("https://insecure.cli.test:{port}/hello");
    let resolve = format!("insecure.cli.test:{port}:127.0.0.23");
    const WARNING: &str =
        "warning: --insecure: server certificates are NOT verified (testing only)";

    // Without it: the unknown CA is refused, and nothing warns.
    let out = run(&["get", &url, "--resolve", &resolve]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains(WARNING), "{}", stderr(&out));

    let out = run(&["get", &url, "--resolve", &resolve, "--insecure"]).await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stdout(&out), "hello from hotpool\n");
    assert_eq!(
        stderr(&out).lines().filter(|l| *l == WARNING).count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_eq!(origin.stats().requests, 1);
    origin.shutdown().await;
}

/// `transport = "tls"` (a raw TLS stream, no HTTP) is a pool transport the CLI's commands
/// cannot send requests over: `get`, `warm` and `bench` refuse it in one line naming the
/// transport and the host, before dialing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_tls_is_refused_by_the_commands_before_any_dial() {
    let host = "rawtls.cli.test";
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(24)], &[host], &ca))
        .await
        .unwrap();
    let dir = temp_dir("target", "tls");
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = dir.join("hotpool.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[hosts]]
name = "{host}"
port = {port}
transport = "tls"
addrs = ["{ip}"]

[tls]
ca_files = ["ca.pem"]
use_webpki_roots = false
"#,
            port = origin.port(),
            ip = ip(24),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let url = format!("https://{host}:{}/", origin.port());
    let expected = format!(
        "transport \"tls\" of {host} is not supported by the CLI (it sends requests over h1, h2, auto or h3)"
    );
    for args in [
        vec!["get", &url],
        vec!["warm", host],
        vec!["bench", &url, "-n", "1"],
    ] {
        let out = run(&[&args[..], &["--config", config]].concat()).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(&expected), "{args:?}: {err}");
    }
    assert_eq!(origin.stats().accepted, 0, "nothing was dialed");
    origin.shutdown().await;
}

/// `get -x` through a real squid (HTTP CONNECT with Basic auth from `--proxy-user`): the
/// request is answered, the certificate still verified for the host; without the password
/// the proxy refuses (a proxy error naming the proxy, never the password); a proxy URL of an
/// unknown scheme is refused by the argument parser; HTTP/3 cannot go through a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_through_a_proxy() {
    use pool_testkit::proxies::{ProxyKind, ProxyServer};
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(25)], &["proxied.cli.test"], &ca))
        .await
        .unwrap();
    let squid = ProxyServer::start(ProxyKind::Squid, Some(("alice", "s3cret"))).unwrap();
    let dir = temp_dir("target", "proxy");
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let ca_file = ca_file.to_str().unwrap();
    let port = origin.port();
    let url = format!("https://proxied.cli.test:{port}/hello");
    let resolve = format!("proxied.cli.test:{port}:127.0.0.25");
    let proxy = format!("http://{}", squid.addr());
    let base = ["get", &url, "--resolve", &resolve, "--cacert", ca_file];

    let out = run(&[&base[..], &["-x", &proxy, "--proxy-user", "alice:s3cret"]].concat()).await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(
        stdout(&out).ends_with("hello from hotpool\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(origin.stats_for(ip(25)).map(|s| s.requests), Some(1));

    let out = run(&[&base[..], &["-x", &proxy, "--proxy-user", "alice:wrong"]].concat()).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("requires authentication") && err.contains(&squid.addr().to_string()),
        "{err}"
    );
    assert!(!err.contains("s3cret") && !err.contains("wrong"), "{err}");

    let out = run(&[&base[..], &["-x", "ftp://u:s3cret@127.0.0.1:21"]].concat()).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("unknown proxy scheme") && !err.contains("s3cret"),
        "{err}"
    );

    let out = run(&[&base[..], &["-x", &proxy, "--proto", "h3"]].concat()).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("HTTP/3 cannot go through a proxy"),
        "{}",
        stderr(&out)
    );
}

/// `-x` repeated: one pool per proxy, `warm` dials the host through each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_through_two_proxies() {
    use pool_testkit::proxies::{ProxyKind, ProxyServer};
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(26)], &["two.cli.test"], &ca))
        .await
        .unwrap();
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let dir = temp_dir("target", "two-proxies");
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let port = origin.port();
    let resolve = format!("two.cli.test:{port}:127.0.0.26");
    let (http, socks5) = (
        format!("http://{}", squid.addr()),
        format!("socks5://{}", socks.addr()),
    );
    let host = format!("two.cli.test:{port}");
    let args = [
        "warm",
        &host,
        "--resolve",
        &resolve,
        "--cacert",
        ca_file.to_str().unwrap(),
        "-x",
        &http,
        "-x",
        &socks5,
        "--proxy-rotation",
        "sticky",
    ];
    let out = run(&args).await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    // One address, reached through each proxy: two connections at the origin.
    assert_eq!(origin.stats().accepted, 2, "{}", stderr(&out));
}

/// `--rate`: `bench` paces its requests under an origin's limit (none refused); without
/// it the same bench meets the limit (the origin refuses some, adaptation then slows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_with_a_rate_stays_under_the_origins_limit() {
    use pool_testkit::origin::OriginRateLimit;
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(27)], &["rate.cli.test"], &ca))
        .await
        .unwrap();
    // A burst of 5 at the origin absorbs the network's jitter between paced requests.
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 5,
        ..OriginRateLimit::new(50.0)
    }));
    let dir = temp_dir("target", "rate");
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let port = origin.port();
    let url = format!("https://rate.cli.test:{port}/limited/x");
    let resolve = format!("rate.cli.test:{port}:127.0.0.27");
    let base = [
        "bench",
        &url,
        "--resolve",
        &resolve,
        "--cacert",
        ca_file.to_str().unwrap(),
    ];
    let out = run(&[&base[..], &["-n", "40", "-c", "8", "--rate", "40/s"]].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("200: 40") || stderr(&out).contains("200: 40"),
        "{}",
        stdout(&out)
    );
    assert_eq!(origin.rate_limit_counts().refused, 0);

    let out = run(&[&base[..], &["-n", "10", "--rate", "0/s"]].concat()).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--rate \"0/s\""), "{}", stderr(&out));
}
