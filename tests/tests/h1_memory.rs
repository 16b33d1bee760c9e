//! A 10 MB HTTP/1.1 body streamed through the pool with bounded client memory, measured by
//! the counting allocator (its own test binary: one global allocator per process). The
//! origin runs on a runtime whose threads are excluded from the count.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions};
use pool_http::http_body_util::BodyExt;
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::alloc::{self, Counting};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const HOST: &str = "mem.test";
const LEN: u64 = 10_000_000;
/// What the client may hold at once while streaming (the bound).
const BOUND: i64 = 1 << 20;

#[test]
fn a_10mb_body_streams_with_bounded_memory() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(alloc::exclude_current_thread)
        .enable_all()
        .build()
        .unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let ip: IpAddr = [127, 0, 0, 60].into();
    let origin = server
        .block_on(H2Origin::start(H2OriginOptions::h1_only(
            &[ip],
            &[HOST],
            &ca,
        )))
        .unwrap();

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client.block_on(async {
        let mut options = TlsOptions::default();
        options.trust.webpki_roots = false;
        options.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
        options.conn_timeout = Duration::from_secs(5);
        let pool = Pool::new(H1Dialer::new(options).unwrap(), PoolOptions::default()).unwrap();
        pool.set_addrs(HOST, origin.socket_addrs());
        assert_eq!(pool.warm(HOST).await.ok, 1);

        let before = alloc::live_bytes();
        alloc::reset_peak();
        let lease = pool.get(HOST).await.unwrap();
        let req = http::Request::get(format!("/bytes/{LEN}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut body = lease.request(req).await.unwrap().into_body();
        let mut read = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                read += data.len() as u64;
            }
        }
        drop(body);
        let peak = alloc::peak_bytes() - before;
        assert_eq!(read, LEN);
        assert!(peak > 0, "the counting allocator is installed");
        assert!(
            peak < BOUND,
            "held {peak} bytes at most while streaming {LEN} (bound {BOUND})"
        );
        pool.close().await;
    });
    server.block_on(origin.shutdown());
}
