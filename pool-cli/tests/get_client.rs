//! `hotpool get` on the hotpool client: `-L` follows redirects (to another host, from
//! `http://` to `https://`), without it a 3xx is printed as received, `--max-redirs`
//! bounds the chain with an error naming the URL, and `http://` URLs go over plain TCP
//! (HTTP/1.1, h2c with `--proto h2`). Local origins on 127.0.0.141-144.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use common::{RUN_LIMIT, json, run_hotpool, stderr, stdout, temp_dir};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Runs `hotpool args...` to completion with a clean environment.
async fn run(args: &[&str]) -> std::process::Output {
    run_hotpool(args, &[], RUN_LIMIT).await
}

/// Two TLS origins of one test CA: `a.redirect.cli.test` on 127.0.0.141 and
/// `b.redirect.cli.test` on 127.0.0.142, and the `--resolve` / `--cacert` arguments that
/// reach both.
struct TwoHosts {
    a: H2Origin,
    b: H2Origin,
    target: Vec<String>,
}

const A: &str = "a.redirect.cli.test";
const B: &str = "b.redirect.cli.test";

impl TwoHosts {
    async fn start(dir: &Path) -> Self {
        let ca = Arc::new(TestCa::new().unwrap());
        let a = H2Origin::start(H2OriginOptions::new(&[ip(141)], &[A], &ca))
            .await
            .unwrap();
        let b = H2Origin::start(H2OriginOptions::new(&[ip(142)], &[B], &ca))
            .await
            .unwrap();
        let ca_file = dir.join("ca.pem");
        ca.write_ca_pem(&ca_file).unwrap();
        let target = vec![
            "--resolve".to_owned(),
            format!("{A}:{}:{}", a.port(), ip(141)),
            "--resolve".to_owned(),
            format!("{B}:{}:{}", b.port(), ip(142)),
            "--cacert".to_owned(),
            ca_file.to_str().unwrap().to_owned(),
        ];
        Self { a, b, target }
    }

    fn a_url(&self, path: &str) -> String {
        format!("https://{A}:{}{path}", self.a.port())
    }

    fn b_url(&self, path: &str) -> String {
        format!("https://{B}:{}{path}", self.b.port())
    }

    /// `get URL target... extra...`.
    async fn get(&self, url: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["get", url];
        args.extend(self.target.iter().map(String::as_str));
        args.extend_from_slice(extra);
        run(&args).await
    }

    async fn shutdown(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_follows_a_chain_to_another_host_and_reports_the_final_url() {
    let dir = temp_dir("get-client", "chain");
    let hosts = TwoHosts::start(&dir).await;
    // A answers 301 to B, where two 302s lead to B's echo.
    let next = hosts.b_url("/redirect/302/2");
    let url = hosts.a_url(&format!("/redirect-to?status=301&url={next}"));
    let body_file = dir.join("body.txt");
    let out = hosts
        .get(&url, &["-L", "--json", "-o", body_file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["url"], url.as_str(), "{report}");
    assert_eq!(
        report["final_url"],
        hosts.b_url("/redirect/302/0").as_str(),
        "{report}"
    );
    // B's echo: the last request of the chain, a GET of the last location.
    let echo = std::fs::read_to_string(&body_file).unwrap();
    assert!(echo.starts_with("GET /redirect/302/0\n"), "{echo}");
    assert_eq!(hosts.a.stats_for(ip(141)).map(|s| s.requests), Some(1));
    assert_eq!(hosts.b.stats_for(ip(142)).map(|s| s.requests), Some(3));

    // Without -L: the 301 as received, and B never asked.
    let out = hosts.get(&url, &["-i"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/2.0 301"), "{text}");
    assert!(
        text.lines().any(|l| l == format!("location: {next}")),
        "{text}"
    );
    assert_eq!(hosts.a.stats_for(ip(141)).map(|s| s.requests), Some(2));
    assert_eq!(hosts.b.stats_for(ip(142)).map(|s| s.requests), Some(3));
    hosts.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_redirs_exceeded_fails_naming_the_url() {
    let dir = temp_dir("get-client", "max-redirs");
    let hosts = TwoHosts::start(&dir).await;
    let url = hosts.a_url("/redirect/302/5");

    let out = hosts.get(&url, &["-L", "--max-redirs", "3"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(&format!("get {url}:")), "{err}");
    assert!(err.contains("too many redirects: more than 3"), "{err}");
    // The URL that answered with the one redirect too many.
    assert!(err.contains(&hosts.a_url("/redirect/302/2")), "{err}");
    assert!(err.contains("--max-redirs 3"), "{err}");
    assert_eq!(stdout(&out), "", "no body printed");
    assert_eq!(
        hosts.a.stats().requests,
        4,
        "the first request and 3 followed"
    );

    // Within the limit (5 redirects, the default 10): the echo.
    let out = hosts.get(&url, &["-L"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("GET /redirect/302/0\n"),
        "{}",
        stdout(&out)
    );
    hosts.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_urls_go_over_plain_tcp_and_redirect_to_https() {
    let dir = temp_dir("get-client", "plain");
    let hosts = TwoHosts::start(&dir).await;
    let plain_host = "plain.cli.test";
    let plain = H2Origin::start(H2OriginOptions::plain(&[ip(143)]))
        .await
        .unwrap();
    let port = plain.port();
    let resolve = format!("{plain_host}:{port}:{}", ip(143));
    let url = format!("http://{plain_host}:{port}/hello");

    // HTTP/1.1 over TCP by default.
    let out = run(&["get", &url, "--resolve", &resolve, "-i"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\n\nhello from hotpool\n"), "{text}");
    // h2c (prior knowledge) with --proto h2.
    let out = run(&[
        "get",
        &url,
        "--resolve",
        &resolve,
        "--proto",
        "h2",
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["version"], "HTTP/2.0", "{report}");
    assert_eq!(report["transport"], "h2c", "{report}");
    assert_eq!(plain.stats().requests, 2);
    // HTTP/3 over an http:// URL is refused before anything is dialed.
    let out = run(&["get", &url, "--resolve", &resolve, "--proto", "h3"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is an http:// URL"),
        "{}",
        stderr(&out)
    );

    // -L from http:// to https:// on another host (its --resolve, the test CA).
    let next = hosts.b_url("/echo");
    let url = format!("http://{plain_host}:{port}/redirect-to?status=308&url={next}");
    let mut args = vec!["get", &url, "-L", "--json", "--resolve", &resolve];
    args.extend(hosts.target.iter().map(String::as_str));
    let out = run(&args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["final_url"], next.as_str(), "{report}");
    assert_eq!(report["version"], "HTTP/2.0", "ALPN chose h2: {report}");
    assert_eq!(plain.stats().requests, 3);
    assert_eq!(hosts.b.stats().requests, 1);
    plain.shutdown().await;
    hosts.shutdown().await;
}
