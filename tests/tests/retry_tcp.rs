//! The retry policy of `pool_http::send_with` against real local origins over TCP + TLS
//! (HTTP/1.1 and HTTP/2), with a [`FaultProxy`] in between: an idempotent request whose
//! *reused* connection is lost under it is sent again on another connection (up to
//! `MAX_ATTEMPTS` times), a POST is not; an HTTP/2 GOAWAY drains the connection at once and
//! a request after it is never sent (so it is retried, even a POST).
//!
//! "Under it" is exact: the proxy holds the origin's answers, the test waits until the
//! origin has answered (so the request was processed), then resets that connection.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pool_core::{Connection, Dialer, Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, TlsOptions};
use pool_http::{Attempts, Full, HttpConnection, HttpLeaseExt, RequestError, RequestOptions};
use pool_testkit::{Fault, FaultProxy, H2Origin, H2OriginOptions, TestCa, wait_for};

const HOST: &str = "www.retry.test";
const WAIT: Duration = Duration::from_secs(10);

fn ip(net: u8, last: u8) -> IpAddr {
    IpAddr::from([127, 0, net, last])
}

fn tls(ca: &TestCa) -> TlsOptions {
    let mut tls = TlsOptions::default();
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der()];
    tls
}

fn h2(ca: &TestCa) -> H2Options {
    let defaults = H2Options::default();
    H2Options {
        tls: TlsOptions {
            alpn: defaults.tls.alpn.clone(),
            ..tls(ca)
        },
        ..defaults
    }
}

fn options() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        max_conns_per_ip: 4,
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    }
}

fn request(method: Method, path: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap()
}

/// An origin (HTTP/1.1 only, or h2) on `ip(net, 1)` behind a proxy on `proxies`
/// addresses `ip(net, 10..)`.
async fn servers(net: u8, http2: bool, proxies: u8) -> (Arc<TestCa>, H2Origin, FaultProxy) {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = [ip(net, 1)];
    let options = if http2 {
        H2OriginOptions::h2_only(&addrs, &[HOST], &ca)
    } else {
        H2OriginOptions::h1_only(&addrs, &[HOST], &ca)
    };
    let origin = H2Origin::start(options).await.unwrap();
    let ips: Vec<IpAddr> = (0..proxies).map(|i| ip(net, 10 + i)).collect();
    let proxy = FaultProxy::start(&ips, origin.socket_addrs()[0])
        .await
        .unwrap();
    (ca, origin, proxy)
}

/// One request through the pool, to its status.
async fn send<D>(pool: &Pool<D>, method: Method) -> (Result<u16, RequestError>, Attempts)
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let (response, attempts) =
        pool_http::send_with_attempts(pool, HOST, request(method, "/"), &RequestOptions::default())
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

/// Waits until the origin has answered `n` requests in all, then resets the connection
/// whose lease is out (the one the held answer is for).
async fn reset_the_leased_connection<D: Dialer>(
    pool: &Pool<D>,
    origin: &H2Origin,
    proxy: &FaultProxy,
    n: u64,
) {
    wait_for("the origin answered", WAIT, || origin.stats().requests >= n).await;
    let leased = pool
        .connections()
        .into_iter()
        .find(|c| c.leases > 0)
        .expect("the held request's connection")
        .addr
        .ip();
    assert_eq!(proxy.inject(leased, Fault::Reset), 1);
}

/// With the origin's answers held on every open connection, `method` is sent, and the
/// connection it went out on is reset once the origin has answered; with `twice`, the
/// connection of its retry too.
async fn lost_under_the_request<D>(
    pool: &Pool<D>,
    origin: &H2Origin,
    proxy: &FaultProxy,
    method: Method,
    twice: bool,
) -> (Result<u16, RequestError>, Attempts)
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let answered = origin.stats().requests;
    proxy.inject_all(Fault::StallResponses);
    let pending = tokio::spawn({
        let pool = pool.clone();
        async move { send(&pool, method).await }
    });
    reset_the_leased_connection(pool, origin, proxy, answered + 1).await;
    if twice {
        reset_the_leased_connection(pool, origin, proxy, answered + 2).await;
    }
    pending.await.unwrap()
}

/// The same checks on either protocol: a GET retried once on a new connection, then a
/// POST on a reused connection lost under it, not retried.
async fn get_retried_post_not<D>(pool: Pool<D>, origin: H2Origin, proxy: FaultProxy)
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    assert_eq!(send(&pool, Method::GET).await.0.unwrap(), 200);
    let (status, attempts) =
        lost_under_the_request(&pool, &origin, &proxy, Method::GET, false).await;
    assert_eq!(status.unwrap(), 200);
    assert_eq!(attempts.sent, 2, "retried once");
    assert_eq!(pool.stats().dials_ok, 2, "on a new connection");

    let (status, attempts) =
        lost_under_the_request(&pool, &origin, &proxy, Method::POST, false).await;
    let e = status.unwrap_err();
    assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
    assert_eq!(
        attempts.sent, 1,
        "a POST that was processed is not sent again"
    );
    assert!(attempts.last_reused);
    assert!(!attempts.retry_could_have_saved(&e, &Method::POST));
    pool.close().await;
    proxy.shutdown().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_a_get_is_retried_when_its_reused_connection_is_lost_a_post_is_not() {
    let (ca, origin, proxy) = servers(210, false, 1).await;
    let pool = Pool::new(H1Dialer::new(tls(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, proxy.socket_addrs());
    get_retried_post_not(pool, origin, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_a_get_is_retried_when_its_reused_connection_is_lost_a_post_is_not() {
    let (ca, origin, proxy) = servers(211, true, 1).await;
    let pool = Pool::new(H2Dialer::new(h2(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, proxy.socket_addrs());
    get_retried_post_not(pool, origin, proxy).await;
}

/// Two reused connections lost one after the other under the same GET: the third attempt,
/// on a new connection, answers it (one retry would not have).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_losing_two_reused_connections_gets_a_third_attempt() {
    let (ca, origin, proxy) = servers(212, false, 2).await;
    let pool = Pool::new(H1Dialer::new(tls(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, proxy.socket_addrs());
    // Two connections (HTTP/1.1 is exclusive: two leases at once), both reused.
    let (a, b) = (pool.get(HOST).await.unwrap(), pool.get(HOST).await.unwrap());
    for lease in [a, b] {
        let response = lease.request(request(Method::GET, "/")).await.unwrap();
        response.into_body().bytes().await.unwrap();
    }
    assert_eq!(pool.stats().dials_ok, 2);
    assert!(pool.connections().iter().all(|c| c.request_count > 0));

    let (status, attempts) =
        lost_under_the_request(&pool, &origin, &proxy, Method::GET, true).await;
    assert_eq!(status.unwrap(), 200);
    assert_eq!(attempts.sent, 3);
    assert_eq!(pool.stats().dials_ok, 3);
    pool.close().await;
    proxy.shutdown().await;
    origin.shutdown().await;
}

/// An HTTP/2 GOAWAY drains the connection at once (while a stream still runs on it), a
/// request on it is never sent — so a POST is safe to retry — and the pool sends the next
/// one on a new connection. h2 itself would send the request and learn nothing until the
/// connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_goaway_drains_at_once_and_what_follows_is_not_sent() {
    let (ca, origin, proxy) = servers(213, true, 1).await;
    let pool = Pool::new(H2Dialer::new(h2(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, proxy.socket_addrs());
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
        conn.is_closed()
    })
    .await;
    assert!(!slow.is_finished(), "the stream in flight goes on");

    let refused = tokio::time::timeout(WAIT, conn.send(request(Method::POST, "/after")))
        .await
        .expect("refused at once, not left waiting for the connection to end");
    let e = refused.unwrap_err();
    assert!(matches!(e, RequestError::NotSent(_)), "{e:?}");
    assert!(e.is_retryable(&Method::POST, false));

    let (status, attempts) = send(&pool, Method::POST).await;
    assert_eq!(status.unwrap(), 200);
    assert_eq!(attempts.sent, 1, "the drained connection is not handed out");
    assert_eq!(pool.stats().dials_ok, 2);
    slow.abort();
    drop(lease);
    drop(conn);
    pool.close().await;
    proxy.shutdown().await;
    origin.shutdown().await;
}
