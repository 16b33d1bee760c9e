//! A hot HTTP/2 request through a pool lease vs the same request on a raw h2 connection,
//! both against the local origin on 127.0.0.2 (loopback only) — group `h2_request`.
//!
//! Cold vs hot — group `h2_cold_vs_hot`: a request on a new connection made for it (TCP
//! connect, TLS handshake, HTTP/2 handshake, the request, close), as a client without a
//! pool does, vs the same request through a warm pool lease.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

const HOST: &str = "bench.test";

/// One GET on `send`, reading the whole body.
async fn raw_get(send: h2::client::SendRequest<Bytes>) {
    let mut send = send.ready().await.expect("ready");
    let request = http::Request::builder()
        .uri(format!("https://{HOST}/"))
        .body(())
        .expect("request");
    let (response, _) = send.send_request(request, true).expect("send");
    let mut body = response.await.expect("response").into_body();
    let mut len = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("chunk");
        len += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    assert!(len > 0);
}

/// A new TCP + TLS + HTTP/2 connection to `addr`, its driver spawned.
async fn connect(
    config: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    tcp.set_nodelay(true).expect("nodelay");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(HOST.try_into().expect("name"), tcp)
        .await
        .expect("tls");
    let (send, conn) = h2::client::handshake(tls).await.expect("h2");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, driver)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ca = Arc::new(TestCa::new().expect("CA"));
    let ip: IpAddr = [127, 0, 0, 2].into();
    let origin = rt
        .block_on(H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca)))
        .expect("origin");
    let addr = origin.socket_addrs()[0];

    // Raw: one h2 connection made by hand, its driver spawned.
    let config = Arc::new(ca.client_config(&[b"h2"]).expect("client config"));
    let (raw, _raw_driver) = rt.block_on(connect(Arc::clone(&config), addr));

    // Pooled: an H2Dialer pool, warmed.
    let pool = rt.block_on(async {
        let mut options = H2Options::default();
        options.tls.trust.webpki_roots = false;
        options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
        let pool = Pool::new(
            H2Dialer::new(options).expect("dialer"),
            PoolOptions::default(),
        )
        .expect("pool");
        pool.set_addrs(HOST, [addr]);
        assert_eq!(pool.warm(HOST).await.ok, 1);
        pool
    });

    let mut group = c.benchmark_group("h2_request");
    group.bench_function("raw_h2", |b| b.to_async(&rt).iter(|| raw_get(raw.clone())));
    group.bench_function("pool_lease", |b| {
        b.to_async(&rt).iter(|| async {
            let lease = pool.get(HOST).await.expect("lease");
            let response = lease
                .request(http::Request::new(Empty::<Bytes>::new()))
                .await
                .expect("request");
            let body = response.into_body().bytes().await.expect("body");
            assert!(!body.is_empty());
        })
    });
    group.finish();

    let mut group = c.benchmark_group("h2_cold_vs_hot");
    group.bench_function("cold_new_connection", |b| {
        b.to_async(&rt).iter(|| {
            let config = Arc::clone(&config);
            async move {
                let (send, driver) = connect(config, addr).await;
                raw_get(send).await;
                // Dropping the last handle closes the connection (GOAWAY, then the socket).
                let _ = driver.await;
            }
        })
    });
    group.bench_function("hot_pool_lease", |b| {
        b.to_async(&rt).iter(|| async {
            let lease = pool.get(HOST).await.expect("lease");
            let response = lease
                .request(http::Request::new(Empty::<Bytes>::new()))
                .await
                .expect("request");
            let body = response.into_body().bytes().await.expect("body");
            assert!(!body.is_empty());
        })
    });
    group.finish();
    rt.block_on(async {
        pool.close().await;
        origin.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
