//! pool-dial-rustls against the local TLS + HTTP/2 origin (`pool_testkit::H2Origin`) on
//! 127.0.0.x: warm-up, reuse, capacity, verification, identity, ALPN, faults, validation
//! bans lifted only by a validated re-test, profiles, source addresses, the tower Service,
//! and fd accounting. (The validation verdicts, the same for every dialer, are the
//! conformance suite's `validation_bans_on_403`.)

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{CloseReason, DialErrorKind, Dialer, Pool, PoolOptions};
use pool_dial_rustls::{
    ConfigError, H2Dialer, H2Options, SourceAddrs, TlsProfile, TlsVersion, Validation,
};
use pool_http::{Empty, HttpLeaseExt, PoolService};
use pool_testkit::fds::open_fds;
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};
use tower_service::Service;

mod common;
use common::{WAIT, ips, pool_options, target, trust};

fn h2_options(ca: &TestCa) -> H2Options {
    let mut options = H2Options::default();
    options.tls.trust = trust(ca);
    options.tls.conn_timeout = Duration::from_secs(5);
    options.tls.test_timeout = Duration::from_secs(5);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_reuse_capacity_languages_and_fds() {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = ips(&[2, 3, 4]);
    let origin = H2Origin::start(H2OriginOptions {
        max_concurrent_streams: Some(4),
        delay: Some(Duration::from_millis(50)),
        ..H2OriginOptions::new(&addrs, &["a.test"], &ca)
    })
    .await
    .unwrap();
    let baseline = open_fds();

    // Trust the CA through a PEM file (the `extra_ca_files` path).
    let dir = std::env::temp_dir().join(format!("hotpool-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let mut options = h2_options(&ca);
    options.tls.trust.extra_ca_certs.clear();
    options.tls.trust.extra_ca_files = vec![ca_file];
    options.tls.accept_languages = vec!["en-US".into(), "de-DE".into(), "fr-FR".into()];

    let pool = Pool::new(H2Dialer::new(options).unwrap(), pool_options()).unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    let report = pool.warm("a.test").await;
    assert_eq!((report.planned, report.ok, report.failed), (3, 3, 0));
    for conn in pool.connections() {
        assert_eq!(
            conn.capacity, 4,
            "capacity is the peer's max_concurrent_streams"
        );
    }

    // 20 concurrent requests through the tower Service.
    let service = PoolService::new(pool.clone(), "a.test");
    let mut calls = Vec::new();
    for i in 0..20 {
        let mut service = service.clone();
        calls.push(tokio::spawn(async move {
            let request = http::Request::builder()
                .uri(format!("/item/{i}"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            // Read the body in the task: an unread body holds its lease, and 20 calls
            // share 16 streams.
            let response = service.call(request).await.unwrap();
            let status = response.status();
            (status, response.into_body().bytes().await.unwrap())
        }));
    }
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(&body[..], b"hello from hotpool\n");
    }

    let per_addr = origin.per_addr_stats();
    for (ip, stats) in &per_addr {
        assert_eq!(stats.handshakes, 1, "{ip}: one TLS handshake, then reuse");
        assert!(
            stats.max_concurrent_streams_seen <= 4,
            "{ip}: {} streams at once on one connection",
            stats.max_concurrent_streams_seen
        );
        // Every request on a connection carries that connection's language.
        let langs: std::collections::BTreeSet<_> = stats.accept_languages.iter().collect();
        assert_eq!(langs.len(), 1, "{ip}: one Accept-Language per connection");
    }
    let total = origin.stats();
    assert_eq!(total.requests, 20);
    assert_eq!(total.max_concurrent_streams_seen, 4, "capacity was used");
    let all_langs: std::collections::BTreeSet<_> = total.accept_languages.iter().cloned().collect();
    assert_eq!(
        all_langs,
        ["de-DE", "en-US", "fr-FR"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let stats = pool.stats();
    assert_eq!(stats.dials_ok, 3);
    assert!(
        stats.reuse_rate() > 0.8,
        "reuse rate {}",
        stats.reuse_rate()
    );

    // A lease's request API, with an explicit Accept-Language kept as is.
    let lease = pool.get("a.test").await.unwrap();
    let request = http::Request::builder()
        .uri("/mine")
        .header("accept-language", "nl-NL")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(lease.request(request).await.unwrap().status(), 200);
    assert!(
        origin
            .stats()
            .accept_languages
            .contains(&"nl-NL".to_owned())
    );

    pool.close().await;
    drop(service);
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
    let _ = std::fs::remove_dir_all(&dir);
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_for_the_host_never_the_ip_and_never_shared_across_hosts() {
    let ca = Arc::new(TestCa::new().unwrap());
    let shared_ip = ips(&[6]);
    // Both names on one IP, plus the IP itself in the certificate.
    let origin = H2Origin::start(H2OriginOptions::new(
        &shared_ip,
        &["a.test", "b.test", "127.0.0.6"],
        &ca,
    ))
    .await
    .unwrap();
    let pool = Pool::new(H2Dialer::new(h2_options(&ca)).unwrap(), pool_options()).unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    pool.set_addrs("b.test", origin.socket_addrs());
    let a = pool.get("a.test").await.unwrap();
    let b = pool.get("b.test").await.unwrap();
    assert_ne!(a.conn_id(), b.conn_id(), "one connection per host");
    assert_eq!(&*a.info().host, "a.test");
    assert_eq!(&*b.info().host, "b.test");
    assert_eq!(a.addr(), b.addr());
    drop((a, b));
    for _ in 0..5 {
        let a = pool.get("a.test").await.unwrap();
        assert_eq!(&*a.info().host, "a.test");
        let b = pool.get("b.test").await.unwrap();
        assert_eq!(&*b.info().host, "b.test");
    }
    assert_eq!(origin.stats().handshakes, 2);
    pool.close().await;
    origin.shutdown().await;

    // A certificate naming only a.test (and the IP) fails for c.test on the same IP:
    // the name checked is the host's, not the address's.
    let origin = H2Origin::start(H2OriginOptions::new(
        &shared_ip,
        &["a.test", "127.0.0.6"],
        &ca,
    ))
    .await
    .unwrap();
    let dialer = H2Dialer::new(h2_options(&ca)).unwrap();
    let addr = origin.socket_addrs()[0];
    assert!(dialer.dial(&target("a.test", addr)).await.is_ok());
    let err = dialer.dial(&target("c.test", addr)).await.unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Handshake);
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_mismatch_is_a_dial_failure() {
    let ca = Arc::new(TestCa::new().unwrap());
    // A negotiated protocol the dialer cannot speak is `Unsupported` (the server is
    // healthy: not counted against the IP); none negotiated stays `Protocol`.
    for (alpn, what, kind) in [
        (
            vec![b"http/1.1".to_vec()],
            "server chose http/1.1",
            DialErrorKind::Unsupported,
        ),
        (vec![], "server chose none", DialErrorKind::Protocol),
    ] {
        let origin = H2Origin::start(H2OriginOptions {
            alpn,
            ..H2OriginOptions::new(&ips(&[7]), &["a.test"], &ca)
        })
        .await
        .unwrap();
        // h2 offered (with http/1.1 as a fallback the dialer must not take).
        let mut options = h2_options(&ca);
        options.tls.alpn = vec!["h2".into(), "http/1.1".into()];
        let dialer = H2Dialer::new(options).unwrap();
        let err = dialer
            .dial(&target("a.test", origin.socket_addrs()[0]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{what}: {err}");
        origin.shutdown().await;
    }
    // An H2 dialer whose profile does not even offer h2 is a configuration error.
    let mut options = h2_options(&ca);
    options.tls.alpn = vec!["http/1.1".into()];
    assert!(matches!(H2Dialer::new(options), Err(ConfigError::Alpn(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_close_and_reset_are_noticed_while_idle() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[8, 9]), &["a.test"], &ca))
        .await
        .unwrap();
    let pool = Pool::new(H2Dialer::new(h2_options(&ca)).unwrap(), pool_options()).unwrap();
    pool.set_addrs("a.test", origin.socket_addrs());
    type Inject = fn(&H2Origin) -> usize;
    let faults: [(&str, Inject); 3] = [
        ("GOAWAY", H2Origin::goaway_all),
        ("close", H2Origin::close_all),
        ("reset", H2Origin::reset_all),
    ];
    let report = pool.warm("a.test").await;
    assert_eq!(report.ok, 2, "warm");
    for (round, (fault, inject)) in faults.into_iter().enumerate() {
        assert_eq!(pool.stats().connections, 2, "{fault}");
        let closed_before = pool.stats().closed_total();
        let goaway_before = pool.stats().closed_for(CloseReason::GoAway);
        assert_eq!(inject(&origin), 2, "{fault}: both connections signalled");
        // The pool notices on its own (no request has to fail first) and, the host being
        // hot (warmed), replaces both connections in the background (docs/stay-hot.md).
        let handshakes = 2 * (round + 2);
        assert!(
            eventually("both closed and re-dialed", WAIT, || {
                let stats = pool.stats();
                stats.closed_total() == closed_before + 2
                    && stats.connections == 2
                    && origin.stats().handshakes as usize == handshakes
            })
            .await
            .is_ok(),
            "{fault}: {:?}",
            pool.stats()
        );
        let goaways = pool.stats().closed_for(CloseReason::GoAway) - goaway_before;
        assert_eq!(goaways, if fault == "GOAWAY" { 2 } else { 0 }, "{fault}");
        // The next request finds a hot connection: no handshake.
        let lease = pool.get("a.test").await.unwrap();
        let response = lease
            .request(http::Request::new(Empty::<Bytes>::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{fault}");
        drop(response);
        assert_eq!(origin.stats().handshakes as usize, handshakes, "{fault}");
    }
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_probe_sees_a_frozen_peer() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[10]), &["a.test"], &ca))
        .await
        .unwrap();
    let mut options = h2_options(&ca);
    options.tls.test_timeout = Duration::from_millis(300);
    let dialer = H2Dialer::new(options).unwrap();
    let conn = dialer
        .dial(&target("a.test", origin.socket_addrs()[0]))
        .await
        .unwrap();
    use pool_core::{Connection, ProbeVerdict};
    assert_eq!(conn.probe().await, ProbeVerdict::Healthy);
    origin.set_ping_frozen(true);
    // The origin applies the freeze on its connection task; a PING racing it may still be
    // answered, so probe (bounded) until one goes unanswered.
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        let verdict = conn.probe().await;
        verdicts.push(verdict);
        if verdict == ProbeVerdict::Unhealthy {
            break;
        }
    }
    assert_eq!(
        verdicts.last(),
        Some(&ProbeVerdict::Unhealthy),
        "{verdicts:?}"
    );
    origin.set_ping_frozen(false);
    origin.shutdown().await;
    assert!(
        eventually("the driver end", WAIT, || conn.is_closed())
            .await
            .is_ok(),
        "driver end noticed"
    );
    assert_eq!(conn.probe().await, ProbeVerdict::Unhealthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_rotate_per_connection() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[12]), &["a.test"], &ca))
        .await
        .unwrap();
    let mut options = h2_options(&ca);
    options.tls.profiles = vec![
        TlsProfile {
            versions: vec![TlsVersion::Tls12],
            cipher_suites: vec!["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".into()],
            ..TlsProfile::named("old")
        },
        TlsProfile {
            versions: vec![TlsVersion::Tls13],
            cipher_suites: vec!["TLS13_AES_256_GCM_SHA384".into()],
            kx_groups: vec!["secp384r1".into()],
            ..TlsProfile::named("new")
        },
        TlsProfile::chrome_like(),
    ];
    let dialer = H2Dialer::new(options).unwrap();
    let addr = origin.socket_addrs()[0];
    let mut seen = Vec::new();
    for _ in 0..3 {
        let conn = dialer.dial(&target("a.test", addr)).await.unwrap();
        let info = conn.info().clone();
        seen.push((
            info.profile.to_string(),
            info.protocol_version,
            info.cipher_suite,
        ));
    }
    use rustls_names::*;
    assert_eq!(
        seen,
        [
            ("old".into(), Some(TLS12), Some(ECDSA_CHACHA)),
            ("new".into(), Some(TLS13), Some(AES_256)),
            ("chrome-like".into(), Some(TLS13), Some(AES_128)),
        ]
    );
    // An unknown suite is a configuration error naming the profile.
    let mut options = h2_options(&ca);
    options.tls.profiles = vec![TlsProfile {
        cipher_suites: vec!["TLS_RSA_WITH_RC4_128_MD5".into()],
        ..TlsProfile::named("bad")
    }];
    let err = H2Dialer::new(options).unwrap_err();
    assert!(err.to_string().contains("bad"), "{err}");
    origin.shutdown().await;
}

/// rustls' enums, as the test compares them.
mod rustls_names {
    use pool_dial_rustls::{CipherSuite, ProtocolVersion};
    pub const TLS12: ProtocolVersion = ProtocolVersion::TLSv1_2;
    pub const TLS13: ProtocolVersion = ProtocolVersion::TLSv1_3;
    pub const ECDSA_CHACHA: CipherSuite =
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256;
    pub const AES_256: CipherSuite = CipherSuite::TLS13_AES_256_GCM_SHA384;
    pub const AES_128: CipherSuite = CipherSuite::TLS13_AES_128_GCM_SHA256;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_addresses_rotate_and_insecure_mode_is_explicit() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[13]), &["a.test"], &ca))
        .await
        .unwrap();
    let mut options = h2_options(&ca);
    options.tls.source_addrs = SourceAddrs::new(ips(&[20, 21]), None);
    let dialer = H2Dialer::new(options).unwrap();
    let addr = origin.socket_addrs()[0];
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(dialer.dial(&target("a.test", addr)).await.unwrap());
    }
    let peers: Vec<IpAddr> = origin.stats().peers.iter().map(|p| p.ip()).collect();
    assert_eq!(
        peers,
        ips(&[20, 21, 20, 21]),
        "rotated, as the origin saw them"
    );
    assert_eq!(conns[1].info().local_addr.ip(), ips(&[21])[0]);

    // No roots and verification on: refused at construction.
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    assert!(matches!(H2Dialer::new(options), Err(ConfigError::NoRoots)));
    // The explicit insecure option connects to an untrusted certificate, and says so.
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.danger_accept_invalid_certs = true;
    let conn = H2Dialer::new(options)
        .unwrap()
        .dial(&target("a.test", addr))
        .await
        .unwrap();
    assert!(conn.info().insecure);
    origin.shutdown().await;
}

/// A ban from validation is only lifted by a re-test that passes validation: a re-test whose
/// TLS handshake succeeds but whose "hot connect" request still gets the banned status keeps
/// the address out (issue 12: a re-test must validate too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_ban_is_lifted_only_by_a_validated_retest() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[12]), &["ban.test"], &ca))
        .await
        .unwrap();
    let mut options = h2_options(&ca);
    options.tls.validation = Some(Validation {
        path: "/check".into(),
        ..Validation::default()
    });
    let pool = Pool::new(
        H2Dialer::new(options).unwrap(),
        PoolOptions {
            blacklist_check_interval: Duration::from_millis(50),
            ..pool_options()
        },
    )
    .unwrap();
    let addr = origin.socket_addrs()[0];
    pool.set_addrs("ban.test", [addr]);
    origin.set_status("/check", 403);
    let report = pool.warm("ban.test").await;
    assert_eq!((report.failed, report.blacklisted), (1, 1));

    // Re-tests run (each a full TLS handshake and a validation request) and keep failing.
    let banned_requests = origin.stats().requests;
    assert!(
        eventually("three more validation requests", WAIT, || {
            origin.stats().requests >= banned_requests + 3
        })
        .await
        .is_ok(),
        "the blacklisted address is re-tested"
    );
    assert!(origin.stats().handshakes >= 4, "re-tests complete TLS");
    assert_eq!(
        pool.stats().blacklisted,
        1,
        "a TLS success alone lifts no ban"
    );
    assert_eq!(pool.stats().connections, 0);

    // Validation passes again: the next re-test lifts the ban and admits the connection.
    origin.set_status("/check", 200);
    assert!(
        eventually("the ban lifted", WAIT, || pool.stats().blacklisted == 0)
            .await
            .is_ok(),
        "a validated re-test lifts the ban"
    );
    let lease = pool
        .get("ban.test")
        .await
        .expect("the address serves again");
    drop(lease);
    pool.close().await;
    origin.shutdown().await;
}
