//! What is HTTP/3's own in pooled QUIC connections against the local HTTP/3 origin
//! (`pool_testkit::H3Origin`): a body dropped early resets its stream and keeps the
//! connection, the probe request. (Streaming, GOAWAY, deadlines and validation, the same
//! for every dialer, are the conformance suite's: `tests/tests/conformance/`.)

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use pool_core::{Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions, Trust};
use pool_http::{Empty, HttpLeaseExt, Validation};
use pool_testkit::{H3Origin, H3OriginOptions, TestCa, eventually};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "h3.test";

fn ips(last: &[u8]) -> Vec<IpAddr> {
    last.iter().map(|n| IpAddr::from([127, 0, 0, *n])).collect()
}

fn options(ca: &TestCa) -> QuicOptions {
    QuicOptions {
        trust: Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
            ..Trust::default()
        },
        conn_timeout: Duration::from_secs(5),
        ..QuicOptions::default()
    }
}

fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

async fn start(last: &[u8], ca: &Arc<TestCa>) -> H3Origin {
    H3Origin::start(H3OriginOptions::new(&ips(last), &[HOST], ca))
        .await
        .unwrap()
}

fn pool(ca: &TestCa, origin: &H3Origin, quic: QuicOptions) -> Pool<QuicDialer> {
    let _ = ca;
    let pool = Pool::new(QuicDialer::new(quic).unwrap(), PoolOptions::default()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_body_early_resets_the_stream_and_keeps_the_connection() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start(&[61], &ca).await;
    let pool = pool(&ca, &origin, options(&ca));
    let response = pool_http::send(&pool, HOST, get("/bytes/50000000"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    assert!(
        origin
            .wait_until(WAIT, |o| o.stats().responses_cancelled == 1)
            .await,
        "{:?}",
        origin.stats()
    );
    // The same connection serves the next request.
    let lease = pool.get(HOST).await.unwrap();
    assert!(lease.is_reused());
    let response = lease.request(get("/1k")).await.unwrap();
    assert_eq!(response.into_body().bytes().await.unwrap().len(), 1024);
    assert_eq!(pool.stats().dials_ok, 1);
    assert_eq!(origin.stats().handshakes, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_request_checks_the_origin() {
    use pool_core::{Connection, Dialer, ProbeVerdict, Target};
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start(&[66], &ca).await;
    let mut quic = options(&ca);
    quic.probe_request = Some(Validation::get("/health", 403));
    let dialer = QuicDialer::new(quic).unwrap();
    let target = Target {
        host: HOST.into(),
        addr: origin.socket_addrs()[0],
    };
    let conn = dialer.dial(&target).await.unwrap();
    assert_eq!(conn.probe().await, ProbeVerdict::Healthy);
    origin.set_status("/health", 503);
    assert_eq!(conn.probe().await, ProbeVerdict::Unhealthy);
    origin.set_status("/health", 403);
    assert_eq!(conn.probe().await, ProbeVerdict::Banned);
    assert_eq!(origin.stats().requests, 3);
    assert_eq!(
        pool_http::HttpConnection::requests_sent(&conn),
        0,
        "probes are not requests"
    );
    // GOAWAY: the connection is draining, the probe says so without a request.
    origin.goaway_all();
    assert!(
        eventually("GOAWAY seen", WAIT, || conn.is_closed())
            .await
            .is_ok()
    );
    assert!(conn.is_going_away() || conn.quinn().close_reason().is_some());
    assert_eq!(conn.probe().await, ProbeVerdict::Unhealthy);
    assert_eq!(origin.stats().requests, 3);
    drop(conn);
    origin.shutdown().await;
}

/// Empty DATA frames (legal, RFC 9114 §7.2.1: a Go server's encoder sends one when a flush
/// writes nothing; Caddy's gzip did, before its 8-byte trailer) neither end the body early
/// nor cost the connection: h3 answers `None` for them as at the end of a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_data_frames_neither_end_the_body_nor_lose_the_connection() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions {
        empty_data_frames: true,
        ..H3OriginOptions::new(&ips(&[64]), &[HOST], &ca)
    })
    .await
    .unwrap();
    let pool = pool(&ca, &origin, options(&ca));
    for path in ["/", "/bytes/100000", "/1k"] {
        let response = pool_http::send(&pool, HOST, get(path)).await.unwrap();
        let body = response.into_body().bytes().await.unwrap();
        let want = match path {
            "/" => b"hello from hotpool\n".len(),
            "/bytes/100000" => 100_000,
            _ => 1024,
        };
        assert_eq!(body.len(), want, "{path}");
    }
    // One connection carried all three.
    assert_eq!((pool.stats().dials_ok, origin.stats().handshakes), (1, 1));
    pool.close().await;
    origin.shutdown().await;
}
