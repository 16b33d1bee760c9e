//! Encrypted resolvers and the system configuration, end to end: a hickory-server zone
//! served over DNS-over-TLS and DNS-over-HTTPS with the testkit CA, pool-dns resolving
//! through each (its rustls config built by pool-rustls from the same `Trust` as the
//! dialers), and a resolv.conf file pointing at the zone.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{CloseReason, Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_dns::{DnsOptions, DnsRefresher, FailureKind, IpFamily, NameServer, Trust};
use pool_testkit::{
    DnsServer, DnsServerOptions, DnsTlsOptions, Fault, FaultProxy, H2Origin, H2OriginOptions,
    TestCa, wait_for,
};

const ZONE: &str = "hotpool.test";
const HOST: &str = "www.hotpool.test";
/// The name in the DNS server's certificate.
const DNS_NAME: &str = "dns.hotpool.test";
/// Every wait in these tests is bounded by this.
const DEADLINE: Duration = Duration::from_secs(15);

fn v4(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn trusting(ca: &TestCa) -> Trust {
    Trust {
        webpki_roots: false,
        extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
        ..Trust::default()
    }
}

fn pool(ca: &TestCa) -> Pool<H2Dialer> {
    let mut options = H2Options::default();
    options.tls.trust = trusting(ca);
    options.tls.conn_timeout = Duration::from_secs(5);
    let pool_options = PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        ..PoolOptions::default()
    };
    Pool::new(H2Dialer::new(options).unwrap(), pool_options).unwrap()
}

fn dns_options(server: NameServer, tls: Trust) -> DnsOptions {
    DnsOptions {
        name_servers: vec![server],
        tls,
        query_timeout: Duration::from_secs(3),
        attempts: 1,
        ..DnsOptions::default()
    }
}

async fn tls_zone(ca: &Arc<TestCa>) -> DnsServer {
    DnsServer::start(DnsServerOptions {
        zones: vec![ZONE.to_owned()],
        tls: Some(DnsTlsOptions::new(ca, &[DNS_NAME])),
        ..DnsServerOptions::default()
    })
    .await
    .unwrap()
}

fn socks(ips: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_and_doh_resolve_a_host_that_is_then_warmed() {
    let ca = Arc::new(TestCa::new().unwrap());
    let ips = [v4(2), v4(3)];
    let origin = H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca))
        .await
        .unwrap();
    let dns = tls_zone(&ca).await;
    dns.set_addrs(HOST, &ips, 60).await.unwrap();
    let servers = [
        NameServer::tls(dns.tls_addr().unwrap(), DNS_NAME),
        NameServer::https(dns.https_addr().unwrap(), DNS_NAME),
    ];
    for server in servers {
        let what = server.protocol.as_str();
        let before = dns.queries();
        let pool = pool(&ca);
        let refresher = DnsRefresher::start(&pool, dns_options(server, trusting(&ca))).unwrap();
        let addrs = refresher.add_host(HOST, origin.port()).await.unwrap();
        assert_eq!(addrs, socks(&ips, origin.port()), "{what}");
        assert!(dns.queries() >= before + 2, "{what}: A and AAAA asked");
        wait_for(
            &format!("{what}: every address is warmed"),
            DEADLINE,
            || pool.connections().len() == ips.len(),
        )
        .await;
        refresher.stop().await;
        pool.close().await;
    }
    dns.shutdown().await;
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_tls_name_or_an_untrusted_ca_is_a_typed_tls_failure() {
    let ca = Arc::new(TestCa::new().unwrap());
    let other_ca = TestCa::new().unwrap();
    let dns = tls_zone(&ca).await;
    dns.set_addrs(HOST, &[v4(2)], 60).await.unwrap();
    let (dot, doh) = (dns.tls_addr().unwrap(), dns.https_addr().unwrap());
    let cases = [
        (
            "DoT, wrong name",
            NameServer::tls(dot, "other.hotpool.test"),
            trusting(&ca),
        ),
        (
            "DoH, wrong name",
            NameServer::https(doh, "other.hotpool.test"),
            trusting(&ca),
        ),
        (
            "DoT, untrusted CA",
            NameServer::tls(dot, DNS_NAME),
            trusting(&other_ca),
        ),
        (
            "DoH, untrusted CA",
            NameServer::https(doh, DNS_NAME),
            trusting(&other_ca),
        ),
    ];
    for (what, server, trust) in cases {
        let pool = pool(&ca);
        let refresher = DnsRefresher::start(&pool, dns_options(server, trust)).unwrap();
        let e = refresher.add_host(HOST, 443).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::Tls, "{what}: {e}");
        assert!(pool.addrs(HOST).is_empty(), "{what}");
        refresher.stop().await;
        pool.close().await;
    }
    // No query ever got through a failed handshake.
    assert_eq!(dns.queries(), 0);
    dns.shutdown().await;
}

/// A server whose certificate stops matching `tls_name` while the host is warm: lookups fail
/// as `Tls`, the addresses and connections stay (only NXDOMAIN removes), and the lookups
/// after the certificate's return succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_failure_mid_run_keeps_the_addresses_and_recovers() {
    let ca = Arc::new(TestCa::new().unwrap());
    let ips = [v4(2), v4(3)];
    let origin = H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca))
        .await
        .unwrap();
    let dns = tls_zone(&ca).await;
    dns.set_addrs(HOST, &ips, 0).await.unwrap();
    let (dot, doh) = (dns.tls_addr().unwrap(), dns.https_addr().unwrap());
    for upstream in [dot, doh] {
        // A proxy in front of the listener, to cut the resolver's open connection.
        let proxy = FaultProxy::start(&[v4(1)], upstream).await.unwrap();
        let front = proxy.socket_addr(v4(1));
        let server = if upstream == dot {
            NameServer::tls(front, DNS_NAME)
        } else {
            NameServer::https(front, DNS_NAME)
        };
        let what = server.protocol.as_str();
        let pool = pool(&ca);
        let options = DnsOptions {
            min_ttl: Duration::from_millis(50),
            retry_backoff: Duration::from_millis(20),
            max_retry_backoff: Duration::from_millis(100),
            ..dns_options(server, trusting(&ca))
        };
        let refresher = DnsRefresher::start(&pool, options).unwrap();
        let want = socks(&ips, origin.port());
        assert_eq!(refresher.add_host(HOST, origin.port()).await.unwrap(), want);
        wait_for(&format!("{what}: warm"), DEADLINE, || {
            pool.connections().len() == ips.len()
        })
        .await;

        dns.set_tls_names(&["other.hotpool.test"]).unwrap();
        proxy.inject_all(Fault::Reset);
        let v4_error = || {
            refresher
                .host_status(HOST)
                .and_then(|s| s.family(IpFamily::V4).and_then(|f| f.last_error.clone()))
                .map(|e| e.kind)
        };
        wait_for(&format!("{what}: the handshake fails"), DEADLINE, || {
            v4_error() == Some(FailureKind::Tls)
        })
        .await;
        assert_eq!(
            pool.addrs(HOST),
            want,
            "{what}: the last good answer is kept"
        );
        assert_eq!(pool.connections().len(), ips.len(), "{what}");
        assert_eq!(
            pool.stats().closed_for(CloseReason::AddressRemoved),
            0,
            "{what}"
        );

        dns.set_tls_names(&[DNS_NAME]).unwrap();
        wait_for(&format!("{what}: recovers"), DEADLINE, || {
            v4_error().is_none()
        })
        .await;
        assert_eq!(pool.addrs(HOST), want, "{what}");

        refresher.stop().await;
        pool.close().await;
        proxy.shutdown().await;
    }
    dns.shutdown().await;
    origin.shutdown().await;
}
