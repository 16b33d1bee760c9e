//! TCP keepalive and `TCP_USER_TIMEOUT` on every TCP dial (`pool_dial_rustls::connect_tcp`, which
//! the rustls dialers and pool-dial-boring call): the options read back from the socket, and the
//! keepalive timer armed on a connection the real dialer made (`docs/tcp-keepalive.md`).
//!
//! The socket-level test runs with a paused clock (`start_paused`): a loopback connect
//! completes in the kernel (the origin's listen backlog) without any tokio timer, so the
//! paused clock never has to advance. The dialer-level test runs on the real clock: the
//! dial is bounded by `conn_timeout` (a tokio timer), which a paused clock would auto-advance
//! to while the handshake waits on the socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, SourceAddrs, TcpKeepalive, TcpOptions, TlsOptions};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};
use socket2::SockRef;

const HOST: &str = "keepalive.test";
const WAIT: Duration = Duration::from_secs(10);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

async fn origin(ca: &Arc<TestCa>, last: u8) -> H2Origin {
    H2Origin::start(H2OriginOptions::h1_only(&[ip(last)], &[HOST], ca))
        .await
        .unwrap()
}

/// What the socket says: (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
/// TCP_USER_TIMEOUT).
fn read_back(stream: &tokio::net::TcpStream) -> (bool, Duration, Duration, u32, Option<Duration>) {
    let sock = SockRef::from(stream);
    (
        sock.keepalive().unwrap(),
        sock.tcp_keepalive_time().unwrap(),
        sock.tcp_keepalive_interval().unwrap(),
        sock.tcp_keepalive_retries().unwrap(),
        sock.tcp_user_timeout().unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn connect_tcp_sets_keepalive_and_user_timeout() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, 71).await;
    let addr: SocketAddr = origin.socket_addrs()[0];
    let sources = SourceAddrs::default();

    // The defaults.
    let stream = pool_dial_rustls::connect_tcp(addr, &sources, &TcpOptions::default())
        .await
        .unwrap();
    assert_eq!(
        read_back(&stream),
        (
            true,
            Duration::from_secs(15),
            Duration::from_secs(5),
            3,
            Some(Duration::from_secs(20))
        )
    );
    assert!(stream.nodelay().unwrap());

    // Other values reach the socket as given.
    let custom = TcpOptions {
        keepalive: Some(TcpKeepalive {
            idle: Duration::from_secs(42),
            interval: Duration::from_secs(9),
            retries: 6,
        }),
        user_timeout: Some(Duration::from_millis(12_500)),
    };
    let stream = pool_dial_rustls::connect_tcp(addr, &sources, &custom)
        .await
        .unwrap();
    assert_eq!(
        read_back(&stream),
        (
            true,
            Duration::from_secs(42),
            Duration::from_secs(9),
            6,
            Some(Duration::from_millis(12_500))
        )
    );

    // Off: no SO_KEEPALIVE, no user timeout.
    let stream = pool_dial_rustls::connect_tcp(addr, &sources, &TcpOptions::off())
        .await
        .unwrap();
    let (keepalive, _, _, _, user_timeout) = read_back(&stream);
    assert!(!keepalive);
    assert_eq!(user_timeout, None);
}

/// The kernel's timer of the established TCP socket with this local address, from
/// `/proc/net/tcp`: `(timer kind, clock ticks until it fires)`; kind 2 is the keepalive
/// timer, 0 none.
fn proc_timer(local: SocketAddr) -> Option<(u8, u64)> {
    let SocketAddr::V4(v4) = local else {
        panic!("IPv4 only: {local}");
    };
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when ...
        if fields[1] != want || fields[3] != "01" {
            return None;
        }
        let (kind, when) = fields[5].split_once(':')?;
        Some((
            u8::from_str_radix(kind, 16).ok()?,
            u64::from_str_radix(when, 16).ok()?,
        ))
    })
}

/// Through the real dialer and pool (H1Dialer, its `TlsOptions::tcp`): the idle connection's
/// keepalive timer is armed, due within the configured idle time; with keepalive off, no
/// timer runs on the idle connection.
#[tokio::test]
async fn dialed_connections_carry_the_keepalive_timer() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, 72).await;
    for (tcp, want_keepalive) in [(TcpOptions::default(), true), (TcpOptions::off(), false)] {
        let mut options = TlsOptions::default();
        options.trust.webpki_roots = false;
        options.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
        options.conn_timeout = Duration::from_secs(5);
        options.tcp = tcp;
        let pool = Pool::new(H1Dialer::new(options).unwrap(), PoolOptions::default()).unwrap();
        pool.set_addrs(HOST, origin.socket_addrs());
        let lease = pool.get(HOST).await.unwrap();
        let local = lease.conn_arc().info().local_addr;
        // Right after the handshake a retransmission timer (kind 1) may still run for the
        // last segment until its ACK is processed; the idle socket then shows its own.
        let want = if want_keepalive { 2 } else { 0 };
        let mut seen = None;
        eventually("the idle socket's timer", WAIT, || {
            seen = proc_timer(local);
            seen.is_some_and(|(kind, _)| kind == want)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {local} shows {seen:?}, want kind {want}"));
        if want_keepalive {
            // Clock ticks (USER_HZ = 100 on Linux): due within the 15 s idle time.
            let (_, when) = seen.unwrap();
            assert!(when > 0 && when <= 15 * 100, "due in {when} ticks");
        }
        drop(lease);
        pool.close().await;
    }
}
