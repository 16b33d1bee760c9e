//! Hot hosts stay hot, and a restarting origin is back within a second (issue 24,
//! `docs/stay-hot.md`): the pool (pool-dial-rustls's `H2Dialer`) warmed over a real TLS/HTTP/2
//! origin behind a [`FaultProxy`] on 4 loopback addresses.
//!
//! - every connection reset by the server side → the pool connects to every address again
//!   on its own, without a request;
//! - every address refusing connects (the origin stopped) → a host outage, not 4 bans;
//!   `get` fails fast with `Error::HostDown` (or waits, when asked); when the origin is
//!   back, every address is connected again within the outage re-test cap (1 s by
//!   default), and no address stays blacklisted.
//!
//! Every wait is bounded (`wait_for`); nothing asserts on timing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{CloseReason, Error, GetOptions, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_testkit::{Fault, FaultProxy, H2Origin, H2OriginOptions, TestCa, wait_for};

const HOST: &str = "www.hot.test";
const ADDRS: u8 = 4;
/// Bounds every wait for something that should take milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

fn ip(net: u8, last: u8) -> IpAddr {
    IpAddr::from([127, 0, net, last])
}

/// An origin on 127.0.`net`.1 behind a proxy on 127.0.`net`.2 … .(1 + `ADDRS`), and a
/// pool warmed over the proxy's addresses.
struct Rig {
    origin: H2Origin,
    proxy: FaultProxy,
    ips: Vec<IpAddr>,
    pool: Pool<H2Dialer>,
}

impl Rig {
    async fn start(net: u8) -> Rig {
        let ca = Arc::new(TestCa::new().unwrap());
        let origin = H2Origin::start(H2OriginOptions::new(&[ip(net, 1)], &[HOST], &ca))
            .await
            .unwrap();
        let ips: Vec<IpAddr> = (0..ADDRS).map(|i| ip(net, 2 + i)).collect();
        let proxy = FaultProxy::start(&ips, origin.socket_addrs()[0])
            .await
            .unwrap();
        let mut options = H2Options::default();
        options.tls.trust.webpki_roots = false;
        options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
        options.tls.conn_timeout = Duration::from_secs(5);
        let dialer = H2Dialer::new(options).unwrap();
        let pool = Pool::new(
            dialer,
            PoolOptions {
                health_check_interval: None,
                keep_warm: false,
                checkout_timeout: Duration::from_secs(5),
                // The defaults otherwise: stay_hot, rewarm_backoff 100 ms … 30 s,
                // host_outage_threshold 0.5, outage_retest 100 ms … 1 s.
                ..PoolOptions::default()
            },
        )
        .unwrap();
        let addrs: Vec<SocketAddr> = ips.iter().map(|ip| proxy.socket_addr(*ip)).collect();
        pool.set_addrs(HOST, addrs);
        let report = pool.warm(HOST).await;
        assert_eq!(report.ok, usize::from(ADDRS), "{report:?}");
        assert_eq!(pool.stats().connected_addresses, usize::from(ADDRS));
        Rig {
            origin,
            proxy,
            ips,
            pool,
        }
    }

    /// Whether the pool has a live connection to every address and no host is down.
    fn hot_everywhere(&self) -> bool {
        let stats = self.pool.stats();
        stats.connected_addresses == usize::from(ADDRS)
            && stats.connections - stats.draining == usize::from(ADDRS)
            && stats.hosts_down == 0
    }

    async fn finish(self) {
        tokio::time::timeout(DEADLINE, self.pool.close())
            .await
            .expect("close() finishes");
        assert!(
            self.proxy
                .wait_until(DEADLINE, |p| p.stats().open == 0)
                .await,
            "proxy connections left: {:?}",
            self.proxy.stats()
        );
        self.proxy.shutdown().await;
        self.origin.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_reset_by_the_server_is_replaced_without_a_request() {
    let rig = Rig::start(71).await;
    let accepted_before = rig.proxy.stats().accepted;
    assert_eq!(rig.proxy.inject_all(Fault::Reset), usize::from(ADDRS));
    // No request is made: the pool re-warms every address on its own.
    wait_for("a connection to every address again", DEADLINE, || {
        rig.pool.stats().rewarmed_total >= u64::from(ADDRS) && rig.hot_everywhere()
    })
    .await;
    for ip in &rig.ips {
        assert_eq!(
            rig.proxy.stats_for(*ip).accepted,
            2,
            "{ip}: the warm-up's connection and its replacement"
        );
    }
    assert_eq!(
        rig.proxy.stats().accepted,
        accepted_before + u64::from(ADDRS)
    );
    let stats = rig.pool.stats();
    assert_eq!(stats.rewarm_dials_ok, u64::from(ADDRS), "{stats:?}");
    let lost: u64 = [
        CloseReason::Broken,
        CloseReason::PeerClosed,
        CloseReason::GoAway,
        CloseReason::Lost,
    ]
    .iter()
    .map(|r| stats.closed_for(*r))
    .sum();
    assert_eq!(
        lost,
        u64::from(ADDRS),
        "every loss counted by cause: {stats:?}"
    );
    assert_eq!(stats.leases_total, 0, "no request was made");
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_origin_is_back_on_every_address_within_a_second_and_nothing_stays_banned() {
    let rig = Rig::start(72).await;
    // The origin stops: its listeners close and its connections end.
    for ip in &rig.ips {
        rig.proxy.set_fault(*ip, Fault::Refuse);
        rig.proxy.inject(*ip, Fault::Refuse);
    }
    wait_for("the host is down", DEADLINE, || {
        rig.pool.host_down_since(HOST).is_some() && rig.pool.stats().connections == 0
    })
    .await;
    let stats = rig.pool.stats();
    assert_eq!(
        stats.blacklisted, 0,
        "an outage, not {ADDRS} bans: {stats:?}"
    );
    assert_eq!(stats.host_outages_total, 1);
    // Requests fail fast with the typed error...
    match rig.pool.get(HOST).await {
        Err(Error::HostDown { host, .. }) => assert_eq!(&*host, HOST),
        Err(other) => panic!("expected HostDown, got {other}"),
        Ok(_) => panic!("expected HostDown, got a lease"),
    }
    // ...or wait for the host when they ask to.
    let patient = {
        let pool = rig.pool.clone();
        tokio::spawn(async move {
            pool.get_with(HOST, GetOptions::new().wait_for_host(true))
                .await
                .map(|lease| lease.addr())
        })
    };
    // Re-tests keep failing for a while and ban nothing.
    let dial_failures = rig.pool.stats().dial_failures;
    wait_for("a few re-tests", DEADLINE, || {
        rig.pool.stats().dial_failures >= dial_failures + 3
    })
    .await;
    assert_eq!(rig.pool.stats().blacklisted, 0);
    assert!(!patient.is_finished(), "the patient caller waits");
    // The origin is back. Counted, not timed: the re-test cadence (`outage_retest` up to
    // `outage_retest_max`) is the core's, checked on its fake clock
    // (pool-core/src/proto/tests/hot.rs); here the first re-test after the return
    // succeeds and re-warms every address — no dial fails after the return, but the one
    // re-test that may have been refused just before.
    for ip in &rig.ips {
        rig.proxy.set_fault(*ip, Fault::Pass);
    }
    let failures_at_return = rig.pool.stats().dial_failures;
    wait_for("a connection to every address", DEADLINE, || {
        rig.hot_everywhere()
    })
    .await;
    let failed_after = rig.pool.stats().dial_failures - failures_at_return;
    assert!(
        failed_after <= 1,
        "{failed_after} dials failed after the return"
    );
    let served = tokio::time::timeout(DEADLINE, patient)
        .await
        .expect("the patient caller is served")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    let stats = rig.pool.stats();
    assert_eq!((stats.blacklisted, stats.hosts_down), (0, 0), "{stats:?}");
    for ip in &rig.ips {
        assert_eq!(rig.pool.blacklisted(*ip), None, "{ip} stays usable");
    }
    assert!(rig.pool.get(HOST).await.is_ok());
    rig.finish().await;
}
