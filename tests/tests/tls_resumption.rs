//! TLS session resumption on both engines against real local servers: a second dial to a
//! host resumes the first one's session (`TlsInfo::resumed`, and the counters
//! `hotpool_tls_handshakes_total` / `hotpool_tls_resumed_total` move), through a pool of
//! the rustls `H2Dialer` (a second address of the host warmed; sessions stay with their
//! profile and dialer) and the BoringSSL dialer
//! (Chrome profile), whose resumed ClientHello, seen by the capture origin, carries
//! `pre_shared_key` last and `psk_key_exchange_modes`, as Chrome's does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_boring::{BoringDialer, BoringOptions, BrowserProfile};
use pool_dial_rustls::metrics::{TLS_HANDSHAKES_TOTAL, TLS_RESUMED_TOTAL};
use pool_dial_rustls::{H2Dialer, H2Options, TlsProfile};
use pool_http::{Empty, HttpConnection, HttpLeaseExt};
use pool_testkit::capture::{CaptureOrigin, extension_order, is_grease};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};

mod common;
use common::{WAIT, get, ips, pool_options, target, trust};

const HOST: &str = "resume.test";
/// `pre_shared_key` and `psk_key_exchange_modes`.
const PRE_SHARED_KEY: u16 = 41;
const PSK_MODES: u16 = 45;

/// The TLS counters since the last call (a snapshot resets them): (handshakes, resumed).
fn tls_counts(snapshotter: &Snapshotter) -> (u64, u64) {
    let counters: HashMap<String, u64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => Some((key.key().name().to_owned(), n)),
            _ => None,
        })
        .collect();
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    (count(TLS_HANDSHAKES_TOTAL), count(TLS_RESUMED_TOTAL))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustls_pool_resumes_when_it_warms_a_second_address_of_the_host() {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = ips(&[130, 131]);
    let origin = H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], &ca))
        .await
        .unwrap();
    let [first, second] = origin.socket_addrs()[..] else {
        panic!("two addresses");
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut options = H2Options::default();
    options.tls.trust = trust(&ca);
    options.tls.conn_timeout = Duration::from_secs(5);
    let dialer = metrics::with_local_recorder(&recorder, || H2Dialer::new(options)).unwrap();
    let pool = Pool::new(dialer, pool_options()).unwrap();

    pool.set_addrs(HOST, [first]);
    assert_eq!(pool.warm(HOST).await.ok, 1);
    let lease = pool.get(HOST).await.unwrap();
    assert!(!lease.info().resumed, "the first dial is a full handshake");
    assert_eq!(lease.info().addr, first);
    // A whole exchange: the server's tickets (sent right after the handshake) are read.
    let body = lease.request(get("/")).await.unwrap().into_body();
    body.bytes().await.unwrap();
    assert_eq!(tls_counts(&snapshotter), (1, 0));

    // A second address of the (warmed, so hot) host is dialed at once: a resumed
    // handshake. (`warm` finds it dialed or dials it itself, whichever comes first.)
    pool.set_addrs(HOST, [first, second]);
    pool.warm(HOST).await;
    assert!(
        eventually("both addresses connected", Duration::from_secs(10), || pool
            .stats()
            .connected_addresses
            == 2)
        .await
        .is_ok()
    );
    assert_eq!(tls_counts(&snapshotter), (1, 1));
    pool.set_addrs(HOST, [second]);
    let lease = pool.get(HOST).await.unwrap();
    assert_eq!(lease.info().addr, second);
    assert!(
        lease.info().resumed,
        "the second dial resumed the first's session"
    );
    drop(lease);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustls_keep_warm_replacement_resumes() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[136]), &[HOST], &ca))
        .await
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut options = H2Options::default();
    options.tls.trust = trust(&ca);
    options.tls.conn_timeout = Duration::from_secs(5);
    let dialer = metrics::with_local_recorder(&recorder, || H2Dialer::new(options)).unwrap();
    // The replacement is due 1 s after the first connection was made (its tickets are read
    // long before: they precede the response to the request below).
    let pool = Pool::new(
        dialer,
        PoolOptions {
            max_lifetime: Duration::from_secs(5),
            keep_warm: true,
            keep_warm_lead: Duration::from_secs(4),
            ..pool_options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    let lease = pool.get(HOST).await.unwrap();
    assert!(!lease.info().resumed);
    let body = lease.request(get("/")).await.unwrap().into_body();
    body.bytes().await.unwrap();
    let mut total = (0, 0);
    eventually("the keep_warm replacement is dialed", WAIT, || {
        let (h, r) = tls_counts(&snapshotter);
        total = (total.0 + h, total.1 + r);
        total.0 >= 2
    })
    .await
    .unwrap();
    // Only the first handshake was full: the replacement (and any replacement of it, due
    // 1 s later) resumed.
    assert_eq!(total.1, total.0 - 1, "(handshakes, resumed) = {total:?}");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustls_sessions_stay_with_the_profile_and_the_dialer_they_came_from() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[134]), &[HOST], &ca))
        .await
        .unwrap();
    let to = target(HOST, origin.socket_addrs()[0]);
    let options = || {
        let mut options = H2Options::default();
        options.tls.trust = trust(&ca);
        options.tls.conn_timeout = Duration::from_secs(5);
        options.tls.profiles = vec![TlsProfile::named("a"), TlsProfile::named("b")];
        options
    };
    let dialer = H2Dialer::new(options()).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let conn = dialer.dial(&to).await.unwrap();
        let response = conn.send(get("/")).await.unwrap();
        response.into_body().collect().await.unwrap();
        seen.push((conn.info().profile.to_string(), conn.info().resumed));
    }
    // Profiles rotate a, b, a, b: each resumes only its own earlier session.
    let expected = [("a", false), ("b", false), ("a", true), ("b", true)];
    let expected: Vec<(String, bool)> = expected.iter().map(|(p, r)| ((*p).into(), *r)).collect();
    assert_eq!(seen, expected);
    // Another dialer (another config, its own store) has nothing to resume.
    let other = H2Dialer::new(options()).unwrap();
    assert!(!other.dial(&to).await.unwrap().info().resumed);
}

/// One GET on `conn`, its body read to the end (so the tickets sent before it are read).
async fn exchange(conn: &pool_dial_boring::BoringConn) {
    let response = conn
        .send(http::Request::new(Empty::<Bytes>::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boring_chrome_resumes_with_a_chrome_like_pre_shared_key_hello() {
    let origin = CaptureOrigin::start_resuming(HOST, IpAddr::from([127, 0, 0, 132]))
        .await
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let profile = BrowserProfile::chrome();
    let dialer = metrics::with_local_recorder(&recorder, || {
        BoringDialer::new(BoringOptions {
            profiles: vec![profile.clone()],
            trust: trust(origin.ca()),
            conn_timeout: Duration::from_secs(5),
            ..BoringOptions::default()
        })
    })
    .unwrap();
    let to = target(HOST, origin.addr());

    let first = dialer.dial(&to).await.unwrap();
    assert!(!first.info().resumed, "nothing to resume yet");
    exchange(&first).await;
    assert_eq!(tls_counts(&snapshotter), (1, 0));
    let second = dialer.dial(&to).await.unwrap();
    assert!(second.info().resumed, "the second dial resumed");
    exchange(&second).await;
    assert_eq!(tls_counts(&snapshotter), (1, 1));

    let seen = origin.wait_for(2, WAIT).await;
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|c| c.handshake_ok));
    let order = |i: usize| extension_order(&seen[i].client_hello).unwrap();
    let set = |i: usize| {
        let mut s: Vec<u16> = order(i).into_iter().filter(|e| !is_grease(*e)).collect();
        s.sort_unstable();
        s
    };
    // The first hello: the profile's documented set, no pre_shared_key.
    assert_eq!(set(0), profile.tls.extensions);
    assert!(!set(0).contains(&PRE_SHARED_KEY));
    assert!(set(0).contains(&PSK_MODES));
    // The resumed one: the same set plus pre_shared_key, which is the last extension.
    let mut resumed_set = profile.tls.extensions.clone();
    resumed_set.push(PRE_SHARED_KEY);
    resumed_set.sort_unstable();
    assert_eq!(set(1), resumed_set);
    assert_eq!(order(1).last(), Some(&PRE_SHARED_KEY), "{:?}", order(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boring_sessions_stay_with_their_profile() {
    let origin = CaptureOrigin::start_resuming(HOST, IpAddr::from([127, 0, 0, 135]))
        .await
        .unwrap();
    let dialer = BoringDialer::new(BoringOptions {
        profiles: vec![BrowserProfile::chrome(), BrowserProfile::firefox()],
        trust: trust(origin.ca()),
        conn_timeout: Duration::from_secs(5),
        ..BoringOptions::default()
    })
    .unwrap();
    let to = target(HOST, origin.addr());
    let mut seen = Vec::new();
    for _ in 0..4 {
        let conn = dialer.dial(&to).await.unwrap();
        exchange(&conn).await;
        seen.push((conn.info().profile.to_string(), conn.info().resumed));
    }
    let expected = [
        ("chrome", false),
        ("firefox", false),
        ("chrome", true),
        ("firefox", true),
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(p, r)| ((*p).into(), *r)).collect();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_origin_issues_no_tickets_by_default_so_hellos_stay_first_contact() {
    let origin = CaptureOrigin::start(HOST, IpAddr::from([127, 0, 0, 133]))
        .await
        .unwrap();
    let dialer = BoringDialer::new(BoringOptions {
        trust: trust(origin.ca()),
        conn_timeout: Duration::from_secs(5),
        ..BoringOptions::default()
    })
    .unwrap();
    let to = target(HOST, origin.addr());
    for _ in 0..2 {
        let conn = dialer.dial(&to).await.unwrap();
        exchange(&conn).await;
        assert!(!conn.info().resumed);
    }
    let seen = origin.wait_for(2, WAIT).await;
    for c in &seen {
        assert!(
            !extension_order(&c.client_hello)
                .unwrap()
                .contains(&PRE_SHARED_KEY)
        );
    }
}
