//! How a `hotpool::Client` meets its hosts: three hosts on HTTP/1.1, HTTP/2 and HTTP/3
//! with no per-host setup (HTTP/3 learned from Alt-Svc), configured `[[hosts]]` warmed when
//! the client is built, the one-shot policy that dials only what a request needs, and a
//! `[[hosts]]` port against a URL's own port.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config, Transport, WarmPolicy};
use http::Version;
use pool_testkit::origin::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions};
use pool_testkit::{DnsServer, TestCa};

const ZONE: &str = "hotpool.test";
const WAIT: Duration = Duration::from_secs(10);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A test CA written to a file of the test's own, a DNS zone, and the config text that
/// trusts the one and resolves through the other (nothing per host).
struct Base {
    ca: Arc<TestCa>,
    dns: DnsServer,
    config: String,
}

impl Base {
    async fn start(name: &str) -> Base {
        let ca = Arc::new(TestCa::new().unwrap());
        let dns = DnsServer::start_zone(ZONE).await.unwrap();
        let dir: PathBuf =
            std::env::temp_dir().join(format!("hotpool-first-use-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        ca.write_ca_pem(&ca_file).unwrap();
        let config = format!(
            "[pool]\nrequest_timeout = \"5s\"\nconn_timeout = \"2s\"\n\n\
             [dns]\nname_servers = [\"{dns}\"]\ntimeout = \"2s\"\n\n\
             [tls]\nca_files = [\"{ca}\"]\nuse_webpki_roots = false\n",
            dns = dns.addr(),
            ca = ca_file.display(),
        );
        Base { ca, dns, config }
    }

    /// The config with `extra` (`[[hosts]]` entries) after it.
    fn config(&self, extra: &str) -> Config {
        Config::from_str_named(&format!("{}{extra}", self.config), "first-use.toml").unwrap()
    }

    /// An origin of `options` whose `name` resolves to its addresses.
    async fn origin(&self, name: &str, options: H2OriginOptions) -> H2Origin {
        let origin = H2Origin::start(options).await.unwrap();
        self.dns
            .set_addrs(&format!("{name}.{ZONE}"), origin.addrs(), 60)
            .await
            .unwrap();
        origin
    }
}

/// The status and HTTP version of a GET of `url`, its body read.
async fn version_of(client: &Client, url: &str) -> Version {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let version = response.version();
    response.into_body().bytes().await.unwrap();
    version
}

/// `alt-svc: h3=":{port}"` as the query of the origins' `/response-headers` route.
fn advertising_h3(port: u16) -> String {
    format!("/response-headers?alt-svc=h3%3D%22%3A{port}%22%3B%20ma%3D3600")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reaches_h1_h2_and_h3_hosts_with_no_per_host_setup() {
    let base = Base::start("three").await;
    let h1 = base
        .origin(
            "one",
            H2OriginOptions::h1_only(&[ip("127.0.0.61")], &[&format!("one.{ZONE}")], &base.ca),
        )
        .await;
    let h2 = base
        .origin(
            "two",
            H2OriginOptions::h2_only(&[ip("127.0.0.62")], &[&format!("two.{ZONE}")], &base.ca),
        )
        .await;
    // The third host: its TCP side (h2 / http/1.1 by ALPN) advertises HTTP/3 on the UDP
    // port of an HTTP/3 origin on the same address.
    let three_addr = [ip("127.0.0.63")];
    let three_name = format!("three.{ZONE}");
    let tcp = base
        .origin(
            "three",
            H2OriginOptions::new(&three_addr, &[&three_name], &base.ca),
        )
        .await;
    let h3 = H3Origin::start(H3OriginOptions::new(&three_addr, &[&three_name], &base.ca))
        .await
        .unwrap();
    // Only trust and DNS: no [[hosts]], the client's defaults.
    let client = Client::builder().config(base.config("")).build().unwrap();

    let one = format!("https://one.{ZONE}:{}/", h1.port());
    assert_eq!(version_of(&client, &one).await, Version::HTTP_11);
    let two = format!("https://two.{ZONE}:{}/", h2.port());
    assert_eq!(version_of(&client, &two).await, Version::HTTP_2);
    let three = format!("https://{three_name}:{}", tcp.port());
    let first = format!("{three}{}", advertising_h3(h3.port()));
    assert_eq!(version_of(&client, &first).await, Version::HTTP_2);
    // HTTP/3 starts in the background; new requests move once it has a connection.
    pool_testkit::wait_for("HTTP/3 learned and in use", WAIT, || {
        client
            .alt_svc(&three_name, tcp.port())
            .is_some_and(|s| s.in_use)
    })
    .await;
    let before = h3.stats().requests;
    assert_eq!(
        version_of(&client, &format!("{three}/")).await,
        Version::HTTP_3
    );
    assert_eq!(
        h3.stats().requests,
        before + 1,
        "served by the HTTP/3 origin"
    );
    // The other hosts stay where they were.
    assert_eq!(version_of(&client, &one).await, Version::HTTP_11);
    assert_eq!(version_of(&client, &two).await, Version::HTTP_2);
    let transports: Vec<_> = client
        .hosts()
        .into_iter()
        .map(|h| (h.host, h.transport, h.alt_svc_for))
        .collect();
    assert!(
        transports.contains(&(three_name.clone(), "h3", Some(tcp.port()))),
        "{transports:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_hosts_are_warm_before_their_first_request() {
    let base = Base::start("warm").await;
    let addrs = [ip("127.0.0.64"), ip("127.0.0.65")];
    let name = format!("warm.{ZONE}");
    let origin = base
        .origin("warm", H2OriginOptions::h2_only(&addrs, &[&name], &base.ca))
        .await;
    // A second entry that does not resolve yet: its failed start must not fail the build.
    let late = format!("late.{ZONE}");
    let extra = format!(
        "\n[[hosts]]\nname = \"{name}\"\nport = {port}\n\n\
         [[hosts]]\nname = \"{late}\"\nport = {port}\n",
        port = origin.port()
    );
    let client = Client::builder()
        .config(base.config(&extra))
        .build()
        .unwrap();
    // No request yet: the entry's pool dials every address on its own.
    let handshakes = |a: &str| origin.stats_for(ip(a)).map_or(0, |s| s.handshakes);
    pool_testkit::wait_for("both addresses warm", WAIT, || {
        handshakes("127.0.0.64") >= 1 && handshakes("127.0.0.65") >= 1
    })
    .await;
    let warmed = origin.stats().handshakes;
    assert_eq!(origin.stats().requests, 0, "nothing asked yet");
    // The first request finds a connection: no new handshake.
    let url = format!("https://{name}:{}/", origin.port());
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    assert_eq!(
        origin.stats().handshakes,
        warmed,
        "the first request dialed"
    );

    // The unresolved entry starts on its first request once DNS has it.
    base.dns.set_addrs(&late, &addrs, 60).await.unwrap();
    // Its certificate is for `warm.`: a TLS failure, which proves the host was reached.
    let err = client
        .get(format!("https://{late}:{}/", origin.port()))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, hotpool::Error::Request { .. }), "{err:?}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_dials_only_what_requests_need() {
    let base = Base::start("on-demand").await;
    let addrs = [ip("127.0.0.66"), ip("127.0.0.67"), ip("127.0.0.68")];
    let name = format!("once.{ZONE}");
    let origin = base
        .origin("once", H2OriginOptions::h2_only(&addrs, &[&name], &base.ca))
        .await;
    // A configured entry too: not started at build time on demand.
    let other = base
        .origin(
            "other",
            H2OriginOptions::h2_only(&[ip("127.0.0.69")], &[&format!("other.{ZONE}")], &base.ca),
        )
        .await;
    let extra = format!(
        "\n[[hosts]]\nname = \"other.{ZONE}\"\nport = {}\n",
        other.port()
    );
    let client = Client::builder()
        .config(base.config(&extra))
        .transport(Transport::H2)
        .warm(WarmPolicy::OnDemand)
        .build()
        .unwrap();
    let url = format!("https://{name}:{}/", origin.port());
    for _ in 0..5 {
        assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    }
    // One connection for five sequential requests; the host's other two addresses were
    // never dialed (the default policy dials all three: the next client).
    assert_eq!(origin.stats().accepted, 1);
    assert_eq!(origin.stats().requests, 5);
    assert_eq!(other.stats().accepted, 0, "[[hosts]] not warmed on demand");
    client.close().await;

    let client = Client::builder()
        .config(base.config(""))
        .transport(Transport::H2)
        .build()
        .unwrap();
    assert_eq!(version_of(&client, &url).await, Version::HTTP_2);
    pool_testkit::wait_for("every address warm", WAIT, || {
        origin.per_addr_stats().values().all(|s| s.accepted >= 1)
            && origin.per_addr_stats().len() == 3
    })
    .await;
    client.close().await;
}

/// A `[[hosts]]` entry's port is where the client warms it; a URL naming another port
/// goes to that port, with the entry's other settings (here its transport).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_urls_port_wins_over_its_hosts_entry() {
    let base = Base::start("port").await;
    let name = format!("port.{ZONE}");
    // Speaks h2 and HTTP/1.1: the version says which transport the client used.
    let origin = base
        .origin(
            "port",
            H2OriginOptions::new(&[ip("127.0.0.70")], &[&name], &base.ca),
        )
        .await;
    // Nothing listens on port 9 of 127.0.0.70 (discard): the entry's own port fails to
    // warm (logged), the build does not.
    let extra = format!("\n[[hosts]]\nname = \"{name}\"\nport = 9\ntransport = \"h1\"\n");
    let client = Client::builder()
        .config(base.config(&extra))
        .build()
        .unwrap();
    let url = format!("https://{name}:{}/", origin.port());
    assert_eq!(version_of(&client, &url).await, Version::HTTP_11);
    let hosts = client.hosts();
    let on_url_port = hosts
        .iter()
        .find(|h| h.port == origin.port())
        .expect("the URL's port has a pool");
    assert_eq!(on_url_port.transport, "h1");
    client.close().await;
}
