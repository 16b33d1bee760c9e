//! Origins that reload and restart, and a hot host that stays hot (issue 24; needs the pool
//! to replace drained connections at once and to re-test a host whose every address
//! failed with a short backoff — branch `hot`; kept in `tests/pending/` until then, move
//! it to `tests/tests/` with that branch: both tests fail without it):
//! - after 10 reloads of every address at once under load, the pool has a connection to
//!   every address again;
//! - a restart of every address (listeners closed, connections closed) recovers at the
//!   first re-test after the origin's return: a request answered, every address
//!   connected, no dial failed after the return.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool_core::{Error, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options, TlsOptions};
use pool_http::{Full, RequestError, RequestOptions};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};

const HOST: &str = "www.restart.test";
const ADDRS: u8 = 10;
const WAIT: Duration = Duration::from_secs(30);

fn addrs(net: u8) -> Vec<IpAddr> {
    (1..=ADDRS)
        .map(|i| IpAddr::from([127, 0, net, i]))
        .collect()
}

fn h2(ca: &TestCa) -> H2Options {
    let defaults = H2Options::default();
    let mut tls = TlsOptions {
        alpn: defaults.tls.alpn.clone(),
        ..TlsOptions::default()
    };
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    H2Options { tls, ..defaults }
}

fn options() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    }
}

/// The addresses of `pool`'s open connections to [`HOST`] that are not draining.
fn connected<D: pool_core::Dialer>(pool: &Pool<D>) -> std::collections::BTreeSet<IpAddr> {
    pool.connections()
        .into_iter()
        .filter(|c| c.host.as_ref() == HOST && c.healthy)
        .map(|c| c.addr.ip())
        .collect()
}

async fn get<D>(pool: &Pool<D>) -> Result<(), pool_http::RequestError>
where
    D: pool_core::Dialer,
    D::Conn: pool_http::HttpConnection,
{
    let request = http::Request::get("/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let options = RequestOptions::default().with_timeout(Duration::from_secs(5));
    let response = pool_http::send_with(pool, HOST, request, &options).await?;
    response.into_body().bytes().await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_reloads_under_load_every_address_is_connected_again() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = Arc::new(
        H2Origin::start(H2OriginOptions::h2_only(&addrs(236), &[HOST], &ca))
            .await
            .unwrap(),
    );
    let pool = Arc::new(Pool::new(H2Dialer::new(h2(&ca)).unwrap(), options()).unwrap());
    pool.set_addrs(HOST, origin.socket_addrs());
    let report = pool.warm(HOST).await;
    assert_eq!(connected(&pool).len(), usize::from(ADDRS), "{report:?}");
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (pool, done) = (pool.clone(), done.clone());
            tokio::spawn(async move {
                for _ in 0..100 {
                    get(&pool).await.unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for r in 1..=10u64 {
        eventually("the load moves on", WAIT, || {
            done.load(Ordering::Relaxed) >= r * 140
        })
        .await
        .unwrap();
        origin.reload();
    }
    for w in workers {
        w.await.unwrap();
    }
    eventually("a connection to every address again", WAIT, || {
        connected(&pool).len() == usize::from(ADDRS)
    })
    .await
    .unwrap();
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_every_address_recovers_at_the_first_retest_after_the_return() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::h2_only(&addrs(237), &[HOST], &ca))
        .await
        .unwrap();
    let pool = Pool::new(H2Dialer::new(h2(&ca)).unwrap(), options()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    pool.warm(HOST).await;
    assert_eq!(connected(&pool).len(), usize::from(ADDRS));

    origin.stop_listening().await;
    // While it is down, requests fail (fast, with a typed error) — one every 20 ms for 2 s.
    let down_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < down_until {
        let err = get(&pool)
            .await
            .expect_err("no answer while the origin is down");
        // Fast, not a timeout: the pool's own error (a failed dial, the host down, its
        // addresses blacklisted), or a connection the stop closed under the request
        // before the pool noticed.
        assert!(
            matches!(
                err,
                RequestError::Pool(
                    Error::Dial { .. } | Error::HostDown { .. } | Error::NoUsableAddress { .. }
                ) | RequestError::ConnectionLost(_)
                    | RequestError::NotSent(_)
            ),
            "{err:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    origin.resume_listening().await.unwrap();
    // Counted, not timed: a down host is re-tested every `outage_retest` doubling up to
    // `outage_retest_max` (1 s), the core's schedule, checked on its fake clock
    // (pool-core/src/proto/tests/hot.rs). Here: the first re-test after the return
    // succeeds and re-warms every address — no dial fails after the return, but the one
    // re-test that may have been refused just before the listeners came back.
    let failures_at_return = pool.stats().dial_failures;
    let answered = async {
        while get(&pool).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, answered)
        .await
        .unwrap_or_else(|_| panic!("no answer within {WAIT:?} of the return"));
    eventually("a connection to every address", WAIT, || {
        connected(&pool).len() == usize::from(ADDRS)
    })
    .await
    .unwrap();
    let failed_after = pool.stats().dial_failures - failures_at_return;
    assert!(
        failed_after <= 1,
        "{failed_after} dials failed after the return"
    );
    assert_eq!(origin.stats().restarts, 1);
    pool.close().await;
    origin.shutdown().await;
}
