//! The system configuration path: with no name servers configured, pool-dns reads a
//! resolv.conf file (`DnsOptions::resolv_conf`, `[dns] resolv_conf`; the platform's
//! `/etc/resolv.conf` when unset).
//!
//! A resolv.conf names addresses only, always asked on port 53 (glibc, and hickory's
//! reader, have no port syntax), so the test zone listens on port 53 of an address of
//! 127/8 picked from the process id (loopback aliases need no setup on Linux; binding
//! port 53 needs root or `CAP_NET_BIND_SERVICE`, which the test machine and CI have).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};
use pool_dns::{DnsOptions, DnsRefresher, FailureKind};
use pool_testkit::{DnsServer, DnsServerOptions};

const ZONE: &str = "hotpool.test";
const HOST: &str = "sys.hotpool.test";

/// A transport that never dials anything real: the test is about addresses.
struct Null;
struct NullConn;

impl Connection for NullConn {
    fn capacity(&self) -> usize {
        1
    }
    fn is_closed(&self) -> bool {
        false
    }
}

impl Dialer for Null {
    type Conn = NullConn;
    async fn dial(&self, _: &Target) -> Result<NullConn, DialError> {
        Ok(NullConn)
    }
}

/// A DNS zone on port 53 of some 127.53.x.y no one else uses.
async fn zone_on_port_53() -> DnsServer {
    let pid = std::process::id();
    let mut last = None;
    for n in 0..32u32 {
        let k = pid.wrapping_add(n * 7919);
        let ip = Ipv4Addr::new(127, 53, (k >> 8) as u8, (k as u8).clamp(1, 254));
        match DnsServer::start(DnsServerOptions {
            zones: vec![ZONE.to_owned()],
            bind: IpAddr::V4(ip),
            port: 53,
            ..DnsServerOptions::default()
        })
        .await
        {
            Ok(server) => return server,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => panic!("cannot bind port 53 of {ip}: {e}"),
        }
    }
    panic!("no free 127.53.x.y:53: {last:?}");
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hotpool-resolv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolv_conf_file_is_the_resolvers_configuration() {
    let dns = zone_on_port_53().await;
    assert_eq!(dns.addr().port(), 53);
    let ips = [IpAddr::from([127, 0, 0, 2]), "::1".parse().unwrap()];
    dns.set_addrs(HOST, &ips, 60).await.unwrap();
    // The search domain must not apply: names are looked up fully qualified.
    let path = temp_file(
        "resolv.conf",
        &format!(
            "# test\nsearch nowhere.invalid\nnameserver {}\noptions timeout:1 attempts:1\n",
            dns.addr().ip()
        ),
    );
    let pool = Pool::new(Null, PoolOptions::default()).unwrap();
    let options = DnsOptions {
        resolv_conf: Some(path.clone()),
        query_timeout: Duration::from_secs(3),
        ..DnsOptions::default()
    };
    assert!(options.name_servers.is_empty());
    let refresher = DnsRefresher::start(&pool, options).unwrap();
    let addrs = refresher.add_host(HOST, 443).await.unwrap();
    let mut want: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, 443)).collect();
    want.sort();
    assert_eq!(addrs, want);
    assert!(
        dns.queries() >= 2,
        "A and AAAA went to the resolv.conf server"
    );

    // A name the zone does not have: answered by that server, not by the machine's.
    let e = refresher
        .add_host("missing.hotpool.test", 443)
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::NxDomain, "{e}");

    refresher.stop().await;
    pool.close().await;
    dns.shutdown().await;
    let _ = std::fs::remove_file(&path);
}
