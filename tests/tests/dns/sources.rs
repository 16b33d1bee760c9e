//! Several address sources feeding one host: the refresher's DNS and a user "remote IP
//! pool" ([`AddressSource`]), merged rather than overwriting each other, each failure
//! keeping that source's last good set, each removal draining only its own addresses.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_core::{CloseReason, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_dns::{AddressSource, DnsOptions, DnsRefresher, NameServer, SourceError, StaticSource};
use pool_testkit::{DnsServer, H2Origin, H2OriginOptions, TestCa, wait_for};

const ZONE: &str = "hotpool.test";
const HOST: &str = "merged.hotpool.test";
const DEADLINE: Duration = Duration::from_secs(15);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn v4(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn pool(ca: &TestCa) -> Pool<H2Dialer> {
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.tls.conn_timeout = Duration::from_secs(5);
    let pool_options = PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        ..PoolOptions::default()
    };
    Pool::new(H2Dialer::new(options).unwrap(), pool_options).unwrap()
}

fn connected(pool: &Pool<H2Dialer>) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = pool.connections().iter().map(|c| c.addr).collect();
    addrs.sort();
    addrs
}

fn socks(ips: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    addrs.sort();
    addrs
}

/// A user's "remote IP pool": the test sets its answer, `None` makes it fail.
#[derive(Clone, Default)]
struct IpPool {
    answer: Arc<Mutex<Option<Vec<SocketAddr>>>>,
}

impl IpPool {
    fn set(&self, answer: Option<Vec<SocketAddr>>) {
        *self.answer.lock().unwrap() = answer;
    }
}

impl AddressSource for IpPool {
    async fn addrs(&self, _host: &str) -> Result<Vec<SocketAddr>, SourceError> {
        let answer = self.answer.lock().unwrap().clone();
        answer.ok_or_else(|| SourceError::new("the IP pool service is down"))
    }

    fn refresh_interval(&self) -> Duration {
        Duration::from_millis(100)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_and_a_user_source_feed_one_host_and_each_removal_drains_its_own() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(
        &[v4(2), v4(3), v4(4), V6],
        &[HOST],
        &ca,
    ))
    .await
    .unwrap();
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[v4(2), V6], 60).await.unwrap();
    let pool = pool(&ca);
    let refresher = DnsRefresher::start(
        &pool,
        DnsOptions {
            name_servers: vec![NameServer::udp(dns.addr())],
            query_timeout: Duration::from_millis(300),
            attempts: 1,
            retry_backoff: Duration::from_millis(50),
            max_retry_backoff: Duration::from_millis(200),
            ..DnsOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        refresher.add_host(HOST, port).await.unwrap(),
        socks(&[v4(2), V6], port)
    );
    // The user source shares .2 with DNS and adds .3.
    let ippool = IpPool::default();
    ippool.set(Some(socks(&[v4(2), v4(3)], port)));
    let first = refresher
        .add_source(HOST, "ippool", ippool.clone())
        .await
        .unwrap();
    assert_eq!(first.addrs, socks(&[v4(2), v4(3)], port));
    let all = socks(&[v4(2), v4(3), V6], port);
    assert_eq!(pool.addrs(HOST), all, "both sets are present");
    wait_for("every address is warmed", DEADLINE, || {
        connected(&pool) == all
    })
    .await;

    // The source fails: its last good set stays, nothing drains.
    ippool.set(None);
    wait_for("the source fails twice", DEADLINE, || {
        let s = refresher.host_status(HOST).unwrap();
        s.sources[0].consecutive_failures >= 2 && s.sources[0].last_error.is_some()
    })
    .await;
    assert_eq!(pool.addrs(HOST), all);
    assert_eq!(connected(&pool), all);
    assert_eq!(pool.stats().closed_for(CloseReason::AddressRemoved), 0);

    // It answers again with .4 instead of .3: only .3 drains.
    ippool.set(Some(socks(&[v4(2), v4(4)], port)));
    let now = socks(&[v4(2), v4(4), V6], port);
    wait_for("the source's new set applies", DEADLINE, || {
        pool.addrs(HOST) == now
    })
    .await;
    wait_for(".3 drains, .4 is warmed", DEADLINE, || {
        connected(&pool) == now
    })
    .await;
    assert_eq!(pool.stats().closed_for(CloseReason::AddressRemoved), 1);

    // A static source alongside: merged too.
    refresher
        .add_source(HOST, "pinned", StaticSource::new(socks(&[v4(3)], port)))
        .await
        .unwrap();
    let with_pinned = socks(&[v4(2), v4(3), v4(4), V6], port);
    assert_eq!(pool.addrs(HOST), with_pinned);
    assert_eq!(refresher.host_status(HOST).unwrap().sources.len(), 2);
    assert!(refresher.remove_source(HOST, "pinned"));
    assert_eq!(pool.addrs(HOST), now);

    // Removing the user source drains .4 only: .2 is still DNS's.
    assert!(refresher.remove_source(HOST, "ippool"));
    assert!(!refresher.remove_source(HOST, "ippool"));
    let dns_only = socks(&[v4(2), V6], port);
    assert_eq!(pool.addrs(HOST), dns_only);
    wait_for(".4 drains", DEADLINE, || connected(&pool) == dns_only).await;

    // The other way round: DNS leaves, the source's addresses stay.
    ippool.set(Some(socks(&[v4(3)], port)));
    refresher
        .add_source(HOST, "ippool", ippool.clone())
        .await
        .unwrap();
    assert_eq!(pool.addrs(HOST), socks(&[v4(2), v4(3), V6], port));
    assert!(refresher.remove_dns(HOST));
    assert_eq!(pool.addrs(HOST), socks(&[v4(3)], port));
    wait_for("DNS's addresses drain", DEADLINE, || {
        connected(&pool) == socks(&[v4(3)], port)
    })
    .await;
    // A late DNS answer cannot bring them back.
    assert!(!refresher.refresh_now(HOST));
    assert_eq!(pool.addrs(HOST), socks(&[v4(3)], port));

    assert!(refresher.remove_host(HOST));
    assert!(pool.addrs(HOST).is_empty());
    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}
