//! The behaviours every dialer promises, each written once, generic over [`Rig`]. Each
//! case takes `net` (the test's own `127.0.net.0/24`) and asserts the typed outcome the
//! behaviour promises.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use pool_core::{CloseReason, Connection, DialErrorKind, Dialer, Pool, PoolOptions};
use pool_dial_rustls::Trust;
use pool_http::http_body_util::BodyExt;
use pool_http::{
    Attempts, Full, HttpConnection, HttpLeaseExt, RequestError, RequestOptions, Validation,
};
use pool_testkit::{Fault, TestCa, eventually, wait_for};

use crate::common::{WAIT, get, pool_options, target, trust};
use crate::rig::{HOST, Origin, Rig, Site};

/// How much later than its deadline a timed-out request may end: well under the 5 s dial
/// and validation timeouts and the 10 s waits, so a deadline not applied (the request
/// waiting on another timer) fails the case.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// The body of every origin's `/`.
const HELLO: &[u8] = b"hello from hotpool\n";

fn pool<R: Rig>(
    site: &Site,
    validation: Option<Validation>,
    options: PoolOptions,
) -> Pool<R::Dialer> {
    let pool = Pool::new(R::dialer(site.trust(), validation), options).unwrap();
    pool.set_addrs(HOST, site.pool_addrs());
    pool
}

/// One request through the pool with the pool's retry policy; the body read to its end.
async fn send<D>(
    pool: &Pool<D>,
    method: Method,
    path: &str,
) -> (Result<u16, RequestError>, Attempts)
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let (response, attempts) =
        pool_http::send_with_attempts(pool, HOST, request, &RequestOptions::default()).await;
    let status = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            response.into_body().bytes().await.map(|_| status)
        }
        Err(e) => Err(e),
    };
    (status, attempts)
}

/// Warm opens one connection per address, each with the transport's capacity; requests
/// then reuse them (no handshake after the warm-up). The CA is trusted through a PEM file
/// (`extra_ca_files`).
pub async fn warm_then_reuse<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 2).await;
    let dir = std::env::temp_dir().join(format!("hotpool-conform-{}-{net}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    site.ca.write_ca_pem(&ca_file).unwrap();
    let trust = Trust {
        webpki_roots: false,
        extra_ca_files: vec![ca_file],
        ..Trust::default()
    };
    let pool = Pool::new(R::dialer(trust, None), pool_options()).unwrap();
    pool.set_addrs(HOST, site.pool_addrs());
    let report = pool.warm(HOST).await;
    assert_eq!((report.planned, report.ok, report.failed), (2, 2, 0));
    for conn in pool.connections() {
        assert_eq!(conn.capacity, R::CAPACITY, "{conn:?}");
    }
    for i in 0..10 {
        let (status, attempts) = send(&pool, Method::GET, "/").await;
        assert_eq!((status.unwrap(), attempts.sent), (200, 1), "#{i}");
    }
    let seen = site.seen();
    assert_eq!((seen.handshakes, seen.requests), (2, 10));
    let stats = pool.stats();
    assert_eq!((stats.dials_ok, stats.leases_total), (2, 10));
    pool.close().await;
    site.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A certificate for another name, or from a CA not trusted, fails the dial as `Handshake`;
/// through the pool the address is blacklisted and never silently used.
pub async fn a_wrong_certificate_is_a_handshake_failure<R: Rig>(net: u8) {
    let site = Site::start_for::<R>(net, 1, "other.test").await;
    let addr = site.origin_addrs()[0];
    let dialer = R::dialer(site.trust(), None);
    let Err(e) = dialer.dial(&target(HOST, addr)).await else {
        panic!("a certificate for another name was accepted")
    };
    assert_eq!(e.kind(), DialErrorKind::Handshake, "{e}");
    let stranger = TestCa::new().unwrap();
    let untrusting = R::dialer(trust(&stranger), None);
    let Err(e) = untrusting.dial(&target("other.test", addr)).await else {
        panic!("a certificate from an untrusted CA was accepted")
    };
    assert_eq!(e.kind(), DialErrorKind::Handshake, "{e}");
    assert_eq!(site.seen().handshakes, 0, "no handshake completed");
    // The right name and CA: admitted (the failures were the certificate's).
    let Ok(_conn) = dialer.dial(&target("other.test", addr)).await else {
        panic!("the right certificate was refused")
    };
    let pool = Pool::new(
        dialer,
        PoolOptions {
            max_retries: 1,
            ..pool_options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, [addr]);
    let report = pool.warm(HOST).await;
    assert_eq!((report.ok, report.failed, report.blacklisted), (0, 1, 1));
    let e = pool.get(HOST).await.unwrap_err();
    assert!(
        matches!(e, pool_core::Error::NoUsableAddress { .. }),
        "never silently accepted: {e:?}"
    );
    pool.close().await;
    site.shutdown().await;
}

/// A GOAWAY, then a close, from the server: the pool notices on its own (no request fails
/// first), counts why it closed, and re-warms the hot host in the background, so the next
/// request finds a connection without a handshake.
pub async fn drains_on_goaway_and_close<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 2).await;
    let pool = pool::<R>(&site, None, pool_options());
    assert_eq!(pool.warm(HOST).await.ok, 2);
    // Both connections carry requests first (the capacity of both at once), so each is
    // fully set up at the origin when the fault comes.
    let calls: Vec<_> = (0..2 * R::CAPACITY)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { send(&pool, Method::GET, "/slow/200").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().0.unwrap(), 200);
    }
    assert_eq!(site.seen().requests, 2 * u64::from(R::CAPACITY));
    assert_eq!(
        pool.stats().dials_ok,
        2,
        "the warmed connections carried them"
    );
    type Inject = fn(&Site) -> usize;
    let faults: [(&str, Inject); 2] = [("GOAWAY", Site::goaway_all), ("close", Site::close_all)];
    let faults = faults
        .into_iter()
        .filter(|(fault, _)| R::HAS_GOAWAY || *fault != "GOAWAY");
    for (round, (fault, inject)) in faults.enumerate() {
        let closed_before = pool.stats().closed_total();
        let goaway_before = pool.stats().closed_for(CloseReason::GoAway);
        // (H3Origin counts the connections it signalled per endpoint: at least one.)
        assert!(inject(&site) >= 1, "{fault}: connections signalled");
        let handshakes = 2 * (round as u64 + 2);
        let rewarmed = eventually("both closed and re-dialed", WAIT, || {
            let stats = pool.stats();
            stats.closed_total() == closed_before + 2
                && stats.connections == 2
                && site.seen().handshakes == handshakes
        })
        .await;
        assert!(
            rewarmed.is_ok(),
            "{fault}: {:?} {:?}",
            site.seen(),
            pool.stats()
        );
        let goaways = pool.stats().closed_for(CloseReason::GoAway) - goaway_before;
        let expected = if fault == "GOAWAY" { 2 } else { 0 };
        assert_eq!(goaways, expected, "{fault}: closes counted as GOAWAY");
        let (status, _) = send(&pool, Method::GET, "/").await;
        assert_eq!(status.unwrap(), 200, "{fault}");
        assert_eq!(site.seen().handshakes, handshakes, "{fault}: found hot");
    }
    pool.close().await;
    site.shutdown().await;
}

/// Validation on every new connection: 200 admits it, 500 rejects it (`Rejected`, the IP
/// kept), 403 bans it (`Banned`: the pool blacklists the IP at once).
pub async fn validation_bans_on_403<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 1).await;
    // A POST with a body: the request a validation sends is the configured one.
    let validation = Validation {
        method: Method::POST,
        path: "/check".into(),
        body: Some(Bytes::from_static(b"hot?")),
        ..Validation::default()
    };
    let dialer = R::dialer(site.trust(), Some(validation.clone()));
    let addr = site.origin_addrs()[0];
    let conn = dialer.dial(&target(HOST, addr)).await.unwrap();
    assert_eq!(conn.requests_sent(), 0, "validation is not a use");
    drop(conn);
    site.set_status("/check", 500);
    let Err(e) = dialer.dial(&target(HOST, addr)).await else {
        panic!("a 500 validation admitted the connection")
    };
    assert_eq!(e.kind(), DialErrorKind::Rejected, "{e}");
    site.set_status("/check", 403);
    let Err(e) = dialer.dial(&target(HOST, addr)).await else {
        panic!("a 403 validation admitted the connection")
    };
    assert_eq!(e.kind(), DialErrorKind::Banned, "{e}");
    assert_eq!(site.seen().requests, 3, "one validation request per dial");

    // Through the pool: rejected keeps the IP, banned blacklists it at once.
    let pool = pool::<R>(&site, Some(validation), pool_options());
    site.set_status("/check", 500);
    let report = pool.warm(HOST).await;
    assert_eq!((report.failed, report.blacklisted), (1, 0));
    site.set_status("/check", 403);
    let report = pool.warm(HOST).await;
    assert_eq!((report.failed, report.blacklisted), (1, 1));
    assert_eq!(pool.stats().blacklisted, 1);
    let e = pool.get(HOST).await.unwrap_err();
    assert!(
        matches!(e, pool_core::Error::NoUsableAddress { ref host } if &**host == HOST),
        "{e:?}"
    );
    pool.close().await;
    site.shutdown().await;
}

/// A response that never comes ends as `Timeout(deadline)`, by its deadline (plus a
/// margin a missing deadline would exceed); counted on the connection, which HTTP/1.1
/// closes and a multiplexed transport keeps for the next request.
pub async fn a_stall_times_out_typed<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 1).await;
    let pool = pool::<R>(&site, None, pool_options());
    assert_eq!(pool.warm(HOST).await.ok, 1);
    let deadline = Duration::from_millis(300);
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    let started = Instant::now();
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
    assert_eq!(
        pool.connections()
            .iter()
            .map(|c| c.error_count)
            .sum::<u32>(),
        u32::from(R::KEEPS_CONNECTION_AFTER_A_TIMEOUT),
        "the timeout counts on a kept connection"
    );
    assert_eq!(conn.is_closed(), !R::KEEPS_CONNECTION_AFTER_A_TIMEOUT);
    drop(conn);
    if let (Origin::Tcp(origin), true) = (&site.origin, R::KEEPS_CONNECTION_AFTER_A_TIMEOUT) {
        // h2: the stalled stream is reset, not left open on the kept connection. (The h3
        // origin counts no reset of a stream it never answered.)
        let reset = eventually("the stalled stream reset", WAIT, || {
            origin.stats().stream_resets == 1
        });
        assert!(reset.await.is_ok(), "{:?}", origin.stats());
    }
    let (status, _) = send(&pool, Method::GET, "/").await;
    assert_eq!(status.unwrap(), 200);
    let handshakes = if R::KEEPS_CONNECTION_AFTER_A_TIMEOUT {
        1
    } else {
        2
    };
    assert_eq!(site.seen().handshakes, handshakes);
    pool.close().await;
    site.shutdown().await;
}

/// A body streams in bounded frames (never buffered whole), and a body over a limit (the
/// request's `max_response_body`, or `collect`'s) fails with `BodyTooLarge`.
pub async fn bounded_streaming<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 1).await;
    let pool = pool::<R>(&site, None, pool_options());
    let response = pool_http::send(&pool, HOST, get("/bytes/10000000"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let (mut total, mut frames, mut largest) = (0, 0, 0);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        total += data.len();
        largest = largest.max(data.len());
        frames += 1;
    }
    assert_eq!(total, 10_000_000);
    assert!(frames > 10, "streamed, not whole: {frames} frames");
    assert!(largest <= 1 << 20, "largest frame {largest} bytes");
    drop(body);

    let options = RequestOptions::default().with_max_response_body(Some(50_000));
    let body = pool_http::send_with(&pool, HOST, get("/bytes/200000"), &options)
        .await
        .unwrap()
        .into_body();
    let e = body.bytes().await.unwrap_err();
    assert!(
        matches!(e, RequestError::BodyTooLarge { limit: 50_000 }),
        "{e:?}"
    );
    let body = pool_http::send(&pool, HOST, get("/bytes/200000"))
        .await
        .unwrap()
        .into_body();
    let e = body.collect(1000).await.unwrap_err();
    assert!(
        matches!(e, RequestError::BodyTooLarge { limit: 1000 }),
        "{e:?}"
    );
    // The pool serves on.
    let response = pool_http::send(&pool, HOST, get("/")).await.unwrap();
    assert_eq!(&response.into_body().bytes().await.unwrap()[..], HELLO);
    pool.close().await;
    site.shutdown().await;
}

/// An idempotent request whose reused connection the server loses under it is sent again
/// on a new connection; a POST is not (`ConnectionLost`: it may have been processed).
pub async fn retried_only_where_safe<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 1).await.behind_a_proxy(net).await;
    let pool = pool::<R>(
        &site,
        None,
        PoolOptions {
            health_check_interval: None,
            keep_warm: false,
            max_conns_per_ip: 4,
            checkout_timeout: Duration::from_secs(5),
            ..PoolOptions::default()
        },
    );
    assert_eq!(send(&pool, Method::GET, "/").await.0.unwrap(), 200);
    assert_eq!(pool.stats().dials_ok, 1);

    for (status, attempts) in lost_under_requests(&pool, &site, Method::GET).await {
        assert_eq!(status.unwrap(), 200);
        assert_eq!(attempts.sent, 2, "retried once");
    }
    assert_eq!(pool.stats().dials_ok, 2, "on a new connection");

    for (status, attempts) in lost_under_requests(&pool, &site, Method::POST).await {
        let e = status.unwrap_err();
        assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
        assert_eq!(
            attempts.sent, 1,
            "a POST that may have been processed is not resent"
        );
        assert!(attempts.last_reused);
        assert!(!attempts.retry_could_have_saved(&e, &Method::POST));
    }
    pool.close().await;
    site.shutdown().await;
}

/// Sends `method` through `pool` on its reused connection and has the server's side lose
/// that connection while the request is being processed; returns each request's outcome.
///
/// TCP: one request; the proxy holds the origin's answers, and once the origin has
/// answered, the proxy resets the connection. QUIC (no proxy): `n` requests at once to
/// `/slow/1000`, `n` one more than the most the origin has yet seen in progress on a
/// connection, and once it sees `n`, it closes every connection.
async fn lost_under_requests<D>(
    pool: &Pool<D>,
    site: &Site,
    method: Method,
) -> Vec<(Result<u16, RequestError>, Attempts)>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let spawn = |path: &'static str| {
        let (pool, method) = (pool.clone(), method.clone());
        tokio::spawn(async move { send(&pool, method, path).await })
    };
    let pending = match (&site.origin, &site.proxy) {
        (Origin::Tcp(origin), Some(proxy)) => {
            let answered = origin.stats().requests;
            proxy.inject_all(Fault::StallResponses);
            let pending = spawn("/");
            wait_for("the origin answered", WAIT, || {
                origin.stats().requests > answered
            })
            .await;
            let leased = pool
                .connections()
                .into_iter()
                .find(|c| c.leases > 0)
                .expect("the held request's connection");
            assert_eq!(proxy.inject(leased.addr.ip(), Fault::Reset), 1);
            vec![pending]
        }
        (Origin::Quic(origin), _) => {
            let n = origin.stats().max_concurrent_streams_seen + 1;
            let pending: Vec<_> = (0..n).map(|_| spawn("/slow/1000")).collect();
            wait_for("the requests in progress at the origin", WAIT, || {
                origin.stats().max_concurrent_streams_seen >= n
            })
            .await;
            assert!(origin.close_all() >= 1);
            pending
        }
        (Origin::Tcp(_), None) => panic!("a TCP site loses connections through its proxy"),
    };
    let mut outcomes = Vec::new();
    for p in pending {
        outcomes.push(p.await.unwrap());
    }
    outcomes
}

/// A multiplexed connection told GOAWAY drains at once: the stream in flight goes on and
/// is answered, a request on it is refused unsent (`NotSent`: safe to retry, even a POST), and the pool
/// sends the next one on a new connection.
pub async fn goaway_refuses_what_follows<R: Rig>(net: u8) {
    let site = Site::start::<R>(net, 1).await;
    let pool = pool::<R>(
        &site,
        None,
        PoolOptions {
            keep_warm: false,
            ..pool_options()
        },
    );
    let lease = pool.get(HOST).await.unwrap();
    let conn = lease.conn_arc();
    let slow = tokio::spawn({
        let conn = conn.clone();
        async move {
            let response = conn.send(get("/slow/2000")).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, RequestError>(status)
        }
    });
    wait_for("the slow stream is open at the origin", WAIT, || {
        site.seen().max_concurrent_streams_seen >= 1
    })
    .await;
    assert_eq!(site.goaway_all(), 1);
    wait_for("the GOAWAY drains the connection", WAIT, || {
        conn.is_closed()
    })
    .await;
    assert!(!slow.is_finished(), "the stream in flight goes on");
    let post = http::Request::post("/after")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let refused = tokio::time::timeout(WAIT, conn.send(post))
        .await
        .expect("refused at once, not left waiting for the connection to end");
    let Err(e) = refused else {
        panic!("a request was sent on a connection told GOAWAY")
    };
    assert!(matches!(e, RequestError::NotSent(_)), "{e:?}");
    assert!(e.is_retryable(&Method::POST, false));
    let (status, attempts) = send(&pool, Method::POST, "/").await;
    assert_eq!(status.unwrap(), 200);
    assert_eq!(attempts.sent, 1, "the drained connection is not handed out");
    assert_eq!(pool.stats().dials_ok, 2);
    let answered = tokio::time::timeout(WAIT, slow)
        .await
        .expect("answered in time");
    assert_eq!(
        answered.unwrap().unwrap(),
        200,
        "the stream in flight is answered"
    );
    drop((lease, conn));
    pool.close().await;
    site.shutdown().await;
}
