//! Per-family DNS state end to end: a hickory-server zone that answers A and AAAA with
//! different failures while the test runs, a real TLS + HTTP/2 origin on 127.0.0.x and
//! `[::1]`, pool-dial-rustls's `H2Dialer`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{CloseReason, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_dns::{DnsOptions, DnsRefresher, FailureKind, HostStatus, IpFamily, NameServer};
use pool_testkit::{DnsFamily, DnsMode, DnsServer, H2Origin, H2OriginOptions, TestCa, wait_for};

const ZONE: &str = "hotpool.test";
const HOST: &str = "dual.hotpool.test";
/// Every wait in these tests is bounded by this.
const DEADLINE: Duration = Duration::from_secs(15);

fn v4(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn pool(ca: &TestCa) -> Pool<H2Dialer> {
    let mut options = H2Options::default();
    options.tls.trust.webpki_roots = false;
    options.tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.tls.conn_timeout = Duration::from_secs(5);
    options.tls.test_timeout = Duration::from_secs(5);
    let pool_options = PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        ..PoolOptions::default()
    };
    Pool::new(H2Dialer::new(options).unwrap(), pool_options).unwrap()
}

/// Short timeouts and backoff: a failing family is retried every 50-200 ms.
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

fn status(refresher: &DnsRefresher) -> HostStatus {
    refresher.host_status(HOST).unwrap()
}

fn v6_error(refresher: &DnsRefresher) -> Option<FailureKind> {
    status(refresher)
        .family(IpFamily::V6)
        .and_then(|f| f.last_error.as_ref().map(|e| e.kind))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_family_keeps_its_answer_and_connections_while_the_other_applies() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[v4(2), v4(3), V6], &[HOST], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[v4(2), V6], 0).await.unwrap();
    let pool = pool(&ca);
    let refresher = DnsRefresher::start(&pool, dns_options(&dns)).unwrap();
    let first = refresher.add_host(HOST, port).await.unwrap();
    assert_eq!(first, socks(&[v4(2), V6], port));
    wait_for(
        "both families are warmed (IPv6 over [::1])",
        DEADLINE,
        || connected(&pool) == socks(&[v4(2), V6], port),
    )
    .await;

    // Each failure of AAAA alone, while the A answer changes: the A change applies, the
    // IPv6 address and its connection stay.
    let steps = [
        (DnsMode::Refused, FailureKind::Refused),
        (DnsMode::ServFail, FailureKind::ServFail),
        (DnsMode::Silent, FailureKind::Timeout),
        (DnsMode::NoData, FailureKind::NoData),
    ];
    let mut last = 2;
    for (n, (mode, kind)) in steps.into_iter().enumerate() {
        dns.set_family_mode(DnsFamily::V6, mode);
        let next = if last == 2 { 3 } else { 2 };
        dns.set_addrs(HOST, &[v4(next), V6], 0).await.unwrap();
        let want = socks(&[v4(next), V6], port);
        wait_for(&format!("{kind:?}: the A change applies"), DEADLINE, || {
            pool.addrs(HOST) == want && v6_error(&refresher) == Some(kind)
        })
        .await;
        wait_for(
            &format!("{kind:?}: the new IPv4 address is warmed"),
            DEADLINE,
            || connected(&pool) == want,
        )
        .await;
        let s = status(&refresher);
        let v6 = s.family(IpFamily::V6).unwrap();
        assert_eq!(
            v6.ips,
            vec![V6],
            "{kind:?}: the last good AAAA answer is kept"
        );
        assert!(s.family(IpFamily::V4).unwrap().last_error.is_none());
        assert_eq!(
            pool.stats().closed_for(CloseReason::AddressRemoved),
            n as u64 + 1,
            "{kind:?}: only the replaced IPv4 address drained"
        );
        last = next;
    }

    // AAAA answers again: noticed at the next lookup, the failure is forgotten.
    dns.set_family_mode(DnsFamily::V6, DnsMode::Normal);
    wait_for("AAAA recovers", DEADLINE, || {
        let s = status(&refresher);
        let v6 = s.family(IpFamily::V6).unwrap();
        v6.last_error.is_none() && v6.last_success.is_some() && s.last_error.is_none()
    })
    .await;
    assert_eq!(connected(&pool), socks(&[v4(last), V6], port));

    // Now A fails alone, with every kind but NXDOMAIN: the IPv6 side is untouched and the
    // IPv4 address is kept.
    for (mode, kind) in [
        (DnsMode::Refused, FailureKind::Refused),
        (DnsMode::Silent, FailureKind::Timeout),
    ] {
        dns.set_family_mode(DnsFamily::V4, mode);
        wait_for(&format!("A {kind:?} is seen"), DEADLINE, || {
            let s = status(&refresher);
            s.family(IpFamily::V4)
                .unwrap()
                .last_error
                .as_ref()
                .map(|e| e.kind)
                == Some(kind)
                && s.consecutive_failures >= 2
        })
        .await;
        assert_eq!(pool.addrs(HOST), socks(&[v4(last), V6], port));
        assert_eq!(connected(&pool), socks(&[v4(last), V6], port));
    }
    dns.set_family_mode(DnsFamily::V4, DnsMode::Normal);
    wait_for("A recovers", DEADLINE, || {
        status(&refresher).last_error.is_none()
    })
    .await;

    let stats = refresher.stats();
    assert_eq!(stats.failures_of(FailureKind::Other), 0, "{stats:?}");
    assert!(stats.failures_of(FailureKind::Refused) >= 2, "{stats:?}");
    let v6 = &stats.families[1];
    assert_eq!(v6.family, Some(IpFamily::V6));
    assert!(v6.failures >= 2 && v6.failing_hosts == 0, "{stats:?}");
    assert_eq!(stats.families.iter().map(|f| f.dropped).sum::<u64>(), 0);
    assert_eq!(pool.stats().closed_for(CloseReason::AddressRemoved), 4);

    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_that_never_answered_contributes_nothing() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[v4(4), V6], &[HOST], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[v4(4), V6], 0).await.unwrap();
    dns.set_family_mode(DnsFamily::V6, DnsMode::Refused);
    let pool = pool(&ca);
    let refresher = DnsRefresher::start(&pool, dns_options(&dns)).unwrap();
    // The host resolves from A alone; the refused family is reported.
    let first = refresher.add_host(HOST, port).await.unwrap();
    assert_eq!(first, socks(&[v4(4)], port));
    wait_for("the IPv4 address is warmed", DEADLINE, || {
        connected(&pool) == socks(&[v4(4)], port)
    })
    .await;
    let s = status(&refresher);
    let v6 = s.family(IpFamily::V6).unwrap();
    assert!(v6.ips.is_empty() && v6.last_success.is_none());
    let error = v6.last_error.clone().unwrap();
    assert_eq!(
        (error.kind, error.family),
        (FailureKind::Refused, Some(IpFamily::V6))
    );
    assert_eq!(s.last_error.map(|e| e.kind), Some(FailureKind::Refused));

    // AAAA starts answering: its address joins at the next retry and is warmed.
    dns.set_family_mode(DnsFamily::V6, DnsMode::Normal);
    wait_for("the IPv6 address joins", DEADLINE, || {
        connected(&pool) == socks(&[v4(4), V6], port)
    })
    .await;

    // Both families refused from the start: the first resolution fails, nothing is fed.
    dns.set_addrs("refused.hotpool.test", &[v4(4)], 0)
        .await
        .unwrap();
    dns.set_mode(DnsMode::Refused);
    let err = refresher
        .add_host("refused.hotpool.test", port)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Refused);
    assert!(pool.addrs("refused.hotpool.test").is_empty());

    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_drains_only_after_confirmations_in_a_row() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[v4(5), V6], &[HOST], &ca))
        .await
        .unwrap();
    let port = origin.port();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(HOST, &[v4(5), V6], 3600).await.unwrap();
    let pool = pool(&ca);
    // Nothing is retried on its own: every lookup below is a `refresh_now`.
    let options = DnsOptions {
        retry_backoff: Duration::from_secs(3600),
        max_retry_backoff: Duration::from_secs(3600),
        nxdomain_confirmations: 3,
        ..dns_options(&dns)
    };
    let refresher = DnsRefresher::start(&pool, options).unwrap();
    refresher.add_host(HOST, port).await.unwrap();
    let both = socks(&[v4(5), V6], port);
    wait_for("both families are warmed", DEADLINE, || {
        connected(&pool) == both
    })
    .await;

    let lookups = |r: &DnsRefresher| status(r).resolutions;
    let refresh = async |round: u64, what: &str| {
        let before = lookups(&refresher);
        assert!(refresher.refresh_now(HOST));
        wait_for(what, DEADLINE, || lookups(&refresher) >= before + round).await;
    };
    dns.remove(HOST).await.unwrap();
    refresh(2, "first NXDOMAIN").await;
    refresh(2, "second NXDOMAIN").await;
    assert_eq!(
        pool.addrs(HOST),
        both,
        "two NXDOMAIN answers of three drain nothing"
    );
    // A SERVFAIL in between breaks the streak.
    dns.set_mode(DnsMode::ServFail);
    refresh(2, "SERVFAIL").await;
    dns.set_mode(DnsMode::Normal);
    refresh(2, "NXDOMAIN after the break").await;
    refresh(2, "NXDOMAIN again").await;
    let s = status(&refresher);
    assert_eq!(s.family(IpFamily::V4).unwrap().nxdomain_streak, 2, "{s:?}");
    assert_eq!(pool.addrs(HOST), both);
    assert_eq!(
        connected(&pool),
        both,
        "nothing drained on a transient answer"
    );

    refresh(2, "the third NXDOMAIN in a row").await;
    assert!(
        pool.addrs(HOST).is_empty(),
        "a confirmed NXDOMAIN removes the host"
    );
    wait_for("every connection drains", DEADLINE, || {
        connected(&pool).is_empty()
    })
    .await;
    let stats = refresher.stats();
    assert_eq!(
        stats.families.iter().map(|f| f.dropped).sum::<u64>(),
        2,
        "{stats:?}"
    );
    assert_eq!(pool.stats().closed_for(CloseReason::AddressRemoved), 2);

    refresher.stop().await;
    pool.close().await;
    origin.shutdown().await;
    dns.shutdown().await;
}
