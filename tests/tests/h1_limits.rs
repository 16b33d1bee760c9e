//! HTTP/1.1's default limits: with the config's defaults resolved for `transport = "h1"`
//! (`Config::pool_options_for`), a pool opens up to 6 exclusive connections to one address
//! under 64 concurrent requests (browsers' 6 per host), never more; the multiplexed default
//! (h2: 1 per address) would have serialised them on one connection.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_config::{Config, Transport};
use pool_core::Pool;
use pool_dial_rustls::{H1Dialer, TlsOptions};
use pool_http::{Empty, HttpLeaseExt};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, eventually};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "h1-limits.test";
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_pool_opens_six_connections_per_address_by_default() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::h1_only(
        &[IpAddr::from([127, 0, 0, 73])],
        &[HOST],
        &ca,
    ))
    .await
    .unwrap();
    let cfg = Config::default();
    let options = cfg.pool_options_for(Transport::H1);
    assert_eq!(options.max_conns_per_ip, 6);
    assert_eq!(cfg.pool_options_for(Transport::H2).max_conns_per_ip, 1);

    let mut tls = TlsOptions::default();
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    tls.conn_timeout = Duration::from_secs(5);
    let pool = Arc::new(Pool::new(H1Dialer::new(tls).unwrap(), options).unwrap());
    pool.set_addrs(HOST, origin.socket_addrs());

    // 64 requests at once; each holds its connection (the response body owns the lease)
    // until the gate opens, so the pool must open every connection it is allowed.
    let (gate, gate_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let pool = pool.clone();
        let mut gate = gate_rx.clone();
        tasks.spawn(async move {
            let lease = pool.get(HOST).await?;
            let req = http::Request::get("/1k")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = lease.request(req).await.map_err(|e| e.to_string())?;
            let _ = gate.wait_for(|open| *open).await;
            let body = response
                .into_body()
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<usize, Box<dyn std::error::Error + Send + Sync>>(body.len())
        });
    }
    eventually("six connections in use", WAIT, || pool.stats().in_use == 6)
        .await
        .unwrap();
    // The others wait for one of the six: no seventh dial.
    let stats = pool.stats();
    assert_eq!(stats.connections, 6, "{stats:?}");
    assert_eq!(stats.dials_total, 6, "{stats:?}");
    // The origin counts a handshake once its side finishes, which may trail the client's.
    eventually("the origin saw six handshakes", WAIT, || {
        origin.stats().handshakes == 6
    })
    .await
    .unwrap();

    gate.send_replace(true);
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap().unwrap(), 1024);
    }
    let stats = pool.stats();
    assert_eq!(stats.dials_total, 6, "{stats:?}");
    assert_eq!(origin.stats().handshakes, 6);
    assert!(stats.leases_total >= IN_FLIGHT as u64, "{stats:?}");
    pool.close().await;
}
