//! pool-dial-rustls's exclusive `TlsDialer` against the local origin speaking HTTP/1.1:
//! HTTP/1.1 validation, exclusive leases, and the idle watcher (stale bytes, EOF, reset).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::{Connection, DialErrorKind, Dialer, Pool, PoolOptions, Target};
use pool_dial_rustls::{TlsDialer, TlsOptions, Trust, Validation};
use pool_testkit::fds::open_fds;
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{WAIT, trust};

const BODY: &[u8] = b"hello from hotpool\n";

fn options(ca: &TestCa) -> TlsOptions {
    TlsOptions {
        trust: trust(ca),
        conn_timeout: Duration::from_secs(5),
        test_timeout: Duration::from_secs(5),
        validation: Some(Validation {
            path: "/check".into(),
            ..Validation::default()
        }),
        accept_languages: vec!["sv-SE".into()],
        ..TlsOptions::default()
    }
}

/// One HTTP/1.1 request on a leased stream; returns the whole response.
async fn get(io: &mut pool_dial_rustls::TlsIo<'_>, path: &str) -> Vec<u8> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: a.test\r\n\r\n");
    io.write_all(request.as_bytes()).await.unwrap();
    io.flush().await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.ends_with(BODY) {
        let n = tokio::time::timeout(WAIT, io.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "EOF inside the response");
        response.extend_from_slice(&buf[..n]);
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_streams_validated_and_watched_while_idle() {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs: Vec<IpAddr> = vec![[127, 0, 0, 30].into(), [127, 0, 0, 31].into()];
    let origin = H2Origin::start(H2OriginOptions::new(&addrs, &["a.test"], &ca))
        .await
        .unwrap();
    let baseline = open_fds();
    let pool = Pool::new(
        TlsDialer::new(options(&ca)).unwrap(),
        PoolOptions {
            // What the idle watcher notices is this test's subject; a warmed host's
            // background re-warming is tests/stay_hot.rs'.
            stay_hot: false,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    let report = pool.warm("a.test").await;
    assert_eq!(report.ok, 2);
    let stats = origin.stats();
    assert_eq!(stats.http1_connections, 2, "ALPN http/1.1");
    assert_eq!(stats.requests, 2, "one validation request per connection");
    assert_eq!(stats.accept_languages, ["sv-SE", "sv-SE"]);

    // Exclusive: two leases are two connections; each carries requests in turn.
    let a = pool.get("a.test").await.unwrap();
    let b = pool.get("a.test").await.unwrap();
    assert_ne!(a.conn_id(), b.conn_id());
    assert_eq!(a.capacity(), 1);
    for _ in 0..3 {
        let mut io = a.io().await.unwrap();
        let response = get(&mut io, "/x").await;
        assert!(response.starts_with(b"HTTP/1.1 200"));
    }
    assert!(a.info().alpn.as_deref() == Some(b"http/1.1"));
    drop((a, b));
    assert_eq!(origin.stats().handshakes, 2, "reused, not redialed");

    // Stale bytes on an idle connection: the watcher closes it; it is never handed out.
    assert_eq!(origin.send_garbage_all(), 2);
    assert!(
        eventually("the pool is empty", WAIT, || pool.stats().connections == 0)
            .await
            .is_ok(),
        "{:?}",
        pool.stats()
    );
    let lease = pool.get("a.test").await.unwrap();
    let mut io = lease.io().await.unwrap();
    assert!(get(&mut io, "/fresh").await.starts_with(b"HTTP/1.1 200"));
    drop(io);
    drop(lease);

    // The peer closing (EOF) and resetting are noticed the same way.
    pool.warm("a.test").await;
    assert_eq!(pool.stats().connections, 2);
    assert_eq!(origin.close_all(), 2);
    assert!(
        eventually("the pool is empty", WAIT, || pool.stats().connections == 0)
            .await
            .is_ok()
    );
    pool.warm("a.test").await;
    assert_eq!(pool.stats().connections, 2);
    assert_eq!(origin.reset_all(), 2);
    assert!(
        eventually("the pool is empty", WAIT, || pool.stats().connections == 0)
            .await
            .is_ok()
    );

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
async fn http1_validation_verdicts_and_alpn_none() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(
        &[[127, 0, 0, 32].into()],
        &["a.test"],
        &ca,
    ))
    .await
    .unwrap();
    let addr = origin.socket_addrs()[0];
    let target = Target {
        host: "a.test".into(),
        addr,
    };
    let dialer = TlsDialer::new(options(&ca)).unwrap();
    origin.set_status("/check", 403);
    assert_eq!(
        dialer.dial(&target).await.unwrap_err().kind(),
        DialErrorKind::Banned
    );
    origin.set_status("/check", 404);
    assert_eq!(
        dialer.dial(&target).await.unwrap_err().kind(),
        DialErrorKind::Rejected
    );
    origin.set_status("/check", 202);
    assert!(dialer.dial(&target).await.is_ok());
    origin.shutdown().await;

    // ALPN http/1.1 required, server offers none: a Protocol failure.
    let origin = H2Origin::start(H2OriginOptions {
        alpn: vec![],
        ..H2OriginOptions::new(&[[127, 0, 0, 32].into()], &["a.test"], &ca)
    })
    .await
    .unwrap();
    let target = Target {
        host: "a.test".into(),
        addr: origin.socket_addrs()[0],
    };
    let err = dialer.dial(&target).await.unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Protocol, "{err}");
    // With no ALPN required, the same server is fine.
    let mut no_alpn = options(&ca);
    no_alpn.alpn.clear();
    let conn = TlsDialer::new(no_alpn)
        .unwrap()
        .dial(&target)
        .await
        .unwrap();
    assert_eq!(conn.info().alpn, None);
    assert!(!conn.is_closed());
    origin.shutdown().await;
}

/// Mutual TLS on both engines: an origin that requires a client certificate from its CA
/// serves dialers that offer one and refuses (a handshake failure) those that do not; a key
/// that does not match its certificate is refused when the dialer is built, with an error
/// that never shows the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_on_both_engines() {
    use pool_dial_boring::{BoringDialer, BoringOptions};
    use pool_dial_rustls::{ClientCert, H2Dialer, H2Options};

    let ca = Arc::new(TestCa::new().unwrap());
    let addrs: Vec<IpAddr> = vec![[127, 0, 0, 36].into()];
    let origin = H2Origin::start(H2OriginOptions {
        require_client_cert: true,
        ..H2OriginOptions::new(&addrs, &["a.test"], &ca)
    })
    .await
    .unwrap();
    let addr = origin.socket_addrs()[0];
    let (chain, key) = ca.client_cert_pem("crawler.test").unwrap();
    let cert = ClientCert {
        chain_pem: chain.clone().into_bytes(),
        key_pem: key.into_bytes(),
    };
    let target = Target {
        host: "a.test".into(),
        addr,
    };
    let rustls = |client_cert: Option<ClientCert>| {
        let mut options = H2Options::default();
        options.tls.trust = Trust {
            client_cert,
            ..trust(&ca)
        };
        options.tls.conn_timeout = Duration::from_secs(5);
        H2Dialer::new(options)
    };
    let boring = |client_cert: Option<ClientCert>| {
        BoringDialer::new(BoringOptions {
            trust: Trust {
                client_cert,
                ..trust(&ca)
            },
            conn_timeout: Duration::from_secs(5),
            ..BoringOptions::default()
        })
    };
    let served = rustls(Some(cert.clone())).unwrap().dial(&target).await;
    assert!(
        served.is_ok(),
        "rustls with a certificate: {:?}",
        served.err()
    );
    let served = boring(Some(cert.clone())).unwrap().dial(&target).await;
    assert!(
        served.is_ok(),
        "boring with a certificate: {:?}",
        served.err()
    );
    // TLS 1.3 sends the refusal (an alert) after the client's Finished: an engine reads it
    // at its first read after the handshake, the HTTP/2 preface, so a handshake or a
    // protocol failure; either way no connection.
    let refused = [
        rustls(None).unwrap().dial(&target).await.err(),
        boring(None).unwrap().dial(&target).await.err(),
    ];
    for error in refused {
        let kind = error.map(|e| e.kind());
        assert!(
            matches!(
                kind,
                Some(DialErrorKind::Handshake | DialErrorKind::Protocol)
            ),
            "{kind:?}"
        );
    }

    // Another key than the certificate's: refused at build, the key never shown.
    let (_, other_key) = ca.client_cert_pem("other.test").unwrap();
    let mismatched = ClientCert {
        chain_pem: chain.into_bytes(),
        key_pem: other_key.clone().into_bytes(),
    };
    let secret = other_key.lines().nth(1).unwrap().to_owned();
    let err = rustls(Some(mismatched.clone())).err().unwrap().to_string();
    assert!(
        err.contains("client certificate") && !err.contains(&secret),
        "{err}"
    );
    let err = boring(Some(mismatched.clone())).err().unwrap().to_string();
    assert!(
        err.contains("client certificate") && !err.contains(&secret),
        "{err}"
    );
    assert!(!format!("{mismatched:?}").contains(&secret));
}
