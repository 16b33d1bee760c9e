//! Built without the `dns` feature (`cargo test -p hotpool --no-default-features --features
//! h3 --test system_resolver`): hosts resolve by the system's resolver (`localhost`, from
//! /etc/hosts) or a `[[hosts]]` entry's static `addrs`; `[dns]` name servers are not used.
#![cfg(not(feature = "dns"))]

use std::net::IpAddr;
use std::sync::Arc;

use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_resolve_by_the_system_resolver_or_static_addrs() {
    let ca = Arc::new(TestCa::new().unwrap());
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let pinned: IpAddr = "127.0.0.81".parse().unwrap();
    let local = H2Origin::start(H2OriginOptions::h2_only(&[loopback], &["localhost"], &ca))
        .await
        .unwrap();
    let other = H2Origin::start(H2OriginOptions::h2_only(&[pinned], &["pinned.test"], &ca))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-sysres-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    // A name server that does not exist: unused without the `dns` feature.
    let text = format!(
        "[pool]\nrequest_timeout = \"5s\"\n\n[dns]\nname_servers = [\"127.0.0.1:9\"]\n\
         prefer = \"ipv4\"\n\n[tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"pinned.test\"\nport = {}\naddrs = [\"{pinned}\"]\n",
        ca_file.display(),
        other.port(),
    );
    let client = Client::builder()
        .config(Config::from_str_named(&text, "sysres.toml").unwrap())
        .build()
        .unwrap();
    for url in [
        format!("https://localhost:{}/", local.port()),
        format!("https://pinned.test:{}/", other.port()),
    ] {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.version(), http::Version::HTTP_2, "{url}");
    }
    assert_eq!(local.stats().requests, 1);
    client.close().await;
}
