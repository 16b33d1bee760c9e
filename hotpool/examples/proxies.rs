//! `cargo run -p hotpool --example proxies`: requests leaving through proxies.
//!
//! A local HTTPS origin (pool-testkit, on 127.0.0.2: no network) and two local proxies
//! started from Debian's packages by pool-testkit's `ProxyServer`: tinyproxy (HTTP
//! CONNECT) and microsocks (SOCKS5). The config's `[egress] proxies` gives each host one
//! pool per proxy (its "egresses"); `rotation` picks one per request, and a request can
//! name its own with `.egress(label)`. The TLS session runs end to end through the tunnel.

use std::sync::Arc;

use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};
use pool_testkit::proxies::{ProxyKind, ProxyServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The origin (a certificate for 127.0.0.2 from a test CA) and the two proxies.
    let ca = Arc::new(TestCa::new()?);
    let origin = H2Origin::start(H2OriginOptions::new(
        &["127.0.0.2".parse()?],
        &["127.0.0.2"],
        &ca,
    ))
    .await?;
    let connect = ProxyServer::start(ProxyKind::Tinyproxy, None)?;
    let socks = ProxyServer::start(ProxyKind::Microsocks, None)?;
    let dir = std::env::temp_dir().join(format!("hotpool-proxies-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file)?;

    // The egress labels are the proxies' URLs, as written in the config.
    let (via_connect, via_socks) = (
        format!("http://{}", connect.addr()),
        format!("socks5://{}", socks.addr()),
    );
    let config = format!(
        "[tls]\nca_files = [\"{ca}\"]\nuse_webpki_roots = false\n\n\
         [egress]\nproxies = [\"{via_connect}\", \"{via_socks}\"]\nrotation = \"round-robin\"\n",
        ca = ca_file.display(),
    );
    let client = Client::builder()
        .config(Config::from_str_named(&config, "proxies.toml")?)
        .build()?;
    let url = format!("https://127.0.0.2:{}/", origin.port());

    // Round-robin: four requests, two through each proxy.
    for _ in 0..4 {
        let response = client.get(&url).send().await?;
        response.into_body().bytes().await?;
    }
    // Per request: all of these through the HTTP CONNECT proxy, whatever the rotation says.
    for _ in 0..3 {
        let response = client.get(&url).egress(&via_connect).send().await?;
        response.into_body().bytes().await?;
    }

    // Each egress is a pool of its own: its requests (leases) and connections (dials).
    let host = client.host_handle(&url).await?;
    for (label, stats) in host.egress_stats() {
        println!(
            "{label}: {} requests over {} connection(s)",
            stats.leases_total, stats.dials_total
        );
    }
    // The origin saw one TLS connection per proxy (each one a tunnel), none direct.
    println!(
        "origin: {} connections accepted, {} requests",
        origin.stats().accepted,
        origin.stats().requests
    );

    // A label the host does not have is a typed error, not a silent direct request.
    let err = client
        .get(&url)
        .egress("http://127.0.0.1:1")
        .send()
        .await
        .expect_err("no such egress");
    println!("unknown egress: {err}");

    client.close().await;
    origin.shutdown().await;
    drop((connect, socks));
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
