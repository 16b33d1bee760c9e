//! Polite requests (`pool_http::send_polite`) against a testkit origin that enforces a rate
//! limit on `/limited` paths, as a web server's `limit_req` does: a configured rate keeps
//! under it, adaptation finds it without one, a `Retry-After` pauses the host.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use pool_core::{Adaptation, Pool, PoolOptions, RateLimit};
use pool_dial_rustls::{H2Dialer, H2Options, Trust};
use pool_http::{Empty, HostRates, Polite, RequestOptions, StatusRetry, send_polite};
use pool_testkit::{H2Origin, H2OriginOptions, OriginRateLimit, TestCa};

const HOST: &str = "limited.test";

/// An HTTP/2 origin on two addresses, and a pool knowing them.
async fn rig() -> (H2Origin, Arc<Pool<H2Dialer>>) {
    let ca = Arc::new(TestCa::new().unwrap());
    let ips = [
        IpAddr::from([127, 0, 0, 141]),
        IpAddr::from([127, 0, 0, 142]),
    ];
    let origin = H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca))
        .await
        .unwrap();
    let mut options = H2Options::default();
    options.tls.trust = Trust {
        webpki_roots: false,
        extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
        ..Trust::default()
    };
    options.tls.conn_timeout = Duration::from_secs(5);
    let pool = Pool::new(H2Dialer::new(options).unwrap(), PoolOptions::default()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    pool.warm(HOST).await;
    (origin, Arc::new(pool))
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(format!("https://{HOST}{path}"))
        .body(Empty::new())
        .unwrap()
}

/// Sends `n` GETs of `/limited/{i}` through `polite` (or without it: plain `send_with`),
/// `concurrency` at a time; the final status of each, in order.
async fn run(
    pool: &Arc<Pool<H2Dialer>>,
    polite: Option<&Arc<Polite>>,
    n: usize,
    concurrency: usize,
) -> Vec<u16> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(vec![0u16; n]));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (pool, polite, next, statuses) = (
            pool.clone(),
            polite.cloned(),
            next.clone(),
            statuses.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let options = RequestOptions::default();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let request = get(&format!("/limited/{i}"));
                let response = match &polite {
                    Some(polite) => send_polite(&*pool, polite, HOST, request, &options).await,
                    None => pool_http::send_with(&*pool, HOST, request, &options).await,
                }
                .expect("an answer");
                statuses.lock().unwrap()[i] = response.status().as_u16();
                response.into_body().collect(1 << 16).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(statuses).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_rate_keeps_under_the_origin_limit() {
    let (origin, pool) = rig().await;
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 5,
        ..OriginRateLimit::new(50.0)
    }));
    let rates = HostRates::new(None, Some(Adaptation::default()));
    rates.set_host(HOST, Some("40/s".parse::<RateLimit>().unwrap()));
    let polite = Arc::new(Polite::new(Some(Arc::new(rates)), StatusRetry::default()));
    let statuses = run(&pool, Some(&polite), 60, 8).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let counts = origin.rate_limit_counts();
    assert_eq!((counts.passed, counts.refused), (60, 0));
    let stats = polite.rates().unwrap().stats(HOST).unwrap();
    assert_eq!(stats.granted, 60);
    assert!(
        stats.waits > 40,
        "eight at a time over 40/s: most waited ({stats:?})"
    );
    assert_eq!(polite.stats().throttled, 0);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rate_adaptation_finds_the_origin_limit() {
    let (origin, pool) = rig().await;
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 10,
        ..OriginRateLimit::new(100.0)
    }));
    // Unpaced, a burst mostly meets 429s.
    let blunt = run(&pool, None, 200, 16).await;
    let blunt_refused = origin.rate_limit_counts().refused;
    assert_eq!(
        blunt.iter().filter(|&&s| s == 429).count() as u64,
        blunt_refused
    );
    assert!(
        blunt_refused > 50,
        "the origin limits: {blunt_refused} refused"
    );

    // Let the bucket refill, then the same load, polite with no rate configured.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = origin.rate_limit_counts();
    let polite = Arc::new(Polite::default());
    let statuses = run(&pool, Some(&polite), 300, 16).await;
    let after = origin.rate_limit_counts();
    let refused = after.refused - before.refused;
    let stats = polite.rates().unwrap().stats(HOST).unwrap();
    assert!(stats.cuts >= 1, "{stats:?}");
    let current = stats.current.expect("paced after the first 429");
    assert!(current <= 120.0, "adapted to about the limit: {current}/s");
    assert!(
        refused * 4 < blunt_refused,
        "adaptation spared the origin: {refused} refused of {} sent (blunt: {blunt_refused} of 200)",
        after.passed + after.refused - before.passed - before.refused
    );
    eprintln!(
        "blunt: {blunt_refused} of 200 refused; polite: {refused} refused, adapted to {current:.0}/s, {stats:?}, {:?}",
        polite.stats()
    );
    let tail_ok = statuses[200..].iter().filter(|&&s| s == 200).count();
    assert!(
        tail_ok >= 95,
        "once adapted, answered: {:?}",
        &statuses[200..]
    );
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_pauses_the_host_and_the_request_is_sent_again() {
    let (origin, pool) = rig().await;
    origin.set_rate_limit(Some(OriginRateLimit {
        status: 503,
        retry_after: Some(1),
        ..OriginRateLimit::new(2.0)
    }));
    let polite = Arc::new(Polite::default());
    let started = tokio::time::Instant::now();
    let statuses = run(&pool, Some(&polite), 2, 1).await;
    assert_eq!(
        statuses,
        [200, 200],
        "the second was answered 503, then sent again"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited for the Retry-After"
    );
    let counts = origin.rate_limit_counts();
    assert_eq!((counts.passed, counts.refused), (2, 1));
    assert_eq!(polite.stats().retried, 1);
    assert_eq!(polite.rates().unwrap().stats(HOST).unwrap().pauses, 1);
    pool.close().await;
}
