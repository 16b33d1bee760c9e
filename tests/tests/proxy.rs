//! Egress through real proxies from Debian's packages (squid, tinyproxy: HTTP CONNECT;
//! microsocks: SOCKS5; Dante: SOCKS4 and 5), for both TLS engines, and through hostile
//! proxies written here. The proxy is asked for each address (`CONNECT ip:port`), so every
//! address stays its own connection; certificates are still checked for the host name; a
//! proxy's failure is `DialErrorKind::Proxy`, never counted against the origin's address.
//!
//! The tests take one lock: the fd check needs no other test's sockets in flight.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{DialErrorKind, Dialer, Pool, PoolOptions};
use pool_dial_boring::{BoringDialer, BoringOptions};
use pool_dial_rustls::{
    ConnectBy, Credentials, H1Dialer, H2Dialer, H2Options, Proxy, ProxyScheme, TlsOptions,
};
use pool_http::HttpLeaseExt;
use pool_testkit::fds::open_fds;
use pool_testkit::proxies::{ProxyKind, ProxyServer};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod common;
use common::{WAIT, get, trust};

const HOST: &str = "a.test";
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn origin(ca: &Arc<TestCa>, third: u8) -> H2Origin {
    let addrs: Vec<IpAddr> = vec![
        [127, 0, 160 + third, 1].into(),
        [127, 0, 160 + third, 2].into(),
    ];
    H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], ca))
        .await
        .unwrap()
}

fn tls(ca: &TestCa, proxy: Proxy) -> TlsOptions {
    TlsOptions {
        trust: trust(ca),
        conn_timeout: DIAL_TIMEOUT,
        test_timeout: DIAL_TIMEOUT,
        proxy: Some(proxy),
        ..TlsOptions::default()
    }
}

fn h2(ca: &TestCa, proxy: Proxy) -> H2Dialer {
    let mut options = H2Options::default();
    let alpn = options.tls.alpn.clone();
    options.tls = TlsOptions {
        alpn,
        ..tls(ca, proxy)
    };
    H2Dialer::new(options).unwrap()
}

fn boring(ca: &TestCa, proxy: Proxy) -> BoringDialer {
    BoringDialer::new(BoringOptions {
        trust: trust(ca),
        conn_timeout: DIAL_TIMEOUT,
        test_timeout: DIAL_TIMEOUT,
        proxy: Some(proxy),
        ..BoringOptions::default()
    })
    .unwrap()
}

fn to(server: &ProxyServer, scheme: ProxyScheme) -> Proxy {
    Proxy::new(scheme, server.addr().ip().to_string(), server.addr().port())
}

fn pool<D: Dialer>(dialer: D) -> Pool<D> {
    Pool::new(
        dialer,
        PoolOptions {
            checkout_timeout: WAIT,
            max_retries: 2,
            ..PoolOptions::default()
        },
    )
    .unwrap()
}

/// Warms both addresses of `origin` through the pool's proxy, checks that each address got
/// its own connection (one handshake each at the origin) and that a request is answered.
async fn warms_every_address_and_serves<D: Dialer>(pool: &Pool<D>, origin: &H2Origin)
where
    D::Conn: pool_http::HttpConnection,
{
    pool.set_addrs(HOST, origin.socket_addrs());
    let report = pool.warm(HOST).await;
    assert_eq!((report.ok, report.failed), (2, 0), "{report:?}");
    for ip in origin.addrs() {
        // The origin counts a handshake once it has read the client's Finished.
        let one = || {
            origin
                .stats_for(*ip)
                .is_some_and(|s| s.handshakes == 1 && s.accepted == 1)
        };
        eventually("each address: its own tunnel and handshake", WAIT, one)
            .await
            .unwrap_or_else(|e| panic!("{ip}: {e}: {:?}", origin.stats_for(*ip)));
    }
    let lease = pool.get(HOST).await.unwrap();
    let response = lease.request(get("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().bytes().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_through_http_connect_with_basic_auth() {
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let squid = ProxyServer::start(ProxyKind::Squid, Some(("alice", "wonder land"))).unwrap();
    let proxy =
        to(&squid, ProxyScheme::Http).with_credentials(Credentials::new("alice", "wonder land"));

    let rustls_origin = origin(&ca, 0).await;
    let rustls_pool = pool(h2(&ca, proxy.clone()));
    warms_every_address_and_serves(&rustls_pool, &rustls_origin).await;
    rustls_pool.close().await;

    let boring_origin = origin(&ca, 1).await;
    let boring_pool = pool(boring(&ca, proxy.clone()));
    warms_every_address_and_serves(&boring_pool, &boring_origin).await;
    boring_pool.close().await;

    // Without the proxy, dials fail as the proxy's: the traffic went through it.
    drop(squid);
    let dialer = h2(&ca, proxy);
    let err = dialer
        .dial(&common::target(HOST, rustls_origin.socket_addrs()[0]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DialErrorKind::Proxy, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connect_through_tinyproxy_and_by_name() {
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let tiny = ProxyServer::start(ProxyKind::Tinyproxy, None).unwrap();
    let origin = origin(&ca, 2).await;
    let by_ip = pool(H1Dialer::new(tls(&ca, to(&tiny, ProxyScheme::Http))).unwrap());
    warms_every_address_and_serves(&by_ip, &origin).await;
    by_ip.close().await;

    // By name: the proxy resolves the name itself (here a literal, as there is no DNS for
    // a.test), and the certificate is still checked for the host.
    let by_name = to(&tiny, ProxyScheme::Http).with_connect_by(ConnectBy::Name);
    let dialer = h2(&ca, by_name);
    let addr = origin.socket_addrs()[0];
    let Err(err) = dialer
        .dial(&common::target(&addr.ip().to_string(), addr))
        .await
    else {
        panic!("the certificate is for a.test, not for the IP");
    };
    assert_eq!(err.kind(), DialErrorKind::Handshake, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_through_socks5_and_socks4() {
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let socks = ProxyServer::start(ProxyKind::Microsocks, Some(("carol", "pw"))).unwrap();
    let proxy = to(&socks, ProxyScheme::Socks5).with_credentials(Credentials::new("carol", "pw"));
    let origin_a = origin(&ca, 3).await;
    let rustls_pool = pool(h2(&ca, proxy.clone()));
    warms_every_address_and_serves(&rustls_pool, &origin_a).await;
    rustls_pool.close().await;
    let origin_b = origin(&ca, 4).await;
    let boring_pool = pool(boring(&ca, proxy));
    warms_every_address_and_serves(&boring_pool, &origin_b).await;
    boring_pool.close().await;

    let dante = ProxyServer::start(ProxyKind::Dante, None).unwrap();
    let origin_c = origin(&ca, 5).await;
    let socks4_pool = pool(h2(&ca, to(&dante, ProxyScheme::Socks4)));
    warms_every_address_and_serves(&socks4_pool, &origin_c).await;
    socks4_pool.close().await;
}

/// A proxy written to misbehave: accepts, reads the request, then answers `reply` and stays
/// open (or never answers, when `reply` is empty).
async fn hostile_proxy(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                if !reply.is_empty() {
                    let _ = socket.write_all(reply).await;
                }
                // Hold the connection until the client gives up.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_proxy_is_the_proxys_fault_typed_in_time_and_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, 6).await;
    let squid = ProxyServer::start(ProxyKind::Squid, Some(("alice", "right"))).unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = hostile_proxy(b"").await;
    let garbage = hostile_proxy(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    let endless = hostile_proxy(&[b'x'; 64 * 1024]).await;
    let bad_socks = hostile_proxy(&[5, 0, 5, 0, 0, 9, 0, 0]).await;
    let at = |addr: SocketAddr, scheme| Proxy::new(scheme, addr.ip().to_string(), addr.port());
    let cases: Vec<(&str, Proxy, &str)> = vec![
        ("unreachable", at(closed, ProxyScheme::Http), "refused"),
        (
            "407",
            to(&squid, ProxyScheme::Http),
            "requires authentication",
        ),
        (
            "wrong password",
            to(&squid, ProxyScheme::Http)
                .with_credentials(Credentials::new("alice", "s3cret-wrong")),
            "rejected ours",
        ),
        ("never answers", at(silent, ProxyScheme::Http), "deadline"),
        ("not HTTP", at(garbage, ProxyScheme::Http), "status line"),
        (
            "a head without end",
            at(endless, ProxyScheme::Http),
            "longer than",
        ),
        (
            "unknown SOCKS address type",
            at(bad_socks, ProxyScheme::Socks5),
            "unknown address type 9",
        ),
    ];
    let baseline = open_fds();
    for (what, proxy, says) in cases {
        let pool = pool(h2(&ca, proxy));
        pool.set_addrs(HOST, origin.socket_addrs());
        let started = Instant::now();
        let (report, kinds) = common::warm_failures(&pool, HOST).await;
        let took = started.elapsed();
        assert_eq!(report.ok, 0, "{what}");
        assert!(
            kinds.iter().all(|k| *k == DialErrorKind::Proxy),
            "{what}: {kinds:?}"
        );
        assert!(
            took < DIAL_TIMEOUT + Duration::from_secs(2),
            "{what}: took {took:?}"
        );
        // Dialing again and again never bans the origin's addresses.
        for _ in 0..2 {
            let _ = pool.warm(HOST).await;
        }
        assert_eq!(
            pool.stats().blacklisted,
            0,
            "{what}: the origin is not to blame"
        );
        let err = match pool.get(HOST).await {
            Ok(_) => panic!("{what}: a lease through a failing proxy"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(says), "{what}: {err}");
        assert!(
            !err.contains("s3cret"),
            "{what}: a password in an error: {err}"
        );
        pool.close().await;
    }
    drop(squid);
    eventually("fds back to the baseline", WAIT, || open_fds() <= baseline)
        .await
        .unwrap_or_else(|e| panic!("{e}: {} open, baseline {baseline}", open_fds()));
}

/// An `EgressSet` of three proxies, one of them dead: every address is warmed through the
/// two live ones, requests alternate between them, the dead one is benched (not the
/// origin's addresses), and a per-request override reaches a named egress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_set_spreads_requests_and_benches_a_dead_proxy() {
    use pool_core::{EgressRotation, EgressSet};
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, 7).await;
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxies = [
        to(&squid, ProxyScheme::Http),
        to(&socks, ProxyScheme::Socks5),
        Proxy::new(ProxyScheme::Http, "127.0.0.1", dead.port()),
    ];
    let set = EgressSet::new(
        proxies
            .iter()
            .map(|p| (p.endpoint(), pool(h2(&ca, p.clone())))),
        EgressRotation::RoundRobin,
    );
    set.set_addrs(HOST, origin.socket_addrs());
    let reports = set.warm(HOST).await;
    let ok: Vec<usize> = reports.iter().map(|(_, r)| r.ok).collect();
    assert_eq!(ok, [2, 2, 0], "{reports:?}");

    let mut used = std::collections::HashMap::<String, usize>::new();
    for _ in 0..6 {
        let got = set.get(HOST).await.expect("served through a live egress");
        *used.entry(got.egress.to_string()).or_default() += 1;
    }
    assert_eq!(used.get(&squid.addr().to_string()), Some(&3), "{used:?}");
    assert_eq!(used.get(&socks.addr().to_string()), Some(&3), "{used:?}");
    let states = set.egresses();
    let dead_state = states
        .iter()
        .find(|s| s.label.ends_with(&dead.port().to_string()))
        .unwrap();
    assert!(
        dead_state.benched_until.is_some() && dead_state.benched_total >= 1,
        "{dead_state:?}"
    );
    assert!(
        states.iter().all(|s| s.stats.blacklisted == 0),
        "no origin address is to blame"
    );

    let via = set.get_via(HOST, &socks.addr().to_string()).await.unwrap();
    assert_eq!(&*via.egress, socks.addr().to_string());
    drop(via);
    set.close().await;
}

/// A validation ban (403) through one egress bans the address for that egress only: the
/// same address stays usable through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_through_one_egress_leaves_the_address_to_the_others() {
    use pool_core::{EgressRotation, EgressSet, Error};
    use pool_http::Validation;
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, 8).await;
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let validated = |proxy: Proxy| {
        let mut options = H2Options::default();
        let alpn = options.tls.alpn.clone();
        options.tls = TlsOptions {
            alpn,
            validation: Some(Validation {
                path: "/check".into(),
                ..Validation::default()
            }),
            ..tls(&ca, proxy)
        };
        pool(H2Dialer::new(options).unwrap())
    };
    let (a, b) = (squid.addr().to_string(), socks.addr().to_string());
    let set = EgressSet::new(
        [
            (a.clone(), validated(to(&squid, ProxyScheme::Http))),
            (b.clone(), validated(to(&socks, ProxyScheme::Socks5))),
        ],
        EgressRotation::Sticky,
    );
    set.set_addrs(HOST, origin.socket_addrs());
    origin.set_status("/check", 403);
    let report = set.pool(&a).unwrap().warm(HOST).await;
    assert_eq!(report.blacklisted, 2, "{report:?}");
    origin.set_status("/check", 200);
    let report = set.pool(&b).unwrap().warm(HOST).await;
    assert_eq!(
        report.ok, 2,
        "the other egress may still use both addresses: {report:?}"
    );
    let err = set.get_via(HOST, &a).await.err().expect("banned through a");
    assert!(matches!(err, Error::NoUsableAddress { .. }), "{err}");
    let got = set.get_via(HOST, &b).await.unwrap();
    assert_eq!(&*got.egress, b);
    drop(got);
    set.close().await;
}

/// `auto` (ALPN picks h2 or http/1.1 per connection) through each kind of proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_through_each_kind_of_proxy() {
    use pool_dial_rustls::{HttpsDialer, HttpsOptions};
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let dante = ProxyServer::start(ProxyKind::Dante, None).unwrap();
    let proxies = [
        to(&squid, ProxyScheme::Http),
        to(&socks, ProxyScheme::Socks5),
        to(&dante, ProxyScheme::Socks4),
    ];
    for (third, proxy) in (9..).zip(proxies) {
        let origin = origin(&ca, third).await;
        let mut options = HttpsOptions::default();
        let alpn = options.tls.alpn.clone();
        options.tls = TlsOptions {
            alpn,
            ..tls(&ca, proxy)
        };
        let auto = pool(HttpsDialer::new(options).unwrap());
        warms_every_address_and_serves(&auto, &origin).await;
        auto.close().await;
    }
}

/// Load through an `EgressSet` of two proxies; one is killed mid-run. Its connections die,
/// the requests on them are sent again (`pool_http::send` over the set), its pool fails as
/// the proxy's and is benched, and traffic moves to the other: no request is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_killed_mid_run_loses_no_request() {
    use pool_core::{EgressRotation, EgressSet};
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WORKERS: usize = 4;
    const EACH: usize = 60;
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, 12).await;
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let killed = squid.addr().to_string();
    let set = Arc::new(EgressSet::new(
        [
            (killed.clone(), pool(h2(&ca, to(&squid, ProxyScheme::Http)))),
            (
                socks.addr().to_string(),
                pool(h2(&ca, to(&socks, ProxyScheme::Socks5))),
            ),
        ],
        EgressRotation::RoundRobin,
    ));
    set.set_addrs(HOST, origin.socket_addrs());
    let ok: Vec<usize> = set.warm(HOST).await.iter().map(|(_, r)| r.ok).collect();
    assert_eq!(ok, [2, 2]);

    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (set, done) = (Arc::clone(&set), Arc::clone(&done));
            tokio::spawn(async move {
                let mut failed = Vec::new();
                for _ in 0..EACH {
                    match pool_http::send(&set, HOST, get("/")).await {
                        Ok(response) => {
                            assert_eq!(response.status(), 200);
                            response.into_body().bytes().await.unwrap();
                        }
                        Err(e) => failed.push(e.to_string()),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                failed
            })
        })
        .collect();
    eventually("a third of the requests done", WAIT, || {
        done.load(Ordering::SeqCst) >= WORKERS * EACH / 3
    })
    .await
    .unwrap();
    drop(squid);
    let mut failed = Vec::new();
    for worker in workers {
        failed.extend(worker.await.unwrap());
    }
    assert!(failed.is_empty(), "lost: {failed:?}");
    let states = set.egresses();
    let dead = states.iter().find(|s| *s.label == killed).unwrap();
    assert!(dead.benched_total >= 1, "{dead:?}");
    assert!(
        states.iter().all(|s| s.stats.blacklisted == 0),
        "no origin address is to blame"
    );
    set.close().await;
}
