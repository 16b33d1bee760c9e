//! The retry policy of `pool_http::send_with` against the local HTTP/3 origin: an
//! idempotent request whose *reused* QUIC connection is closed under it is sent again on
//! a new connection, a POST is not; after a GOAWAY the connection drains and a request on
//! it is never sent (so it is retried, even a POST).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pool_core::{Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions, Trust};
use pool_http::{Attempts, Full, HttpConnection, RequestError, RequestOptions};
use pool_testkit::{H3Origin, H3OriginOptions, TestCa, wait_for};

const HOST: &str = "h3.retry.test";
const WAIT: Duration = Duration::from_secs(10);

fn request(method: Method, path: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap()
}

async fn setup(net: u8) -> (H3Origin, Pool<QuicDialer>) {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(
        &[IpAddr::from([127, 0, net, 1])],
        &[HOST],
        &ca,
    ))
    .await
    .unwrap();
    let quic = QuicOptions {
        trust: Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der()],
            ..Trust::default()
        },
        conn_timeout: Duration::from_secs(5),
        ..QuicOptions::default()
    };
    let options = PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    };
    let pool = Pool::new(QuicDialer::new(quic).unwrap(), options).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    (origin, pool)
}

/// One request through the pool, to its status.
async fn send(
    pool: &Pool<QuicDialer>,
    method: Method,
    path: &str,
) -> (Result<u16, RequestError>, Attempts) {
    let (response, attempts) = pool_http::send_with_attempts(
        pool,
        HOST,
        request(method, path),
        &RequestOptions::default(),
    )
    .await;
    let status = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            response.into_body().bytes().await.map(|_| status)
        }
        Err(e) => Err(e),
    };
    (status, attempts)
}

/// `n` requests at once, each held by the origin for a second; once the origin has them
/// all in progress on one connection, it closes every connection.
async fn closed_under_requests(
    pool: &Pool<QuicDialer>,
    origin: &H3Origin,
    method: Method,
    n: u64,
) -> Vec<(Result<u16, RequestError>, Attempts)> {
    let pending: Vec<_> = (0..n)
        .map(|_| {
            let (pool, method) = (pool.clone(), method.clone());
            tokio::spawn(async move { send(&pool, method, "/slow/1000").await })
        })
        .collect();
    wait_for("the requests are in progress at the origin", WAIT, || {
        origin.stats().max_concurrent_streams_seen >= n
    })
    .await;
    assert!(origin.close_all() >= 1);
    let mut results = Vec::new();
    for p in pending {
        results.push(p.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_a_get_is_retried_when_its_reused_connection_closes_a_post_is_not() {
    let (origin, pool) = setup(214).await;
    assert_eq!(send(&pool, Method::GET, "/").await.0.unwrap(), 200);
    assert_eq!(pool.stats().dials_ok, 1);

    for (status, attempts) in closed_under_requests(&pool, &origin, Method::GET, 2).await {
        assert_eq!(status.unwrap(), 200);
        assert_eq!(attempts.sent, 2, "retried once, on a new connection");
    }
    assert!(pool.stats().dials_ok >= 2);

    // The new connection is reused now; POSTs lost under it may have been processed.
    for (status, attempts) in closed_under_requests(&pool, &origin, Method::POST, 3).await {
        let e = status.unwrap_err();
        assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
        assert_eq!(attempts.sent, 1);
        assert!(attempts.last_reused);
        assert!(!attempts.retry_could_have_saved(&e, &Method::POST));
    }
    pool.close().await;
    origin.shutdown().await;
}

/// After GOAWAY the connection drains (the stream in flight goes on), a request on it is
/// not sent — safe to retry, even a POST — and the pool sends the next on a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_goaway_drains_and_what_follows_is_not_sent() {
    let (origin, pool) = setup(215).await;
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    let slow = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.send(request(Method::GET, "/slow/30000"))
                .await
                .map(|_| ())
        }
    });
    wait_for("the slow stream is open at the origin", WAIT, || {
        origin.stats().max_concurrent_streams_seen >= 1
    })
    .await;
    assert_eq!(origin.goaway_all(), 1);
    wait_for("the GOAWAY drains the connection", WAIT, || {
        conn.is_going_away()
    })
    .await;
    assert!(!slow.is_finished(), "the stream in flight goes on");

    let refused = tokio::time::timeout(WAIT, conn.send(request(Method::POST, "/after")))
        .await
        .expect("refused at once");
    let e = refused.unwrap_err();
    assert!(matches!(e, RequestError::NotSent(_)), "{e:?}");
    assert!(e.is_retryable(&Method::POST, false));

    let (status, attempts) = send(&pool, Method::POST, "/").await;
    assert_eq!(status.unwrap(), 200);
    assert_eq!(attempts.sent, 1, "the drained connection is not handed out");
    assert_eq!(pool.stats().dials_ok, 2);
    slow.abort();
    drop(lease);
    drop(conn);
    pool.close().await;
    origin.shutdown().await;
}
