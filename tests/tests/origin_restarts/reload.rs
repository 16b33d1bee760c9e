//! Origins that reload under load (`docs/refusals.md`): every connection of every address
//! drained at once, again and again, while 64 requests are in flight — HTTP/2 and HTTP/3
//! GOAWAY then close after the streams in flight, HTTP/1.1 closes its keep-alive
//! connections — and not one idempotent request fails, nor one POST the server refused.
//! A server that refuses every stream ends the request in the typed error within its
//! deadline.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions, Trust};
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, TlsOptions};
use pool_http::{Full, HttpConnection, RequestError, RequestOptions};
use pool_testkit::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa, wait_for};

const HOST: &str = "www.reload.test";
/// Addresses of the host.
const ADDRS: u8 = 10;
/// Requests in flight at once.
const IN_FLIGHT: usize = 64;
/// Requests in all.
const REQUESTS: usize = 3000;
/// Reloads of every address at once, spread over the run.
const RELOADS: u64 = 10;
const WAIT: Duration = Duration::from_secs(60);

fn addrs(net: u8) -> Vec<IpAddr> {
    (1..=ADDRS)
        .map(|i| IpAddr::from([127, 0, net, i]))
        .collect()
}

fn tls(ca: &TestCa) -> TlsOptions {
    let mut tls = TlsOptions::default();
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
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

fn quic(ca: &TestCa) -> QuicOptions {
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

/// Room for 64 exclusive HTTP/1.1 connections over 10 addresses.
fn options() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        max_connections: 200,
        max_conns_per_host: 100,
        max_idle_conns: 100,
        max_conns_per_ip: 8,
        checkout_timeout: Duration::from_secs(10),
        ..PoolOptions::default()
    }
}

/// What the load went through.
#[derive(Debug, Default)]
struct Outcome {
    ok: AtomicU64,
    /// Requests that succeeded after one or more refusals.
    resent_after_refusal: AtomicU64,
    /// Refusals in all.
    refusals: AtomicU64,
    failed_idempotent: Mutex<Vec<String>>,
    failed_post_refused: Mutex<Vec<String>>,
    /// POSTs that failed when they may have been processed (a lost connection): allowed.
    failed_post_maybe_processed: Mutex<Vec<String>>,
}

fn push(list: &Mutex<Vec<String>>, what: String) {
    list.lock().unwrap().push(what);
}

/// [`REQUESTS`] requests (one in four a POST with a 512-byte body in memory), [`IN_FLIGHT`]
/// at once, while `reload` drains every connection [`RELOADS`] times, each once `served`
/// has grown by another share of the run.
async fn load_through_reloads<D>(
    pool: Arc<Pool<D>>,
    served: impl Fn() -> u64 + Send + Sync + 'static,
    reload: impl Fn() -> usize + Send + 'static,
) -> Arc<Outcome>
where
    D: Dialer + 'static,
    D::Conn: HttpConnection,
{
    let outcome = Arc::new(Outcome::default());
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (pool, outcome, next) = (pool.clone(), outcome.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REQUESTS {
                    return;
                }
                let (method, body) = if i % 4 == 0 {
                    (Method::POST, Bytes::from(vec![b'p'; 512]))
                } else {
                    (Method::GET, Bytes::new())
                };
                let request = http::Request::builder()
                    .method(method.clone())
                    .uri(format!("/req/{i}"))
                    .body(Full::new(body))
                    .unwrap();
                let options = RequestOptions::default().with_timeout(Duration::from_secs(20));
                let (response, attempts) =
                    pool_http::send_with_attempts(&pool, HOST, request, &options).await;
                outcome
                    .refusals
                    .fetch_add(u64::from(attempts.refused), Ordering::Relaxed);
                let result = match response {
                    Ok(response) => response.into_body().bytes().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => {
                        outcome.ok.fetch_add(1, Ordering::Relaxed);
                        if attempts.refused > 0 {
                            outcome.resent_after_refusal.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        let what = format!("{method} #{i}: {e} ({attempts:?})");
                        if method.is_idempotent() {
                            push(&outcome.failed_idempotent, what);
                        } else if refused(&e) {
                            push(&outcome.failed_post_refused, what);
                        } else {
                            push(&outcome.failed_post_maybe_processed, what);
                        }
                    }
                }
            }
        }));
    }
    let reloader = tokio::spawn(async move {
        let mut reloaded = 0;
        for r in 1..=RELOADS {
            let due = r * REQUESTS as u64 / (RELOADS + 1);
            wait_for("the load to move on", WAIT, || served() >= due).await;
            reloaded += reload();
        }
        reloaded
    });
    for w in workers {
        w.await.unwrap();
    }
    let signalled = reloader.await.unwrap();
    assert!(
        signalled >= RELOADS as usize,
        "every reload drained connections: {signalled}"
    );
    outcome
}

/// Whether the server certainly did not process the request.
fn refused(e: &RequestError) -> bool {
    e.is_retry_safe() || matches!(e, RequestError::RefusedTooOften { .. })
}

fn check(protocol: &str, outcome: &Outcome) {
    let list = |l: &Mutex<Vec<String>>| l.lock().unwrap().clone();
    let maybe = list(&outcome.failed_post_maybe_processed);
    eprintln!(
        "{protocol}: {} ok, {} resent after {} refusals, {} POSTs lost when maybe processed: {maybe:?}",
        outcome.ok.load(Ordering::Relaxed),
        outcome.resent_after_refusal.load(Ordering::Relaxed),
        outcome.refusals.load(Ordering::Relaxed),
        maybe.len(),
    );
    assert_eq!(list(&outcome.failed_idempotent), Vec::<String>::new());
    assert_eq!(list(&outcome.failed_post_refused), Vec::<String>::new());
    assert_eq!(
        outcome.ok.load(Ordering::Relaxed) + maybe.len() as u64,
        REQUESTS as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_reloads_of_every_address_lose_no_request() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = Arc::new(
        H2Origin::start(H2OriginOptions::h2_only(&addrs(230), &[HOST], &ca))
            .await
            .unwrap(),
    );
    let pool = Arc::new(Pool::new(H2Dialer::new(h2(&ca)).unwrap(), options()).unwrap());
    pool.set_addrs(HOST, origin.socket_addrs());
    let (a, b) = (origin.clone(), origin.clone());
    let outcome =
        load_through_reloads(pool.clone(), move || a.stats().requests, move || b.reload()).await;
    check("h2", &outcome);
    let stats = origin.stats();
    assert_eq!(stats.reloads, RELOADS);
    assert!(stats.goaways_sent >= RELOADS, "{stats:?}");
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_reloads_of_every_address_lose_no_request() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = Arc::new(
        H2Origin::start(H2OriginOptions {
            // Besides the reloads, now and then a `connection: close`.
            http1: pool_testkit::Http1Options {
                random_close: Some(pool_testkit::RandomClose {
                    seed: 24,
                    one_in: 50,
                }),
                ..Default::default()
            },
            ..H2OriginOptions::h1_only(&addrs(231), &[HOST], &ca)
        })
        .await
        .unwrap(),
    );
    let pool = Arc::new(Pool::new(H1Dialer::new(tls(&ca)).unwrap(), options()).unwrap());
    pool.set_addrs(HOST, origin.socket_addrs());
    let (a, b) = (origin.clone(), origin.clone());
    let outcome =
        load_through_reloads(pool.clone(), move || a.stats().requests, move || b.reload()).await;
    check("h1", &outcome);
    let stats = origin.stats();
    assert_eq!(stats.reloads, RELOADS);
    assert!(stats.http1_reload_closes >= RELOADS, "{stats:?}");
    // The seeded `connection: close` (one response in 50) besides the reloads.
    assert!(stats.http1_closed > REQUESTS as u64 / 100, "{stats:?}");
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_reloads_of_every_address_lose_no_request() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = Arc::new(
        H3Origin::start(H3OriginOptions::new(&addrs(232), &[HOST], &ca))
            .await
            .unwrap(),
    );
    let pool = Arc::new(Pool::new(QuicDialer::new(quic(&ca)).unwrap(), options()).unwrap());
    pool.set_addrs(HOST, origin.socket_addrs());
    let (a, b) = (origin.clone(), origin.clone());
    let outcome =
        load_through_reloads(pool.clone(), move || a.stats().requests, move || b.reload()).await;
    check("h3", &outcome);
    let stats = origin.stats();
    assert_eq!(stats.reloads, RELOADS);
    assert!(stats.goaways_sent >= RELOADS, "{stats:?}");
    // The origin answers every request it accepted before it closes (a graceful reload):
    // a request lost in a reload is one it never processed, above its GOAWAY's stream id,
    // which pool-dial-quic reads off the control stream and makes a refusal, sent again. So no
    // POST is lost, and every request the origin answered reached the client.
    eprintln!(
        "h3: the origin answered {} requests, the client received {}",
        stats.requests,
        outcome.ok.load(Ordering::Relaxed)
    );
    assert_eq!(
        outcome.failed_post_maybe_processed.lock().unwrap().len(),
        0,
        "HTTP/3 POSTs lost in a reload, although the origin never processed them"
    );
    assert_eq!(stats.requests, outcome.ok.load(Ordering::Relaxed));
    pool.close().await;
    origin.shutdown().await;
}

/// A server that refuses every request: the request ends in `RefusedTooOften` after
/// `MAX_REFUSALS` refusals, well within its deadline.
async fn refused_forever<D>(pool: Pool<D>)
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let timeout = Duration::from_secs(20);
    let started = std::time::Instant::now();
    let request = http::Request::post("/refuse")
        .body(Full::new(Bytes::from_static(b"order")))
        .unwrap();
    let options = RequestOptions::default().with_timeout(timeout);
    let (response, attempts) = pool_http::send_with_attempts(&pool, HOST, request, &options).await;
    let e = response.unwrap_err();
    match &e {
        RequestError::RefusedTooOften { refusals, last } => {
            assert_eq!(*refusals, pool_http::MAX_REFUSALS);
            assert!(matches!(**last, RequestError::Refused { .. }), "{last:?}");
        }
        other => panic!("expected RefusedTooOften, got {other:?}"),
    }
    assert_eq!(attempts.refused, pool_http::MAX_REFUSALS);
    // A refusing server is not hammered: from the second refusal on each resend waits
    // (1 ms doubling to 100 ms: pool-http's `refusal_backoff`), about 2.4 s for
    // MAX_REFUSALS; resending at once would take a few milliseconds.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "{took:?}: resent without waiting"
    );
    // Every refusal but the last was sent again, and the pool's stats count them.
    let stats = pool.stats();
    assert_eq!(
        stats.resent_refused_total,
        u64::from(pool_http::MAX_REFUSALS - 1),
        "{stats:?}"
    );
    assert_eq!(stats.resent_lost_total, 0);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_a_server_refusing_every_stream_ends_in_the_typed_error() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::h2_only(&addrs(233)[..2], &[HOST], &ca))
        .await
        .unwrap();
    let pool = Pool::new(H2Dialer::new(h2(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    refused_forever(pool).await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_a_server_rejecting_every_request_ends_in_the_typed_error() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(&addrs(234)[..2], &[HOST], &ca))
        .await
        .unwrap();
    let pool = Pool::new(QuicDialer::new(quic(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    refused_forever(pool).await;
    origin.shutdown().await;
}

/// One GET through a new pool (no memory of earlier failures), to its status.
async fn fresh_get<D>(
    dialer: D,
    origin_addrs: Vec<std::net::SocketAddr>,
) -> Result<u16, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let pool = Pool::new(dialer, options()).unwrap();
    pool.set_addrs(HOST, origin_addrs);
    let request = http::Request::get("/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let options = RequestOptions::default().with_timeout(Duration::from_secs(5));
    let result = match pool_http::send_with(&pool, HOST, request, &options).await {
        Ok(response) => {
            let status = response.status().as_u16();
            response.into_body().bytes().await.map(|_| status)
        }
        Err(e) => Err(e),
    };
    pool.close().await;
    result
}

/// The testkit's restart: listeners and connections closed (a connect is refused), then
/// back on the same addresses and port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_h2_origin_restarts_on_the_same_addresses_and_port() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::h2_only(&addrs(235)[..2], &[HOST], &ca))
        .await
        .unwrap();
    let sockets = origin.socket_addrs();
    let dialer = || H2Dialer::new(h2(&ca)).unwrap();
    let pool = Pool::new(dialer(), options()).unwrap();
    pool.set_addrs(HOST, sockets.clone());
    pool.warm(HOST).await;
    assert_eq!(origin.stats().open_connections, 2);

    origin.stop_listening().await;
    assert_eq!(origin.stats().open_connections, 0);
    for addr in &sockets {
        let refused = tokio::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{addr}"
        );
    }
    origin.resume_listening().await.unwrap();
    assert_eq!(origin.socket_addrs(), sockets);
    assert_eq!(fresh_get(dialer(), sockets.clone()).await.unwrap(), 200);
    let stats = origin.stats();
    assert_eq!(stats.restarts, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_h3_origin_restarts_on_the_same_addresses_and_port() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(&addrs(235)[2..4], &[HOST], &ca))
        .await
        .unwrap();
    let sockets = origin.socket_addrs();
    let dialer = || QuicDialer::new(quic(&ca)).unwrap();
    assert_eq!(fresh_get(dialer(), sockets.clone()).await.unwrap(), 200);

    origin.stop_listening().await;
    assert_eq!(origin.stats().open_connections, 0);
    origin.resume_listening().await.unwrap();
    assert_eq!(origin.socket_addrs(), sockets);
    assert_eq!(fresh_get(dialer(), sockets.clone()).await.unwrap(), 200);
    assert_eq!(origin.stats().restarts, 1);
    assert_eq!(origin.stats().handshakes, 2);
    origin.shutdown().await;
}
