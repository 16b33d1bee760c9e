//! The fault matrix on HTTP/3 (pool-dial-quic's `QuicDialer`): a stalled request against the
//! testkit H3 origin, a stream reset and a connection cut mid-request by the hostile
//! HTTP/3 server of `pool_testkit::hostile` (QUIC has no TCP proxy to cut it: the origin
//! does it).
//!
//! Every test asserts what the caller sees (the error's kind, whether it was retried) and
//! what the pool counts, then closes the pool and checks that the stats are consistent,
//! that no connection is left on the servers and that the process's fds are back to the
//! baseline (`hostile_rig::finish`). One test at a time (`hostile_rig::run`).

mod hostile_rig;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hostile_rig::{finish, get, ip, pool_options, quic_options, run};
use pool_core::{Pool, PoolOptions};
use pool_dial_quic::QuicDialer;
use pool_http::{Full, RequestError, RequestOptions};
use pool_testkit::fds::open_fds;
use pool_testkit::hostile::{H3Script, HostileH3};
use pool_testkit::{H3Origin, H3OriginOptions, TestCa};

const HOST: &str = "a.test";
const OTHER: &str = "b.test";

fn pool(ca: &TestCa, options: PoolOptions) -> Pool<QuicDialer> {
    Pool::new(QuicDialer::new(quic_options(ca)).unwrap(), options).unwrap()
}

#[test]
fn stall_times_out_is_counted_not_retried_and_the_connection_keeps_serving() {
    run(async {
        let ca = Arc::new(TestCa::new().unwrap());
        let origin = H3Origin::start(H3OriginOptions::new(&[ip(121, 1)], &[HOST], &ca))
            .await
            .unwrap();
        let baseline = open_fds();
        let pool = pool(&ca, pool_options());
        pool.set_addrs(HOST, origin.socket_addrs());
        // A reused connection: the stall would be retryable if it were a connection error.
        let r = pool_http::send(&pool, HOST, get("/")).await.unwrap();
        r.into_body().bytes().await.unwrap();

        let deadline = Duration::from_millis(300);
        let options = RequestOptions::default().with_timeout(deadline);
        let started = Instant::now();
        let err = pool_http::send_with(&pool, HOST, get("/stall"), &options)
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
        assert_eq!(pool.stats().leases_total, 2, "one lease each: no retry");
        let conns = pool.connections();
        assert_eq!(conns.len(), 1);
        assert_eq!(
            conns[0].error_count, 1,
            "the timeout counts on the connection"
        );

        // The stream was reset; the connection serves the next request.
        let r = pool_http::send(&pool, HOST, get("/1k")).await.unwrap();
        assert_eq!(r.into_body().bytes().await.unwrap().len(), 1024);
        let stats = finish(pool, baseline, || origin.stats().open_connections == 0).await;
        assert_eq!((stats.dials_ok, stats.dial_failures), (1, 0));
        origin.shutdown().await;
    });
}

#[test]
fn a_stream_reset_by_the_origin_is_a_protocol_error_never_retried() {
    run(async {
        let ca = Arc::new(TestCa::new().unwrap());
        let hostile = HostileH3::start(ip(122, 1), &[HOST], &ca, H3Script::ResetStream)
            .await
            .unwrap();
        let good = H3Origin::start(H3OriginOptions::new(&[ip(122, 2)], &[OTHER], &ca))
            .await
            .unwrap();
        let baseline = open_fds();
        let pool = pool(&ca, pool_options());
        pool.set_addrs(HOST, [hostile.addr()]);
        pool.set_addrs(OTHER, good.socket_addrs());
        for expected in 1..=2 {
            // The second time on a reused connection: still not retried (the stream, not
            // the connection, failed, and the server may have processed the request).
            let err = pool_http::send(&pool, HOST, get("/")).await.unwrap_err();
            assert!(matches!(err, RequestError::Protocol(_)), "{err:?}");
            assert!(!err.is_retryable(&http::Method::GET, true), "{err:?}");
            assert_eq!(hostile.stats().requests, expected, "no retry");
        }
        let conns = pool.connections();
        assert_eq!(conns.len(), 1, "the connection is kept: {conns:?}");
        assert_eq!(conns[0].error_count, 2);
        let r = pool_http::send(&pool, OTHER, get("/")).await.unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().bytes().await.unwrap();
        let stats = finish(pool, baseline, || {
            hostile.stats().open == 0 && good.stats().open_connections == 0
        })
        .await;
        assert_eq!(stats.dials_ok, 2);
        hostile.shutdown().await;
        good.shutdown().await;
    });
}

#[test]
fn a_connection_cut_mid_request_is_retried_only_when_safe() {
    run(async {
        let ca = Arc::new(TestCa::new().unwrap());
        // a.test: every connection answers one request, then is cut under the next.
        let reused = HostileH3::start(ip(123, 1), &[HOST], &ca, H3Script::CloseConnectionAfter(1))
            .await
            .unwrap();
        // b.test: every connection is cut under its first request.
        let fresh = HostileH3::start(ip(123, 2), &[OTHER], &ca, H3Script::CloseConnectionAfter(0))
            .await
            .unwrap();
        let baseline = open_fds();
        let options = PoolOptions {
            max_conns_per_host: 1,
            ..pool_options()
        };
        let pool = pool(&ca, options);
        pool.set_addrs(HOST, [reused.addr()]);
        pool.set_addrs(OTHER, [fresh.addr()]);

        // 1. A fresh connection: reported, not retried; the next request dials anew.
        let err = pool_http::send(&pool, OTHER, get("/")).await.unwrap_err();
        assert!(matches!(err, RequestError::ConnectionLost(_)), "{err:?}");
        assert!(!err.is_retryable(&http::Method::GET, false), "{err:?}");
        assert_eq!(fresh.stats().requests, 1, "no retry");
        hostile_rig::wait_for_failed(&pool, 1).await;
        assert_eq!(pool.warm(OTHER).await.ok, 1, "a replacement is dialed");

        // 2. A reused connection, idempotent GET: retried once, on a replacement.
        let r = pool_http::send(&pool, HOST, get("/first")).await.unwrap();
        r.into_body().bytes().await.unwrap();
        let r = pool_http::send(&pool, HOST, get("/second")).await.unwrap();
        assert_eq!(r.status(), 200, "the retry succeeds");
        assert_eq!(&r.into_body().bytes().await.unwrap()[..], b"ok");
        assert_eq!(reused.stats().requests, 3, "one retry");
        assert_eq!(
            reused.stats().accepted,
            2,
            "the retry went to a replacement"
        );
        hostile_rig::wait_for_failed(&pool, 2).await;

        // 3. A reused connection (it carried the retry), POST: reported, not retried.
        let post = http::Request::post("/order")
            .body(Full::new(Bytes::from_static(b"buy")))
            .unwrap();
        let err = pool_http::send(&pool, HOST, post).await.unwrap_err();
        assert!(err.is_connection_error(), "{err:?}");
        assert!(!err.is_retryable(&http::Method::POST, true), "{err:?}");
        assert_eq!(reused.stats().requests, 4, "no retry of a POST");

        let stats = finish(pool, baseline, || {
            reused.stats().open == 0 && fresh.stats().open == 0
        })
        .await;
        assert_eq!(hostile_rig::failed_closes(&stats), 3);
        assert_eq!(stats.dial_failures, 0);
        reused.shutdown().await;
        fresh.shutdown().await;
    });
}
