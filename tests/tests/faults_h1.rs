//! The fault matrix on HTTP/1.1 (pool-dial-rustls's `H1Dialer`): the stall and reset cases of
//! `faults.rs` (HTTP/2) against an HTTP/1.1-only testkit origin, with the [`FaultProxy`]
//! between them on 127.0.x.y.
//!
//! Every test asserts what the caller sees (the error's kind, whether it was retried) and
//! what the pool counts, then closes the pool and checks that the stats are consistent,
//! that no socket is left on the proxy or the origin and that the process's fds are back
//! to the baseline (`hostile_rig::finish`). One test at a time (`hostile_rig::run`).

mod hostile_rig;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hostile_rig::{DEADLINE, finish, get, ip, pool_options, run, tls_options};
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::H1Dialer;
use pool_http::{Body, Full, RequestError, RequestOptions};
use pool_testkit::fds::open_fds;
use pool_testkit::{Fault, FaultProxy, H2Origin, H2OriginOptions, TestCa};

const HOST: &str = "a.test";

/// An HTTP/1.1-only origin on 127.0.`net`.1 and a proxy in front of it on .2.
struct Rig {
    origin: H2Origin,
    proxy: FaultProxy,
    pool: Pool<H1Dialer>,
    baseline: usize,
}

impl Rig {
    async fn start(net: u8, options: PoolOptions) -> Rig {
        let ca = Arc::new(TestCa::new().unwrap());
        let origin = H2Origin::start(H2OriginOptions::h1_only(&[ip(net, 1)], &[HOST], &ca))
            .await
            .unwrap();
        let proxy = FaultProxy::start(&[ip(net, 2)], origin.socket_addrs()[0])
            .await
            .unwrap();
        let baseline = open_fds();
        let pool = Pool::new(H1Dialer::new(tls_options(&ca)).unwrap(), options).unwrap();
        pool.set_addrs(HOST, proxy.socket_addrs());
        Rig {
            origin,
            proxy,
            pool,
            baseline,
        }
    }

    async fn finish(self) -> pool_core::Stats {
        let Rig {
            origin,
            proxy,
            pool,
            baseline,
        } = self;
        let stats = finish(pool, baseline, || {
            proxy.stats().open == 0 && origin.stats().open_connections == 0
        })
        .await;
        proxy.shutdown().await;
        origin.shutdown().await;
        stats
    }
}

#[test]
fn stall_times_out_is_counted_not_retried_and_the_pool_keeps_serving() {
    run(async {
        let rig = Rig::start(111, pool_options()).await;
        let pool = &rig.pool;
        // A reused connection: the stall would be retryable if it were a connection error.
        let r = pool_http::send(pool, HOST, get("/")).await.unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().bytes().await.unwrap();
        let answered = rig.origin.stats().requests;

        let deadline = Duration::from_millis(300);
        let options = RequestOptions::default().with_timeout(deadline);
        let started = Instant::now();
        let err = pool_http::send_with(pool, HOST, get("/stall"), &options)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Timeout(d) if d == deadline),
            "{err}"
        );
        // The whole deadline ran (an error that came early would not be this timeout);
        // that it is the request's own deadline, not a default one, is the error's value.
        let took = started.elapsed();
        assert!(
            took >= deadline,
            "timed out after {took:?}, before {deadline:?}"
        );
        assert!(!err.is_retryable(&http::Method::GET, true), "{err:?}");
        // HTTP/1.1 cannot abandon one exchange: the connection is closed (the answer may
        // still come), and the pool counts it.
        hostile_rig::wait_for_failed(pool, 1).await;
        assert_eq!(pool.stats().leases_total, 2, "one lease each: no retry");

        // The pool keeps serving, on a new connection.
        let r = pool_http::send(pool, HOST, get("/1k")).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.into_body().bytes().await.unwrap().len(), 1024);
        assert_eq!(rig.origin.stats().requests, answered + 1);
        let stats = rig.finish().await;
        assert_eq!((stats.dials_ok, stats.dial_failures), (2, 0));
    });
}

#[test]
fn reset_mid_request_is_reported_and_retried_only_when_safe() {
    run(async {
        let options = PoolOptions {
            max_conns_per_host: 1,
            ..pool_options()
        };
        let rig = Rig::start(112, options).await;
        let a = ip(112, 2);
        assert_eq!(rig.pool.warm(HOST).await.ok, 1);

        // Holds the answer of the next request in the proxy, waits until the origin has
        // answered it (so the server did process it), then resets the connection.
        async fn reset_under(
            rig: &Rig,
            request: http::Request<Full<Bytes>>,
        ) -> Result<http::Response<Body<H1Dialer>>, RequestError> {
            let a = ip(112, 2);
            let answered = rig.origin.stats().requests;
            // The pool dropped the connection the last reset broke; the proxy notices when
            // its relay reads the close, which a loaded machine can delay past our next
            // request.
            pool_testkit::wait::wait_for(
                "the proxy saw the broken connection go",
                DEADLINE,
                || rig.proxy.stats_for(a).open == 1,
            )
            .await;
            assert_eq!(rig.proxy.inject(a, Fault::StallResponses), 1);
            let call = tokio::spawn({
                let pool = rig.pool.clone();
                async move { pool_http::send(&pool, HOST, request).await }
            });
            assert!(
                rig.origin
                    .wait_until(DEADLINE, |o| o.stats().requests == answered + 1)
                    .await,
                "the origin answers"
            );
            assert_eq!(rig.proxy.inject(a, Fault::Reset), 1);
            tokio::time::timeout(DEADLINE, call)
                .await
                .expect("the request ends")
                .unwrap()
        }
        fn req(method: http::Method, path: &str) -> http::Request<Full<Bytes>> {
            http::Request::builder()
                .method(method)
                .uri(path)
                .body(Full::new(Bytes::from_static(b"x")))
                .unwrap()
        }

        // 1. A fresh connection (no request before): reported, not retried.
        let err = reset_under(&rig, req(http::Method::GET, "/fresh"))
            .await
            .unwrap_err();
        assert!(matches!(err, RequestError::ConnectionLost(_)), "{err:?}");
        assert!(!err.is_retryable(&http::Method::GET, false), "{err:?}");
        assert_eq!(rig.origin.stats().requests, 1, "no retry");
        hostile_rig::wait_for_failed(&rig.pool, 1).await;

        // 2. A reused connection, idempotent GET: retried once, on a replacement.
        let ok = pool_http::send(&rig.pool, HOST, get("/warm-up"))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        ok.into_body().bytes().await.unwrap();
        let ok = reset_under(&rig, req(http::Method::GET, "/reused"))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "the retry succeeds");
        // Read to its end, so the connection goes back to the pool (a half-read HTTP/1.1
        // answer closes it).
        ok.into_body().bytes().await.unwrap();
        assert_eq!(rig.origin.stats().requests, 4, "one retry");
        hostile_rig::wait_for_failed(&rig.pool, 2).await;

        // 3. A reused connection (it carried the retry), POST: reported, not retried.
        let err = reset_under(&rig, req(http::Method::POST, "/order"))
            .await
            .unwrap_err();
        assert!(err.is_connection_error(), "{err:?}");
        assert!(!err.is_retryable(&http::Method::POST, true), "{err:?}");
        assert_eq!(rig.origin.stats().requests, 5, "no retry of a POST");

        // The proxy counts a reset after sending it: the client may see the RST first.
        pool_testkit::wait_for("the proxy counted three resets", DEADLINE, || {
            rig.proxy.stats_for(a).resets == 3
        })
        .await;
        // The third reset's replacement dial runs in the background (stay hot): waited
        // for, not raced by close().
        pool_testkit::wait_for("the replacement after each reset", DEADLINE, || {
            rig.pool.stats().dials_ok >= 3
        })
        .await;
        let stats = rig.finish().await;
        assert_eq!(hostile_rig::failed_closes(&stats), 3);
        assert_eq!(stats.dials_ok, 3, "a replacement dialed after each reset");
        assert_eq!(stats.dial_failures, 0);
    });
}
