//! What is pool-dial-boring's own, against the testkit's TLS + HTTP/2 (and HTTP/1.1)
//! origin on 127.0.0.x: a wrong or untrusted certificate refused with a typed
//! `BoringError`, insecure only when asked, the h1 / auto modes, the response-head limit.
//! Warm, reuse, GOAWAY drains, the validation ban, the stall timeout, bounded streaming and
//! retries run on `BoringDialer` in the conformance suite (`tests/tests/conformance/`),
//! written once for every dialer.

use std::error::Error as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::{DialErrorKind, Dialer, Pool, Protocol};
use pool_dial_boring::{BoringDialer, BoringError, BoringOptions, BrowserProfile, Mode};
use pool_http::{HttpConnection, RequestError};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

mod common;
use common::{get, ips, pool_options, retrying_once, target, trust, warm_failures};

fn options(ca: &TestCa) -> BoringOptions {
    BoringOptions {
        trust: trust(ca),
        conn_timeout: Duration::from_secs(5),
        test_timeout: Duration::from_secs(5),
        ..BoringOptions::default()
    }
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
    let e = pool.get("a.test").await.unwrap_err();
    assert!(
        matches!(e, pool_core::Error::NoUsableAddress { .. }),
        "never silently accepted: {e:?}"
    );
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
