//! HTTP/3 learned from Alt-Svc: an `auto` host whose HTTPS responses say
//! `alt-svc: h3=":PORT"` moves its later requests to HTTP/3 (the testkit's H3 origin on
//! the same address), falls back to TCP when the UDP port goes silent, ignores a
//! malformed value, and stays on TCP when pinned by a `[[hosts]]` entry.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config};
use http::Version;
use pool_testkit::origin::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions};
use pool_testkit::{DnsServer, TestCa};

const ZONE: &str = "hotpool.test";
const WAIT: Duration = Duration::from_secs(10);

/// An `auto` origin (h2 / http/1.1 by ALPN) and an HTTP/3 origin on the same address,
/// one name in a DNS zone, and the config text trusting the test CA.
struct Site {
    tcp: H2Origin,
    h3: H3Origin,
    _dns: DnsServer,
    config: String,
}

impl Site {
    async fn start(name: &str, ip: &str) -> Site {
        let ca = Arc::new(TestCa::new().unwrap());
        let addrs: [IpAddr; 1] = [ip.parse().unwrap()];
        let host = format!("{name}.{ZONE}");
        let tcp = H2Origin::start(H2OriginOptions::new(&addrs, &[&host], &ca))
            .await
            .unwrap();
        let h3 = H3Origin::start(H3OriginOptions::new(&addrs, &[&host], &ca))
            .await
            .unwrap();
        let dns = DnsServer::start_zone(ZONE).await.unwrap();
        dns.set_addrs(&host, &addrs, 60).await.unwrap();
        let dir =
            std::env::temp_dir().join(format!("hotpool-altsvc-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file: PathBuf = dir.join("ca.pem");
        ca.write_ca_pem(&ca_file).unwrap();
        let config = format!(
            "[pool]\nrequest_timeout = \"5s\"\nconn_timeout = \"1s\"\n\n\
             [dns]\nname_servers = [\"{dns}\"]\ntimeout = \"2s\"\n\n\
             [tls]\nca_files = [\"{ca}\"]\nuse_webpki_roots = false\n",
            dns = dns.addr(),
            ca = ca_file.display(),
        );
        Site {
            tcp,
            h3,
            _dns: dns,
            config,
        }
    }

    fn client(&self, extra: &str) -> Client {
        let text = format!("{}{extra}", self.config);
        let config = Config::from_str_named(&text, "altsvc.toml").unwrap();
        Client::builder().config(config).build().unwrap()
    }

    /// A URL of the TCP origin whose response carries `alt-svc: {value}`.
    fn advertising(&self, host: &str, value: &str) -> String {
        let mut query = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() {
                query.push(char::from(b));
            } else {
                query.push_str(&format!("%{b:02X}"));
            }
        }
        format!(
            "https://{host}.{ZONE}:{}/response-headers?alt-svc={query}",
            self.tcp.port()
        )
    }
}

async fn version_of(client: &Client, url: &str) -> Version {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let version = response.version();
    response.into_body().bytes().await.unwrap();
    version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_moves_later_requests_to_http3_and_falls_back_when_udp_goes_silent() {
    let site = Site::start("a", "127.0.0.40").await;
    let client = site.client("");
    let url = site.advertising("a", &format!("h3=\":{}\"; ma=3600", site.h3.port()));
    let origin_port = site.tcp.port();

    // The first request goes over TCP (h2 by ALPN) and teaches the client the alternative.
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    // A request in flight over TCP while HTTP/3 starts is not moved: it ends over TCP.
    let slow = format!("https://a.{ZONE}:{origin_port}/slow/300");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { version_of(&client, &slow).await }
    });
    let status = client.alt_svc(&format!("a.{ZONE}"), origin_port).unwrap();
    assert_eq!(status.port, Some(site.h3.port()));
    // HTTP/3 is started and warmed in the background; then new requests move.
    let r = pool_testkit::eventually("HTTP/3 in use", WAIT, || {
        client
            .alt_svc(&format!("a.{ZONE}"), origin_port)
            .is_some_and(|s| s.in_use)
    })
    .await;
    if let Err(e) = r {
        let status = client.alt_svc(&format!("a.{ZONE}"), origin_port);
        let stats = client.alt_svc_stats();
        panic!(
            "{e}: {status:?} {stats:?} {:?} {:?}",
            client.hosts(),
            site.h3.stats()
        );
    }
    for _ in 0..3 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_3);
    }
    assert_eq!(in_flight.await.unwrap(), Version::HTTP_2);
    assert!(site.h3.stats().requests >= 3);
    let hosts = client.hosts();
    assert!(
        hosts
            .iter()
            .any(|h| h.transport == "h3" && h.alt_svc_for == Some(origin_port)),
        "{hosts:?}"
    );
    assert_eq!(client.alt_svc_stats().learned, 1);

    // The UDP port goes silent: the next request's QUIC dial fails, the request goes
    // over TCP, and HTTP/3 is marked broken (later requests stay on TCP).
    let tcp_before = site.tcp.stats().requests;
    site.h3.stop_listening().await;
    for _ in 0..3 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    }
    assert_eq!(site.tcp.stats().requests, tcp_before + 3);
    let status = client.alt_svc(&format!("a.{ZONE}"), origin_port).unwrap();
    assert!(!status.in_use);
    assert!(
        status
            .broken_for
            .is_some_and(|d| d > Duration::from_secs(60))
    );
    assert_eq!(client.alt_svc_stats().broken, 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_udp_port_at_start_keeps_requests_on_tcp() {
    let site = Site::start("b", "127.0.0.41").await;
    let client = site.client("");
    site.h3.stop_listening().await;
    let url = site.advertising("b", &format!("h3=\":{}\"", site.h3.port()));
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    // The background start cannot connect: HTTP/3 is marked broken, never used.
    pool_testkit::wait_for("HTTP/3 marked broken", WAIT, || {
        client.alt_svc_stats().broken == 1
    })
    .await;
    for _ in 0..2 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    }
    assert_eq!(site.h3.stats().requests, 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_alt_svc_is_ignored_and_a_pinned_host_stays_on_tcp() {
    let site = Site::start("c", "127.0.0.42").await;
    let client = site.client("");
    let bad = site.advertising("c", &format!("h3=\":{}", site.h3.port()));
    for _ in 0..2 {
        assert_eq!(version_of(&client, &bad).await, Version::HTTP_2);
    }
    let stats = client.alt_svc_stats();
    assert_eq!((stats.malformed, stats.learned), (2, 0));
    assert_eq!(client.alt_svc(&format!("c.{ZONE}"), site.tcp.port()), None);

    // A `[[hosts]]` entry pinning h2: the header is not even read.
    let pinned = site.client(&format!(
        "\n[[hosts]]\nname = \"c.{ZONE}\"\nport = {}\ntransport = \"h2\"\n",
        site.tcp.port()
    ));
    let good = site.advertising("c", &format!("h3=\":{}\"", site.h3.port()));
    for _ in 0..2 {
        assert_eq!(version_of(&pinned, &good).await, Version::HTTP_2);
    }
    assert_eq!(pinned.alt_svc_stats().learned, 0);
    assert_eq!(site.h3.stats().handshakes, 0);
    client.close().await;
    pinned.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_clear_moves_new_requests_back_to_tcp() {
    let site = Site::start("d", "127.0.0.43").await;
    let client = site.client("");
    let port = site.tcp.port();
    let url = site.advertising("d", &format!("h3=\":{}\"", site.h3.port()));
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    pool_testkit::wait_for("HTTP/3 in use", WAIT, || {
        client
            .alt_svc(&format!("d.{ZONE}"), port)
            .is_some_and(|s| s.in_use)
    })
    .await;
    // Served over HTTP/3, the response says `clear`: the next request goes over TCP.
    let clear = site.advertising("d", "clear");
    assert_eq!(version_of(&client, &clear).await, Version::HTTP_3);
    let plain = format!("https://d.{ZONE}:{port}/");
    assert_eq!(version_of(&client, &plain).await, Version::HTTP_2);
    assert_eq!(client.alt_svc_stats().cleared, 1);
    client.close().await;
}
