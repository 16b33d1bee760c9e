//! Memory-pressure shedding against real origins (`docs/memory-shedding.md`): with an
//! injected memory reading above `memory_limit`, the pool closes its idle HTTP/2
//! connections (never a leased one), counts them, stops below the low-water mark, and
//! the next request dials again.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{CloseReason, FixedMemory, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_http::Empty;
use pool_testkit::{H2Origin, H2OriginOptions, TestCa, wait_for};

const MIB: u64 = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "shed.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_shed_under_pressure_and_dialed_again_after() {
    let ca = Arc::new(TestCa::new().unwrap());
    let ips: Vec<IpAddr> = (41..45).map(|n| IpAddr::from([127, 0, 0, n])).collect();
    let origin = H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca))
        .await
        .unwrap();
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    let memory = FixedMemory::new(10 * MIB);
    let pool = Pool::with_memory_source(
        H2Dialer::new(options).unwrap(),
        PoolOptions {
            memory_limit: Some(100 * MIB),
            memory_low_water: Some(80 * MIB),
            shed_fraction: 0.5,
            memory_check_interval: Duration::from_millis(20),
            ..PoolOptions::default()
        },
        Arc::new(memory.clone()),
    )
    .unwrap();
    pool.set_addrs(HOST, origin.socket_addrs());
    let report = pool.warm(HOST).await;
    assert_eq!(report.ok, 4, "{report:?}");
    assert_eq!(origin.stats().handshakes, 4);

    // Under pressure: every idle connection goes, the leased one stays until released.
    let lease = pool.get(HOST).await.unwrap();
    memory.set(150 * MIB);
    wait_for("the 3 idle connections shed", WAIT, || {
        let s = pool.stats();
        s.idle == 0 && s.memory_shed_total == 3
    })
    .await;
    let stats = pool.stats();
    assert!(stats.shedding);
    assert_eq!(
        (stats.connections, stats.in_use, stats.shed_episodes),
        (1, 1, 1)
    );
    // Below the limit but above the low-water mark: the episode goes on, so the released
    // connection is shed at a later reading.
    memory.set(90 * MIB);
    drop(lease);
    wait_for("the released connection shed", WAIT, || {
        pool.stats().connections == 0
    })
    .await;

    // Below the low-water mark: shedding stops; a request dials a fresh connection.
    memory.set(50 * MIB);
    wait_for("the episode over", WAIT, || !pool.stats().shedding).await;
    let request = http::Request::get("/").body(Empty::<Bytes>::new()).unwrap();
    let response = pool_http::send(&pool, HOST, request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let stats = pool.stats();
    assert_eq!(stats.memory_shed_total, 4);
    assert_eq!(stats.closed_for(CloseReason::Shed), 4);
    assert_eq!(stats.shed_episodes, 1);
    assert_eq!(
        stats.dials_ok, 5,
        "4 warmed, 1 dialed again after the episode"
    );
    assert_eq!(origin.stats().handshakes, 5);
    assert_eq!(stats.connections, 1);
    pool.close().await;
}
