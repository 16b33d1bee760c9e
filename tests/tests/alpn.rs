//! Auto ALPN (`HttpsDialer`) against an HTTP/1.1-only, an HTTP/2-only, a mixed and a
//! no-ALPN origin; and dialers pointed at an origin that speaks another protocol: a
//! configuration mismatch (`Unsupported`) that never blacklists a healthy server.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Connection, DialErrorKind, Dialer, Pool, PoolOptions, Target};
use pool_dial_rustls::{
    H1Dialer, H2Dialer, H2Options, HttpsConn, HttpsDialer, HttpsOptions, TlsOptions,
};
use pool_http::{Empty, HttpConnection, HttpLeaseExt, Protocol};
use pool_testkit::fds::open_fds;
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "alpn.test";

fn ips(last: &[u8]) -> Vec<IpAddr> {
    last.iter().map(|n| IpAddr::from([127, 0, 0, *n])).collect()
}

fn trust(tls: &mut TlsOptions, ca: &TestCa) {
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    tls.conn_timeout = Duration::from_secs(5);
    tls.test_timeout = Duration::from_secs(5);
}

fn https_dialer(ca: &TestCa) -> HttpsDialer {
    let mut options = HttpsOptions::default();
    trust(&mut options.tls, ca);
    HttpsDialer::new(options).unwrap()
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: Duration::from_secs(10),
        max_retries: 2,
        // HTTP/1.1 needs a connection per concurrent request.
        max_conns_per_ip: 4,
        ..PoolOptions::default()
    }
}

/// One request, then two at once, twice, through an auto pool; returns the protocol and capacity
/// of the connections used and how many TLS handshakes the origin saw.
async fn exercise(ca: &TestCa, origin: &H2Origin) -> (Protocol, usize, u64) {
    let pool = Pool::new(https_dialer(ca), pool_options()).unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    let mut seen = None;
    for round in 0..3 {
        let leases = if round == 0 {
            vec![pool.get(HOST).await.unwrap()]
        } else {
            let (a, b) = tokio::join!(pool.get(HOST), pool.get(HOST));
            vec![a.unwrap(), b.unwrap()]
        };
        let mut bodies = Vec::new();
        for lease in leases {
            let conn = lease.conn_arc();
            let got = (conn.protocol(), conn.capacity());
            assert!(seen.is_none_or(|s| s == got), "{got:?} vs {seen:?}");
            seen = Some(got);
            let req = http::Request::get("/1k")
                .body(Empty::<Bytes>::new())
                .unwrap();
            bodies.push(lease.request(req).await.unwrap());
        }
        for resp in bodies {
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.into_body().bytes().await.unwrap().len(), 1024);
        }
    }
    let handshakes = origin.stats().handshakes;
    let (protocol, capacity) = seen.unwrap();
    // The pool's own reports name the protocol of each connection, as the transport chose it.
    let infos = pool.connections();
    assert!(!infos.is_empty());
    assert!(infos.iter().all(|c| c.protocol == protocol), "{infos:?}");
    let stats = pool.stats();
    assert_eq!(stats.connections_of(protocol), stats.connections);
    pool.close().await;
    (protocol, capacity, handshakes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_pools_each_connection_as_the_origin_chose() {
    let ca = Arc::new(TestCa::new().unwrap());
    let baseline = open_fds();

    // HTTP/1.1 only: exclusive connections, two of them for two concurrent requests.
    let origin = H2Origin::start(H2OriginOptions::h1_only(&ips(&[50]), &[HOST], &ca))
        .await
        .unwrap();
    assert_eq!(
        exercise(&ca, &origin).await,
        (Protocol::Http1, 1, 2),
        "h1-only origin"
    );
    assert_eq!(origin.stats().h2_connections, 0);
    origin.shutdown().await;

    // HTTP/2 only, and the mix (the server prefers h2): one shared connection.
    for (what, opts) in [
        (
            "h2-only",
            H2OriginOptions::h2_only(&ips(&[51]), &[HOST], &ca),
        ),
        ("mixed", H2OriginOptions::new(&ips(&[52]), &[HOST], &ca)),
    ] {
        let origin = H2Origin::start(H2OriginOptions {
            max_concurrent_streams: Some(8),
            ..opts
        })
        .await
        .unwrap();
        assert_eq!(
            exercise(&ca, &origin).await,
            (Protocol::Http2, 8, 1),
            "{what} origin"
        );
        assert_eq!(origin.stats().http1_connections, 0, "{what}");
        origin.shutdown().await;
    }

    // The mixed origin, to an auto dialer offering only http/1.1: HTTP/1.1 from the same
    // listener.
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[53]), &[HOST], &ca))
        .await
        .unwrap();
    let mut options = HttpsOptions::default();
    trust(&mut options.tls, &ca);
    options.tls.alpn = vec!["http/1.1".into()];
    let conn = HttpsDialer::new(options)
        .unwrap()
        .dial(&Target {
            host: HOST.into(),
            addr: origin.socket_addrs()[0],
        })
        .await
        .unwrap();
    assert!(matches!(conn, HttpsConn::H1(_)));
    assert_eq!(conn.info().alpn.as_deref(), Some(&b"http/1.1"[..]));
    drop(conn);
    origin.shutdown().await;

    // No ALPN at all: HTTP/1.1.
    let origin = H2Origin::start(H2OriginOptions {
        alpn: vec![],
        ..H2OriginOptions::new(&ips(&[54]), &[HOST], &ca)
    })
    .await
    .unwrap();
    assert_eq!(
        exercise(&ca, &origin).await.0,
        Protocol::Http1,
        "no-ALPN origin"
    );
    origin.shutdown().await;

    eventually("fds back to the baseline", WAIT, || open_fds() <= baseline)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_the_dialer_cannot_speak_never_blacklists() {
    let ca = Arc::new(TestCa::new().unwrap());
    let h1_origin = H2Origin::start(H2OriginOptions::h1_only(&ips(&[55]), &[HOST], &ca))
        .await
        .unwrap();
    let h2_origin = H2Origin::start(H2OriginOptions::h2_only(&ips(&[56]), &[HOST], &ca))
        .await
        .unwrap();
    let target = |o: &H2Origin| Target {
        host: HOST.into(),
        addr: o.socket_addrs()[0],
    };

    // H2Dialer → HTTP/1.1-only origin: offering h2 only (the server refuses the
    // handshake with no_application_protocol) or h2 + http/1.1 (it picks http/1.1).
    for alpn in [vec!["h2".to_owned()], vec!["h2".into(), "http/1.1".into()]] {
        let mut options = H2Options::default();
        trust(&mut options.tls, &ca);
        options.tls.alpn = alpn.clone();
        let dialer = H2Dialer::new(options).unwrap();
        let err = dialer.dial(&target(&h1_origin)).await.unwrap_err();
        assert_eq!(err.kind(), DialErrorKind::Unsupported, "{alpn:?}: {err}");
        assert!(!err.kind().counts_toward_blacklist());
    }
    // H1Dialer → HTTP/2-only origin.
    let mut options = TlsOptions::default();
    trust(&mut options, &ca);
    let err = H1Dialer::new(options)
        .unwrap()
        .dial(&target(&h2_origin))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Unsupported, "{err}");

    // Through a pool: get fails (at once, no redial loop), warm fails, and however often,
    // the healthy server's address is never blacklisted.
    let mut options = H2Options::default();
    trust(&mut options.tls, &ca);
    let pool = Pool::new(H2Dialer::new(options).unwrap(), pool_options()).unwrap();
    pool.set_addrs(HOST, h1_origin.socket_addrs());
    for _ in 0..5 {
        let e = pool.get(HOST).await.unwrap_err();
        assert!(
            matches!(&e, pool_core::Error::Dial { last, .. } if last.kind() == DialErrorKind::Unsupported),
            "{e:?}"
        );
        let report = pool.warm(HOST).await;
        assert_eq!((report.ok, report.failed, report.blacklisted), (0, 1, 0));
    }
    let stats = pool.stats();
    assert_eq!(stats.blacklisted, 0);
    assert_eq!(stats.blacklisted_total, 0);
    assert_eq!(stats.dial_failures, 10, "one dial per get, one per warm");
    pool.close().await;
    h1_origin.shutdown().await;
    h2_origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_validates_in_the_chosen_protocol_and_bans_on_403() {
    let ca = Arc::new(TestCa::new().unwrap());
    for (what, opts) in [
        ("h1", H2OriginOptions::h1_only(&ips(&[57]), &[HOST], &ca)),
        ("h2", H2OriginOptions::h2_only(&ips(&[58]), &[HOST], &ca)),
    ] {
        let origin = H2Origin::start(opts).await.unwrap();
        let mut options = HttpsOptions::default();
        trust(&mut options.tls, &ca);
        options.tls.validation = Some(pool_dial_rustls::Validation {
            path: "/check".into(),
            ..pool_dial_rustls::Validation::default()
        });
        let pool = Pool::new(HttpsDialer::new(options).unwrap(), pool_options()).unwrap();
        pool.set_addrs(HOST, origin.socket_addrs());
        let report = pool.warm(HOST).await;
        assert_eq!((report.ok, report.failed), (1, 0), "{what}");
        {
            let lease = pool.get(HOST).await.unwrap();
            assert_eq!(
                lease.conn().requests_sent(),
                0,
                "{what}: validation not counted"
            );
        }
        let validated = if what == "h1" {
            origin.stats().http1_connections
        } else {
            origin.stats().h2_connections
        };
        assert_eq!((validated, origin.stats().requests), (1, 1), "{what}");
        pool.close().await;

        let mut options = HttpsOptions::default();
        trust(&mut options.tls, &ca);
        options.tls.validation = Some(pool_dial_rustls::Validation {
            path: "/check".into(),
            ..pool_dial_rustls::Validation::default()
        });
        let pool = Pool::new(HttpsDialer::new(options).unwrap(), pool_options()).unwrap();
        pool.set_addrs(HOST, origin.socket_addrs());
        origin.set_status("/check", 403);
        let report = pool.warm(HOST).await;
        assert_eq!((report.failed, report.blacklisted), (1, 1), "{what}");
        assert_eq!(pool.stats().blacklisted, 1, "{what}");
        pool.close().await;
        origin.shutdown().await;
    }
}
