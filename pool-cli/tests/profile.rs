//! `--profile BROWSER` and `[tls] engine = "boring"` end to end: the built `hotpool` against
//! a local capture origin (pool-testkit `capture`), which records the JA4 and HTTP/2
//! fingerprint of every connection. With the `boring` feature the origin sees the
//! browser's published JA4; without it, `--profile` and `engine = "boring"` are one-line
//! errors.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{RUN_LIMIT, run_hotpool, stderr, stdout};

/// Runs `hotpool args...` to completion with a clean environment, killed after
/// [`RUN_LIMIT`].
async fn run(args: &[&str]) -> Output {
    run_hotpool(args, &[], RUN_LIMIT).await
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("profile", name)
}

#[cfg(not(feature = "boring"))]
mod without_boring {
    use super::*;

    fn assert_one_line_refusal(out: &Output) {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        let err = stderr(out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("built without the boring feature"), "{err}");
    }

    #[tokio::test]
    async fn profile_is_refused_in_one_line() {
        for args in [
            &["get", "https://a.test/", "--profile", "chrome"][..],
            &["warm", "a.test", "--profile", "firefox"],
            &["bench", "https://a.test/", "--profile", "safari", "-n", "1"],
            &["demo", "--profile", "edge"],
        ] {
            let out = run(args).await;
            assert_one_line_refusal(&out);
            assert!(stderr(&out).contains("--profile"), "{args:?}");
        }
    }

    #[tokio::test]
    async fn engine_boring_in_a_config_is_an_error_at_its_line() {
        let dir = temp_dir("engine");
        let file = dir.join("boring.toml");
        std::fs::write(
            &file,
            "[tls]\nengine = \"boring\"\nprofiles = [\"chrome\"]\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let out = run(&["config", "check", file]).await;
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains(&format!("{file}:2:")), "{text}");
        assert!(text.contains("tls.engine"), "{text}");
        assert!(text.contains("built without the boring feature"), "{text}");
        // A command refuses to start with it.
        let out = run(&["--config", file, "get", "https://a.test/"]).await;
        assert_one_line_refusal(&out);
    }
}

#[cfg(feature = "boring")]
mod with_boring {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use pool_dial_boring::BrowserProfile;
    use pool_testkit::capture::CaptureOrigin;

    use super::*;

    const HOST: &str = "profile.cli.test";

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }
    const WAIT: Duration = Duration::from_secs(30);

    /// A capture origin on `ip` and its CA in a file.
    async fn origin(ip: IpAddr, name: &str) -> (CaptureOrigin, String) {
        let origin = CaptureOrigin::start(HOST, ip).await.unwrap();
        let ca_file = temp_dir(name).join("ca.pem");
        std::fs::write(&ca_file, origin.ca_pem()).unwrap();
        (origin, ca_file.to_str().unwrap().to_owned())
    }

    fn assert_ok(out: &Output) {
        assert!(
            out.status.success(),
            "exit {:?}: {}",
            out.status,
            stderr(out)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_with_profile_chrome_sends_chromes_hello_and_preface() {
        let (origin, ca) = origin(ip(231), "get").await;
        let port = origin.addr().port();
        let url = format!("https://{HOST}:{port}/");
        let resolve = format!("{HOST}:{port}:{}", origin.addr().ip());
        let out = run(&[
            "get",
            &url,
            "--resolve",
            &resolve,
            "--cacert",
            &ca,
            "--profile",
            "chrome",
        ])
        .await;
        assert_ok(&out);
        assert_eq!(stdout(&out), "hello from the capture origin\n");
        let seen = origin.wait_for(1, WAIT).await;
        let conn = seen
            .iter()
            .find(|c| c.h2.is_some())
            .expect("an HTTP/2 connection");
        let chrome = BrowserProfile::chrome();
        assert_eq!(conn.ja4().unwrap().to_string(), chrome.ja4);
        assert_eq!(conn.akamai_h2().unwrap(), chrome.h2.akamai());
        // The request carries the profile's User-Agent.
        let headers = &conn.h2.as_ref().unwrap().headers;
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "user-agent" && *v == chrome.user_agent),
            "{headers:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn warm_and_bench_use_the_profile_on_every_connection() {
        let (origin, ca) = origin(ip(232), "warm").await;
        let port = origin.addr().port();
        let resolve = format!("{HOST}:{port}:{}", origin.addr().ip());
        let host = format!("{HOST}:{port}");
        let out = run(&[
            "warm",
            &host,
            "--resolve",
            &resolve,
            "--cacert",
            &ca,
            "--profile",
            "firefox",
        ])
        .await;
        assert_ok(&out);
        let url = format!("https://{HOST}:{port}/");
        let out = run(&[
            "bench",
            &url,
            "--resolve",
            &resolve,
            "--cacert",
            &ca,
            "--profile",
            "safari",
            "-n",
            "20",
            "-c",
            "2",
        ])
        .await;
        assert_ok(&out);
        let seen = origin.wait_for(2, WAIT).await;
        let ja4s: Vec<String> = seen
            .iter()
            .filter(|c| c.handshake_ok)
            .map(|c| c.ja4().unwrap().to_string())
            .collect();
        assert!(ja4s.len() >= 2, "{ja4s:?}");
        assert_eq!(ja4s[0], BrowserProfile::firefox().ja4);
        assert!(
            ja4s[1..].iter().all(|j| j == BrowserProfile::safari().ja4),
            "{ja4s:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_profile_puts_both_engines_side_by_side() {
        let out = run(&["demo", "--profile", "chrome", "--json"]).await;
        assert_ok(&out);
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{}", stdout(&out));
        assert_eq!(lines[0]["engine"], "rustls");
        assert!(
            lines[0]["ja4"]
                .as_str()
                .unwrap()
                .starts_with("t13d1011h2_61a7ad8aa9b6")
        );
        assert_eq!(
            lines[0]["akamai_h2"],
            "4:2097152;6:262144|5177345|0|m,s,a,p"
        );
        assert_eq!(lines[1]["engine"], "boring chrome");
        assert_eq!(lines[1]["ja4"], BrowserProfile::chrome().ja4);
        assert_eq!(lines[1]["ja4"], lines[1]["published_ja4"]);
        assert_eq!(
            lines[1]["akamai_h2"],
            "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
        );
        // Text form: a table with both.
        let out = run(&["demo", "--profile", "chrome"]).await;
        assert_ok(&out);
        let text = stdout(&out);
        assert!(
            text.contains("rustls") && text.contains("boring chrome"),
            "{text}"
        );
        assert!(text.contains("(equal)"), "{text}");
    }
}
