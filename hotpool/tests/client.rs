//! `hotpool::Client` against the testkit's origins and DNS zone: hosts reached on first use
//! (resolved through a real DNS server), one pool per host, the transport of each host's
//! `[[hosts]]` entry or the client's `auto`, and the typed errors of bad URLs and hosts.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Error};
use pool_testkit::origin::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions};
use pool_testkit::{DnsServer, TestCa};

const ZONE: &str = "hotpool.test";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A directory of its own for a test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hotpool-client-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Three hosts on three transports, one DNS zone, and a config file trusting the test CA
/// that pins `h3.hotpool.test` to HTTP/3 (the others: the client's `auto`).
struct Sites {
    h2: H2Origin,
    h1: H2Origin,
    h3: H3Origin,
    dns: DnsServer,
    config: PathBuf,
}

async fn sites(name: &str) -> Sites {
    let ca = Arc::new(TestCa::new().unwrap());
    let h2_addrs = [ip("127.0.0.2"), ip("127.0.0.3")];
    let h2 = H2Origin::start(H2OriginOptions::h2_only(
        &h2_addrs,
        &["h2.hotpool.test"],
        &ca,
    ))
    .await
    .unwrap();
    let h1_addrs = [ip("127.0.0.4")];
    let h1 = H2Origin::start(H2OriginOptions::h1_only(
        &h1_addrs,
        &["h1.hotpool.test"],
        &ca,
    ))
    .await
    .unwrap();
    let h3_addrs = [ip("127.0.0.5")];
    let h3 = H3Origin::start(H3OriginOptions::new(&h3_addrs, &["h3.hotpool.test"], &ca))
        .await
        .unwrap();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs("h2.hotpool.test", &h2_addrs, 60)
        .await
        .unwrap();
    dns.set_addrs("h1.hotpool.test", &h1_addrs, 60)
        .await
        .unwrap();
    dns.set_addrs("h3.hotpool.test", &h3_addrs, 60)
        .await
        .unwrap();
    let dir = scratch(name);
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let config = dir.join("hotpool.toml");
    let text = format!(
        "[pool]\nrequest_timeout = \"5s\"\nconn_timeout = \"3s\"\n\n\
         [dns]\nname_servers = [\"{dns}\"]\ntimeout = \"2s\"\n\n\
         [tls]\nca_files = [\"ca.pem\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"h3.hotpool.test\"\nport = {h3_port}\ntransport = \"h3\"\n",
        dns = dns.addr(),
        h3_port = h3.port(),
    );
    std::fs::write(&config, text).unwrap();
    Sites {
        h2,
        h1,
        h3,
        dns,
        config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_reaches_h2_h1_and_h3_hosts_on_first_use() {
    let s = sites("three").await;
    let client = Client::from_config(&s.config).unwrap();

    let h2_url = format!("https://h2.hotpool.test:{}/a", s.h2.port());
    for _ in 0..3 {
        let response = client.get(&h2_url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        let by = response.headers()["x-served-by"].to_str().unwrap();
        assert!(
            by.starts_with("127.0.0.2:") || by.starts_with("127.0.0.3:"),
            "{by}"
        );
        let body = response.into_body().text().await.unwrap();
        assert_eq!(body, "hello from hotpool\n");
    }
    // Both addresses DNS gave are warmed in the background, not only the one a request
    // needed.
    let handshakes = |a: &str| s.h2.stats_for(ip(a)).map_or(0, |st| st.handshakes);
    pool_testkit::wait_for("both addresses warm", Duration::from_secs(5), || {
        handshakes("127.0.0.2") >= 1 && handshakes("127.0.0.3") >= 1
    })
    .await;

    // No [[hosts]] entry: the client's `auto`; the origin speaks HTTP/1.1 only.
    let h1_url = format!("https://h1.hotpool.test:{}/b", s.h1.port());
    let response = client.get(&h1_url).send().await.unwrap();
    assert_eq!(
        (response.status(), response.version()),
        (http::StatusCode::OK, http::Version::HTTP_11)
    );
    assert_eq!(
        response.into_body().bytes().await.unwrap(),
        "hello from hotpool\n"
    );

    // [[hosts]] pins HTTP/3.
    let h3_url = format!("https://h3.hotpool.test:{}/c", s.h3.port());
    let response = client.get(&h3_url).send().await.unwrap();
    assert_eq!(
        (response.status(), response.version()),
        (http::StatusCode::OK, http::Version::HTTP_3)
    );
    assert_eq!(
        response.into_body().bytes().await.unwrap(),
        "hello from hotpool\n"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_share_one_start() {
    let s = sites("concurrent").await;
    // HTTP/2 for hosts without an entry: one connection per address.
    let client = Client::builder()
        .config(hotpool::Config::from_file(&s.config).unwrap())
        .transport(hotpool::Transport::H2)
        .build()
        .unwrap();
    let url = format!("https://h2.hotpool.test:{}/", s.h2.port());
    let requests = (0..16).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
    });
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.unwrap().unwrap(), 200);
    }
    // One pool for the host: at most one connection per address (two pools would have
    // dialed their own).
    let accepted = s.h2.stats().accepted;
    assert!((1..=2).contains(&accepted), "{accepted}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_hosts_are_typed_errors_naming_the_url() {
    let s = sites("bad").await;
    let client = Client::from_config(&s.config).unwrap();
    for (url, says) in [
        ("/relative/path", "not an absolute URL"),
        ("h2.hotpool.test/x", "not an absolute URL"),
        ("ftp://h2.hotpool.test/x", "unsupported scheme \"ftp\""),
        ("https:///nohost", "not a URL"),
    ] {
        let err = client.get(url).send().await.unwrap_err();
        assert!(matches!(err, Error::Url { .. }), "{url}: {err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(url) && text.contains(says),
            "{url}: {text}"
        );
    }
    let url = format!("https://missing.hotpool.test:{}/", s.h2.port());
    let err = client.get(&url).send().await.unwrap_err();
    match &err {
        Error::Resolve { host, .. } => assert_eq!(host, "missing.hotpool.test"),
        other => panic!("{other:?}"),
    }
    // The failed start is not kept: the host is reached once the zone has it.
    let h2_addrs = [ip("127.0.0.2")];
    s.dns
        .set_addrs("missing.hotpool.test", &h2_addrs, 60)
        .await
        .unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    // The origin's certificate is not for that name: now a TLS failure, not DNS.
    assert!(matches!(err, Error::Request { .. }), "{err:?}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_the_checks_refuse_is_a_config_error_at_its_line() {
    let dir = scratch("refused");
    let file = dir.join("hotpool.toml");
    std::fs::write(&file, "[pool]\nmax_idle_conns = 200\n").unwrap();
    let err = Client::from_config(&file).unwrap_err();
    let Error::Config(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((e.line(), e.key()), (Some(2), Some("pool.max_idle_conns")));
}

/// A response still held owns its connection's lease; closing the client waits for it a
/// bounded time (`hotpool::stack::CLOSE_WAIT`) and returns, never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_returns_while_a_response_is_held() {
    let s = sites("held").await;
    let client = Client::from_config(&s.config).unwrap();
    let url = format!("https://h2.hotpool.test:{}/", s.h2.port());
    let held = client.get(&url).send().await.unwrap();
    let bound = hotpool::stack::CLOSE_WAIT + Duration::from_secs(10);
    tokio::time::timeout(bound, client.close())
        .await
        .expect("close returns with a response held");
    drop(held);
}
