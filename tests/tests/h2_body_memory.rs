//! A 10 MB HTTP/2 response body streams with bounded client memory: its own test binary,
//! because it installs the counting allocator.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_http::http_body_util::BodyExt;
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::alloc::{self, Counting};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_body_is_read_with_less_than_1_mb_held() {
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = [IpAddr::from([127, 0, 0, 67])];
    let origin = H2Origin::start(H2OriginOptions::new(&addrs, &["m.test"], &ca))
        .await
        .unwrap();
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.tls.conn_timeout = Duration::from_secs(5);
    let pool = Pool::new(H2Dialer::new(options).unwrap(), PoolOptions::default()).unwrap();
    pool.set_addrs("m.test", origin.socket_addrs());
    assert_eq!(pool.warm("m.test").await.ok, 1);

    const SIZE: usize = 10_000_000;
    let lease = pool.get("m.test").await.unwrap();
    let conn = lease.conn_arc();
    let response = lease
        .request(
            http::Request::get(format!("/bytes/{SIZE}"))
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let before = alloc::live_bytes();
    alloc::reset_peak();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        total += frame.unwrap().into_data().unwrap().len();
    }
    let held = alloc::peak_bytes() - before;
    assert_eq!(total, SIZE);
    // The origin runs in this process too, so its buffers are in the count: the bound is
    // for both sides of the transfer together. h2 may buffer up to the stream's receive
    // window of data that arrived before the body read it (2 MiB by default, more if the
    // adaptive mode grew it: docs/h2-windows.md); the rest stays under 1 MiB.
    let window = i64::from(conn.receive_window().stream);
    assert!(
        held < window + (1 << 20),
        "{held} bytes held while streaming {SIZE} (stream window {window})"
    );
    // The bound is not met by an allocator that counts nothing: this one counts. (`held`
    // itself may be 0: when the most ever held was at the read's start, with a window's
    // worth buffered.)
    assert!(
        alloc::peak_bytes() >= before && before > 0,
        "the allocator counts"
    );
    pool.close().await;
    origin.shutdown().await;
}
