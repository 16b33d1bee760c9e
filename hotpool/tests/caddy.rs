//! The client against Debian's Caddy (`pool_testkit::origin::CaddyServer`), a web server
//! this project did not write that advertises HTTP/3 with `Alt-Svc` and compresses with
//! zstd: a `hotpool::Client` with no per-host setup (the host found by DNS, transport
//! `auto`) gets a zstd-encoded page decoded, learns HTTP/3 from Caddy's `alt-svc`, and
//! sends its later requests over HTTP/3, decoded the same.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config, DecodedFrom};
use http::Version;
use pool_testkit::origin::CaddyServer;
use pool_testkit::{DnsServer, TestCa};

const ZONE: &str = "hotpool.test";
const HOST: &str = "caddy.hotpool.test";

/// A page Caddy compresses (`encode` skips bodies under 512 bytes).
fn page() -> Vec<u8> {
    (0..500)
        .flat_map(|i| format!("line {i} of a page served by caddy\n").into_bytes())
        .collect()
}

/// One GET of `url`: its version, the coding it was decoded from, its `alt-svc`, the body.
async fn get(client: &Client, url: &str) -> (Version, Option<String>, Option<String>, Vec<u8>) {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let version = response.version();
    let coding = response
        .extensions()
        .get::<DecodedFrom>()
        .map(|d| d.content_encoding.to_str().unwrap().to_owned());
    let alt_svc = response
        .headers()
        .get("alt-svc")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().bytes().await.unwrap().to_vec();
    (version, coding, alt_svc, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_zstd_pages_are_decoded_and_its_alt_svc_moves_requests_to_http3() {
    let ca = Arc::new(TestCa::new().unwrap());
    let addr: IpAddr = "127.0.0.65".parse().unwrap();
    let page = page();
    let caddy = CaddyServer::start(addr, HOST, &ca, &[("page.html", &page)]).unwrap();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[addr], 60).await.unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-caddy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    // No `[[hosts]]` entry: the host is added on first use, `auto` (ALPN h2 / http/1.1).
    let text = format!(
        "[pool]\nrequest_timeout = \"10s\"\nconn_timeout = \"2s\"\n\n\
         [dns]\nname_servers = [\"{}\"]\ntimeout = \"2s\"\n\n\
         [tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n",
        dns.addr(),
        ca_file.display(),
    );
    let config = Config::from_str_named(&text, "caddy.toml").unwrap();
    let client = Client::builder().config(config).build().unwrap();
    let url = format!("https://{HOST}:{}/page.html", caddy.port());

    // The first request: over TCP (h2 by ALPN), zstd-encoded by Caddy and decoded.
    let (version, coding, alt_svc, body) = get(&client, &url).await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(coding.as_deref(), Some("zstd"), "{}", caddy.log());
    assert_eq!(body, page, "decoded to the file Caddy served");
    let advertised = alt_svc.expect("Caddy advertises HTTP/3 on TCP responses");
    assert!(
        advertised.contains(&format!("h3=\":{}\"", caddy.port())),
        "{advertised}"
    );

    // The client starts HTTP/3 in the background; once a connection is proven, new
    // requests move to it.
    let r = pool_testkit::eventually("HTTP/3 in use", Duration::from_secs(15), || {
        client.alt_svc(HOST, caddy.port()).is_some_and(|s| s.in_use)
    })
    .await;
    if let Err(e) = r {
        panic!(
            "{e}: {:?} {:?}; caddy's log: {}",
            client.alt_svc(HOST, caddy.port()),
            client.alt_svc_stats(),
            caddy.log()
        );
    }
    let (version, coding, _, body) = get(&client, &url).await;
    assert_eq!(version, Version::HTTP_3, "{:?}", client.alt_svc_stats());
    assert_eq!(coding.as_deref(), Some("zstd"));
    assert_eq!(body, page);

    // gzip over HTTP/3: Caddy's encoder ends with an empty DATA frame before gzip's 8-byte
    // trailer; the body goes on past it, and the connection serves the next request.
    for _ in 0..2 {
        let response = client
            .get(&url)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), Version::HTTP_3);
        let coding = response.extensions().get::<DecodedFrom>().cloned();
        assert_eq!(response.into_body().bytes().await.unwrap(), page);
        assert_eq!(coding.unwrap().content_encoding, "gzip");
    }

    client.close().await;

    // Asked for gzip only, Caddy's second coding, over HTTP/2.
    let config = Config::from_str_named(&text, "caddy.toml").unwrap();
    let tcp_only = Client::builder()
        .config(config)
        .alt_svc(false)
        .build()
        .unwrap();
    let response = tcp_only
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let coding = response.extensions().get::<DecodedFrom>().cloned();
    assert_eq!(response.into_body().bytes().await.unwrap(), page);
    assert_eq!(coding.unwrap().content_encoding, "gzip");
    tcp_only.close().await;
}
