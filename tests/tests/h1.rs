//! What is HTTP/1.1's own in pool-dial-rustls's `H1Dialer` (hyper) against the testkit's
//! HTTP/1.1 origin (`H2OriginOptions::h1_only`, hyper server) on 127.0.0.x: keep-alive
//! reuse, `Connection: close` from either side, HTTP/1.0, chunked bodies, a request
//! abandoned half way, fd accounting. (The stall timeout and validation bans, the same for
//! every dialer, are the conformance suite's: `tests/tests/conformance/`.)

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Connection, Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions};
use pool_http::http_body_util::BodyExt;
use pool_http::{Empty, HttpLeaseExt, Protocol};
use pool_testkit::fds::open_fds;
use pool_testkit::{H2Origin, H2OriginOptions, Http1Options, TestCa, eventually};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "h1.test";

fn ips(last: &[u8]) -> Vec<IpAddr> {
    last.iter().map(|n| IpAddr::from([127, 0, 0, *n])).collect()
}

fn tls_options(ca: &TestCa) -> TlsOptions {
    let mut options = TlsOptions::default();
    options.trust.webpki_roots = false;
    options.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.conn_timeout = Duration::from_secs(5);
    options.test_timeout = Duration::from_secs(5);
    options
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: Duration::from_secs(10),
        ..PoolOptions::default()
    }
}

async fn start_origin(ca: &Arc<TestCa>, last: u8, http1: Http1Options) -> H2Origin {
    H2Origin::start(H2OriginOptions {
        http1,
        ..H2OriginOptions::h1_only(&ips(&[last]), &[HOST], ca)
    })
    .await
    .unwrap()
}

fn h1_pool(ca: &TestCa, origin: &H2Origin) -> Pool<H1Dialer> {
    let pool = Pool::new(H1Dialer::new(tls_options(ca)).unwrap(), pool_options()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    pool
}

fn req(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

/// One GET through the pool, body read to the end; returns status and body, and whether
/// the connection reported itself closed afterwards.
async fn get(pool: &Pool<H1Dialer>, path: &str) -> (u16, Bytes, bool) {
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    assert_eq!(conn.protocol(), Protocol::Http1);
    assert_eq!(conn.capacity(), 1, "HTTP/1.1 is exclusive");
    let resp = tokio::time::timeout(WAIT, lease.request(req(path)))
        .await
        .expect("response in time")
        .expect("response");
    let status = resp.status().as_u16();
    let body = resp.into_body().bytes().await.expect("body");
    (status, body, conn.is_closed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_reuses_one_connection_and_fds_return() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start_origin(&ca, 40, Http1Options::default()).await;
    let baseline = open_fds();
    let pool = h1_pool(&ca, &origin);
    for i in 0..10 {
        let (status, body, closed) = get(&pool, "/").await;
        assert_eq!(
            (status, &body[..]),
            (200, &b"hello from hotpool\n"[..]),
            "#{i}"
        );
        assert!(!closed, "#{i}: keep-alive");
    }
    let (status, body, _) = get(&pool, "/1k").await;
    assert_eq!((status, body.len()), (200, 1024));
    let (status, body, _) = get(&pool, "/bytes/300000").await;
    assert_eq!((status, body.len()), (200, 300_000));
    let (status, body, _) = get(&pool, "/status/503").await;
    assert_eq!((status, body.len()), (503, 0));
    let s = origin.stats();
    assert_eq!((s.handshakes, s.requests, s.http1_connections), (1, 13, 1));
    // The origin saw 12 requests arrive on a kept-alive connection and never closed one.
    assert_eq!((s.http1_kept_alive, s.http1_closed), (12, 0));
    let stats = pool.stats();
    assert_eq!((stats.dials_ok, stats.leases_total), (1, 13));

    pool.close().await;
    origin.shutdown().await;
    eventually("fds back to the baseline", WAIT, || open_fds() <= baseline)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_from_either_side_is_never_reused() {
    let ca = Arc::new(TestCa::new().unwrap());
    // The server closes after every response: keep-alive off, or `connection: close` on
    // the first response of each connection.
    for (what, http1) in [
        (
            "keep-alive off",
            Http1Options {
                keep_alive: false,
                ..Http1Options::default()
            },
        ),
        (
            "close_after 1",
            Http1Options {
                close_after: Some(1),
                ..Http1Options::default()
            },
        ),
    ] {
        let origin = start_origin(&ca, 41, http1).await;
        let pool = h1_pool(&ca, &origin);
        for i in 0..3 {
            let (status, _, closed) = get(&pool, "/").await;
            assert_eq!(status, 200, "{what} #{i}");
            assert!(
                closed,
                "{what} #{i}: reported closed after `connection: close`"
            );
        }
        let s = origin.stats();
        assert_eq!(s.handshakes, 3, "{what}: one connection per request");
        assert_eq!((s.http1_kept_alive, s.http1_closed), (0, 3), "{what}");
        pool.close().await;
        origin.shutdown().await;
    }

    // The second response says close: two requests on the first connection.
    let origin = start_origin(
        &ca,
        41,
        Http1Options {
            close_after: Some(2),
            ..Http1Options::default()
        },
    )
    .await;
    let pool = h1_pool(&ca, &origin);
    let closed: Vec<bool> = [
        get(&pool, "/").await.2,
        get(&pool, "/").await.2,
        get(&pool, "/").await.2,
    ]
    .into();
    assert_eq!(closed, [false, true, false]);
    let s = origin.stats();
    assert_eq!(s.handshakes, 2);
    assert_eq!((s.http1_kept_alive, s.http1_closed), (1, 1));

    // The client asks for close.
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    let close = http::Request::get("/")
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = lease.request(close).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().bytes().await.unwrap();
    assert!(conn.is_closed());
    drop(conn);
    let _ = get(&pool, "/").await;
    let s = origin.stats();
    assert_eq!(s.handshakes, 3, "a closed connection is not reused");
    // The request asking for close was the second on its connection (so `close_after 2`
    // also closed it from the server's side); the last request came on a new connection.
    assert_eq!((s.http1_kept_alive, s.http1_closed), (2, 2));
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_and_chunked_bodies() {
    let ca = Arc::new(TestCa::new().unwrap());
    // HTTP/1.0: bodies delimited by the close, no keep-alive.
    let origin = start_origin(
        &ca,
        42,
        Http1Options {
            http10: true,
            ..Http1Options::default()
        },
    )
    .await;
    let pool = h1_pool(&ca, &origin);
    for path in ["/", "/bytes/100000"] {
        let lease = pool.get(HOST).await.unwrap();
        let conn = lease.conn_arc();
        let resp = lease.request(req(path)).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_10);
        assert_eq!(resp.status(), 200);
        assert!(conn.is_closed(), "{path}: HTTP/1.0 is not kept alive");
        let body = resp.into_body().bytes().await.unwrap();
        if path == "/" {
            assert_eq!(&body[..], b"hello from hotpool\n");
        } else {
            assert_eq!(body.len(), 100_000);
        }
    }
    assert_eq!(origin.stats().handshakes, 2);
    pool.close().await;
    origin.shutdown().await;

    // Chunked: the connection stays reusable after each chunked body.
    let origin = start_origin(
        &ca,
        42,
        Http1Options {
            chunked: true,
            ..Http1Options::default()
        },
    )
    .await;
    let pool = h1_pool(&ca, &origin);
    let lease = pool.get(HOST).await.unwrap();
    let resp = lease.request(req("/bytes/200000")).await.unwrap();
    assert_eq!(
        resp.headers().get(http::header::TRANSFER_ENCODING).unwrap(),
        "chunked"
    );
    assert!(resp.headers().get(http::header::CONTENT_LENGTH).is_none());
    let body = resp.into_body().bytes().await.unwrap();
    assert_eq!(body.len(), 200_000);
    assert!(body.iter().all(|b| *b == b'x'));
    for _ in 0..3 {
        let (status, body, closed) = get(&pool, "/").await;
        assert_eq!((status, body.len(), closed), (200, 19, false));
    }
    assert_eq!(origin.stats().handshakes, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_dropped_half_way_closes_the_connection() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start_origin(&ca, 43, Http1Options::default()).await;
    let pool = h1_pool(&ca, &origin);
    let (status, _, _) = get(&pool, "/").await;
    assert_eq!(status, 200);
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    let resp = lease.request(req("/bytes/200000000")).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    assert!(!conn.is_closed(), "open while the body is being read");
    drop(body);
    assert!(
        conn.is_closed(),
        "a half-read response is never handed to the next user"
    );
    let (status, _, _) = get(&pool, "/").await;
    assert_eq!(status, 200);
    assert_eq!(
        origin.stats().handshakes,
        2,
        "the abandoned connection was not reused"
    );
    drop(conn);
    assert!(
        origin
            .wait_until(WAIT, |o| o.stats().open_connections == 1)
            .await,
        "the abandoned connection is closed at the origin too"
    );
    pool.close().await;
    origin.shutdown().await;
}
