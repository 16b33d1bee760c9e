//! Bans by egress, fleet-wide: each egress's pool joins the fleet under a key prefix that
//! names its egress (`docs/egress.md`), so a 403 through proxy A reaches the other workers'
//! A pools and not their B pools: the address stays usable through B everywhere.

use std::sync::Arc;

use pool_core::{BlacklistReason, PoolOptions};
use pool_dial_rustls::{H1Dialer, Proxy, ProxyScheme};
use pool_testkit::proxies::{ProxyKind, ProxyServer};
use pool_testkit::{RedisServer, TestCa, eventually};

use crate::bans::{HOST, Origins, PREFIX, options};
use crate::rig::{self, WAIT};

/// The validating HTTP/1.1 dialer of the fleet tests, through `proxy`.
fn through(ca: &TestCa, proxy: &ProxyServer, scheme: ProxyScheme) -> H1Dialer {
    let mut options = rig::dialer(ca, true).options().clone();
    let at = proxy.addr();
    options.proxy = Some(Proxy::new(scheme, at.ip().to_string(), at.port()));
    H1Dialer::new(options).unwrap()
}

/// The fleet prefix of an egress: the hotpool prefix, then the egress (its proxy's
/// `host:port` with `:` as `_`, a key-safe spelling).
fn egress_prefix(proxy: &ProxyServer) -> String {
    format!(
        "{PREFIX}egress:{}:",
        proxy.addr().to_string().replace(':', "_")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_through_one_proxy_reaches_that_egress_only_fleet_wide() {
    let redis = RedisServer::start().unwrap();
    let ca = Arc::new(TestCa::new().unwrap());
    let origins = Origins::start(&ca, 180, 181).await;
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let (a, b) = (egress_prefix(&squid), egress_prefix(&socks));
    let addrs = origins.addrs();
    let join = |prefix: &str, dialer: H1Dialer, options: PoolOptions| {
        let cfg = rig::fleet_config(&redis, prefix);
        rig::member(cfg, dialer, options, HOST, &addrs)
    };
    // Worker 1 through A; worker 2 through A and through B.
    let (w1_a, _f1) = join(&a, through(&ca, &squid, ProxyScheme::Http), options()).await;
    let (w2_a, _f2a) = join(&a, through(&ca, &squid, ProxyScheme::Http), options()).await;
    let (w2_b, _f2b) = join(&b, through(&ca, &socks, ProxyScheme::Socks5), options()).await;
    let bad = origins.bad_ip();

    let report = w1_a.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (1, 1), "{report:?}");
    eventually("worker 2's A pool applies the ban", WAIT, || {
        w2_a.blacklisted(bad).is_some()
    })
    .await
    .unwrap();
    assert_eq!(w2_a.blacklisted(bad), Some(BlacklistReason::Banned));
    assert_eq!(
        w2_b.blacklisted(bad),
        None,
        "B is another egress: not banned there"
    );

    // The origin stops refusing B's exit (here: everyone); B uses the address, A still not.
    origins.bad.set_status("/check", 200);
    let report = w2_b.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (2, 0), "{report:?}");
    let report = w2_a.warm(HOST).await;
    assert_eq!(
        report.ok, 1,
        "A keeps its ban until it expires or a re-test lifts it"
    );
    for pool in [w1_a, w2_a, w2_b] {
        pool.close().await;
    }
    origins.shutdown().await;
}
