//! What `hotpool::Client` adds to a request over the bare pool (group `client_overhead`):
//! the same GET of the same testkit HTTP/2 origin on 127.0.0.2, one at a time, in one run,
//! (a) through a warm `pool_core::Pool<H2Dialer>` lease and `pool_http`'s request
//! (`lease.request`), and (b) through a `hotpool::Client` whose host is already started
//! (`client.get(url).send()`: URL parsing, the host table, the polite layer's rate lookup,
//! `Accept-Encoding` and the decoder's pass-through, the redirect check). Both read the
//! whole body.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

const HOST: &str = "bench.test";

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

    // The bare pool: an H2Dialer pool, warmed.
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

    // The client: the same host by a `[[hosts]]` entry (h2, the same address).
    let dir = std::env::temp_dir().join(format!("hotpool-bench-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).expect("CA file");
    let text = format!(
        "[tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"{HOST}\"\nport = {}\ntransport = \"h2\"\naddrs = [\"{ip}\"]\n",
        ca_file.display(),
        addr.port()
    );
    let config = hotpool::Config::from_str_named(&text, "bench.toml").expect("config");
    let client = hotpool::Client::builder()
        .config(config)
        .build()
        .expect("client");
    let url = format!("https://{HOST}:{}/", addr.port());
    // The host started and its connection open before measuring.
    rt.block_on(async {
        let body = client.get(&url).send().await.expect("first request");
        assert!(!body.into_body().bytes().await.expect("body").is_empty());
    });

    let mut group = c.benchmark_group("client_overhead");
    group.bench_function("pool_lease_request", |b| {
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
    group.bench_function("client_get", |b| {
        b.to_async(&rt).iter(|| async {
            let response = client.get(&url).send().await.expect("request");
            let body = response.into_body().bytes().await.expect("body");
            assert!(!body.is_empty());
        })
    });
    group.finish();
    rt.block_on(async {
        client.close().await;
        pool.close().await;
        origin.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
