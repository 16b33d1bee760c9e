//! An HTTP/3 alternative on another host (RFC 7838 `h3="alt.example:PORT"`, or an HTTPS
//! record's TargetName, RFC 9460): the client dials the alternative host's addresses but
//! verifies the certificate for the *origin*; an alternative that cannot prove it is the
//! origin fails the handshake, and requests stay on TCP.
//!
//! The origin (TCP) and the alternative (QUIC) are on different loopback addresses, each
//! named in the testkit's DNS zone: a request served over HTTP/3 can only have reached the
//! alternative's address.

#![cfg(feature = "dns")]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config};
use http::Version;
use pool_dns::https_query_name;
use pool_testkit::origin::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions};
use pool_testkit::{DnsServer, TestCa};

const ZONE: &str = "hotpool.test";
const WAIT: Duration = Duration::from_secs(10);

/// The origin `{name}.hotpool.test` over TCP on `origin_ip`, and an HTTP/3 server on
/// `alt_ip` named `alt-{name}.hotpool.test` whose certificate is for `cert_name`.
struct Site {
    host: String,
    alt_host: String,
    tcp: H2Origin,
    h3: H3Origin,
    dns: DnsServer,
    config: String,
}

impl Site {
    async fn start(name: &str, origin_ip: &str, alt_ip: &str, cert_for_origin: bool) -> Site {
        let ca = Arc::new(TestCa::new().unwrap());
        let host = format!("{name}.{ZONE}");
        let alt_host = format!("alt-{name}.{ZONE}");
        let origin_addrs: [IpAddr; 1] = [origin_ip.parse().unwrap()];
        let alt_addrs: [IpAddr; 1] = [alt_ip.parse().unwrap()];
        let tcp = H2Origin::start(H2OriginOptions::new(&origin_addrs, &[&host], &ca))
            .await
            .unwrap();
        let cert_name = if cert_for_origin { &host } else { &alt_host };
        let h3 = H3Origin::start(H3OriginOptions::new(&alt_addrs, &[cert_name], &ca))
            .await
            .unwrap();
        let dns = DnsServer::start_zone(ZONE).await.unwrap();
        dns.set_addrs(&host, &origin_addrs, 60).await.unwrap();
        dns.set_addrs(&alt_host, &alt_addrs, 60).await.unwrap();
        let dir =
            std::env::temp_dir().join(format!("hotpool-alt-host-{name}-{}", std::process::id()));
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
            alt_host,
            tcp,
            h3,
            dns,
            config,
        }
    }

    fn client(&self) -> Client {
        let config = Config::from_str_named(&self.config, "alt-host.toml").unwrap();
        Client::builder().config(config).build().unwrap()
    }

    /// The origin's URL whose response says `alt-svc: h3="alt-…:PORT"`.
    fn advertising(&self) -> String {
        let value = format!("h3=\"{}:{}\"; ma=3600", self.alt_host, self.h3.port());
        let mut query = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() {
                query.push(char::from(b));
            } else {
                query.push_str(&format!("%{b:02X}"));
            }
        }
        format!(
            "https://{}:{}/response-headers?alt-svc={query}",
            self.host,
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
async fn an_alt_svc_on_another_host_is_dialed_there_and_verified_for_the_origin() {
    let site = Site::start("ah-a", "127.0.0.165", "127.0.0.166", true).await;
    let client = site.client();
    let url = site.advertising();
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    let status = client.alt_svc(&site.host, site.tcp.port()).unwrap();
    assert_eq!(status.host.as_deref(), Some(site.alt_host.as_str()));
    assert_eq!(client.alt_svc_stats().other_host, 1);
    pool_testkit::wait_for("HTTP/3 in use", WAIT, || {
        client
            .alt_svc(&site.host, site.tcp.port())
            .is_some_and(|s| s.in_use)
    })
    .await;
    for _ in 0..2 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_3);
    }
    // Only the alternative's address serves HTTP/3, with the origin's certificate.
    assert!(site.h3.stats().requests >= 2);
    let hosts = client.hosts();
    assert!(
        hosts
            .iter()
            .any(|h| h.host == site.host && h.transport == "h3" && h.port == site.h3.port()),
        "{hosts:?}"
    );
    client.close().await;
    site.dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alternative_that_cannot_prove_it_is_the_origin_is_never_used() {
    // The alternative's certificate is valid for its own name only.
    let site = Site::start("ah-b", "127.0.0.167", "127.0.0.168", false).await;
    let client = site.client();
    let url = site.advertising();
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    pool_testkit::wait_for("HTTP/3 marked broken", WAIT, || {
        client.alt_svc_stats().broken == 1
    })
    .await;
    for _ in 0..2 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    }
    assert_eq!(site.h3.stats().requests, 0);
    assert!(site.h3.stats().handshakes + site.h3.stats().handshake_failures >= 1);
    client.close().await;
    site.dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_record_naming_another_target_sends_the_first_request_there() {
    let site = Site::start("ah-c", "127.0.0.169", "127.0.0.170", true).await;
    let name = https_query_name(&site.host, site.tcp.port());
    let record = format!("1 {}. alpn=h3 port={}", site.alt_host, site.h3.port());
    site.dns.set_https(&name, &[&record], 300).await.unwrap();
    let client = site.client();
    let url = format!("https://{}:{}/", site.host, site.tcp.port());
    assert_eq!(version_of(&client, &url).await, Version::HTTP_3);
    assert_eq!(site.h3.stats().requests, 1);
    assert_eq!(site.tcp.stats().requests, 0);
    client.close().await;
    site.dns.shutdown().await;
}
