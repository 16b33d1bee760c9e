//! The streaming, deadline-bounded request API over real HTTP/2 (`pool_dial_rustls::H2Conn`
//! against the testkit h2 origin on loopback): streamed bodies both ways, a body dropped
//! half read, the header deadline on a stalled request (per request and through the pool's
//! `Timeout` extension), the body-idle timeout. (The response-size limit, the same for every
//! dialer, is the conformance suite's `bounded_streaming`.)

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool_core::{CloseReason, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_http::http_body::{Body as _, Frame};
use pool_http::http_body_util::BodyExt;
use pool_http::{HttpLeaseExt, RequestError, RequestOptions, Streaming, Timeout};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};

mod common;
use common::{WAIT, get, trust};

const HOST: &str = "s.test";

/// How much later than its deadline a timed-out request may end: under the 5 s dial
/// timeout and the 10 s waits, so a deadline not applied fails the test.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

async fn setup(last: u8) -> (H2Origin, Pool<H2Dialer>) {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = [IpAddr::from([127, 0, 0, last])];
    let origin = H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], &ca))
        .await
        .unwrap();
    let mut options = H2Options::default();
    options.tls.trust = trust(&ca);
    options.tls.conn_timeout = Duration::from_secs(5);
    let pool_options = PoolOptions {
        checkout_timeout: Duration::from_secs(5),
        max_conns_per_host: 1,
        ..PoolOptions::default()
    };
    let pool = Pool::new(H2Dialer::new(options).unwrap(), pool_options).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    assert_eq!(pool.warm(HOST).await.ok, 1);
    (origin, pool)
}

fn errors(pool: &Pool<H2Dialer>) -> u32 {
    pool.connections().iter().map(|c| c.error_count).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_streams_to_its_end() {
    let (origin, pool) = setup(61).await;
    let lease = pool.get(HOST).await.unwrap();
    let response = lease.request(get("/bytes/3000000")).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut total, mut frames) = (0, 0);
    while let Some(frame) = body.frame().await {
        total += frame.unwrap().into_data().unwrap().len();
        frames += 1;
    }
    assert_eq!(total, 3_000_000);
    assert!(frames > 10, "streamed in {frames} frames");
    assert!(body.is_done());
    assert_eq!(pool.stats().leases_out, 0);
    assert_eq!(errors(&pool), 0);
    // Read whole with `bytes()`.
    let body = pool_http::send(&pool, HOST, get("/bytes/100000"))
        .await
        .unwrap()
        .into_body();
    assert_eq!(body.bytes().await.unwrap().len(), 100_000);
    assert_eq!(origin.stats().handshakes, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_body_half_read_resets_the_stream_and_keeps_the_connection() {
    let (origin, pool) = setup(62).await;
    let lease = pool.get(HOST).await.unwrap();
    let mut body = lease
        .request(get("/bytes/10000000"))
        .await
        .unwrap()
        .into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(!first.is_empty());
    drop(body);
    assert!(
        eventually("the origin sees the reset", WAIT, || origin
            .stats()
            .stream_resets
            == 1)
        .await
        .is_ok(),
        "{:?}",
        origin.stats()
    );
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.leases_out), (1, 0));
    assert_eq!(stats.closed_for(CloseReason::Broken), 0);
    assert_eq!(
        errors(&pool),
        0,
        "an abandoned h2 body is not the connection's fault"
    );
    // The same connection carries the next request.
    let body = pool_http::send(&pool, HOST, get("/"))
        .await
        .unwrap()
        .into_body();
    assert_eq!(&body.bytes().await.unwrap()[..], b"hello from hotpool\n");
    assert_eq!(origin.stats().handshakes, 1, "no new connection");
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_times_out_within_its_deadline() {
    let (origin, pool) = setup(63).await;
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let lease = pool.get(HOST).await.unwrap();
    let options = RequestOptions::default().with_timeout(deadline);
    let e = lease
        .request_with(get("/stall"), &options)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(e, RequestError::Timeout(d) if d == deadline),
        "{e:?}"
    );
    assert!(
        took >= deadline && took < deadline + DEADLINE_MARGIN,
        "{took:?}"
    );
    assert_eq!(errors(&pool), 1, "the connection's error counted");
    assert!(
        eventually("the stalled stream is reset", WAIT, || origin
            .stats()
            .stream_resets
            == 1)
        .await
        .is_ok()
    );
    // Through the pool with a per-request override: not retried (the request may be
    // processing), the connection kept.
    let mut request = get("/stall");
    request.extensions_mut().insert(Timeout(deadline));
    let e = pool_http::send(&pool, HOST, request).await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(errors(&pool), 2);
    assert_eq!(pool.stats().connections, 1);
    let ok = pool_http::send(&pool, HOST, get("/")).await.unwrap();
    assert_eq!(ok.status(), 200);
    drop(ok);
    assert_eq!(origin.stats().handshakes, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_ends_with_the_idle_timeout() {
    let (origin, pool) = setup(64).await;
    let idle = Duration::from_millis(300);
    let options = RequestOptions::default().with_body_idle_timeout(Some(idle));
    let response = pool_http::send_with(&pool, HOST, get("/stall-body"), &options)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    let e = body.frame().await.unwrap().unwrap_err();
    assert!(matches!(e, RequestError::Timeout(d) if d == idle), "{e:?}");
    let took = started.elapsed();
    assert!(took >= idle && took < idle + DEADLINE_MARGIN, "{took:?}");
    assert_eq!(errors(&pool), 1);
    assert_eq!(pool.stats().leases_out, 0);
    assert!(
        eventually("the stalled stream is reset", WAIT, || origin
            .stats()
            .stream_resets
            == 1)
        .await
        .is_ok()
    );
    pool.close().await;
    origin.shutdown().await;
}

/// `n` chunks of 16 KiB, produced one per poll.
struct Chunks(usize);

impl pool_http::http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        self.0 -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'u'; 16 * 1024])))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_streams_under_flow_control() {
    let (origin, pool) = setup(66).await;
    // 2 MiB: far more than the peer's initial 64 KiB window.
    let request = http::Request::post("/upload")
        .body(Streaming(Chunks(128)))
        .unwrap();
    assert!(!request.body().is_end_stream());
    let response = tokio::time::timeout(WAIT, pool_http::send(&pool, HOST, request))
        .await
        .expect("the upload finishes")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        &response.into_body().bytes().await.unwrap()[..],
        b"hello from hotpool\n"
    );
    assert_eq!(origin.stats().requests, 1);
    assert_eq!(errors(&pool), 0);
    pool.close().await;
    origin.shutdown().await;
}
