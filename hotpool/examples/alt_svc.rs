//! `cargo run -p hotpool --example alt_svc`: HTTP/3 learned from an `alt-svc` header.
//!
//! Two local origins on 127.0.0.2 (pool-testkit, no network): HTTPS over TCP (HTTP/2)
//! and HTTP/3 over QUIC on a UDP port of its own. The TCP origin's response says
//! `alt-svc: h3=":PORT"`; the client (transport `auto`, its default) starts and warms an
//! HTTP/3 pool in the background, and moves later requests to it. When the UDP port goes
//! silent, the next request falls back to TCP and HTTP/3 is marked broken for a while.
//! `docs/alt-svc.md` has the rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions};

const HOST: &str = "127.0.0.2";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Both origins have a certificate for 127.0.0.2 from the same test CA.
    let ca = Arc::new(TestCa::new()?);
    let addrs = [HOST.parse()?];
    let tcp = H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], &ca)).await?;
    let h3 = H3Origin::start(H3OriginOptions::new(&addrs, &[HOST], &ca)).await?;
    let dir = std::env::temp_dir().join(format!("hotpool-alt-svc-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    ca.write_ca_pem(dir.join("ca.pem"))?;
    // A short connect deadline: when HTTP/3 cannot connect, the request is not held up
    // long before it goes over TCP.
    let config = format!(
        "[pool]\nconn_timeout = \"1s\"\nrequest_timeout = \"5s\"\n\n\
         [tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n",
        dir.join("ca.pem").display()
    );
    let client = Client::builder()
        .config(Config::from_str_named(&config, "alt_svc.toml")?)
        .build()?;

    // `/response-headers?alt-svc=…` answers with that header: `h3=":PORT"`, percent-encoded.
    let url = format!(
        "https://{HOST}:{}/response-headers?alt-svc=h3%3D%22%3A{}%22",
        tcp.port(),
        h3.port()
    );

    // 1. The first request goes over TCP, and teaches the client the alternative.
    let response = client.get(&url).send().await?;
    println!("first request:  {:?}", response.version());
    response.into_body().bytes().await?;

    // 2. HTTP/3 is started and warmed in the background; once a connection is open, new
    //    requests to the origin use it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client
        .alt_svc(HOST, tcp.port())
        .is_some_and(|status| status.in_use)
    {
        if Instant::now() > deadline {
            return Err("HTTP/3 was not taken into use within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        let response = client.get(&url).send().await?;
        println!("later request:  {:?}", response.version());
        response.into_body().bytes().await?;
    }
    println!("alt-svc status: {:?}", client.alt_svc(HOST, tcp.port()));
    println!("h3 origin:      {} requests served", h3.stats().requests);

    // 3. The UDP port closes (a firewall dropping QUIC, say): the next request cannot get
    //    an HTTP/3 connection, so it goes over TCP — nothing is lost — and HTTP/3 is left
    //    alone for a while (`broken_for`).
    h3.stop_listening().await;
    let response = client.get(&url).send().await?;
    println!("UDP closed:     {:?}", response.version());
    response.into_body().bytes().await?;
    let status = client.alt_svc(HOST, tcp.port());
    println!(
        "alt-svc status: in use {:?}, broken for {:?}",
        status.as_ref().map(|s| s.in_use),
        status.and_then(|s| s.broken_for)
    );
    println!("alt-svc stats:  {:?}", client.alt_svc_stats());

    client.close().await;
    tcp.shutdown().await;
    h3.shutdown().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
