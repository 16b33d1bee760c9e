//! HTTP/2 receive windows of the rustls dialers (`pool_dial_rustls::H2Windows`,
//! `docs/h2-windows.md`): what the client advertises (seen by the capture origin), bodies
//! many windows long through a WAN relay, and the adaptive window growing on a path with a
//! large bandwidth-delay product. Nothing here is timed: the assertions are on bytes and
//! window values.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Connection, Pool, PoolOptions, ProbeVerdict};
use pool_dial_rustls::{
    H2Dialer, H2Options, H2Windows, HttpsDialer, HttpsOptions, ReceiveWindow, TlsOptions,
};
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::capture::{CaptureOrigin, Captured};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, WanOptions, WanRelay, eventually};

mod common;
use common::{WAIT, trust};

const HOST: &str = "windows.test";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn tls(tls: &mut TlsOptions, ca: &TestCa) {
    tls.trust = trust(ca);
    tls.conn_timeout = Duration::from_secs(10);
    tls.test_timeout = Duration::from_secs(10);
}

fn h2_dialer(ca: &TestCa, windows: H2Windows) -> H2Dialer {
    let mut options = H2Options {
        windows,
        ..H2Options::default()
    };
    tls(&mut options.tls, ca);
    H2Dialer::new(options).unwrap()
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: WAIT,
        ..PoolOptions::default()
    }
}

/// GETs `path` on `host` through `pool`; returns the body.
async fn get<D>(pool: &Pool<D>, path: &str) -> Bytes
where
    D: pool_core::Dialer<Conn: pool_http::HttpConnection>,
{
    let lease = pool.get(HOST).await.unwrap();
    let request = http::Request::get(path)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = lease.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().bytes().await.unwrap()
}

/// The SETTINGS_INITIAL_WINDOW_SIZE and the connection WINDOW_UPDATE increment the
/// capture origin saw on its one handshaken connection.
async fn advertised(origin: &CaptureOrigin) -> (Option<u32>, Option<u32>) {
    let seen: Vec<Captured> = origin
        .wait_for(1, WAIT)
        .await
        .into_iter()
        .filter(|c| c.handshake_ok)
        .collect();
    let preface = seen[0].h2.as_ref().expect("an HTTP/2 preface");
    let stream = preface
        .settings
        .iter()
        .find(|(id, _)| *id == 4)
        .map(|(_, v)| *v);
    (stream, preface.window_update)
}

#[tokio::test]
async fn the_default_windows_are_advertised_in_the_preface() {
    let origin = CaptureOrigin::start(HOST, ip(94)).await.unwrap();
    let pool = Pool::new(h2_dialer(origin.ca(), H2Windows::default()), pool_options()).unwrap();
    pool.set_addrs(HOST, vec![origin.addr()]);
    get(&pool, "/").await;
    let (stream, update) = advertised(&origin).await;
    assert_eq!(
        stream,
        Some(2 << 20),
        "SETTINGS_INITIAL_WINDOW_SIZE = 2 MiB"
    );
    // The connection starts at 65,535: the first WINDOW_UPDATE brings it to 5 MiB.
    assert_eq!(update, Some((5 << 20) - 65_535));
    pool.close().await;
}

#[tokio::test]
async fn configured_windows_are_advertised_by_the_auto_alpn_dialer_too() {
    let origin = CaptureOrigin::start(HOST, ip(95)).await.unwrap();
    let windows = H2Windows {
        stream: 3 << 20,
        connection: 7 << 20,
        adaptive: false,
    };
    let mut options = HttpsOptions {
        h2_windows: windows,
        ..HttpsOptions::default()
    };
    tls(&mut options.tls, origin.ca());
    let pool = Pool::new(HttpsDialer::new(options).unwrap(), pool_options()).unwrap();
    pool.set_addrs(HOST, vec![origin.addr()]);
    get(&pool, "/").await;
    let (stream, update) = advertised(&origin).await;
    assert_eq!(stream, Some(3 << 20));
    assert_eq!(update, Some((7 << 20) - 65_535));
    pool.close().await;
}

/// An H2 origin on `origin_ip` behind a WAN relay of round trip `rtt` on `front_ip`.
async fn origin_behind_relay(
    ca: &Arc<TestCa>,
    origin_ip: IpAddr,
    front_ip: IpAddr,
    rtt: Duration,
) -> (H2Origin, WanRelay) {
    let origin = H2Origin::start(H2OriginOptions::new(&[origin_ip], &[HOST], ca))
        .await
        .unwrap();
    let relay = WanRelay::start(
        &[(front_ip, origin.socket_addrs()[0])],
        WanOptions::rtt(rtt),
    )
    .await
    .unwrap();
    (origin, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_many_minimum_windows_arrives_through_a_relay_with_the_defaults() {
    let ca = Arc::new(TestCa::new().unwrap());
    let front = ip(97);
    let (_origin, relay) = origin_behind_relay(&ca, ip(96), front, Duration::from_millis(20)).await;
    let windows = H2Windows {
        adaptive: false,
        ..H2Windows::default()
    };
    let pool = Pool::new(h2_dialer(&ca, windows), pool_options()).unwrap();
    pool.set_addrs(HOST, vec![relay.socket_addr(front)]);
    // 4 MiB: 64 minimum windows, two of the default stream window.
    let len = 4usize << 20;
    let body = get(&pool, &format!("/bytes/{len}")).await;
    assert_eq!(body.len(), len);
    assert!(
        body.iter().all(|&b| b == body[0]),
        "the body is the origin's filler"
    );
    assert!(
        relay.stats().bytes_down >= len as u64,
        "{:?}",
        relay.stats()
    );
    let lease = pool.get(HOST).await.unwrap();
    assert_eq!(
        lease.conn().receive_window(),
        ReceiveWindow {
            stream: 2 << 20,
            connection: 5 << 20
        },
        "not adaptive: the windows stay as configured"
    );
    drop(lease);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adaptive_window_grows_past_its_start_on_a_path_with_a_large_bdp() {
    let ca = Arc::new(TestCa::new().unwrap());
    let front = ip(99);
    // 100 ms round trip, no bandwidth cap: the BDP is far above 64 KiB.
    let (_origin, relay) =
        origin_behind_relay(&ca, ip(98), front, Duration::from_millis(100)).await;
    let start = H2Windows {
        stream: H2Windows::MIN,
        connection: H2Windows::MIN,
        adaptive: true,
    };
    let pool = Pool::new(h2_dialer(&ca, start), pool_options()).unwrap();
    pool.set_addrs(HOST, vec![relay.socket_addr(front)]);
    // The pool's one connection, kept to read its window while requests use it.
    let conn = pool.get(HOST).await.unwrap().conn_arc();
    assert_eq!(
        conn.receive_window(),
        ReceiveWindow {
            stream: H2Windows::MIN,
            connection: H2Windows::MIN
        }
    );

    // Download until the window grew (a few MB at most), every body intact.
    let len = 1usize << 20;
    let path = format!("/bytes/{len}");
    let mut downloads = 0;
    let grew = eventually("the adaptive window grows", Duration::from_secs(60), || {
        conn.receive_window().stream > H2Windows::MIN
    });
    tokio::pin!(grew);
    loop {
        tokio::select! {
            result = &mut grew => {
                result.unwrap();
                break;
            }
            body = get(&pool, &path) => {
                assert_eq!(body.len(), len);
                downloads += 1;
                assert!(downloads <= 16, "16 MiB downloaded and the window never grew");
            }
        }
    }
    assert_eq!(
        pool.connections().len(),
        1,
        "every download used the one connection"
    );
    let grown = conn.receive_window();
    assert!(grown.stream > H2Windows::MIN, "{grown:?}");
    assert!(grown.connection > H2Windows::MIN, "{grown:?}");
    assert!(grown.stream <= H2Windows::ADAPTIVE_CAP, "{grown:?}");
    // The connection still works with its new windows, and health probes (PINGs on the
    // handle the sampler shares) still pass while it samples.
    let download = get(&pool, &path);
    let probes = async {
        for _ in 0..5 {
            assert_eq!(conn.probe().await, ProbeVerdict::Healthy);
        }
    };
    let (body, ()) = tokio::join!(download, probes);
    assert_eq!(body.len(), len);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_bodies_hold_at_most_the_windows() {
    let ca = Arc::new(TestCa::new().unwrap());
    let front = ip(101);
    let (_origin, relay) =
        origin_behind_relay(&ca, ip(100), front, Duration::from_millis(10)).await;
    let windows = H2Windows {
        stream: 256 << 10,
        connection: 384 << 10,
        adaptive: false,
    };
    let pool = Pool::new(h2_dialer(&ca, windows), pool_options()).unwrap();
    pool.set_addrs(HOST, vec![relay.socket_addr(front)]);
    let conn = pool.get(HOST).await.unwrap().conn_arc();
    let start = relay.stats().bytes_down;
    let send = || async {
        let lease = pool.get(HOST).await.unwrap();
        let request = http::Request::get("/bytes/8388608")
            .body(Empty::<Bytes>::new())
            .unwrap();
        lease.request(request).await.unwrap()
    };
    // One 8 MiB body, not read: the origin stops at the stream window.
    let first = send().await;
    let down = || relay.stats().bytes_down - start;
    eventually("one stream window arrives", WAIT, || down() >= 256 << 10)
        .await
        .unwrap();
    // A few PING round trips: anything sent past the window would be here by now.
    for _ in 0..3 {
        conn.ping().await.unwrap();
    }
    let slack = 32 << 10; // frame, TLS and PING overhead
    assert!(
        down() < (256 << 10) + slack,
        "{} bytes for one unread stream",
        down()
    );
    // A second unread body: together they stop at the connection window.
    let second = send().await;
    eventually("the connection window arrives", WAIT, || {
        down() >= 384 << 10
    })
    .await
    .unwrap();
    for _ in 0..3 {
        conn.ping().await.unwrap();
    }
    assert!(
        down() < (384 << 10) + slack,
        "{} bytes for two unread streams",
        down()
    );
    // Reading them frees the credit: both bodies arrive whole.
    let (a, b) = tokio::join!(first.into_body().bytes(), second.into_body().bytes());
    assert_eq!((a.unwrap().len(), b.unwrap().len()), (8 << 20, 8 << 20));
    pool.close().await;
}
