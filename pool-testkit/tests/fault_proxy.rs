//! The fault proxy on its own, in front of a plain TCP echo server: forwarding and its
//! counters, a reset, a refused address that listens again, a stall released by `Pass`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pool_testkit::{Fault, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SOON: Duration = Duration::from_secs(10);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 8, last])
}

/// An echo server on 127.0.8.1: every connection gets its bytes back.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind((ip(1), 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn round_trip(conn: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    conn.write_all(msg).await?;
    let mut back = vec![0; msg.len()];
    tokio::time::timeout(SOON, conn.read_exact(&mut back))
        .await
        .map_err(|_| std::io::Error::other("no echo in time"))??;
    Ok(back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_counts_resets_refuses_and_stalls() {
    let upstream = echo().await;
    let ips = [ip(2), ip(3)];
    let proxy = FaultProxy::start(&ips, upstream).await.unwrap();
    assert_eq!(
        proxy.socket_addrs(),
        vec![proxy.socket_addr(ips[0]), proxy.socket_addr(ips[1])]
    );

    // Pass: bytes go through and are counted per address.
    let mut a = TcpStream::connect(proxy.socket_addr(ips[0])).await.unwrap();
    assert_eq!(round_trip(&mut a, b"hello").await.unwrap(), b"hello");
    assert!(
        proxy
            .wait_until(SOON, |p| p.stats_for(ips[0]).bytes_down == 5)
            .await
    );
    let s = proxy.stats_for(ips[0]);
    assert_eq!((s.accepted, s.open, s.bytes_up), (1, 1, 5));
    assert_eq!(proxy.stats_for(ips[1]).accepted, 0);

    // Reset now: the client sees its connection reset.
    assert_eq!(proxy.inject(ips[0], Fault::Reset), 1);
    assert!(proxy.wait_until(SOON, |p| p.stats().open == 0).await);
    assert_eq!(proxy.stats_for(ips[0]).resets, 1);
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(SOON, a.read(&mut buf)).await.unwrap();
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );

    // Refuse: the kernel refuses connects until another fault is set.
    proxy.set_fault(ips[1], Fault::Refuse);
    assert!(
        proxy
            .wait_until(SOON, |p| p.stats_for(ips[1]).listening == 0)
            .await
    );
    let refused = TcpStream::connect(proxy.socket_addr(ips[1])).await;
    assert!(refused.is_err(), "{refused:?}");
    proxy.set_fault(ips[1], Fault::Pass);
    assert!(
        proxy
            .wait_until(SOON, |p| p.stats_for(ips[1]).binds == 2)
            .await
    );
    let mut b = TcpStream::connect(proxy.socket_addr(ips[1])).await.unwrap();
    assert_eq!(round_trip(&mut b, b"again").await.unwrap(), b"again");

    // Stall holds the bytes; Pass delivers them.
    assert_eq!(proxy.inject(ips[1], Fault::Stall), 1);
    b.write_all(b"held").await.unwrap();
    // A negative can only be checked for a while: 200 ms without the bytes moving on.
    let forwarded = proxy
        .wait_until(Duration::from_millis(200), |p| {
            p.stats_for(ips[1]).bytes_up > 5
        })
        .await;
    assert!(!forwarded, "stalled bytes were forwarded");
    assert_eq!(proxy.inject(ips[1], Fault::Pass), 1);
    let mut back = [0u8; 4];
    tokio::time::timeout(SOON, b.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"held");

    proxy.shutdown().await;
    assert_eq!(proxy.stats().open, 0);
}
