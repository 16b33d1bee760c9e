//! HTTPS records (RFC 9460) looked up from a real DNS server (the testkit's hickory-server
//! zone): `alpn`, `port` and hints read, the `_PORT._https` name for other ports, an alias
//! set, and every failure typed (no record, SERVFAIL, a silent server within the deadline)
//! like the address lookups.

use std::net::Ipv4Addr;
use std::time::Duration;

use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_dns::{DnsOptions, DnsRefresher, FailureKind, HttpsLookup, NameServer, https_query_name};
use pool_testkit::{DnsMode, DnsServer};

const ZONE: &str = "hotpool.test";

fn options(dns: &DnsServer) -> DnsOptions {
    DnsOptions {
        name_servers: vec![NameServer::udp(dns.addr())],
        query_timeout: Duration::from_millis(300),
        attempts: 2,
        ..DnsOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_records_are_read_for_port_443_and_other_ports() {
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    let host = format!("svc.{ZONE}");
    dns.set_https(
        &host,
        &["2 . alpn=h2", "1 . alpn=h3,h2 port=8443 ipv4hint=127.0.0.9"],
        120,
    )
    .await
    .unwrap();
    dns.set_https(&https_query_name(&host, 4433), &["1 . alpn=h3"], 30)
        .await
        .unwrap();
    let lookup = HttpsLookup::new(&options(&dns)).unwrap();

    let records = lookup.lookup(&host, 443).await.unwrap();
    assert_eq!(records.name, format!("{host}."));
    assert_eq!(records.ttl, Duration::from_secs(120));
    assert_eq!(records.services.len(), 2);
    let h3 = records.on_origin(&host, "h3").expect("an h3 service");
    assert_eq!((h3.priority, h3.port), (1, Some(8443)));
    assert_eq!(h3.ipv4_hints, [Ipv4Addr::new(127, 0, 0, 9)]);
    assert!(h3.offers("h2") && h3.offers("http/1.1"));

    // Another port has its own name: `_4433._https.svc.hotpool.test`.
    let other = lookup.lookup(&host, 4433).await.unwrap();
    assert_eq!(other.name, format!("_4433._https.{host}."));
    let h3 = other.on_origin(&host, "h3").unwrap();
    assert_eq!(h3.port, None, "the origin's own port");
    assert_eq!(other.ttl, Duration::from_secs(30));

    // A port without records: the name does not exist.
    let none = lookup.lookup(&host, 9999).await.unwrap_err();
    assert_eq!(none.kind, FailureKind::NxDomain, "{none}");
    assert_eq!(none.family, None);
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_servfail_and_silence_are_typed_and_bounded() {
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    let host = format!("plain.{ZONE}");
    dns.set_addrs(&host, &["127.0.0.2".parse().unwrap()], 60)
        .await
        .unwrap();
    let opts = options(&dns);
    let lookup = HttpsLookup::new(&opts).unwrap();

    // The name exists, without HTTPS records: NODATA.
    let e = lookup.lookup(&host, 443).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::NoData, "{e}");

    dns.set_https(&host, &["1 . alpn=h3"], 60).await.unwrap();
    dns.set_https_mode(DnsMode::ServFail);
    let e = lookup.lookup(&host, 443).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::ServFail, "{e}");

    // A silent server: a timeout, within every attempt's query timeout (and some slack
    // for a loaded machine), never a hang. The address lookups are not affected.
    dns.set_https_mode(DnsMode::Silent);
    let limit = opts.query_timeout * 2 + Duration::from_secs(5);
    let e = tokio::time::timeout(limit, lookup.lookup(&host, 443))
        .await
        .expect("the lookup has its own deadline")
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Timeout, "{e}");
    assert_eq!(dns.mode(), DnsMode::Normal);

    dns.set_https_mode(DnsMode::Normal);
    assert!(lookup.lookup(&host, 443).await.is_ok());
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresher_looks_up_https_records_on_its_own_resolver_and_aliases_are_reported() {
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    let host = format!("alias.{ZONE}");
    dns.set_https(&host, &["0 cdn.hotpool.test.", "1 . alpn=h3"], 60)
        .await
        .unwrap();
    let pool = Pool::new(
        H2Dialer::new(H2Options::default()).unwrap(),
        PoolOptions::default(),
    )
    .unwrap();
    let refresher = DnsRefresher::start(&pool, options(&dns)).unwrap();
    let records = refresher.lookup_https(&host, 443).await.unwrap();
    assert_eq!(records.alias.as_deref(), Some("cdn.hotpool.test"));
    assert!(
        records.services.is_empty(),
        "an alias set's service records are ignored"
    );
    assert!(records.on_origin(&host, "h3").is_none());
    refresher.stop().await;
    pool.close().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_source_resolving_another_name_feeds_the_host_its_addresses() {
    // An alternative service on another host: the origin's pool dials its addresses.
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    let origin = format!("origin.{ZONE}");
    let alt = format!("alt.{ZONE}");
    dns.set_addrs(&origin, &["127.0.0.2".parse().unwrap()], 60)
        .await
        .unwrap();
    dns.set_addrs(&alt, &["127.0.0.3".parse().unwrap()], 60)
        .await
        .unwrap();
    let pool = Pool::new(
        H2Dialer::new(H2Options::default()).unwrap(),
        PoolOptions::default(),
    )
    .unwrap();
    let opts = DnsOptions {
        warm_new_addrs: false,
        ..options(&dns)
    };
    let refresher = DnsRefresher::start(&pool, opts.clone()).unwrap();
    let source = pool_dns::DnsSource::new(&opts, 8443)
        .unwrap()
        .resolving(alt.as_str());
    let status = refresher
        .add_source(&origin, "alt-svc", source)
        .await
        .unwrap();
    let expected: std::net::SocketAddr = "127.0.0.3:8443".parse().unwrap();
    assert_eq!(status.addrs, [expected]);
    assert_eq!(pool.addrs(&origin), [expected]);
    refresher.stop().await;
    pool.close().await;
    dns.shutdown().await;
}
