//! The pool suite on pool-dial-boring's dialer, against the testkit's TLS + HTTP/2 (and
//! HTTP/1.1) origin on 127.0.0.x: warm every IP, reuse, GOAWAY drains, a wrong or untrusted
//! certificate refused with a typed error, insecure only when asked, the validation ban on
//! 403, a stalled response ending as `Timeout` within its deadline, and the h1 / auto modes.
//! The same flows run on `pool_dial_rustls::H2Dialer` in `tests/h2.rs`: the dialer is the only
//! thing swapped.

use std::error::Error as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{CloseReason, DialErrorKind, Dialer, Pool, Protocol};
use pool_dial_boring::{BoringDialer, BoringError, BoringOptions, BrowserProfile, Mode};
use pool_http::{HttpConnection, HttpLeaseExt, RequestError, RequestOptions, Validation};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};

mod common;
use common::{
    WAIT, get, ips, pool_options, retrying_once, target, trust,
    validation_verdicts_through_the_pool, warm_failures,
};

fn options(ca: &TestCa) -> BoringOptions {
    BoringOptions {
        trust: trust(ca),
        conn_timeout: Duration::from_secs(5),
        test_timeout: Duration::from_secs(5),
        ..BoringOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warms_every_ip_and_reuses_with_the_profiles_headers() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions {
        max_concurrent_streams: Some(4),
        delay: Some(Duration::from_millis(50)),
        ..H2OriginOptions::new(&ips(&[70, 71, 72]), &["a.test"], &ca)
    })
    .await
    .unwrap();
    // The CA through a PEM file (the `extra_ca_files` path).
    let dir = std::env::temp_dir().join(format!("hotpool-dial-boring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let mut opts = options(&ca);
    opts.trust.extra_ca_certs.clear();
    opts.trust.extra_ca_files = vec![ca_file];
    let pool = Pool::new(BoringDialer::new(opts).unwrap(), pool_options()).unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    let report = pool.warm("a.test").await;
    assert_eq!((report.planned, report.ok, report.failed), (3, 3, 0));
    for conn in pool.connections() {
        assert_eq!(conn.capacity, 4, "the peer's max_concurrent_streams");
    }
    let mut calls = Vec::new();
    for i in 0..20 {
        let pool = pool.clone();
        calls.push(tokio::spawn(async move {
            let response = pool_http::send(&pool, "a.test", get(&format!("/item/{i}")))
                .await
                .unwrap();
            let status = response.status();
            (status, response.into_body().bytes().await.unwrap())
        }));
    }
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(&body[..], b"hello from hotpool\n");
    }
    for (ip, stats) in origin.per_addr_stats() {
        assert_eq!(stats.handshakes, 1, "{ip}: one handshake, then reuse");
        assert!(stats.max_concurrent_streams_seen <= 4, "{ip}");
    }
    let total = origin.stats();
    assert_eq!(total.requests, 20);
    let chrome = BrowserProfile::chrome();
    assert!(
        total
            .accept_languages
            .iter()
            .all(|l| *l == chrome.accept_language),
        "{:?}",
        total.accept_languages
    );
    let stats = pool.stats();
    assert_eq!(stats.dials_ok, 3);
    assert!(
        stats.reuse_rate() > 0.8,
        "reuse rate {}",
        stats.reuse_rate()
    );
    // An explicit Accept-Language is kept.
    let lease = pool.get("a.test").await.unwrap();
    let mut request = get("/mine");
    request
        .headers_mut()
        .insert("accept-language", "nl-NL".parse().unwrap());
    assert_eq!(lease.request(request).await.unwrap().status(), 200);
    assert!(
        origin
            .stats()
            .accept_languages
            .contains(&"nl-NL".to_owned())
    );
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_drains_and_the_host_is_rewarmed_without_a_request() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[73, 74]), &["a.test"], &ca))
        .await
        .unwrap();
    let pool = Pool::new(BoringDialer::new(options(&ca)).unwrap(), pool_options()).unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    let report = pool.warm("a.test").await;
    assert_eq!(report.ok, 2);
    assert_eq!(origin.goaway_all(), 2);
    // The warmed host stays hot: both drained connections are counted as GOAWAY closes
    // and replaced in the background, with no request (docs/stay-hot.md).
    assert!(
        eventually("both drained and re-dialed", WAIT, || {
            let stats = pool.stats();
            stats.closed_for(CloseReason::GoAway) == 2
                && stats.connections == 2
                && origin.stats().handshakes == 4
        })
        .await
        .is_ok(),
        "not re-warmed: {:?}",
        pool.stats()
    );
    let response = pool_http::send(&pool, "a.test", get("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    assert_eq!(
        origin.stats().handshakes,
        4,
        "the request found a hot connection"
    );
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_certificate_is_refused_with_a_typed_error() {
    let ca = Arc::new(TestCa::new().unwrap());
    // The certificate is for another name than the host dialed.
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[75]), &["other.test"], &ca))
        .await
        .unwrap();
    let addr = origin.socket_addrs()[0];
    let dialer = BoringDialer::new(options(&ca)).unwrap();
    let err = dialer.dial(&target("a.test", addr)).await.unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Handshake);
    let cause = err.source().and_then(|s| s.downcast_ref::<BoringError>());
    assert!(
        matches!(cause, Some(BoringError::Certificate { host, .. }) if &**host == "a.test"),
        "{err:?}"
    );
    // Through the pool: a failed dial, blacklisted, never silently accepted.
    let pool = retrying_once(dialer);
    pool.set_addrs("a.test", [addr]);
    let (report, kinds) = warm_failures(&pool, "a.test").await;
    assert_eq!((report.ok, report.failed, report.blacklisted), (0, 1, 1));
    assert_eq!(kinds, [DialErrorKind::Handshake]);
    assert!(pool.get("a.test").await.is_err());
    pool.close().await;
    assert_eq!(origin.stats().handshakes, 0);

    // The right name from a CA the dialer does not trust: refused too.
    let stranger = Arc::new(TestCa::new().unwrap());
    let err = BoringDialer::new(options(&stranger))
        .unwrap()
        .dial(&target("other.test", addr))
        .await
        .unwrap_err();
    let cause = err.source().and_then(|s| s.downcast_ref::<BoringError>());
    assert!(
        matches!(cause, Some(BoringError::Certificate { .. })),
        "{err:?}"
    );

    // Only an explicit insecure switch accepts it, and the connection says so.
    let mut insecure = options(&stranger);
    insecure.trust.danger_accept_invalid_certs = true;
    let conn = BoringDialer::new(insecure)
        .unwrap()
        .dial(&target("a.test", addr))
        .await
        .unwrap();
    assert!(conn.info().insecure);
    assert_eq!(conn.send(get("/")).await.unwrap().status(), 200);

    // No roots at all is a build error, not a dial-time surprise.
    let mut none = options(&ca);
    none.trust.extra_ca_certs.clear();
    assert!(matches!(BoringDialer::new(none), Err(BoringError::NoRoots)));
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_admits_bans_on_403_or_rejects() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[76]), &["a.test"], &ca))
        .await
        .unwrap();
    let mut opts = options(&ca);
    opts.validation = Some(Validation {
        path: "/check".into(),
        ..Validation::default()
    });
    let dialer = BoringDialer::new(opts).unwrap();
    let addr = origin.socket_addrs()[0];
    let conn = dialer.dial(&target("a.test", addr)).await.unwrap();
    assert_eq!(
        conn.requests_sent(),
        0,
        "the validation request is not counted"
    );
    drop(conn);
    origin.set_status("/check", 500);
    let err = dialer.dial(&target("a.test", addr)).await.unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Rejected);
    origin.set_status("/check", 403);
    let err = dialer.dial(&target("a.test", addr)).await.unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Banned);

    validation_verdicts_through_the_pool(dialer, &origin, addr).await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_response_times_out_within_its_deadline() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[77]), &["a.test"], &ca))
        .await
        .unwrap();
    let pool = Pool::new(BoringDialer::new(options(&ca)).unwrap(), pool_options()).unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    let deadline = Duration::from_millis(300);
    let lease = pool.get("a.test").await.unwrap();
    let started = Instant::now();
    let e = lease
        .request_with(
            get("/stall"),
            &RequestOptions::default().with_timeout(deadline),
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(e, RequestError::Timeout(d) if d == deadline),
        "{e:?}"
    );
    assert!(took >= deadline && took < WAIT, "{took:?}");
    assert!(
        eventually("the stalled stream is reset", WAIT, || origin
            .stats()
            .stream_resets
            == 1)
        .await
        .is_ok()
    );
    // The connection carries the next request.
    let ok = pool_http::send(&pool, "a.test", get("/")).await.unwrap();
    assert_eq!(ok.status(), 200);
    drop(ok);
    assert_eq!(origin.stats().handshakes, 1);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_and_auto_modes_and_an_alpn_mismatch() {
    let ca = Arc::new(TestCa::new().unwrap());
    let h1_origin = H2Origin::start(H2OriginOptions::h1_only(&ips(&[78]), &["a.test"], &ca))
        .await
        .unwrap();
    let h2_origin = H2Origin::start(H2OriginOptions::new(&ips(&[79]), &["a.test"], &ca))
        .await
        .unwrap();
    let h1_addr = h1_origin.socket_addrs()[0];
    let h2_addr = h2_origin.socket_addrs()[0];
    let with_mode = |mode| {
        BoringDialer::new(BoringOptions {
            mode,
            ..options(&ca)
        })
        .unwrap()
    };
    use pool_core::Connection;
    // h2 required, the server speaks only HTTP/1.1: not the IP's fault.
    let err = with_mode(Mode::H2)
        .dial(&target("a.test", h1_addr))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Unsupported, "{err:?}");
    // HTTP/1.1 only offered, the server speaks only h2: its no_application_protocol
    // alert is `Unsupported` too.
    let h2_only = H2Origin::start(H2OriginOptions::h2_only(&ips(&[81]), &["a.test"], &ca))
        .await
        .unwrap();
    let err = with_mode(Mode::H1)
        .dial(&target("a.test", h2_only.socket_addrs()[0]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Unsupported, "{err:?}");
    h2_only.shutdown().await;
    // A profile without h2 cannot serve the h2 mode: a build error, typed.
    let mut h1_only = BrowserProfile::chrome();
    h1_only.tls.alpn = vec!["http/1.1".into()];
    let built = BoringDialer::new(BoringOptions {
        profiles: vec![h1_only],
        ..options(&ca)
    });
    assert!(
        matches!(built, Err(BoringError::Alpn { alpn: "h2", .. })),
        "{built:?}"
    );
    // Auto pools each as what the server chose.
    let auto = with_mode(Mode::Auto);
    let c1 = auto.dial(&target("a.test", h1_addr)).await.unwrap();
    let c2 = auto.dial(&target("a.test", h2_addr)).await.unwrap();
    assert_eq!((c1.protocol(), c1.capacity()), (Protocol::Http1, 1));
    assert_eq!(c2.protocol(), Protocol::Http2);
    for conn in [&c1, &c2] {
        let response = conn.send(get("/")).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // H1 mode through the pool: exclusive connections, reused after each body.
    let pool = Pool::new(with_mode(Mode::H1), pool_options()).unwrap();
    pool.set_addrs("a.test", [h1_addr]);
    for _ in 0..3 {
        let body = pool_http::send(&pool, "a.test", get("/"))
            .await
            .unwrap()
            .into_body()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&body[..], b"hello from hotpool\n");
    }
    assert_eq!(pool.stats().dials_ok, 1);
    let langs = h1_origin.stats().accept_languages;
    assert!(
        langs
            .iter()
            .all(|l| *l == BrowserProfile::chrome().accept_language),
        "{langs:?}"
    );
    pool.close().await;
    h1_origin.shutdown().await;
    h2_origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_head_over_the_limit_is_a_peer_limit_error() {
    use pool_testkit::hostile::{H2Script, HostileTls, TlsScript};
    let ca = Arc::new(TestCa::new().unwrap());
    // 32 KiB of header fields: under Chrome's advertised 262144 and http2's own bound, over
    // the 8 KiB this dialer accepts (checked on the response head, not sent in SETTINGS).
    let hostile = HostileTls::start(
        IpAddr::from([127, 0, 0, 80]),
        &["a.test"],
        &ca,
        TlsScript::H2(H2Script::OversizedHeaders(32 << 10)),
    )
    .await
    .unwrap();
    let dialer = BoringDialer::new(BoringOptions {
        max_response_header_size: 8 << 10,
        ..options(&ca)
    })
    .unwrap();
    let conn = dialer
        .dial(&target("a.test", hostile.addr()))
        .await
        .unwrap();
    let e = conn.send(get("/")).await.unwrap_err();
    assert!(
        matches!(
            e,
            RequestError::PeerLimit {
                limit: pool_http::PeerLimit::HeaderList,
                ..
            }
        ),
        "{e:?}"
    );
    drop(conn);
    hostile.shutdown().await;
}
