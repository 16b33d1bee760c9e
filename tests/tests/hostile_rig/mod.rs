//! What the per-protocol fault matrix (`faults_h1.rs`, `faults_h3.rs`) and the hostile
//! origin tests (`hostile.rs`) share: one test at a time on its own runtime, the dialer
//! options trusting the test CA, and the closing checks (the pool's stats consistent,
//! every server connection gone, the process's fds back to the baseline). The servers
//! themselves are pool-testkit's.

#![allow(dead_code)] // each test binary uses its own part

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{CloseReason, Dialer, Pool, PoolOptions, Stats};
use pool_dial_quic::QuicOptions;
use pool_dial_rustls::TlsOptions;
use pool_http::Empty;
use pool_testkit::TestCa;
use pool_testkit::fds::open_fds;
use pool_testkit::wait_for;

/// Every wait in these tests is bounded by this.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The wait for the fds after `close()`: a closed QUIC connection keeps its endpoint's
/// socket for its drain period (3 PTO), which a loaded machine's RTT samples stretch.
pub const FD_DEADLINE: Duration = Duration::from_secs(30);

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs one test body alone in the process, on its own 2-worker runtime built under the
/// lock (the fd baseline and the allocator counters are process-wide).
pub fn run(body: impl Future<Output = ()>) {
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

/// 127.0.`net`.`last`.
pub fn ip(net: u8, last: u8) -> IpAddr {
    IpAddr::from([127, 0, net, last])
}

/// TLS options trusting only `ca`, 5 s connect and test timeouts.
pub fn tls_options(ca: &TestCa) -> TlsOptions {
    let mut options = TlsOptions::default();
    options.trust.webpki_roots = false;
    options.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.conn_timeout = Duration::from_secs(5);
    options.test_timeout = Duration::from_secs(5);
    options
}

/// QUIC options trusting only `ca`, a 5 s handshake timeout.
pub fn quic_options(ca: &TestCa) -> QuicOptions {
    let mut options = QuicOptions::default();
    options.trust.webpki_roots = false;
    options.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.conn_timeout = Duration::from_secs(5);
    options.test_timeout = Duration::from_secs(5);
    options
}

/// No background probes or keep-warm dials: what a test sees is its own doing.
pub fn pool_options() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        // How a hostile peer or a fault is bounded, reported and retried is the subject;
        // a warmed host's background re-warming is tests/stay_hot.rs'.
        stay_hot: false,
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    }
}

/// `GET path`, no body.
pub fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

/// Closes the pool and checks: stats consistent, `servers_idle` (no connection left on
/// the servers) within the deadline, open fds back to `baseline`. Returns the last stats.
pub async fn finish<D: Dialer>(
    pool: Pool<D>,
    baseline: usize,
    servers_idle: impl FnMut() -> bool,
) -> Stats {
    tokio::time::timeout(DEADLINE, pool.close())
        .await
        .expect("close() finishes");
    let stats = pool.stats();
    assert_consistent(&stats);
    drop(pool);
    wait_for("the servers' connections close", DEADLINE, servers_idle).await;
    wait_for(
        &format!("fds back to the baseline {baseline}"),
        FD_DEADLINE,
        || open_fds() <= baseline,
    )
    .await;
    stats
}

/// After `close()`: nothing open, nothing waiting, every dial accounted for, every
/// connection dialed ended closed. Also the closing check of `faults.rs`.
pub fn assert_consistent(stats: &Stats) {
    let open = (
        stats.connections,
        stats.idle,
        stats.in_use,
        stats.draining,
        stats.probing,
        stats.dialing,
        stats.waiters,
        stats.leases_out,
    );
    assert_eq!(open, (0, 0, 0, 0, 0, 0, 0, 0), "after close: {stats:?}");
    assert!(
        stats.dials_total >= stats.dials_ok + stats.dial_failures,
        "{stats:?}"
    );
    assert_eq!(
        stats.dials_ok,
        stats.admitted + stats.closed_for(CloseReason::NotAdmitted),
        "every successful dial was admitted or refused admission: {stats:?}"
    );
    assert_eq!(
        stats.closed_total(),
        stats.dials_ok,
        "every connection dialed ended closed: {stats:?}"
    );
}

/// Connections closed because they failed: reported broken by a request, or seen closed,
/// reset or lost by the pool's watcher first (the two race: whichever notices first names
/// the cause).
pub fn failed_closes(stats: &Stats) -> u64 {
    [
        CloseReason::Broken,
        CloseReason::PeerClosed,
        CloseReason::Lost,
    ]
    .into_iter()
    .map(|reason| stats.closed_for(reason))
    .sum()
}

/// Waits (bounded) until the pool has closed `n` connections because they failed
/// ([`failed_closes`]), and checks no more were.
pub async fn wait_for_failed<D: Dialer>(pool: &Pool<D>, n: u64) {
    wait_for(
        &format!("{n} connection(s) closed as failed"),
        DEADLINE,
        || failed_closes(&pool.stats()) >= n,
    )
    .await;
    assert_eq!(failed_closes(&pool.stats()), n, "{:?}", pool.stats());
}
