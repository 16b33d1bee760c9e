//! Tests of the local test servers, with real clients (rustls + h2, quinn + h3,
//! hickory-resolver) over loopback.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_testkit::{
    DnsMode, DnsServer, H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Upper bound for anything that should happen "now" on loopback.
const SOON: Duration = Duration::from_secs(10);
const HOST: &str = "origin.test";

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(SOON, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {SOON:?}"),
    }
}

async fn tls_connect(
    ca: &TestCa,
    addr: SocketAddr,
    sni: &str,
    alpn: &[&[u8]],
    source: Option<IpAddr>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = match source {
        Some(src) => {
            let sock = TcpSocket::new_v4()?;
            sock.bind(SocketAddr::new(src, 0))?;
            sock.connect(addr).await?
        }
        None => TcpStream::connect(addr).await?,
    };
    let connector = TlsConnector::from(Arc::new(ca.client_config(alpn)?));
    let name = ServerName::try_from(sni.to_owned()).map_err(io::Error::other)?;
    connector.connect(name, tcp).await
}

type H2Conn = h2::client::Connection<TlsStream<TcpStream>, Bytes>;

async fn h2_connect(
    ca: &TestCa,
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> (h2::client::SendRequest<Bytes>, H2Conn) {
    let tls = within("TLS connect", tls_connect(ca, addr, HOST, &[b"h2"], source))
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    within("h2 handshake", h2::client::handshake(tls))
        .await
        .expect("h2 handshake")
}

/// Sends one GET while driving the connection; returns status, `x-served-by`, body.
async fn h2_get(
    send: &mut h2::client::SendRequest<Bytes>,
    conn: &mut H2Conn,
    path: &str,
    lang: Option<&str>,
) -> (u16, String, Bytes) {
    let mut req = http::Request::get(format!("https://{HOST}{path}"));
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let req = req.body(()).expect("request");
    let exchange = async {
        let mut send = send.clone().ready().await?;
        let (resp, _) = send.send_request(req, true)?;
        let resp = resp.await?;
        let status = resp.status().as_u16();
        let served_by = resp
            .headers()
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        Ok::<_, h2::Error>((status, served_by, Bytes::from(data)))
    };
    within("h2 request", async {
        tokio::select! {
            r = exchange => r.expect("h2 exchange"),
            r = conn => panic!("connection ended during a request: {r:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn h2_origin_two_addresses_counters_match() {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = [ip(2), ip(3)];
    let mut opts = H2OriginOptions::new(&addrs, &[HOST], &ca);
    opts.max_concurrent_streams = Some(7);
    let origin = H2Origin::start(opts).await.unwrap();
    let port = origin.port();
    assert_ne!(port, 0);
    assert_eq!(
        origin.socket_addrs(),
        vec![SocketAddr::new(ip(2), port), SocketAddr::new(ip(3), port)]
    );

    // Two requests to .2 on one connection (from source .9), one to .3.
    let (mut s2, mut c2) = h2_connect(&ca, SocketAddr::new(ip(2), port), Some(ip(9))).await;
    let (status, served_by, body) = h2_get(&mut s2, &mut c2, "/", Some("de-DE")).await;
    assert_eq!(status, 200);
    assert_eq!(served_by, format!("127.0.0.2:{port}"));
    assert_eq!(&body[..], b"hello from hotpool\n");
    let (status, _, _) = h2_get(&mut s2, &mut c2, "/again", None).await;
    assert_eq!(status, 200);
    // The server's SETTINGS have been processed by now.
    assert_eq!(c2.max_concurrent_send_streams(), 7);

    let (mut s3, mut c3) = h2_connect(&ca, SocketAddr::new(ip(3), port), None).await;
    let (status, served_by, _) = h2_get(&mut s3, &mut c3, "/", Some("fr")).await;
    assert_eq!(status, 200);
    assert_eq!(served_by, format!("127.0.0.3:{port}"));

    let a = origin.stats_for(ip(2)).unwrap();
    assert_eq!((a.accepted, a.handshakes, a.requests), (1, 1, 2));
    assert_eq!((a.h2_connections, a.http1_connections), (1, 0));
    assert_eq!(a.open_connections, 1);
    assert_eq!(a.accept_languages, vec!["de-DE".to_owned()]);
    assert_eq!(a.peers.len(), 1);
    assert_eq!(a.peers[0].ip(), ip(9), "source address seen by the origin");
    let b = origin.stats_for(ip(3)).unwrap();
    assert_eq!((b.accepted, b.handshakes, b.requests), (1, 1, 1));
    assert_eq!(b.accept_languages, vec!["fr".to_owned()]);
    let total = origin.stats();
    assert_eq!(
        (total.handshakes, total.requests, total.open_connections),
        (2, 3, 2)
    );
    assert!(origin.stats_for(ip(4)).is_none());

    drop((s2, c2, s3, c3));
    assert!(
        origin
            .wait_until(SOON, |o| o.stats().open_connections == 0)
            .await,
        "connections still open: {:?}",
        origin.stats()
    );
    origin.shutdown().await;
    let refused = TcpStream::connect(SocketAddr::new(ip(2), port)).await;
    assert!(refused.is_err(), "still listening after shutdown");
}

#[tokio::test]
async fn h2_origin_limits_concurrent_streams_and_status_override() {
    let ca = Arc::new(TestCa::new().unwrap());
    let mut opts = H2OriginOptions::new(&[ip(4)], &[HOST], &ca);
    opts.max_concurrent_streams = Some(3);
    opts.delay = Some(Duration::from_millis(300));
    let origin = H2Origin::start(opts).await.unwrap();
    origin.set_status("/check", 403);
    let (mut send, mut conn) = h2_connect(&ca, origin.socket_addrs()[0], None).await;
    // Until the server's SETTINGS arrive the client does not know the limit (streams
    // beyond it would be refused): one request first.
    origin.set_delay(None);
    assert_eq!(h2_get(&mut send, &mut conn, "/", None).await.0, 200);
    assert_eq!(conn.max_concurrent_send_streams(), 3);
    origin.set_delay(Some(Duration::from_millis(300)));
    let driver = tokio::spawn(conn);
    let mut reqs = Vec::new();
    for i in 0..6 {
        let send = send.clone();
        let path = if i == 0 { "/check" } else { "/" };
        reqs.push(tokio::spawn(async move {
            let mut send = send.ready().await?;
            let req = http::Request::get(format!("https://{HOST}{path}"))
                .body(())
                .expect("request");
            let (resp, _) = send.send_request(req, true)?;
            Ok::<_, h2::Error>(resp.await?.status().as_u16())
        }));
    }
    let mut statuses = Vec::new();
    for r in reqs {
        statuses.push(within("request", r).await.unwrap().unwrap());
    }
    assert_eq!(statuses[0], 403);
    assert!(statuses[1..].iter().all(|s| *s == 200), "{statuses:?}");
    let stats = origin.stats();
    assert_eq!(stats.requests, 7);
    // Six requests held 300 ms each: the client had to respect the advertised limit.
    assert_eq!(stats.max_concurrent_streams_seen, 3, "{stats:?}");
    origin.clear_status("/check");
    drop(send);
    driver.abort();
    origin.shutdown().await;
}

#[tokio::test]
async fn h2_origin_goaway_close_and_frozen_pings() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(5)], &[HOST], &ca))
        .await
        .unwrap();
    let addr = origin.socket_addrs()[0];

    // GOAWAY: the client connection future ends cleanly.
    let (mut send, mut conn) = h2_connect(&ca, addr, None).await;
    h2_get(&mut send, &mut conn, "/", None).await;
    assert_eq!(origin.goaway_all(), 1);
    let end = within("connection end after GOAWAY", &mut conn).await;
    assert!(
        end.is_ok(),
        "GOAWAY should end the connection gracefully: {end:?}"
    );

    // Frozen: PINGs go unanswered; thawed: answered.
    let (mut send, mut conn) = h2_connect(&ca, addr, None).await;
    h2_get(&mut send, &mut conn, "/", None).await;
    let mut ping = conn.ping_pong().expect("ping handle");
    let driver = tokio::spawn(conn);
    origin.set_ping_frozen(true);
    ping.send_ping(h2::Ping::opaque()).expect("send PING");
    let pong = std::future::poll_fn(|cx| ping.poll_pong(cx));
    tokio::pin!(pong);
    let frozen = tokio::time::timeout(Duration::from_millis(300), pong.as_mut()).await;
    assert!(frozen.is_err(), "PING answered while frozen: {frozen:?}");
    origin.set_ping_frozen(false);
    within("PONG after thaw", pong).await.expect("PONG");
    // A connection made after the thaw serves requests too.
    let (send2, conn2) = h2_connect(&ca, addr, None).await;
    let driver2 = tokio::spawn(conn2);
    within("request after thaw", async {
        let mut s = send2.clone().ready().await.unwrap();
        let req = http::Request::get(format!("https://{HOST}/"))
            .body(())
            .unwrap();
        let (resp, _) = s.send_request(req, true).unwrap();
        assert_eq!(resp.await.unwrap().status(), 200);
    })
    .await;

    // close_all: every client connection sees its connection end.
    let before = origin.stats().open_connections;
    assert_eq!(before, 2);
    assert_eq!(origin.close_all(), 2);
    within("driver end after close_all", driver)
        .await
        .unwrap()
        .ok();
    within("driver2 end after close_all", driver2)
        .await
        .unwrap()
        .ok();
    assert!(
        origin
            .wait_until(SOON, |o| o.stats().open_connections == 0)
            .await
    );
    drop(send);
    origin.shutdown().await;
}

#[tokio::test]
async fn http1_keepalive_garbage_and_reset() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(6)], &[HOST], &ca))
        .await
        .unwrap();
    origin.set_status("/banned", 403);
    let addr = origin.socket_addrs()[0];
    let mut tls = tls_connect(&ca, addr, HOST, &[b"http/1.1"], None)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    async fn exchange(tls: &mut TlsStream<TcpStream>, req: &str) -> String {
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        // The body is the default one; read until it is complete.
        while !got.ends_with(b"hello from hotpool\n") {
            let n = within("HTTP/1.1 response", tls.read(&mut buf))
                .await
                .unwrap();
            assert!(n > 0, "EOF after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    }
    let r1 = exchange(
        &mut tls,
        "POST /x HTTP/1.1\r\nhost: origin.test\r\naccept-language: en\r\ncontent-length: 5\r\n\r\nhello",
    )
    .await;
    assert!(r1.starts_with("HTTP/1.1 200 OK\r\n"), "{r1}");
    let r2 = exchange(
        &mut tls,
        "GET /banned HTTP/1.1\r\nhost: origin.test\r\n\r\n",
    )
    .await;
    assert!(r2.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{r2}");
    let s = origin.stats();
    assert_eq!((s.http1_connections, s.requests), (1, 2));
    assert_eq!(s.accept_languages, vec!["en".to_owned()]);

    // Garbage on the idle connection.
    assert_eq!(origin.send_garbage_all(), 1);
    let mut buf = vec![0u8; 256];
    let n = within("garbage", tls.read(&mut buf)).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 418"), "{:?}", &buf[..n]);

    // Reset: the client sees ECONNRESET, not a clean EOF.
    assert_eq!(origin.reset_all(), 1);
    let err = within("read after reset", tls.read(&mut buf)).await;
    match err {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
    assert!(
        origin
            .wait_until(SOON, |o| o.stats().open_connections == 0)
            .await
    );
    origin.shutdown().await;
}

#[tokio::test]
async fn tls_failures_wrong_name_and_no_alpn() {
    let ca = Arc::new(TestCa::new().unwrap());
    // Certificate for another name: the client rejects it, the server counts a failure.
    let other = H2Origin::start(H2OriginOptions::new(&[ip(7)], &["other.test"], &ca))
        .await
        .unwrap();
    let err = tls_connect(&ca, other.socket_addrs()[0], HOST, &[b"h2"], None).await;
    assert!(
        err.is_err(),
        "handshake with a wrong certificate name succeeded"
    );
    assert!(
        other
            .wait_until(SOON, |o| o.stats().handshake_failures == 1)
            .await,
        "{:?}",
        other.stats()
    );
    assert_eq!(other.stats().handshakes, 0);

    // An untrusted CA fails too.
    let stranger = TestCa::new().unwrap();
    let err = tls_connect(
        &stranger,
        other.socket_addrs()[0],
        "other.test",
        &[b"h2"],
        None,
    )
    .await;
    assert!(err.is_err(), "handshake with an unknown CA succeeded");

    // No ALPN offered by the server: the handshake succeeds without a protocol.
    let mut opts = H2OriginOptions::new(&[ip(7)], &[HOST], &ca);
    opts.alpn = Vec::new();
    let bare = H2Origin::start(opts).await.unwrap();
    assert_ne!(bare.port(), other.port());
    let tls = tls_connect(&ca, bare.socket_addrs()[0], HOST, &[b"h2"], None)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    // Prior-knowledge HTTP/2 still works on such a connection.
    let (mut send, mut conn) = h2::client::handshake(tls).await.unwrap();
    let (status, _, _) = h2_get(&mut send, &mut conn, "/", None).await;
    assert_eq!(status, 200);
    assert_eq!(bare.stats().h2_connections, 1);
    other.shutdown().await;
    bare.shutdown().await;
}

fn resolver(dns: &DnsServer, tcp: bool, timeout: Duration) -> hickory_resolver::TokioResolver {
    use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut conn = if tcp {
        ConnectionConfig::tcp()
    } else {
        ConnectionConfig::udp()
    };
    conn.port = dns.addr().port();
    let ns = NameServerConfig::new(dns.addr().ip(), true, vec![conn]);
    let cfg = ResolverConfig::from_parts(None, vec![], vec![ns]);
    let mut builder =
        hickory_resolver::TokioResolver::builder_with_config(cfg, TokioRuntimeProvider::default());
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.timeout = timeout;
    opts.attempts = 1;
    builder.build().expect("resolver")
}

async fn lookup(r: &hickory_resolver::TokioResolver, name: &str) -> Result<Vec<IpAddr>, String> {
    match within("DNS lookup", r.lookup_ip(name)).await {
        Ok(l) => {
            let mut v: Vec<IpAddr> = l.iter().collect();
            v.sort();
            Ok(v)
        }
        Err(e) => Err(format!("{e:?}")),
    }
}

#[tokio::test]
async fn dns_server_answers_changes_and_fails_on_demand() {
    let dns = DnsServer::start_zone("hotpool.test").await.unwrap();
    assert!(dns.addr().ip().is_loopback());
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    dns.set_addrs("www.hotpool.test", &[ip(2), ip(3), v6], 30)
        .await
        .unwrap();
    let udp = resolver(&dns, false, Duration::from_secs(2));
    assert_eq!(
        lookup(&udp, "www.hotpool.test.").await.unwrap(),
        vec![ip(2), ip(3), v6]
    );
    let tcp = resolver(&dns, true, Duration::from_secs(2));
    assert_eq!(
        lookup(&tcp, "www.hotpool.test.").await.unwrap(),
        vec![ip(2), ip(3), v6]
    );

    // A change is visible to the next query.
    dns.set_addrs("www.hotpool.test", &[ip(4)], 30)
        .await
        .unwrap();
    assert_eq!(
        lookup(&udp, "www.hotpool.test.").await.unwrap(),
        vec![ip(4)]
    );

    // Removed (and never-set) names are NXDOMAIN.
    dns.remove("www.hotpool.test").await.unwrap();
    let nx = within("lookup", udp.lookup_ip("www.hotpool.test.")).await;
    assert!(nx.as_ref().is_err_and(|e| e.is_nx_domain()), "{nx:?}");
    let nx = within("lookup", udp.lookup_ip("nope.hotpool.test.")).await;
    assert!(nx.as_ref().is_err_and(|e| e.is_nx_domain()), "{nx:?}");
    // Names outside the zones are refused at set time.
    assert!(
        dns.set_addrs("www.example.org", &[ip(2)], 30)
            .await
            .is_err()
    );

    // SERVFAIL mode.
    dns.set_addrs("www.hotpool.test", &[ip(2)], 30)
        .await
        .unwrap();
    dns.set_mode(DnsMode::ServFail);
    assert_eq!(dns.mode(), DnsMode::ServFail);
    let err = lookup(&udp, "www.hotpool.test.").await.unwrap_err();
    assert!(err.contains("ServFail"), "{err}");

    // Silent mode: the query arrives, no answer, the resolver times out.
    dns.set_mode(DnsMode::Silent);
    let fast = resolver(&dns, false, Duration::from_millis(200));
    let before = dns.queries();
    let err = lookup(&fast, "www.hotpool.test.").await.unwrap_err();
    assert!(
        err.contains("Timeout") || err.contains("timed out"),
        "{err}"
    );
    assert!(dns.queries() > before);

    dns.set_mode(DnsMode::Normal);
    assert_eq!(
        lookup(&udp, "www.hotpool.test.").await.unwrap(),
        vec![ip(2)]
    );
    dns.shutdown().await;
    dns.shutdown().await;
}

fn quic_client(ca: &TestCa) -> quinn::Endpoint {
    let mut tls = ca.client_config(&[H3Origin::DEFAULT_ALPN]).unwrap();
    tls.enable_early_data = false;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut ep = quinn::Endpoint::client(SocketAddr::new(ip(1), 0)).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    ep
}

type H3Send = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// QUIC + HTTP/3 to `addr`: the quinn connection, h3's request sender, the driver task
/// (its result: whether the server's GOAWAY was seen before the connection ended).
async fn h3_connect(
    client: &quinn::Endpoint,
    addr: SocketAddr,
) -> (quinn::Connection, H3Send, tokio::task::JoinHandle<bool>) {
    use h3::ConnectionState;
    let conn = within("QUIC connect", client.connect(addr, HOST).unwrap())
        .await
        .unwrap();
    let (mut driver, send) = within(
        "HTTP/3 setup",
        h3::client::new(h3_quinn::Connection::new(conn.clone())),
    )
    .await
    .unwrap();
    let task = tokio::spawn(async move {
        let mut goaway = false;
        std::future::poll_fn(|cx| {
            let polled = driver.poll_close(cx);
            goaway |= driver.is_closing();
            polled
        })
        .await;
        goaway
    });
    (conn, send, task)
}

/// `GET path` over HTTP/3: status and the whole body.
async fn h3_get(send: &H3Send, path: &str) -> (u16, Vec<u8>) {
    use bytes::Buf;
    within("HTTP/3 request", async {
        let mut send = send.clone();
        let req = http::Request::get(format!("https://{HOST}{path}"))
            .body(())
            .unwrap();
        let mut stream = send.send_request(req).await.unwrap();
        stream.finish().await.unwrap();
        let response = stream.recv_response().await.unwrap();
        let mut body = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await.unwrap() {
            body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        (response.status().as_u16(), body)
    })
    .await
}

#[tokio::test]
async fn h3_origin_answers_the_shared_routes_over_http3() {
    let ca = Arc::new(TestCa::new().unwrap());
    let mut opts = H3OriginOptions::new(&[ip(2), ip(3)], &[HOST], &ca);
    opts.max_concurrent_bidi_streams = Some(2);
    let origin = H3Origin::start(opts).await.unwrap();
    let client = quic_client(&ca);
    let port = origin.port();

    let (c2, s2, d2) = h3_connect(&client, SocketAddr::new(ip(2), port)).await;
    assert_eq!(
        h3_get(&s2, "/").await,
        (200, b"hello from hotpool\n".to_vec())
    );
    let (status, body) = h3_get(&s2, "/bytes/100000").await;
    assert_eq!((status, body.len()), (200, 100_000));
    assert!(body.iter().all(|b| *b == b'x'));
    assert_eq!(h3_get(&s2, "/status/503").await.0, 503);
    origin.set_status("/check", 403);
    assert_eq!(h3_get(&s2, "/check").await.0, 403);
    origin.clear_status("/check");
    assert_eq!(h3_get(&s2, "/check").await.0, 200);
    let (c3, s3, d3) = h3_connect(&client, SocketAddr::new(ip(3), port)).await;
    assert_eq!(h3_get(&s3, "/1k").await.1.len(), 1024);

    let a = origin.stats_for(ip(2)).unwrap();
    assert_eq!((a.handshakes, a.requests, a.open_connections), (1, 5, 1));
    let b = origin.stats_for(ip(3)).unwrap();
    assert_eq!((b.handshakes, b.requests, b.open_connections), (1, 1, 1));

    // Concurrent requests are capped by the advertised stream limit.
    origin.set_delay(Some(Duration::from_millis(200)));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s2.clone();
        tasks.push(tokio::spawn(async move { h3_get(&s, "/").await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().0, 200);
    }
    let a = origin.stats_for(ip(2)).unwrap();
    assert_eq!(a.requests, 9);
    assert_eq!(a.max_concurrent_streams_seen, 2, "{a:?}");
    origin.set_delay(None);

    // GOAWAY: the client's driver sees it, and the server then closes the idle connection.
    assert_eq!(origin.goaway_all(), 2);
    assert!(within("GOAWAY seen", d2).await.unwrap(), "GOAWAY not seen");
    assert!(
        origin
            .wait_until(SOON, |o| o.stats_for(ip(2)).unwrap().open_connections == 0)
            .await
    );
    drop((c2, s2));

    // close_all: clients see an application close.
    let (c4, _s4, _d4) = h3_connect(&client, SocketAddr::new(ip(2), port)).await;
    // The server counts the handshake when the client's Finished arrives.
    assert!(origin.wait_until(SOON, |o| o.stats().handshakes == 3).await);
    assert!(within("GOAWAY seen", d3).await.unwrap());
    assert_eq!(origin.close_all(), 1);
    let reason = within("QUIC close", c4.closed()).await;
    assert!(
        matches!(reason, quinn::ConnectionError::ApplicationClosed(_)),
        "{reason:?}"
    );
    drop(c3);
    assert!(
        origin
            .wait_until(SOON, |o| o.stats().open_connections == 0)
            .await
    );
    origin.shutdown().await;
    client.close(0u32.into(), b"done");
}

#[tokio::test]
async fn h2_origin_serves_the_shared_routes() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip(8)], &[HOST], &ca))
        .await
        .unwrap();
    let (mut send, mut conn) = h2_connect(&ca, origin.socket_addrs()[0], None).await;
    let (status, _, body) = h2_get(&mut send, &mut conn, "/1k", None).await;
    assert_eq!((status, body.len()), (200, 1024));
    let (status, _, body) = h2_get(&mut send, &mut conn, "/status/503", None).await;
    assert_eq!((status, body.len()), (503, 0));
    // 1 MB streamed: more than h2's default 64 KiB window, so flow control is exercised.
    let (status, served_by, body) = h2_get(&mut send, &mut conn, "/bytes/1000000", None).await;
    assert_eq!((status, body.len()), (200, 1_000_000));
    assert_eq!(served_by, origin.socket_addrs()[0].to_string());
    assert!(body.iter().all(|b| *b == b'x'));
    let (status, _, body) = h2_get(&mut send, &mut conn, "/slow/20", None).await;
    assert_eq!((status, &body[..]), (200, &b"hello from hotpool\n"[..]));

    // /stall: no headers; the connection stays usable for other streams.
    let mut stalled = send.clone().ready().await.unwrap();
    let (resp, _) = stalled
        .send_request(
            http::Request::get(format!("https://{HOST}/stall"))
                .body(())
                .unwrap(),
            true,
        )
        .unwrap();
    let waited = tokio::select! {
        r = tokio::time::timeout(Duration::from_millis(200), resp) => r.is_err(),
        r = &mut conn => panic!("connection ended: {r:?}"),
    };
    assert!(waited, "/stall must not send headers");
    let (status, _, _) = h2_get(&mut send, &mut conn, "/", None).await;
    assert_eq!(status, 200);
    assert_eq!(origin.stats().requests, 5);
}
