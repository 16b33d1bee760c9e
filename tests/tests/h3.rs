//! HTTP/3 behaviour of pooled QUIC connections against the local HTTP/3 origin
//! (`pool_testkit::H3Origin`): streamed bodies, early body drop, GOAWAY, deadlines,
//! validation.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use pool_core::{Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions, Trust};
use pool_http::{Empty, HttpLeaseExt, RequestError, RequestOptions, Validation};
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
            extra_ca_certs: vec![ca.ca_cert_der()],
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
async fn a_10_mb_body_streams_in_small_frames() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start(&[60], &ca).await;
    let pool = pool(&ca, &origin, options(&ca));
    let response = pool_http::send(&pool, HOST, get("/bytes/10000000"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut total, mut frames, mut largest) = (0usize, 0usize, 0usize);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.iter().all(|b| *b == b'x'));
        total += data.len();
        largest = largest.max(data.len());
        frames += 1;
    }
    assert_eq!(total, 10_000_000);
    assert!(frames > 100, "streamed, not whole: {frames} frames");
    assert!(largest <= 1 << 20, "largest frame {largest} bytes");
    drop(body);
    // The connection goes back to the pool and carries the next request.
    let again = pool_http::send(&pool, HOST, get("/")).await.unwrap();
    assert_eq!(again.status(), 200);
    drop(again);
    assert_eq!(pool.stats().dials_ok, 1);
    pool.close().await;
    origin.shutdown().await;
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
async fn goaway_drains_and_replaces_without_failing_a_request() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start(&[62], &ca).await;
    let pool = pool(&ca, &origin, options(&ca));
    assert_eq!(pool.warm(HOST).await.ok, 1);
    // A request in flight when GOAWAY comes is answered.
    let slow = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let r = pool_http::send(&pool, HOST, get("/slow/300")).await?;
            r.into_body().bytes().await
        })
    };
    assert!(
        origin
            .wait_until(WAIT, |o| o.stats().max_concurrent_streams_seen == 1)
            .await
    );
    assert_eq!(origin.goaway_all(), 1);
    assert!(
        eventually("the pool saw GOAWAY", WAIT, || pool.stats().draining == 1
            || pool.stats().dials_ok == 2)
        .await
        .is_ok(),
        "{:?}",
        pool.stats()
    );
    for _ in 0..10 {
        let r = pool_http::send(&pool, HOST, get("/")).await.unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().bytes().await.unwrap();
    }
    assert_eq!(&slow.await.unwrap().unwrap()[..], b"hello from hotpool\n");
    assert!(
        origin.wait_until(WAIT, |o| o.stats().handshakes == 2).await,
        "a replacement was dialed: {:?}",
        origin.stats()
    );
    assert!(
        eventually("the old connection is gone", WAIT, || {
            pool.stats().connections == 1 && origin.stats().open_connections == 1
        })
        .await
        .is_ok(),
        "{:?}",
        pool.stats()
    );
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_times_out_and_counts_as_an_error() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start(&[63], &ca).await;
    let pool = pool(&ca, &origin, options(&ca));
    let deadline = Duration::from_millis(300);
    let options = RequestOptions::default().with_timeout(deadline);
    let started = std::time::Instant::now();
    let err = pool_http::send_with(&pool, HOST, get("/stall"), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Timeout(d) if d == deadline),
        "{err}"
    );
    assert!(started.elapsed() < WAIT);
    let conns = pool.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(
        conns[0].error_count, 1,
        "the timeout counts on the connection"
    );
    // The connection is kept (the stream was reset) and serves the next request.
    let r = pool_http::send(&pool, HOST, get("/")).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    assert_eq!(pool.stats().dials_ok, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_admits_or_bans_the_ip() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = start(&[64, 65], &ca).await;
    let mut quic = options(&ca);
    quic.validation = Some(Validation::get("/hot", 403));
    let pool = pool(&ca, &origin, quic.clone());
    let report = pool.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (2, 0));
    assert_eq!(
        origin.stats().requests,
        2,
        "one validation request per connection"
    );
    let lease = pool.get(HOST).await.unwrap();
    assert!(!lease.is_reused(), "validation does not count as a use");
    drop(lease);
    pool.close().await;

    origin.set_status("/hot", 403);
    let banned = Pool::new(
        QuicDialer::new(quic).unwrap(),
        PoolOptions {
            max_retries: 5,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    banned.set_addrs(HOST, origin.socket_addrs());
    let report = banned.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (0, 2), "{report:?}");
    assert_eq!(banned.stats().blacklisted, 2);
    assert!(banned.get(HOST).await.is_err());
    banned.close().await;
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
