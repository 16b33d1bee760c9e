//! The local servers release every socket on shutdown. A binary of its own, so no other
//! test opens descriptors in this process while it counts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::fds::open_fds;
use pool_testkit::{
    DnsServer, H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa, eventually,
};
use tokio::net::TcpStream;

/// Waits (bounded) for the descriptor count to come back to `baseline`; returns the count.
async fn fds_back_to(baseline: usize) -> usize {
    // A timeout is reported by the caller's assertion on the count.
    let _ = eventually(
        "descriptors back to the baseline",
        Duration::from_secs(5),
        || open_fds() <= baseline,
    )
    .await;
    open_fds()
}

#[tokio::test]
async fn shutdown_releases_every_descriptor() {
    let lo = |n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n));
    let ca = Arc::new(TestCa::new().unwrap());
    let baseline = open_fds();

    // h2 origin with open, mid-handshake and established connections: shutdown waits
    // for every connection task, so the count is back at once.
    let origin = H2Origin::start(H2OriginOptions::new(&[lo(2), lo(3)], &["fd.test"], &ca))
        .await
        .unwrap();
    let addr = origin.socket_addrs()[1];
    let idle = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config(&[b"h2"]).unwrap()));
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("fd.test").unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        )
        .await
        .unwrap();
    assert!(
        origin
            .wait_until(Duration::from_secs(10), |o| o.stats().open_connections == 2)
            .await
    );
    origin.shutdown().await;
    drop((idle, tls));
    assert_eq!(open_fds(), baseline, "h2 origin left descriptors open");
    drop(origin);

    // HTTP/3 origin with a live connection; quinn closes its sockets from its driver task.
    let quic = H3Origin::start(H3OriginOptions::new(&[lo(2)], &["fd.test"], &ca))
        .await
        .unwrap();
    {
        let tls = ca.client_config(&[H3Origin::DEFAULT_ALPN]).unwrap();
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut client = quinn::Endpoint::client(SocketAddr::new(lo(1), 0)).unwrap();
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = client
            .connect(quic.socket_addrs()[0], "fd.test")
            .unwrap()
            .await
            .unwrap();
        quic.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        client.close(0u32.into(), b"done");
        client.wait_idle().await;
    }
    drop(quic);
    let now = fds_back_to(baseline).await;
    assert_eq!(now, baseline, "HTTP/3 origin left descriptors open");

    // DNS server with an open TCP connection.
    let dns = DnsServer::start_zone("fd.test").await.unwrap();
    let tcp = TcpStream::connect(dns.addr()).await.unwrap();
    dns.shutdown().await;
    drop((tcp, dns));
    let now = fds_back_to(baseline).await;
    assert_eq!(now, baseline, "DNS server left descriptors open");
}
