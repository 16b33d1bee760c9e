//! The retry budget of `pool_http::send_with` over TCP + TLS (HTTP/1.1), with a
//! [`FaultProxy`] in between: a GET whose reused connection is lost under it twice gets a
//! third attempt. (That a GET is retried once and a POST is not, and that nothing is sent
//! after a GOAWAY, is the conformance suite's `retried_only_where_safe` and
//! `goaway_refuses_what_follows`, for every dialer.)
//!
//! "Under it" is exact: the proxy holds the origin's answers, the test waits until the
//! origin has answered (so the request was processed), then resets that connection.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions};
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
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    tls
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
