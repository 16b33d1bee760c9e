//! The capture origin (pool-testkit `capture`) against the pool's own rustls dialers: the
//! JA4 and the HTTP/2 fingerprint an origin sees from hotpool's default engine. These are
//! the "before" values of issue 15: rustls' own ClientHello (`t13d1011h2_61a7ad8aa9b6`,
//! whatever profile is chosen) and stock `h2` 0.4's SETTINGS and pseudo-header order.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, TlsOptions};
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::TestCa;
use pool_testkit::capture::{CaptureOrigin, Captured, extension_order, ja4};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "capture.test";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn trust(tls: &mut TlsOptions, ca: &TestCa) {
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    tls.conn_timeout = Duration::from_secs(5);
    tls.test_timeout = Duration::from_secs(5);
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: WAIT,
        ..PoolOptions::default()
    }
}

/// GET `path` through a pool of `dialer` at the origin; returns the status.
async fn get<D>(dialer: D, origin: &CaptureOrigin, path: &str) -> u16
where
    D: pool_core::Dialer<Conn: pool_http::HttpConnection>,
{
    let pool = Pool::new(dialer, pool_options()).unwrap();
    pool.set_addrs(HOST, vec![origin.addr()]);
    let lease = pool.get(HOST).await.unwrap();
    let req = http::Request::get(path)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = lease.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().bytes().await.unwrap();
    assert_eq!(&body[..], b"hello from the capture origin\n");
    status
}

fn h2_dialer(ca: &TestCa) -> H2Dialer {
    let mut options = H2Options::default();
    trust(&mut options.tls, ca);
    H2Dialer::new(options).unwrap()
}

/// The records of connections that completed the handshake.
fn handshaken(captures: Vec<Captured>) -> Vec<Captured> {
    captures.into_iter().filter(|c| c.handshake_ok).collect()
}

/// rustls 0.23 (ring provider, TLS 1.3 + 1.2): JA4 of its ClientHello with ALPN `h2`
/// and SNI; issue 15 quotes the first two parts.
const RUSTLS_JA4: &str = "t13d1011h2_61a7ad8aa9b6_3fcd1a44f3e3";
const RUSTLS_JA4_RAW_C: &str = "0005,000a,000b,000d,0017,0023,002b,002d,0033_\
                                0503,0403,0807,0806,0805,0804,0601,0501,0401";
/// Stock h2 0.4 as pool-dial-rustls builds it: two settings (INITIAL_WINDOW_SIZE = 2 MiB, the
/// default `H2Windows::stream`; MAX_HEADER_LIST_SIZE = the pool's 256 KiB response-header
/// limit), a connection WINDOW_UPDATE to 5 MiB (`H2Windows::connection`,
/// `docs/h2-windows.md`), no PRIORITY, pseudo-headers method, scheme, authority, path.
const STOCK_H2_AKAMAI: &str = "4:2097152;6:262144|5177345|0|m,s,a,p";

#[tokio::test]
async fn rustls_h2_dialer_shows_rustls_ja4_and_stock_h2_fingerprint() {
    let origin = CaptureOrigin::start(HOST, ip(90)).await.unwrap();
    assert_eq!(get(h2_dialer(origin.ca()), &origin, "/").await, 200);
    let seen = handshaken(origin.wait_for(1, WAIT).await);
    let first = seen.first().expect("one connection");
    assert_eq!(first.alpn.as_deref(), Some("h2"));
    let fp = first.ja4().unwrap();
    assert!(
        fp.to_string().starts_with("t13d1011h2_61a7ad8aa9b6"),
        "{fp}"
    );
    assert_eq!(fp.to_string(), RUSTLS_JA4);
    assert_eq!(fp.raw_c, RUSTLS_JA4_RAW_C);
    assert_eq!(first.akamai_h2().as_deref(), Some(STOCK_H2_AKAMAI));
    let h2 = first.h2.as_ref().unwrap();
    let names: Vec<&str> = h2.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [":method", ":scheme", ":authority", ":path"]);
    let authority = format!("{HOST}:{}", origin.addr().port());
    assert_eq!(h2.headers[2].1, authority);
    assert_eq!(h2.headers_priority, None);
}

#[tokio::test]
async fn every_connection_is_recorded_and_rustls_keeps_its_ja4_across_connections() {
    let origin = CaptureOrigin::start(HOST, ip(91)).await.unwrap();
    // Two pools: two connections; the second asks for /403.
    assert_eq!(get(h2_dialer(origin.ca()), &origin, "/").await, 200);
    assert_eq!(get(h2_dialer(origin.ca()), &origin, "/403").await, 403);
    let seen = handshaken(origin.wait_for(2, WAIT).await);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].ja4().unwrap(), seen[1].ja4().unwrap());
    // rustls shuffles its extensions per connection (as Chrome does); the set is fixed.
    let mut sets: Vec<Vec<u16>> = seen
        .iter()
        .map(|c| extension_order(&c.client_hello).unwrap())
        .collect();
    for set in &mut sets {
        set.sort_unstable();
    }
    assert_eq!(sets[0], sets[1]);
    assert_eq!(sets[0].len(), 11);
    let paths: Vec<&str> = seen
        .iter()
        .map(|c| c.h2.as_ref().unwrap().headers[3].1.as_str())
        .collect();
    assert_eq!(paths, ["/", "/403"]);
}

#[tokio::test]
async fn http1_dialer_offers_only_http1_with_the_same_tls_lists() {
    let origin = CaptureOrigin::start(HOST, ip(92)).await.unwrap();
    let mut options = TlsOptions::default();
    trust(&mut options, origin.ca());
    assert_eq!(
        get(H1Dialer::new(options).unwrap(), &origin, "/").await,
        200
    );
    let seen = handshaken(origin.wait_for(1, WAIT).await);
    let first = seen.first().expect("one connection");
    assert_eq!(first.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(first.h2, None);
    let fp = ja4(&first.client_hello).unwrap();
    // Same cipher and extension hashes; only the ALPN characters differ.
    assert_eq!(fp.to_string(), RUSTLS_JA4.replace("h2_", "h1_"));
}

#[tokio::test]
async fn a_client_that_speaks_no_tls_is_recorded_without_a_hello() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = CaptureOrigin::start(HOST, ip(93)).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(origin.addr()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: capture.test\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The origin closes (rustls refuses the bytes); any alert it wrote is fine.
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest))
        .await
        .unwrap();
    let seen = origin.wait_for(1, WAIT).await;
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].handshake_ok);
    assert!(seen[0].client_hello.is_empty());
    assert_eq!(seen[0].alpn, None);
}
