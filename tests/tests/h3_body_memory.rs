//! A 10 MB HTTP/3 response body streams with bounded client memory: its own test binary,
//! because it installs the counting allocator. The origin runs on a runtime of its own
//! whose threads are left out of the count, so what is measured is the client side.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions, Trust};
use pool_http::http_body_util::BodyExt;
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::alloc::{self, Counting};
use pool_testkit::{H3Origin, H3OriginOptions, TestCa};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_body_is_read_with_less_than_1_mb_held() {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(alloc::exclude_current_thread)
        .enable_all()
        .build()
        .unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let addrs = [IpAddr::from([127, 0, 0, 68])];
    let options = H3OriginOptions::new(&addrs, &["m.test"], &ca);
    let origin = servers
        .spawn(async move { H3Origin::start(options).await.unwrap() })
        .await
        .unwrap();
    let quic = QuicOptions {
        trust: Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
            ..Trust::default()
        },
        conn_timeout: Duration::from_secs(5),
        // What quinn may buffer for a body read slower than it arrives (a loaded machine):
        // the bound of the client's memory, whatever the body's size.
        stream_receive_window: 256 * 1024,
        ..QuicOptions::default()
    };
    let pool = Pool::new(QuicDialer::new(quic).unwrap(), PoolOptions::default()).unwrap();
    pool.set_addrs("m.test", origin.socket_addrs());
    assert_eq!(pool.warm("m.test").await.ok, 1);

    const SIZE: usize = 10_000_000;
    let lease = pool.get("m.test").await.unwrap();
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
    assert!(held < 1 << 20, "{held} bytes held while streaming {SIZE}");
    // The bound is not met by an allocator that counts nothing: this one counts. (`held`
    // itself may be 0: when the most ever held was at the read's start.)
    assert!(
        alloc::peak_bytes() >= before && before > 0,
        "the allocator counts"
    );
    pool.close().await;
    let origin = Arc::new(origin);
    let o = origin.clone();
    servers
        .spawn(async move { o.shutdown().await })
        .await
        .unwrap();
    servers.shutdown_background();
}
