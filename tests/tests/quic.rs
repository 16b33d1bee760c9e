//! pool-dial-quic (HTTP/3) against the local HTTP/3 origin (`pool_testkit::H3Origin`) on
//! 127.0.0.x: warm-up, reuse, capacity from the peer's stream limit, verification, ALPN,
//! loss, fds, the request API.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::{CloseReason, Connection, DialErrorKind, Dialer, Pool, PoolOptions, Target};
use pool_dial_quic::{QuicDialer, QuicOptions, SourceAddrs, Trust};
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::fds::open_fds;
use pool_testkit::{H3Origin, H3OriginOptions, TestCa, eventually};

const WAIT: Duration = Duration::from_secs(10);

fn ips(last: &[u8]) -> Vec<IpAddr> {
    last.iter().map(|n| IpAddr::from([127, 0, 0, *n])).collect()
}

fn options(ca: &TestCa) -> QuicOptions {
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

/// `GET path` with an empty body.
fn get(path: &str) -> http::Request<Empty<bytes::Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

/// Transport-generic: the same code warms a TLS or a QUIC pool.
async fn warm_all<D: Dialer>(pool: &Pool<D>, host: &str) -> usize {
    pool.warm(host).await.ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_reuse_and_capacity_from_the_peer_stream_limit() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions {
        max_concurrent_bidi_streams: Some(4),
        delay: Some(Duration::from_millis(50)),
        ..H3OriginOptions::new(&ips(&[40, 41, 42]), &["q.test"], &ca)
    })
    .await
    .unwrap();
    let baseline = open_fds();
    let pool = Pool::new(
        QuicDialer::new(options(&ca)).unwrap(),
        PoolOptions::default(),
    )
    .unwrap();
    pool.set_addrs("q.test", origin.socket_addrs());
    assert_eq!(warm_all(&pool, "q.test").await, 3);
    for conn in pool.connections() {
        assert_eq!(conn.capacity, 4, "the peer's initial_max_streams_bidi");
    }

    let mut calls = Vec::new();
    for i in 0..20u32 {
        let pool = pool.clone();
        calls.push(tokio::spawn(async move {
            let lease = pool.get("q.test").await.unwrap();
            let path = format!("/req/{i}");
            let response = lease.request(get(&path)).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().bytes().await.unwrap();
            assert_eq!(&body[..], b"hello from hotpool\n");
        }));
    }
    for call in calls {
        call.await.unwrap();
    }
    for ip in ips(&[40, 41, 42]) {
        let stats = origin.stats_for(ip).unwrap();
        assert_eq!(stats.handshakes, 1, "{ip}: one handshake, then reuse");
        assert!(stats.max_concurrent_streams_seen <= 4, "{ip}: {stats:?}");
    }
    assert_eq!(origin.stats().requests, 20);
    assert_eq!(origin.stats().max_concurrent_streams_seen, 4);
    assert_eq!(pool.stats().dials_ok, 3);

    pool.close().await;
    drop(pool);
    assert!(
        origin
            .wait_until(WAIT, |o| o.stats().open_connections == 0)
            .await
    );
    assert!(
        eventually("fds back to the baseline", WAIT, || open_fds() <= baseline)
            .await
            .is_ok(),
        "fds: {} open, baseline {baseline}",
        open_fds()
    );
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_certificate_and_wrong_alpn_are_refused() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(&ips(&[43]), &["other.test"], &ca))
        .await
        .unwrap();
    let pool = Pool::new(
        QuicDialer::new(options(&ca)).unwrap(),
        PoolOptions {
            max_retries: 1,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    pool.set_addrs("q.test", origin.socket_addrs());
    let report = pool.warm("q.test").await;
    assert_eq!((report.ok, report.failed, report.blacklisted), (0, 1, 1));
    assert_eq!(origin.stats().handshakes, 0);
    let e = pool.get("q.test").await.unwrap_err();
    assert!(
        matches!(e, pool_core::Error::NoUsableAddress { .. }),
        "never silently accepted: {e:?}"
    );
    pool.close().await;

    // The right name works on the same address; an ALPN the server lacks does not.
    let dialer = QuicDialer::new(options(&ca)).unwrap();
    let target = Target {
        host: "other.test".into(),
        addr: origin.socket_addrs()[0],
    };
    let conn = dialer.dial(&target).await.unwrap();
    assert_eq!(conn.info().alpn.as_deref(), Some(&b"h3"[..]));
    drop(conn);
    // HTTP/3 requires `h3`: a dialer that does not offer it is refused at once.
    let mut wrong_alpn = options(&ca);
    wrong_alpn.alpn = vec!["hotpool".into()];
    assert!(matches!(
        QuicDialer::new(wrong_alpn),
        Err(pool_dial_quic::ConfigError::Alpn(_))
    ));
    // A server that speaks only another protocol fails the dial.
    let other = H3Origin::start(H3OriginOptions {
        alpn: vec![b"hotpool".to_vec()],
        ..H3OriginOptions::new(&ips(&[46]), &["other.test"], &ca)
    })
    .await
    .unwrap();
    let mut offers_both = options(&ca);
    offers_both.alpn = vec!["h3".into(), "hotpool".into()];
    let target = Target {
        host: "other.test".into(),
        addr: other.socket_addrs()[0],
    };
    let err = QuicDialer::new(offers_both)
        .unwrap()
        .dial(&target)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            DialErrorKind::Handshake | DialErrorKind::Protocol
        ),
        "{err}"
    );
    assert!(err.to_string().contains("h3"), "{err}");
    other.shutdown().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_loss_is_noticed_and_sources_rotate() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(&ips(&[44, 45]), &["q.test"], &ca))
        .await
        .unwrap();
    let mut opts = options(&ca);
    opts.source_addrs = SourceAddrs::new(ips(&[50, 51]), None);
    let pool = Pool::new(QuicDialer::new(opts).unwrap(), PoolOptions::default()).unwrap();
    pool.set_addrs("q.test", origin.socket_addrs());
    assert_eq!(pool.warm("q.test").await.ok, 2);
    assert!(origin.wait_until(WAIT, |o| o.stats().handshakes == 2).await);
    let mut sources: Vec<IpAddr> = origin.stats().peers.iter().map(|p| p.ip()).collect();
    sources.sort();
    assert_eq!(sources, ips(&[50, 51]), "one dial from each source address");

    assert_eq!(origin.close_all(), 2);
    // Noticed while idle and, the host being hot (warmed), both replaced in the
    // background (docs/stay-hot.md), from the source addresses in turn.
    assert!(
        eventually("both closed and re-dialed", WAIT, || {
            let stats = pool.stats();
            stats.closed_for(CloseReason::PeerClosed) == 2
                && stats.connections == 2
                && origin.stats().handshakes == 4
        })
        .await
        .is_ok(),
        "{:?}",
        pool.stats()
    );
    let lease = pool.get("q.test").await.unwrap();
    assert!(!lease.is_closed());
    let response = lease.request(get("/again")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        &response.into_body().bytes().await.unwrap()[..],
        b"hello from hotpool\n"
    );
    pool.close().await;
    origin.shutdown().await;
}

/// pool-http's request API is the same on an HTTP/3 pool as on an HTTP/2 one: a lease's
/// `request`, `pool_http::send` and the tower `PoolService`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_request_api_runs_over_http3() {
    use bytes::Bytes;
    use pool_http::{Full, HttpConnection, PoolService, Protocol};
    use tower_service::Service;

    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H3Origin::start(H3OriginOptions::new(&ips(&[45]), &["q.test"], &ca))
        .await
        .unwrap();
    let pool = Pool::new(
        QuicDialer::new(options(&ca)).unwrap(),
        PoolOptions::default(),
    )
    .unwrap();
    pool.set_addrs("q.test", origin.socket_addrs());

    let lease = pool.get("q.test").await.unwrap();
    assert_eq!(lease.protocol(), Protocol::Http3);
    assert!(!lease.is_reused());
    let response = lease.request(get("/one?x=1")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_3);
    let served_by = response.headers()["x-served-by"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(served_by, origin.socket_addrs()[0].to_string());
    assert_eq!(
        &response.into_body().bytes().await.unwrap()[..],
        b"hello from hotpool\n"
    );
    let lease = pool.get("q.test").await.unwrap();
    assert!(lease.is_reused());
    assert_eq!(lease.requests_sent(), 1);
    drop(lease);

    let post = http::Request::post("/status/201")
        .body(Full::new(Bytes::from_static(b"buy")))
        .unwrap();
    let response = pool_http::send(&pool, "q.test", post).await.unwrap();
    assert_eq!(response.status(), 201);
    // The body holds the lease until it is read or dropped.
    assert!(response.into_body().bytes().await.unwrap().is_empty());

    let mut service = PoolService::new(pool.clone(), "q.test");
    let response = service.call(get("/1k")).await.unwrap();
    assert_eq!(response.into_body().bytes().await.unwrap().len(), 1024);
    assert_eq!(pool.stats().dials_ok, 1, "one connection carried all three");
    assert_eq!(origin.stats().requests, 3);

    pool.close().await;
    origin.shutdown().await;
}
