//! The WAN relay: delay each way (pipelined, not one read per round trip), bandwidth cap,
//! UDP loss, TCP end of stream, byte-exact relaying, and stats.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pool_testkit::{WanOptions, WanRelay, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn front(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 41, last])
}

/// A TCP server that echoes everything back, then closes its write side on EOF.
async fn tcp_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut rd, mut wr) = s.split();
                let _ = tokio::io::copy(&mut rd, &mut wr).await;
                let _ = wr.shutdown().await;
            });
        }
    });
    addr
}

async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_round_trip_takes_the_rtt_and_bytes_arrive_intact() {
    let relay = WanRelay::start(
        &[(front(1), tcp_echo().await)],
        WanOptions::rtt(Duration::from_millis(60)),
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(relay.socket_addr(front(1)))
        .await
        .unwrap();
    let started = Instant::now();
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    // The first exchange pays TCP's handshake round trip (the kernel completed it on
    // loopback; the relay holds the first bytes for it), then its own.
    assert!(
        started.elapsed() >= Duration::from_millis(120),
        "the first round trip took {:?}, less than 2 x the 60 ms RTT",
        started.elapsed()
    );
    let started = Instant::now();
    s.write_all(b"pong").await.unwrap();
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "a round trip took {:?}, less than the 60 ms RTT",
        started.elapsed()
    );

    // 3 MiB of patterned bytes, echoed back in order, then the end of stream.
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let (mut rd, mut wr) = s.into_split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut back))
        .await
        .expect("the echo ends")
        .unwrap();
    writer.await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes changed on the way");
    let stats = relay.stats();
    assert_eq!(stats.tcp_accepted, 1);
    assert_eq!(stats.bytes_up, 8 + data.len() as u64);
    assert_eq!(stats.bytes_down, 8 + data.len() as u64);
    eventually("the connection closes", Duration::from_secs(10), || {
        relay.stats().tcp_open == 0
    })
    .await
    .unwrap();
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_is_pipelined_not_paid_per_write() {
    // Five writes 20 ms apart on a 400 ms path: a relay that waited out the delay before
    // reading the next write would deliver the last one ≥ 2 s after the first.
    let relay = WanRelay::start(
        &[(front(2), tcp_echo().await)],
        WanOptions::rtt(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    let s = TcpStream::connect(relay.socket_addr(front(2)))
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let started = Instant::now();
    tokio::spawn(async move {
        for i in 0..5u8 {
            wr.write_all(&[i]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    let mut first_at = None;
    while got.len() < 5 {
        let n = rd.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early");
        first_at.get_or_insert_with(Instant::now);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);
    let first = first_at.unwrap().duration_since(started);
    let spread = first_at.unwrap().elapsed();
    assert!(
        first >= Duration::from_millis(400),
        "first byte after {first:?}"
    );
    assert!(
        spread < Duration::from_millis(1000),
        "the five writes arrived over {spread:?}: the relay serialised the delay"
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bandwidth_cap_paces_a_transfer() {
    // 256 KiB at 1 MiB/s each way: at least 250 ms on the way up.
    let relay = WanRelay::start(
        &[(front(3), tcp_echo().await)],
        WanOptions::rtt(Duration::ZERO).with_bandwidth(1 << 20),
    )
    .await
    .unwrap();
    let s = TcpStream::connect(relay.socket_addr(front(3)))
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let started = Instant::now();
    tokio::spawn(async move {
        wr.write_all(&vec![7u8; 256 << 10]).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut back))
        .await
        .expect("the echo ends")
        .unwrap();
    assert_eq!(back.len(), 256 << 10);
    assert!(
        started.elapsed() >= Duration::from_millis(245),
        "256 KiB at 1 MiB/s took {:?}",
        started.elapsed()
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_is_delayed_and_dropped_at_the_loss_rate() {
    let upstream = udp_echo().await;
    let relay = WanRelay::start(
        &[(front(4), upstream)],
        WanOptions::rtt(Duration::from_millis(40)),
    )
    .await
    .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(relay.socket_addr(front(4))).await.unwrap();
    let started = Instant::now();
    client.send(b"hello").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), client.recv(&mut buf))
        .await
        .expect("the echo comes back")
        .unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert!(started.elapsed() >= Duration::from_millis(40));

    // Everything lost: nothing comes back, every datagram is counted as lost.
    relay.set_options(WanOptions::rtt(Duration::ZERO).with_loss(1.0));
    for _ in 0..20 {
        client.send(b"gone").await.unwrap();
    }
    eventually("20 datagrams lost", Duration::from_secs(10), || {
        relay.stats().datagrams_lost == 20
    })
    .await
    .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), client.recv(&mut buf))
            .await
            .is_err(),
        "a datagram came back at loss 1.0"
    );

    // Half lost, each way: some but not all of 200 round trips complete.
    relay.set_options(WanOptions::rtt(Duration::ZERO).with_loss(0.5));
    let before = relay.stats();
    for _ in 0..200 {
        client.send(b"maybe").await.unwrap();
    }
    eventually(
        "every datagram relayed or lost",
        Duration::from_secs(10),
        || {
            let s = relay.stats();
            let up_handled =
                (s.datagrams - before.datagrams) + (s.datagrams_lost - before.datagrams_lost);
            // each datagram that went up is either lost down or relayed down
            up_handled >= 200
        },
    )
    .await
    .unwrap();
    let s = relay.stats();
    let lost = s.datagrams_lost - before.datagrams_lost;
    assert!(lost > 40 && lost < 260, "{lost} datagrams lost at 0.5");
    relay.shutdown().await;
}
