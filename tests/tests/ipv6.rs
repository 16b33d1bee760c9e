//! IPv6 end to end over `[::1]`: dial, TLS, HTTP/2 requests, family-matched source
//! addresses (a static IPv4 one and an IPv6 prefix), blacklisting of an IPv6 address on its
//! own, mixed-family hosts from DNS, and RFC 8305 ordering (a new host is warmed from
//! whichever family answers first).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{IpRange, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options, SourceAddrs};
use pool_dns::{DnsOptions, DnsRefresher, NameServer};
use pool_testkit::{DnsFamily, DnsMode, DnsServer, H2Origin, H2OriginOptions, TestCa, wait_for};

const ZONE: &str = "hotpool.test";
const HOST: &str = "six.hotpool.test";
const V6_ONLY: &str = "only6.hotpool.test";
const DEADLINE: Duration = Duration::from_secs(15);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn v4(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

mod common;
use common::{get, trust};

fn h2_options(ca: &TestCa) -> H2Options {
    let mut options = H2Options::default();
    options.tls.trust = trust(ca);
    options.tls.conn_timeout = Duration::from_secs(5);
    options
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        ..PoolOptions::default()
    }
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

fn dns_options(dns: &DnsServer) -> DnsOptions {
    DnsOptions {
        name_servers: vec![NameServer::udp(dns.addr())],
        query_timeout: Duration::from_millis(300),
        attempts: 1,
        retry_backoff: Duration::from_millis(50),
        max_retry_backoff: Duration::from_millis(200),
        ..DnsOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_dial_tls_http2_and_family_matched_source_addresses() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[v4(2), V6], &[HOST, V6_ONLY], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[v4(2), V6], 60).await.unwrap();
    // IPv4 targets bind 127.0.0.20; IPv6 targets draw from the ::1/128 prefix.
    let mut options = h2_options(&ca);
    let prefix: IpRange = "::1/128".parse().unwrap();
    options.tls.source_addrs = SourceAddrs::new(vec![v4(20)], Some(prefix));
    let pool = Pool::new(H2Dialer::new(options).unwrap(), pool_options()).unwrap();
    let refresher = DnsRefresher::start(&pool, dns_options(&dns)).unwrap();

    // A mixed-family host from DNS: both families dialed, TLS and HTTP/2 over each.
    let both = socks(&[v4(2), V6], port);
    assert_eq!(refresher.add_host(HOST, port).await.unwrap(), both);
    wait_for("both families are warmed", DEADLINE, || {
        connected(&pool) == both
    })
    .await;
    let six = origin.stats_for(V6).unwrap();
    assert_eq!((six.handshakes, six.h2_connections), (1, 1), "{six:?}");
    assert!(six.peers.iter().all(|p| p.ip() == V6), "{six:?}");
    let four = origin.stats_for(v4(2)).unwrap();
    assert!(
        four.peers.iter().all(|p| p.ip() == v4(20)),
        "the IPv4 connection is bound to the IPv4 source: {four:?}"
    );

    // An IPv6-only host: requests over [::1].
    refresher.add_static(V6_ONLY, socks(&[V6], port));
    for i in 0..3 {
        let response = pool_http::send(&pool, V6_ONLY, get(&format!("/six/{i}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(origin.stats_for(V6).unwrap().requests >= 3);
    assert_eq!(origin.stats_for(v4(2)).unwrap().requests, 0);

    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_address_is_blacklisted_on_its_own() {
    let ca = Arc::new(TestCa::new().unwrap());
    // The origin listens on IPv4 only: [::1] on its port refuses.
    let origin = H2Origin::start(H2OriginOptions::new(&[v4(3)], &[HOST], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let addrs = socks(&[v4(3), V6], port);
    let pool = Pool::new(
        H2Dialer::new(h2_options(&ca)).unwrap(),
        PoolOptions {
            max_retries: 1,
            ..pool_options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, addrs.clone());
    let report = pool.warm(HOST).await;
    assert_eq!((report.ok, report.failed), (1, 1), "{report:?}");
    wait_for("[::1] is blacklisted", DEADLINE, || {
        pool.stats().blacklisted == 1
    })
    .await;
    assert_eq!(connected(&pool), socks(&[v4(3)], port));
    let response = pool_http::send(&pool, HOST, get("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response); // its body holds the lease; close() waits for every lease
    pool.close().await;

    // A static blacklist entry for ::1/128: never dialed at all.
    let pool = Pool::new(
        H2Dialer::new(h2_options(&ca)).unwrap(),
        PoolOptions {
            blacklist: vec!["::1/128".parse().unwrap()],
            ..pool_options()
        },
    )
    .unwrap();
    pool.set_addrs(HOST, addrs);
    let report = pool.warm(HOST).await;
    // Two addresses, one allowed: [::1] is outside what may be dialed.
    assert_eq!(pool.addrs(HOST).len(), 2);
    assert_eq!(
        (report.addresses, report.ok, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(pool.stats().dial_failures, 0);
    pool.close().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_is_warmed_from_the_family_that_answers_first() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[v4(6), V6], &[HOST], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[v4(6), V6], 60).await.unwrap();
    // AAAA is slow (never answered: it times out after 3 s); A answers at once.
    dns.set_family_mode(DnsFamily::V6, DnsMode::Silent);
    let pool = Pool::new(H2Dialer::new(h2_options(&ca)).unwrap(), pool_options()).unwrap();
    let refresher = Arc::new(
        DnsRefresher::start(
            &pool,
            DnsOptions {
                query_timeout: Duration::from_secs(3),
                ..dns_options(&dns)
            },
        )
        .unwrap(),
    );
    let adding = tokio::spawn({
        let refresher = refresher.clone();
        async move { refresher.add_host(HOST, port).await }
    });
    wait_for("the IPv4 address is warmed first", DEADLINE, || {
        connected(&pool) == socks(&[v4(6)], port)
    })
    .await;
    assert!(
        !adding.is_finished(),
        "the A answer was applied and warmed while AAAA was still pending"
    );
    assert_eq!(adding.await.unwrap().unwrap(), socks(&[v4(6)], port));

    // AAAA answers at its next retry: the IPv6 address is warmed after.
    dns.set_family_mode(DnsFamily::V6, DnsMode::Normal);
    wait_for("the IPv6 address follows", DEADLINE, || {
        connected(&pool) == socks(&[v4(6), V6], port)
    })
    .await;

    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}
