//! `http://` origins through pool-dial's `PlainDialer`: HTTP/1.1 over plain TCP (warm-up on
//! several addresses, keep-alive reuse from a source address, `Connection: close` from
//! either side, validation) and HTTP/2 with prior knowledge (h2c: several streams on one
//! connection, validation), against the testkit's
//! plain origin (`H2OriginOptions::plain`), Debian's nginx (a server this project did not
//! write) and through a real proxy (squid, CONNECT). The failures are typed and bounded: a
//! refused port, a server that accepts and never answers, an h2c dial to an HTTP/1.1-only
//! server (`Unsupported`); no descriptor is left behind.
//!
//! Each test runs alone on its own runtime (`run`): the fd checks need no other test's
//! sockets in flight.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool_core::{DialErrorKind, Dialer, Pool, PoolOptions, Target};
use pool_dial::{PLAIN_PROFILE, PlainConn, PlainDialer, PlainOptions, Proxy, ProxyScheme};
use pool_http::{Empty, Protocol, RequestError, RequestOptions};
use pool_testkit::fds::open_fds;
use pool_testkit::origin::NginxServer;
use pool_testkit::proxies::{ProxyKind, ProxyServer};
use pool_testkit::{H2Origin, H2OriginOptions, Http1Options, eventually};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const HOST: &str = "plain.test";
const WAIT: Duration = Duration::from_secs(10);
const BODY: &[u8] = b"hello from hotpool\n";

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs one test body alone in the process, on its own 2-worker runtime built under the
/// lock (so the fd baseline only sees this test's sockets).
fn run(body: impl Future<Output = ()>) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(body);
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn options() -> PlainOptions {
    PlainOptions {
        conn_timeout: Duration::from_secs(5),
        test_timeout: Duration::from_secs(5),
        ..PlainOptions::default()
    }
}

fn h2c() -> PlainOptions {
    PlainOptions {
        h2_prior_knowledge: true,
        ..options()
    }
}

fn pool(options: PlainOptions, addrs: impl IntoIterator<Item = SocketAddr>) -> Pool<PlainDialer> {
    let pool = Pool::new(
        PlainDialer::new(options).unwrap(),
        PoolOptions {
            checkout_timeout: WAIT,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, addrs);
    pool
}

fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

/// One GET through `pool_http::send`, body read to the end: status, body, `x-served-by`.
async fn send(pool: &Pool<PlainDialer>, path: &str) -> (u16, Bytes, String) {
    let response = tokio::time::timeout(WAIT, pool_http::send(pool, HOST, get(path)))
        .await
        .expect("an answer in time")
        .expect("a response");
    let status = response.status().as_u16();
    let served_by = response
        .headers()
        .get("x-served-by")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().bytes().await.expect("the body");
    (status, body, served_by)
}

/// The connection a lease of `pool` gets now.
async fn conn(pool: &Pool<PlainDialer>) -> Arc<PlainConn> {
    pool.get(HOST).await.unwrap().conn_arc()
}

async fn fds_back_to(baseline: usize) {
    eventually("fds back to the baseline", WAIT, || open_fds() <= baseline)
        .await
        .unwrap_or_else(|e| panic!("{e}: {} open, baseline {baseline}", open_fds()));
}

#[test]
fn warm_and_requests_over_http_on_two_addresses() {
    run(async {
        let origin = H2Origin::start(H2OriginOptions::plain(&[ip(2), ip(3)]))
            .await
            .unwrap();
        let baseline = open_fds();
        let pool = pool(options(), origin.socket_addrs());
        let report = pool.warm(HOST).await;
        assert_eq!((report.ok, report.failed), (2, 0), "{report:?}");

        let mut served = std::collections::BTreeSet::new();
        for i in 0..8 {
            let (status, body, by) = send(&pool, "/").await;
            assert_eq!((status, &body[..]), (200, BODY), "#{i}");
            served.insert(by);
        }
        let expected: std::collections::BTreeSet<String> = origin
            .socket_addrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(served, expected, "both addresses served");
        let (status, body, _) = send(&pool, "/bytes/300000").await;
        assert_eq!((status, body.len()), (200, 300_000));
        let (status, body, _) = send(&pool, "/status/404").await;
        assert_eq!((status, body.len()), (404, 0));

        // No TLS: nothing negotiated, the plain profile.
        let c = conn(&pool).await;
        let info = c.info();
        assert_eq!(pool_core::Connection::protocol(&*c), Protocol::Http1);
        assert_eq!(pool_core::Connection::capacity(&*c), 1);
        assert_eq!(&*info.profile, PLAIN_PROFILE);
        assert_eq!(
            (
                info.alpn.as_deref(),
                info.protocol_version,
                info.cipher_suite
            ),
            (None, None, None)
        );
        assert!(!info.insecure && !info.resumed);
        assert!(c.receive_window().is_none());
        drop(c);

        // Two connections (one per address) carried everything; no TLS handshake at all.
        assert_eq!(pool.stats().dials_ok, 2);
        let s = origin.stats();
        assert_eq!(
            (s.accepted, s.handshakes, s.http1_connections, s.requests),
            (2, 0, 2, 10)
        );
        pool.close().await;
        origin.shutdown().await;
        fds_back_to(baseline).await;
    });
}

#[test]
fn keep_alive_carries_sequential_requests_on_one_connection() {
    run(async {
        let origin = H2Origin::start(H2OriginOptions::plain(&[ip(4)]))
            .await
            .unwrap();
        // From a source address of ours (the dial is `dial_tcp`'s).
        let source = ip(15);
        let options = PlainOptions {
            source_addrs: pool_dial::SourceAddrs::new(vec![source], None),
            ..options()
        };
        let pool = pool(options, origin.socket_addrs());
        for i in 0..6 {
            let (status, body, _) = send(&pool, "/1k").await;
            assert_eq!((status, body.len()), (200, 1024), "#{i}");
        }
        let c = conn(&pool).await;
        assert_eq!(pool_http::HttpConnection::requests_sent(&*c), 6);
        assert_eq!(c.info().local_addr.ip(), source);
        drop(c);
        let s = origin.stats();
        assert_eq!((s.accepted, s.requests), (1, 6));
        assert_eq!(s.peers.iter().map(|p| p.ip()).collect::<Vec<_>>(), [source]);
        assert_eq!((s.http1_kept_alive, s.http1_closed), (5, 0));
        assert_eq!(pool.stats().dials_ok, 1);
        pool.close().await;
        origin.shutdown().await;
    });
}

#[test]
fn connection_close_from_either_side_is_honoured() {
    run(async {
        // The client asks for it: the connection is closed after the answer, never reused.
        let origin = H2Origin::start(H2OriginOptions::plain(&[ip(5)]))
            .await
            .unwrap();
        let pool = pool(options(), origin.socket_addrs());
        let lease = pool.get(HOST).await.unwrap();
        let c = lease.conn_arc();
        let request = http::Request::get("/")
            .header(http::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = pool_http::HttpLeaseExt::request(lease, request)
            .await
            .unwrap();
        assert_eq!(response.into_body().bytes().await.unwrap(), BODY);
        assert!(
            pool_core::Connection::is_closed(&*c),
            "closed after the answer"
        );
        drop(c);
        let (status, _, _) = send(&pool, "/").await;
        assert_eq!(status, 200);
        assert_eq!(
            pool.stats().dials_ok,
            2,
            "a new connection for the next request"
        );
        assert_eq!(origin.stats().accepted, 2);
        pool.close().await;
        origin.shutdown().await;

        // The server says it (`connection: close` on every first answer).
        let origin = H2Origin::start(H2OriginOptions {
            http1: Http1Options {
                close_after: Some(1),
                ..Http1Options::default()
            },
            ..H2OriginOptions::plain(&[ip(5)])
        })
        .await
        .unwrap();
        let pool = self::pool(options(), origin.socket_addrs());
        for i in 0..3 {
            let (status, body, _) = send(&pool, "/").await;
            assert_eq!((status, &body[..]), (200, BODY), "#{i}");
        }
        assert_eq!(pool.stats().dials_ok, 3);
        let s = origin.stats();
        assert_eq!((s.accepted, s.http1_closed, s.http1_kept_alive), (3, 3, 0));
        pool.close().await;
        origin.shutdown().await;
    });
}

#[test]
fn h2c_carries_concurrent_streams_on_one_connection() {
    run(async {
        let origin = H2Origin::start(H2OriginOptions {
            max_concurrent_streams: Some(16),
            ..H2OriginOptions::plain(&[ip(6)])
        })
        .await
        .unwrap();
        let baseline = open_fds();
        let pool = pool(h2c(), origin.socket_addrs());
        let report = pool.warm(HOST).await;
        assert_eq!(report.ok, 1, "{report:?}");
        let c = conn(&pool).await;
        assert_eq!(pool_core::Connection::protocol(&*c), Protocol::Http2);
        assert_eq!(pool_core::Connection::capacity(&*c), 16, "the peer's limit");
        assert!(c.receive_window().is_some());
        drop(c);

        // Four requests the origin never answers are open at once on the one connection.
        let stalled: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let options = RequestOptions::default().with_timeout(WAIT * 3);
                    pool_http::send_with(&pool, HOST, get("/stall"), &options).await
                })
            })
            .collect();
        assert!(
            origin
                .wait_until(WAIT, |o| o.stats().max_concurrent_streams_seen >= 4)
                .await,
            "four streams at once: {:?}",
            origin.stats()
        );
        // And answered ones beside them, body and all.
        let answered = futures_join(&pool, 4).await;
        assert!(answered.iter().all(|(s, b)| *s == 200 && b == BODY));
        for t in &stalled {
            t.abort();
        }
        let (status, body, _) = send(&pool, "/bytes/300000").await;
        assert_eq!((status, body.len()), (200, 300_000));
        let s = origin.stats();
        assert_eq!(
            (s.accepted, s.h2_connections, s.http1_connections),
            (1, 1, 0)
        );
        assert_eq!(pool.stats().dials_ok, 1);
        pool.close().await;
        origin.shutdown().await;
        fds_back_to(baseline).await;
    });
}

/// `n` concurrent GETs of `/` through `pool_http::send`.
async fn futures_join(pool: &Pool<PlainDialer>, n: usize) -> Vec<(u16, Bytes)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let pool = pool.clone();
        set.spawn(async move {
            let (status, body, _) = send(&pool, "/").await;
            (status, body)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[test]
fn a_refused_port_is_a_typed_connect_error_and_leaks_nothing() {
    run(async {
        let addr = {
            let l = std::net::TcpListener::bind((ip(7), 0)).unwrap();
            l.local_addr().unwrap()
        };
        let baseline = open_fds();
        let target = Target {
            host: HOST.into(),
            addr,
        };
        for options in [options(), h2c()] {
            let dialer = PlainDialer::new(options).unwrap();
            let e = tokio::time::timeout(WAIT, dialer.dial(&target))
                .await
                .expect("within the deadline")
                .unwrap_err();
            assert_eq!(e.kind(), DialErrorKind::Connect, "{e}");
        }
        let pool = pool(options(), [addr]);
        let e = tokio::time::timeout(WAIT, pool_http::send(&pool, HOST, get("/")))
            .await
            .expect("within the deadline")
            .unwrap_err();
        match &e {
            RequestError::Pool(pool_core::Error::Dial { last, .. }) => {
                assert_eq!(last.kind(), DialErrorKind::Connect, "{e}")
            }
            other => panic!("expected the pool's dial error, got {other:?}"),
        }
        pool.close().await;
        fds_back_to(baseline).await;
    });
}

/// A server that accepts, records what it reads, and never answers.
struct Silent {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    async fn start(at: IpAddr) -> Silent {
        let listener = TcpListener::bind((at, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let record = record.clone();
                conns.spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    std::future::pending::<()>().await;
                });
            }
        });
        Silent { addr, seen, task }
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).to_lowercase()
    }
}

#[test]
fn a_server_that_never_answers_ends_in_a_typed_timeout() {
    run(async {
        let baseline = open_fds();
        let silent = Silent::start(ip(8)).await;
        let target = Target {
            host: HOST.into(),
            addr: silent.addr,
        };
        let short = Duration::from_millis(300);

        // HTTP/1.1 with validation: the validation request runs out of `test_timeout`.
        let dialer = PlainDialer::new(PlainOptions {
            test_timeout: short,
            validation: Some(pool_http::Validation::default()),
            ..options()
        })
        .unwrap();
        let started = Instant::now();
        let e = tokio::time::timeout(WAIT, dialer.dial(&target))
            .await
            .expect("within the deadline")
            .unwrap_err();
        assert_eq!(e.kind(), DialErrorKind::Rejected, "{e}");
        assert!(e.to_string().contains("timed out"), "{e}");
        assert!(started.elapsed() >= short);
        // What went on the wire: an origin-form request naming the host and port.
        let seen = silent.seen();
        let port = silent.addr.port();
        assert!(seen.starts_with("get / http/1.1\r\n"), "{seen}");
        assert!(
            seen.contains(&format!("\r\nhost: {HOST}:{port}\r\n")),
            "{seen}"
        );

        // h2c: the preface goes out, the PING round trip never comes back: `conn_timeout`.
        let dialer = PlainDialer::new(PlainOptions {
            conn_timeout: short,
            ..h2c()
        })
        .unwrap();
        let e = tokio::time::timeout(WAIT, dialer.dial(&target))
            .await
            .expect("within the deadline")
            .unwrap_err();
        assert_eq!(e.kind(), DialErrorKind::Timeout, "{e}");
        assert!(silent.seen().contains("pri * http/2.0\r\n\r\nsm\r\n\r\n"));

        // HTTP/1.1 without validation: the dial has nothing to wait for; the request's own
        // deadline ends it.
        let pool = pool(options(), [silent.addr]);
        let options = RequestOptions::default().with_timeout(short);
        let e = tokio::time::timeout(WAIT, pool_http::send_with(&pool, HOST, get("/"), &options))
            .await
            .expect("within the deadline")
            .unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        pool.close().await;
        silent.task.abort();
        let _ = silent.task.await;
        fds_back_to(baseline).await;
    });
}

#[test]
fn through_squid_by_connect() {
    run(async {
        let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
        let origin = H2Origin::start(H2OriginOptions::plain(&[ip(9)]))
            .await
            .unwrap();
        let proxy = Proxy::new(
            ProxyScheme::Http,
            squid.addr().ip().to_string(),
            squid.addr().port(),
        );
        for options in [options(), h2c()] {
            let h2 = options.h2_prior_knowledge;
            let pool = pool(
                PlainOptions {
                    proxy: Some(proxy.clone()),
                    ..options
                },
                origin.socket_addrs(),
            );
            for _ in 0..3 {
                let (status, body, by) = send(&pool, "/").await;
                assert_eq!((status, &body[..]), (200, BODY), "h2c: {h2}");
                assert_eq!(by, origin.socket_addrs()[0].to_string());
            }
            assert_eq!(pool.stats().dials_ok, 1, "h2c: {h2}");
            pool.close().await;
        }
        let s = origin.stats();
        assert_eq!((s.http1_connections, s.h2_connections), (1, 1));
        // The dials went through squid: with it gone, a dial is the proxy's failure.
        drop(squid);
        let dialer = PlainDialer::new(PlainOptions {
            proxy: Some(proxy),
            ..options()
        })
        .unwrap();
        let target = Target {
            host: HOST.into(),
            addr: origin.socket_addrs()[0],
        };
        let e = dialer.dial(&target).await.unwrap_err();
        assert_eq!(e.kind(), DialErrorKind::Proxy, "{e}");
        origin.shutdown().await;
    });
}

#[test]
fn nginx_over_http1_and_h2c() {
    run(async {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let nginx = NginxServer::start(
            &[ip(10), ip(11)],
            &[("index.html", b"hello from nginx\n"), ("big.bin", &big)],
        )
        .unwrap();
        let baseline = open_fds();

        // HTTP/1.1: one kept-alive connection per address carries every request.
        let h1 = pool(options(), nginx.socket_addrs(nginx.http1_port()));
        assert_eq!(h1.warm(HOST).await.ok, 2);
        for i in 0..10 {
            let response = pool_http::send(&h1, HOST, get("/")).await.unwrap();
            assert_eq!(response.status(), 200, "#{i}");
            let server = response.headers()["server"].to_str().unwrap().to_owned();
            assert!(server.starts_with("nginx"), "{server}");
            assert_eq!(
                response.into_body().bytes().await.unwrap(),
                &b"hello from nginx\n"[..]
            );
        }
        let (status, body, _) = send(&h1, "/big.bin").await;
        assert_eq!((status, &body[..]), (200, &big[..]));
        let (status, _, _) = send(&h1, "/missing").await;
        assert_eq!(status, 404);
        // The request as nginx read it: origin form, `Host` naming the port (not 80).
        let port = nginx.http1_port();
        let (_, whoami, _) = send(&h1, "/whoami?a=1").await;
        assert_eq!(
            whoami,
            format!("HTTP/1.1 {HOST}:{port}|{HOST} /whoami?a=1\n").as_bytes()
        );
        assert_eq!(h1.stats().dials_ok, 2, "keep-alive");
        h1.close().await;

        // h2c with prior knowledge: one connection per address, concurrent streams.
        let h2 = pool(h2c(), nginx.socket_addrs(nginx.h2c_port()));
        assert_eq!(h2.warm(HOST).await.ok, 2);
        let c = conn(&h2).await;
        assert_eq!(pool_core::Connection::protocol(&*c), Protocol::Http2);
        assert_eq!(
            pool_core::Connection::capacity(&*c),
            128,
            "nginx's http2_max_concurrent_streams"
        );
        drop(c);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let h2 = h2.clone();
            set.spawn(async move { send(&h2, "/big.bin").await });
        }
        while let Some(r) = set.join_next().await {
            let (status, body, _) = r.unwrap();
            assert_eq!((status, body.len()), (200, big.len()));
            assert_eq!(&body[..], &big[..]);
        }
        assert_eq!(h2.stats().dials_ok, 2);
        // `:authority` from the connection's host and port (nginx shows it as `Host`).
        let port = nginx.h2c_port();
        let (_, whoami, _) = send(&h2, "/whoami").await;
        assert_eq!(
            whoami,
            format!("HTTP/2.0 {HOST}:{port}|{HOST} /whoami\n").as_bytes()
        );
        // A `host` header of the caller's names the authority instead.
        let named = http::Request::get("/whoami")
            .header(http::header::HOST, "other.test:81")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = pool_http::send(&h2, HOST, named).await.unwrap();
        let whoami = response.into_body().bytes().await.unwrap();
        assert_eq!(whoami, &b"HTTP/2.0 other.test:81|other.test /whoami\n"[..]);
        h2.close().await;

        // h2c to nginx's HTTP/1.1 port: nginx answers the preface with an HTTP/1.1 error, the
        // dial fails as `Unsupported` (the configuration is wrong, not the address).
        let target = Target {
            host: HOST.into(),
            addr: nginx.socket_addrs(nginx.http1_port())[0],
        };
        let e = tokio::time::timeout(WAIT, PlainDialer::new(h2c()).unwrap().dial(&target))
            .await
            .expect("within the deadline")
            .unwrap_err();
        assert_eq!(e.kind(), DialErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("does not speak h2c"), "{e}");
        fds_back_to(baseline).await;
    });
}

#[test]
fn h2c_to_a_server_that_hangs_up_is_a_protocol_failure() {
    run(async {
        let baseline = open_fds();
        // Accepts, then closes every connection at once (what an HTTP/1.1-only Caddy does
        // with the preface): no HTTP/1.x answer to go by, so `Protocol`.
        let listener = TcpListener::bind((ip(12), 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        let target = Target {
            host: HOST.into(),
            addr,
        };
        let e = tokio::time::timeout(WAIT, PlainDialer::new(h2c()).unwrap().dial(&target))
            .await
            .expect("within the deadline")
            .unwrap_err();
        assert_eq!(e.kind(), DialErrorKind::Protocol, "{e}");
        server.abort();
        let _ = server.await;
        fds_back_to(baseline).await;
    });
}

#[test]
fn the_origins_commands_reach_a_fresh_connection_before_its_first_byte() {
    run(async {
        let origin = H2Origin::start(H2OriginOptions::plain(&[ip(13)]))
            .await
            .unwrap();
        let pool = pool(options(), origin.socket_addrs());
        // A warmed HTTP/1.1 connection has sent nothing yet: the origin has not told its
        // protocol. A reload still reaches it: it is closed once its first request is
        // answered (by `connection: close`, or by the graceful shutdown right after).
        assert_eq!(pool.warm(HOST).await.ok, 1);
        assert!(origin.wait_until(WAIT, |o| o.stats().accepted == 1).await);
        assert_eq!(origin.reload(), 1);
        let c = conn(&pool).await;
        let (status, body, _) = send(&pool, "/").await;
        assert_eq!((status, &body[..]), (200, BODY));
        eventually("closed by the reload", WAIT, || {
            pool_core::Connection::is_closed(&*c)
        })
        .await
        .unwrap();
        drop(c);
        assert_eq!(origin.stats().http1_reload_closes, 1);
        pool.close().await;

        // And a close at once, on a fresh pool's fresh connection.
        assert!(
            origin
                .wait_until(WAIT, |o| o.stats().open_connections == 0)
                .await
        );
        let pool = self::pool(options(), origin.socket_addrs());
        assert_eq!(pool.warm(HOST).await.ok, 1);
        assert!(
            origin
                .wait_until(WAIT, |o| o.stats().open_connections == 1)
                .await
        );
        let c = conn(&pool).await;
        assert_eq!(origin.close_all(), 1);
        // Well before the origin's 10 s wait for a first byte runs out.
        let soon = Duration::from_secs(5);
        eventually("the idle connection sees the close", soon, || {
            pool_core::Connection::is_closed(&*c)
        })
        .await
        .unwrap();
        pool.close().await;
        origin.shutdown().await;
    });
}

#[test]
fn validation_admits_bans_and_rejects_on_both_protocols() {
    run(async {
        let origin = H2Origin::start(H2OriginOptions::plain(&[ip(14)]))
            .await
            .unwrap();
        let target = Target {
            host: HOST.into(),
            addr: origin.socket_addrs()[0],
        };
        for base in [options(), h2c()] {
            let h2 = base.h2_prior_knowledge;
            let dialer = PlainDialer::new(PlainOptions {
                validation: Some(pool_http::Validation::get("/check", 403)),
                ..base
            })
            .unwrap();
            let c = dialer.dial(&target).await.expect("admitted");
            // The validation request is not the caller's.
            assert_eq!(pool_http::HttpConnection::requests_sent(&c), 0, "h2c: {h2}");
            for (status, kind) in [(403, DialErrorKind::Banned), (500, DialErrorKind::Rejected)] {
                origin.set_status("/check", status);
                let e = dialer.dial(&target).await.unwrap_err();
                assert_eq!(e.kind(), kind, "h2c: {h2}: {e}");
            }
            origin.clear_status("/check");
        }
        let s = origin.stats();
        assert_eq!((s.http1_connections, s.h2_connections), (3, 3));
        origin.shutdown().await;
    });
}
