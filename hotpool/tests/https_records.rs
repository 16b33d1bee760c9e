//! HTTP/3 from a DNS HTTPS record (RFC 9460): an `auto` host whose HTTPS record lists
//! `h3` sends its first request over HTTP/3 (the record's port, or the URL's), falls back
//! to TCP when the UDP port is closed (HTTP/3 then marked broken, as for Alt-Svc), and a
//! host without a record, or whose HTTPS answer never comes, is served over TCP as before.
//! Every server is real and local: the testkit's DNS zone, h2 and h3 origins.

#![cfg(feature = "dns")]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config};
use http::Version;
use pool_dns::https_query_name;
use pool_testkit::origin::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions};
use pool_testkit::{DnsMode, DnsServer, TestCa};

const ZONE: &str = "hotpool.test";

/// An h3 origin, an `auto` (h2 / http/1.1) origin on the same address — on the same port
/// number when `same_port` — and the DNS zone naming them.
struct Site {
    host: String,
    tcp: H2Origin,
    h3: H3Origin,
    dns: DnsServer,
    config: String,
}

impl Site {
    async fn start(name: &str, ip: &str, same_port: bool) -> Site {
        let ca = Arc::new(TestCa::new().unwrap());
        let addrs: [IpAddr; 1] = [ip.parse().unwrap()];
        let host = format!("{name}.{ZONE}");
        let h3 = H3Origin::start(H3OriginOptions::new(&addrs, &[&host], &ca))
            .await
            .unwrap();
        let mut tcp_options = H2OriginOptions::new(&addrs, &[&host], &ca);
        if same_port {
            tcp_options.port = h3.port();
        }
        let tcp = H2Origin::start(tcp_options).await.unwrap();
        let dns = DnsServer::start_zone(ZONE).await.unwrap();
        dns.set_addrs(&host, &addrs, 60).await.unwrap();
        let dir =
            std::env::temp_dir().join(format!("hotpool-https-rr-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        ca.write_ca_pem(&ca_file).unwrap();
        let config = format!(
            "[pool]\nrequest_timeout = \"5s\"\nconn_timeout = \"1s\"\n\n\
             [dns]\nname_servers = [\"{dns}\"]\ntimeout = \"2s\"\n\n\
             [tls]\nca_files = [\"{ca}\"]\nuse_webpki_roots = false\n",
            dns = dns.addr(),
            ca = ca_file.display(),
        );
        Site {
            host,
            tcp,
            h3,
            dns,
            config,
        }
    }

    fn client(&self, extra: &str) -> Client {
        let text = format!("{}{extra}", self.config);
        let config = Config::from_str_named(&text, "https-records.toml").unwrap();
        Client::builder().config(config).build().unwrap()
    }

    /// The origin's URL (the TCP origin's port).
    fn url(&self) -> String {
        format!("https://{}:{}/", self.host, self.tcp.port())
    }

    /// Sets the origin's HTTPS records (on `_PORT._https.HOST`: the origin is not on 443).
    async fn set_https(&self, records: &[&str]) {
        let name = https_query_name(&self.host, self.tcp.port());
        self.dns.set_https(&name, records, 300).await.unwrap();
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
async fn an_https_record_with_h3_sends_the_first_request_over_http3_on_its_port() {
    let site = Site::start("rr-a", "127.0.0.160", false).await;
    site.set_https(&[&format!("1 . alpn=h3,h2 port={}", site.h3.port())])
        .await;
    let client = site.client("");
    let url = site.url();

    // The very first request of the host: HTTP/3, on the record's port.
    assert_eq!(version_of(&client, &url).await, Version::HTTP_3);
    for _ in 0..2 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_3);
    }
    assert_eq!(site.h3.stats().requests, 3);
    assert_eq!(site.tcp.stats().requests, 0, "no request went over TCP");
    let status = client.alt_svc(&site.host, site.tcp.port()).unwrap();
    assert_eq!(status.port, Some(site.h3.port()));
    assert!(status.in_use);
    // `ma` is the record's TTL (300 s).
    assert!(
        status
            .expires_in
            .is_some_and(|d| d <= Duration::from_secs(300))
    );
    let stats = client.alt_svc_stats();
    assert_eq!((stats.from_dns, stats.broken), (1, 0));
    let hosts = client.hosts();
    assert!(
        hosts
            .iter()
            .any(|h| h.transport == "h3" && h.alt_svc_for == Some(site.tcp.port())),
        "{hosts:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_a_port_means_the_urls_port() {
    // TCP and UDP on the same port number: the record names no port.
    let site = Site::start("rr-b", "127.0.0.161", true).await;
    assert_eq!(site.tcp.port(), site.h3.port());
    site.set_https(&["1 . alpn=h3"]).await;
    let client = site.client("");
    assert_eq!(version_of(&client, &site.url()).await, Version::HTTP_3);
    assert_eq!(site.tcp.stats().requests, 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_h3_but_the_udp_port_closed_falls_back_to_tcp() {
    let site = Site::start("rr-c", "127.0.0.162", false).await;
    site.set_https(&[&format!("1 . alpn=h3,h2 port={}", site.h3.port())])
        .await;
    site.h3.stop_listening().await;
    let client = site.client("");
    let url = site.url();

    // The first request tries HTTP/3, gets no connection, and is answered over TCP.
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    let status = client.alt_svc(&site.host, site.tcp.port()).unwrap();
    assert!(!status.in_use);
    assert!(
        status
            .broken_for
            .is_some_and(|d| d > Duration::from_secs(60)),
        "{status:?}"
    );
    // Marked broken: later requests go straight to TCP.
    for _ in 0..2 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    }
    assert_eq!(site.tcp.stats().requests, 3);
    assert_eq!(site.h3.stats().requests, 0);
    let stats = client.alt_svc_stats();
    assert_eq!((stats.from_dns, stats.broken), (1, 1));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_or_no_https_answer_is_as_before() {
    // No HTTPS record: TCP, nothing learned, no QUIC handshake.
    let site = Site::start("rr-d", "127.0.0.163", false).await;
    let client = site.client("");
    assert_eq!(version_of(&client, &site.url()).await, Version::HTTP_2);
    assert_eq!(client.alt_svc(&site.host, site.tcp.port()), None);
    assert_eq!(client.alt_svc_stats().from_dns, 0);

    // A record, but the server never answers HTTPS queries (A and AAAA still answered):
    // the host starts on its addresses, the request goes over TCP.
    let silent = Site::start("rr-e", "127.0.0.164", false).await;
    silent
        .set_https(&[&format!("1 . alpn=h3 port={}", silent.h3.port())])
        .await;
    silent.dns.set_https_mode(DnsMode::Silent);
    let client2 = silent.client("");
    assert_eq!(version_of(&client2, &silent.url()).await, Version::HTTP_2);
    assert_eq!(client2.alt_svc_stats().from_dns, 0);

    // A host pinned to h2 by its entry: the record is not used.
    silent.dns.set_https_mode(DnsMode::Normal);
    let pinned = silent.client(&format!(
        "\n[[hosts]]\nname = \"{}\"\nport = {}\ntransport = \"h2\"\n",
        silent.host,
        silent.tcp.port()
    ));
    assert_eq!(version_of(&pinned, &silent.url()).await, Version::HTTP_2);
    assert_eq!(pinned.alt_svc_stats().from_dns, 0);
    assert_eq!(site.h3.stats().handshakes + silent.h3.stats().handshakes, 0);
    client.close().await;
    client2.close().await;
    pinned.close().await;
}
