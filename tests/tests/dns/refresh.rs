//! pool-dns end to end: a real hickory-server zone the tests change while the pool runs,
//! real TLS + HTTP/2 origins on 127.0.0.x, pool-dial-rustls's `H2Dialer`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{CloseReason, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_dns::{DnsOptions, DnsRefresher, FailureKind, HostSource, IpPreference, NameServer};
use pool_testkit::{DnsMode, DnsServer, H2Origin, H2OriginOptions, TestCa, wait_for};

const ZONE: &str = "hotpool.test";
const HOST: &str = "www.hotpool.test";
/// Every wait in these tests is bounded by this.
const DEADLINE: Duration = Duration::from_secs(10);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn sock(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(ip(last), port)
}

fn dialer(ca: &TestCa) -> H2Dialer {
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.tls.conn_timeout = Duration::from_secs(5);
    options.tls.test_timeout = Duration::from_secs(5);
    H2Dialer::new(options).unwrap()
}

fn pool(ca: &TestCa) -> Pool<H2Dialer> {
    let options = PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        ..PoolOptions::default()
    };
    Pool::new(dialer(ca), options).unwrap()
}

/// Refresher options for tests: this server, short timeouts, a TTL floor of 100 ms and an
/// update interval long enough that only TTLs drive re-resolution.
fn dns_options(dns: &DnsServer) -> DnsOptions {
    DnsOptions {
        name_servers: vec![NameServer::udp(dns.addr())],
        min_ttl: Duration::from_millis(100),
        dns_update_interval: Duration::from_secs(3600),
        query_timeout: Duration::from_millis(300),
        attempts: 1,
        retry_backoff: Duration::from_millis(50),
        max_retry_backoff: Duration::from_millis(200),
        ..DnsOptions::default()
    }
}

async fn origin(ca: &Arc<TestCa>, lasts: &[u8]) -> H2Origin {
    let addrs: Vec<IpAddr> = lasts.iter().map(|n| ip(*n)).collect();
    H2Origin::start(H2OriginOptions::new(&addrs, &[HOST], ca))
        .await
        .unwrap()
}

fn connected(pool: &Pool<H2Dialer>) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = pool.connections().iter().map(|c| c.addr).collect();
    addrs.sort();
    addrs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_address_is_warmed_and_removed_ones_drain() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[2, 3, 4, 5]).await;
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[ip(2), ip(3), ip(5)], 1)
        .await
        .unwrap();

    let pool = pool(&ca);
    let refresher = DnsRefresher::start(&pool, dns_options(&dns)).unwrap();
    let first = refresher.add_host(HOST, port).await.unwrap();
    assert_eq!(first, vec![sock(2, port), sock(3, port), sock(5, port)]);
    assert_eq!(pool.addrs(HOST), first);
    // Every address is warmed without a single `get`.
    wait_for("the three addresses are warmed", DEADLINE, || {
        connected(&pool) == first
    })
    .await;
    assert_eq!(pool.stats().leases_total, 0);

    // Hold a lease on the connection to .3, which is about to leave the answer.
    let mut leases = Vec::new();
    while leases.len() < 3 {
        leases.push(pool.get(HOST).await.unwrap());
    }
    leases.retain(|l| l.addr() == sock(3, port));
    assert_eq!(leases.len(), 1);

    // .3 and .5 leave, .4 arrives; the TTL of 1 s (not the 1 h interval) drives it.
    dns.set_addrs(HOST, &[ip(2), ip(4)], 1).await.unwrap();
    wait_for("the new answer reaches the pool", DEADLINE, || {
        pool.addrs(HOST) == vec![sock(2, port), sock(4, port)]
    })
    .await;
    wait_for(".4 is warmed", DEADLINE, || {
        connected(&pool).contains(&sock(4, port))
    })
    .await;
    // .5 was idle: closed at once. .3 is leased: it drains and stays open until release.
    wait_for("the origin sees .5 closed", DEADLINE, || {
        origin.stats_for(ip(5)).unwrap().open_connections == 0
    })
    .await;
    assert_eq!(origin.stats_for(ip(3)).unwrap().open_connections, 1);
    assert_eq!(pool.stats().draining, 1);
    assert!(connected(&pool).contains(&sock(3, port)));

    drop(leases);
    wait_for(
        "the drained .3 connection closes at release",
        DEADLINE,
        || {
            !connected(&pool).contains(&sock(3, port))
                && origin.stats_for(ip(3)).unwrap().open_connections == 0
        },
    )
    .await;
    assert_eq!(connected(&pool), vec![sock(2, port), sock(4, port)]);
    assert_eq!(pool.stats().closed_for(CloseReason::AddressRemoved), 2);

    let stats = refresher.stats();
    assert_eq!(stats.addrs_added, 4, "{stats:?}");
    assert_eq!(stats.addrs_removed, 2, "{stats:?}");
    assert_eq!(stats.changes, 2, "{stats:?}");
    assert_eq!(stats.warms, 2, "{stats:?}");
    assert_eq!(stats.failures, 0, "{stats:?}");

    pool.close().await;
    wait_for("the refresher stops with the pool", DEADLINE, || {
        refresher.is_stopped()
    })
    .await;
    refresher.stop().await;
    origin.shutdown().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_interval_and_floor_decide_the_next_resolution() {
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    let ca = TestCa::new().unwrap();
    let pool = pool(&ca);
    let options = DnsOptions {
        warm_new_addrs: false,
        ..dns_options(&dns)
    };

    // The delay the refresher chose after its last answer.
    let scheduled = |refresher: &DnsRefresher| {
        let status = refresher.host_status(HOST).unwrap();
        status.next_refresh.unwrap() - status.last_success.unwrap()
    };
    let near = |d: Duration, want: Duration| d.abs_diff(want) < Duration::from_millis(50);

    // TTL 2 s, interval 1 h: the TTL wins.
    dns.set_addrs(HOST, &[ip(2)], 2).await.unwrap();
    let refresher = DnsRefresher::start(&pool, options.clone()).unwrap();
    refresher.add_host(HOST, 443).await.unwrap();
    let status = refresher.host_status(HOST).unwrap();
    assert_eq!(status.ttl, Some(Duration::from_secs(2)));
    assert!(near(scheduled(&refresher), Duration::from_secs(2)));

    // TTL 1 h, interval 300 ms: the interval wins, and it really re-resolves.
    dns.set_addrs(HOST, &[ip(2)], 3600).await.unwrap();
    refresher.stop().await;
    let refresher = DnsRefresher::start(
        &pool,
        DnsOptions {
            dns_update_interval: Duration::from_millis(300),
            ..options.clone()
        },
    )
    .unwrap();
    refresher.add_host(HOST, 443).await.unwrap();
    assert!(near(scheduled(&refresher), Duration::from_millis(300)));
    dns.set_addrs(HOST, &[ip(3)], 3600).await.unwrap();
    wait_for("the interval re-resolves", DEADLINE, || {
        pool.addrs(HOST) == vec![sock(3, 443)]
    })
    .await;

    // TTL 0: the floor (min_ttl) keeps it from spinning.
    dns.set_addrs(HOST, &[ip(2)], 0).await.unwrap();
    refresher.stop().await;
    let refresher = DnsRefresher::start(
        &pool,
        DnsOptions {
            min_ttl: Duration::from_millis(250),
            ..options.clone()
        },
    )
    .unwrap();
    refresher.add_host(HOST, 443).await.unwrap();
    assert!(near(scheduled(&refresher), Duration::from_millis(250)));
    let before = refresher.stats().resolutions;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let during = refresher.stats().resolutions - before;
    // ~4 in one second at a 250 ms floor; a spinning loop would make thousands.
    assert!((2..=6).contains(&during), "{during} resolutions in 1 s");

    // Stopped: no more queries. A lookup already on the wire when `stop` returned (one per
    // family, A and AAAA) may still reach the server after it; nothing is sent after that (a
    // refresher still running at its 250 ms floor would send several in the next 400 ms).
    refresher.stop().await;
    let at_stop = dns.queries();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let settled = dns.queries();
    assert!(
        settled - at_stop <= 2,
        "{} queries arrived after stop",
        settled - at_stop
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(dns.queries(), settled, "a stopped refresher sends nothing");
    assert!(refresher.is_stopped());
    pool.close().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_servfail_and_silence_keep_the_last_good_answer() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[2, 3]).await;
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[ip(2), ip(3)], 0).await.unwrap();
    let pool = pool(&ca);
    // NXDOMAIN never confirmed here (the drain after confirmations is tested in
    // dns_families.rs).
    let options = DnsOptions {
        nxdomain_confirmations: u32::MAX,
        ..dns_options(&dns)
    };
    let refresher = DnsRefresher::start(&pool, options).unwrap();
    let good = refresher.add_host(HOST, port).await.unwrap();
    wait_for("both addresses are warmed", DEADLINE, || {
        connected(&pool) == good
    })
    .await;

    let failed = |kind: FailureKind| refresher.stats().failures_of(kind);
    let keeps_answer = |pool: &Pool<H2Dialer>| {
        assert_eq!(pool.addrs(HOST), good, "the last good answer is kept");
        assert_eq!(connected(pool), good, "no connection is drained");
    };

    // NXDOMAIN.
    dns.remove(HOST).await.unwrap();
    wait_for("NXDOMAIN is seen twice", DEADLINE, || {
        failed(FailureKind::NxDomain) >= 2
    })
    .await;
    keeps_answer(&pool);
    let status = refresher.host_status(HOST).unwrap();
    assert!(status.consecutive_failures >= 2, "{status:?}");
    assert_eq!(
        status.last_error.map(|e| e.kind),
        Some(FailureKind::NxDomain)
    );

    // SERVFAIL.
    dns.set_addrs(HOST, &[ip(2), ip(3)], 0).await.unwrap();
    dns.set_mode(DnsMode::ServFail);
    wait_for("SERVFAIL is seen", DEADLINE, || {
        failed(FailureKind::ServFail) >= 1
    })
    .await;
    keeps_answer(&pool);

    // A silent server: the query times out.
    dns.set_mode(DnsMode::Silent);
    wait_for("a timeout is seen", DEADLINE, || {
        failed(FailureKind::Timeout) >= 1
    })
    .await;
    keeps_answer(&pool);

    // Answers again, with a change: applied, the failure streak ends.
    dns.set_mode(DnsMode::Normal);
    dns.set_addrs(HOST, &[ip(2)], 0).await.unwrap();
    wait_for("the new answer is applied", DEADLINE, || {
        pool.addrs(HOST) == vec![sock(2, port)]
    })
    .await;
    wait_for("the removed address drains", DEADLINE, || {
        connected(&pool) == vec![sock(2, port)]
    })
    .await;
    let status = refresher.host_status(HOST).unwrap();
    assert_eq!(status.consecutive_failures, 0);
    assert!(status.last_error.is_none());
    let stats = refresher.stats();
    assert_eq!(stats.failures, stats.resolutions - stats.resolved);
    assert_eq!(stats.failures_of(FailureKind::Other), 0, "{stats:?}");

    // A host that never resolved: the error comes back, the pool has no address for it.
    let err = refresher
        .add_host("nowhere.hotpool.test", port)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::NxDomain);
    assert!(pool.addrs("nowhere.hotpool.test").is_empty());

    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_hosts_tcp_name_servers_and_family_preference() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = origin(&ca, &[6, 7]).await;
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    let pool = pool(&ca);

    // Static: fed and warmed with no DNS query at all; removal drains.
    let refresher = DnsRefresher::start(&pool, dns_options(&dns)).unwrap();
    let pinned = vec![sock(6, port), sock(7, port)];
    let change = refresher.add_static(HOST, pinned.clone());
    assert_eq!(change.added, pinned);
    wait_for("static addresses are warmed", DEADLINE, || {
        connected(&pool) == pinned
    })
    .await;
    assert_eq!(dns.queries(), 0);
    let status = refresher.host_status(HOST).unwrap();
    assert_eq!(status.source, HostSource::Static);
    assert_eq!(status.next_refresh, None);
    assert_eq!(refresher.stats().static_hosts, 1);
    assert!(
        !refresher.refresh_now(HOST),
        "static hosts are not resolved"
    );
    assert!(refresher.remove_host(HOST));
    wait_for("removed host drains", DEADLINE, || {
        connected(&pool).is_empty()
    })
    .await;
    assert!(refresher.hosts().is_empty());
    refresher.stop().await;

    // A TCP name server, and each family preference.
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    dns.set_addrs("dual.hotpool.test", &[ip(2), v6], 60)
        .await
        .unwrap();
    dns.set_addrs("v6only.hotpool.test", &[v6], 60)
        .await
        .unwrap();
    for (prefer, dual, v6only) in [
        (IpPreference::Both, vec![ip(2), v6], Some(vec![v6])),
        (IpPreference::Ipv4, vec![ip(2)], None),
        (IpPreference::Ipv6, vec![v6], Some(vec![v6])),
        (IpPreference::PreferIpv4, vec![ip(2)], Some(vec![v6])),
        (IpPreference::PreferIpv6, vec![v6], Some(vec![v6])),
    ] {
        let refresher = DnsRefresher::start(
            &pool,
            DnsOptions {
                name_servers: vec![NameServer::tcp(dns.addr())],
                prefer,
                warm_new_addrs: false,
                ..dns_options(&dns)
            },
        )
        .unwrap();
        let got = refresher.add_host("dual.hotpool.test", 443).await.unwrap();
        let want: Vec<SocketAddr> = dual.iter().map(|ip| SocketAddr::new(*ip, 443)).collect();
        assert_eq!(got, want, "{prefer:?}");
        let got = refresher.add_host("v6only.hotpool.test", 443).await;
        match v6only {
            Some(ips) => assert_eq!(
                got.unwrap(),
                ips.iter()
                    .map(|ip| SocketAddr::new(*ip, 443))
                    .collect::<Vec<_>>(),
                "{prefer:?}"
            ),
            None => assert_eq!(got.unwrap_err().kind, FailureKind::NoData, "{prefer:?}"),
        }
        refresher.stop().await;
    }
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}
