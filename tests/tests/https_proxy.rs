//! `https://` proxies: TLS to the proxy, `CONNECT` inside it, the origin's TLS inside the
//! tunnel (TLS in TLS), on both engines, through a real one: stunnel (Debian's `stunnel4`)
//! terminating TLS with a test CA's certificate in front of squid
//! (`pool_testkit::proxies::ProxyServer::https`).
//!
//! The proxy's certificate is checked for the proxy's host with the dialer's trust (never
//! skipped by the origin's `danger_accept_invalid_certs`); the origin's is still checked for
//! the origin's host inside the tunnel. A proxy whose TLS fails is `DialErrorKind::Proxy`,
//! never counted against the origin's address, within the dial's deadline, no fd left.
//!
//! The tests take one lock: the fd check needs no other test's sockets in flight.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{DialErrorKind, Dialer, Pool, PoolOptions};
use pool_dial_boring::{BoringDialer, BoringOptions, Mode};
use pool_dial_rustls::{
    Credentials, H1Dialer, H2Dialer, H2Options, HttpsDialer, HttpsOptions, Proxy, ProxyScheme,
    TlsOptions, Trust,
};
use pool_http::HttpLeaseExt;
use pool_testkit::fds::open_fds;
use pool_testkit::proxies::{ProxyKind, ProxyServer};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

mod common;
use common::{WAIT, get, trust};

const HOST: &str = "a.test";
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn origin(ca: &Arc<TestCa>, third: u8) -> H2Origin {
    let addrs: Vec<IpAddr> = vec![
        [127, 0, 200 + third, 1].into(),
        [127, 0, 200 + third, 2].into(),
    ];
    H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], ca))
        .await
        .unwrap()
}

/// The `https://` proxy at `addr` (named by its address, as its certificate is).
fn https_at(addr: SocketAddr) -> Proxy {
    Proxy::new(ProxyScheme::Https, addr.ip().to_string(), addr.port())
}

fn tls(trust: Trust, proxy: Proxy) -> TlsOptions {
    TlsOptions {
        trust,
        conn_timeout: DIAL_TIMEOUT,
        test_timeout: DIAL_TIMEOUT,
        proxy: Some(proxy),
        ..TlsOptions::default()
    }
}

fn h2(trust: Trust, proxy: Proxy) -> H2Dialer {
    let mut options = H2Options::default();
    let alpn = options.tls.alpn.clone();
    options.tls = TlsOptions {
        alpn,
        ..tls(trust, proxy)
    };
    H2Dialer::new(options).unwrap()
}

fn boring(trust: Trust, proxy: Proxy, mode: Mode) -> BoringDialer {
    BoringDialer::new(BoringOptions {
        trust,
        mode,
        conn_timeout: DIAL_TIMEOUT,
        test_timeout: DIAL_TIMEOUT,
        proxy: Some(proxy),
        ..BoringOptions::default()
    })
    .unwrap()
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

/// Warms both addresses of `origin` through the pool's proxy (one tunnel and one origin
/// handshake per address), then checks that a request is answered with the protocol
/// `alpn` the origin saw.
async fn warms_every_address_and_serves<D: Dialer>(pool: &Pool<D>, origin: &H2Origin)
where
    D::Conn: pool_http::HttpConnection,
{
    pool.set_addrs(HOST, origin.socket_addrs());
    let report = pool.warm(HOST).await;
    assert_eq!((report.ok, report.failed), (2, 0), "{report:?}");
    for ip in origin.addrs() {
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

/// rustls (h2, HTTP/1.1, auto) and BoringSSL (h2, HTTP/1.1) through stunnel → squid with
/// Basic auth: each address its own tunnel, requests answered; the origin's certificate is
/// still checked for the origin's host inside the tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_through_an_https_proxy_with_basic_auth() {
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let credentials = ("alice", "wonder land");
    let server =
        ProxyServer::https(ProxyKind::Squid, Some(credentials), &ca, &["127.0.0.1"]).unwrap();
    let proxy = https_at(server.addr()).with_credentials(Credentials::new("alice", "wonder land"));

    let o = origin(&ca, 0).await;
    let rustls_h2 = pool(h2(trust(&ca), proxy.clone()));
    warms_every_address_and_serves(&rustls_h2, &o).await;
    rustls_h2.close().await;

    let o = origin(&ca, 1).await;
    let rustls_h1 = pool(H1Dialer::new(tls(trust(&ca), proxy.clone())).unwrap());
    warms_every_address_and_serves(&rustls_h1, &o).await;
    rustls_h1.close().await;

    let o = origin(&ca, 2).await;
    let mut auto = HttpsOptions::default();
    let alpn = auto.tls.alpn.clone();
    auto.tls = TlsOptions {
        alpn,
        ..tls(trust(&ca), proxy.clone())
    };
    let rustls_auto = pool(HttpsDialer::new(auto).unwrap());
    warms_every_address_and_serves(&rustls_auto, &o).await;
    rustls_auto.close().await;

    for (third, mode) in [(3, Mode::H2), (4, Mode::H1)] {
        let o = origin(&ca, third).await;
        let boring_pool = pool(boring(trust(&ca), proxy.clone(), mode));
        warms_every_address_and_serves(&boring_pool, &o).await;
        boring_pool.close().await;
    }

    // Through the tunnel the origin's certificate is still checked for the origin's host:
    // a host the certificate does not name fails the origin's handshake, not the proxy.
    let o = origin(&ca, 5).await;
    let addr = o.socket_addrs()[0];
    let other = common::target("not-a.test", addr);
    let Err(err) = h2(trust(&ca), proxy.clone()).dial(&other).await else {
        panic!("the certificate is for a.test");
    };
    assert_eq!(err.kind(), DialErrorKind::Handshake, "{err}");
    let Err(err) = boring(trust(&ca), proxy.clone(), Mode::H2)
        .dial(&other)
        .await
    else {
        panic!("the certificate is for a.test");
    };
    assert_eq!(err.kind(), DialErrorKind::Handshake, "{err}");

    // Without the credentials, squid (behind the TLS) asks for them.
    let anonymous = https_at(server.addr());
    let Err(err) = h2(trust(&ca), anonymous)
        .dial(&common::target(HOST, addr))
        .await
    else {
        panic!("squid requires credentials");
    };
    assert_eq!(err.kind(), DialErrorKind::Proxy, "{err}");
    assert!(err.to_string().contains("requires authentication"), "{err}");

    // Without the proxy, dials fail as the proxy's: the traffic went through it.
    drop(server);
    let Err(err) = h2(trust(&ca), proxy)
        .dial(&common::target(HOST, addr))
        .await
    else {
        panic!("no proxy any more");
    };
    assert_eq!(err.kind(), DialErrorKind::Proxy, "{err}");
}

/// A listener that accepts and reads, and never answers (a TLS handshake that hangs).
async fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// The proxy's TLS failing, on both engines: its certificate from a CA the dialer does not
/// trust (even with the origin's verification off), or for another name; a plain HTTP
/// proxy spoken to as `https://`; a handshake that never ends. Each a typed
/// `DialErrorKind::Proxy` within the dial's deadline, no origin address banned, no fd left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_whose_tls_fails_is_the_proxys_fault_in_time_and_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let ca = Arc::new(TestCa::new().unwrap());
    let o = origin(&ca, 6).await;
    let stranger = TestCa::new().unwrap();
    let untrusted =
        ProxyServer::https(ProxyKind::Tinyproxy, None, &stranger, &["127.0.0.1"]).unwrap();
    let misnamed = ProxyServer::https(ProxyKind::Squid, None, &ca, &["proxy.test"]).unwrap();
    let plain = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let silent = silent_listener().await;
    let insecure = Trust {
        danger_accept_invalid_certs: true,
        ..trust(&ca)
    };
    let cases: Vec<(&str, SocketAddr, Trust, &str)> = vec![
        (
            "a certificate from an untrusted CA",
            untrusted.addr(),
            trust(&ca),
            "TLS handshake with the proxy",
        ),
        (
            "the origin's verification off is not the proxy's",
            untrusted.addr(),
            insecure,
            "TLS handshake with the proxy",
        ),
        (
            "a certificate for another name",
            misnamed.addr(),
            trust(&ca),
            "TLS handshake with the proxy",
        ),
        (
            "a plain HTTP proxy",
            plain.addr(),
            trust(&ca),
            "TLS handshake with the proxy",
        ),
        (
            "a handshake that never ends",
            silent,
            trust(&ca),
            "deadline",
        ),
    ];
    let baseline = open_fds();
    for (what, at, trust, says) in cases {
        let proxy = https_at(at);
        let rustls_pool = pool(h2(trust.clone(), proxy.clone()));
        let boring_pool = pool(boring(trust, proxy, Mode::H2));
        for engine in ["rustls", "boring"] {
            let started = Instant::now();
            let (report, kinds) = if engine == "rustls" {
                rustls_pool.set_addrs(HOST, o.socket_addrs());
                common::warm_failures(&rustls_pool, HOST).await
            } else {
                boring_pool.set_addrs(HOST, o.socket_addrs());
                common::warm_failures(&boring_pool, HOST).await
            };
            let took = started.elapsed();
            assert_eq!(report.ok, 0, "{what} ({engine})");
            assert!(
                !kinds.is_empty() && kinds.iter().all(|k| *k == DialErrorKind::Proxy),
                "{what} ({engine}): {kinds:?}"
            );
            assert!(
                took < DIAL_TIMEOUT + Duration::from_secs(2),
                "{what} ({engine}): took {took:?}"
            );
        }
        // Dialing again never bans the origin's addresses.
        let _ = rustls_pool.warm(HOST).await;
        let _ = boring_pool.warm(HOST).await;
        assert_eq!(rustls_pool.stats().blacklisted, 0, "{what}: rustls");
        assert_eq!(boring_pool.stats().blacklisted, 0, "{what}: boring");
        for err in [
            rustls_pool.get(HOST).await.err().map(|e| e.to_string()),
            boring_pool.get(HOST).await.err().map(|e| e.to_string()),
        ] {
            let err = err.unwrap_or_else(|| panic!("{what}: a lease through a failing proxy"));
            assert!(err.contains(says), "{what}: {err}");
        }
        rustls_pool.close().await;
        boring_pool.close().await;
    }
    drop((untrusted, misnamed, plain));
    eventually("fds back to the baseline", WAIT, || open_fds() <= baseline)
        .await
        .unwrap_or_else(|e| panic!("{e}: {} open, baseline {baseline}", open_fds()));
}
