//! Several proxies from the config: one pool per proxy behind one host, a request's proxy
//! picked by `[egress] rotation`, a host's own `proxies` winning (`[]`: direct), through
//! Debian's squid and microsocks; and the `hotpool::Client` on top.

use std::net::IpAddr;
use std::sync::Arc;

use hotpool::stack::{HostSpec, HostStack, https_dialers};
use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};
use pool_testkit::proxies::{ProxyKind, ProxyServer};

const HOST: &str = "egress.hotpool.test";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

struct Rig {
    origin: H2Origin,
    squid: ProxyServer,
    socks: ProxyServer,
    dir: std::path::PathBuf,
}

async fn rig(name: &str) -> Rig {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip("127.0.0.6")], &[HOST], &ca))
        .await
        .unwrap();
    let squid = ProxyServer::start(ProxyKind::Squid, None).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-egress-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    Rig {
        origin,
        squid,
        socks,
        dir,
    }
}

impl Rig {
    /// A config with both proxies, `rotation`, and `host_extra` in the host's entry.
    fn config(&self, rotation: &str, host_extra: &str) -> Config {
        let text = format!(
            "[tls]\nca_files = [\"ca.pem\"]\nuse_webpki_roots = false\n\n\
             [egress]\nproxies = [\"http://{squid}\", \"socks5://{socks}\"]\nrotation = \"{rotation}\"\n\n\
             [[hosts]]\nname = \"{HOST}\"\nport = {port}\ntransport = \"auto\"\naddrs = [\"127.0.0.6\"]\n{host_extra}",
            squid = self.squid.addr(),
            socks = self.socks.addr(),
            port = self.origin.port(),
        );
        let file = self.dir.join("hotpool.toml");
        std::fs::write(&file, text).unwrap();
        Config::from_file(&file).unwrap()
    }
}

async fn stack(cfg: &Config) -> HostStack<pool_dial_rustls::HttpsDialer> {
    let host = HostSpec::parse(HOST, cfg).unwrap();
    HostStack::start(cfg, https_dialers(cfg, &host).unwrap(), &host, false)
        .await
        .unwrap()
}

async fn send(stack: &HostStack<pool_dial_rustls::HttpsDialer>) -> u16 {
    let request = http::Request::get("/")
        .body(pool_http::Empty::new())
        .unwrap();
    let response = pool_http::send_with(&stack.pools, HOST, request, &stack.request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    response.into_body().bytes().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_two_pools_requests_take_turns() {
    let rig = rig("turns").await;
    let cfg = rig.config("round-robin", "");
    let stack = stack(&cfg).await;
    let labels: Vec<&str> = stack.egresses.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            format!("http://{}", rig.squid.addr()),
            format!("socks5://{}", rig.socks.addr())
        ]
    );
    for _ in 0..8 {
        assert_eq!(send(&stack).await, 200);
    }
    // Round-robin: each proxy's pool leased half of the requests, over its own connection.
    for (label, pool) in &stack.egresses {
        let st = pool.stats();
        assert_eq!((st.leases_total, st.dials_total), (4, 1), "{label}");
    }
    assert_eq!(rig.origin.stats().accepted, 2, "one tunnel per proxy");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_keeps_a_host_on_one_proxy() {
    let rig = rig("sticky").await;
    let stack = stack(&rig.config("sticky", "")).await;
    for _ in 0..6 {
        assert_eq!(send(&stack).await, 200);
    }
    let leases: Vec<u64> = stack
        .egresses
        .iter()
        .map(|(_, p)| p.stats().leases_total)
        .collect();
    assert!(leases == [6, 0] || leases == [0, 6], "{leases:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_own_proxies_win_and_an_empty_list_is_direct() {
    let rig = rig("own").await;
    let direct = stack(&rig.config("round-robin", "proxies = []\n")).await;
    let labels: Vec<&str> = direct.egresses.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["direct"]);
    assert_eq!(send(&direct).await, 200);
    direct.stop().await;

    let own = format!("proxies = [\"socks5://{}\"]\n", rig.socks.addr());
    let one = stack(&rig.config("round-robin", &own)).await;
    let labels: Vec<&str> = one.egresses.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, [format!("socks5://{}", rig.socks.addr())]);
    assert_eq!(send(&one).await, 200);
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_goes_through_the_configured_proxies() {
    let rig = rig("client").await;
    let client = Client::builder()
        .config(rig.config("round-robin", ""))
        .build()
        .unwrap();
    let url = format!("https://{HOST}:{}/", rig.origin.port());
    for _ in 0..4 {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Both proxies carried a tunnel: two connections, neither from the direct path.
    assert_eq!(rig.origin.stats().accepted, 2);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_can_name_its_egress() {
    let rig = rig("via").await;
    let client = Client::builder()
        .config(rig.config("round-robin", ""))
        .build()
        .unwrap();
    let url = format!("https://{HOST}:{}/", rig.origin.port());
    let (squid, socks) = (
        format!("http://{}", rig.squid.addr()),
        format!("socks5://{}", rig.socks.addr()),
    );
    let status = client
        .get(&url)
        .egress(&socks)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // With squid gone, every request named for SOCKS still gets through it, and one named
    // for squid fails as the proxy's fault (not moved to another egress).
    drop(rig.squid);
    for _ in 0..3 {
        let response = client.get(&url).egress(&socks).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let err = client.get(&url).egress(&squid).send().await.unwrap_err();
    assert!(matches!(err, hotpool::Error::Request { .. }), "{err:?}");
    let err = client
        .get(&url)
        .egress("http://nowhere:1")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, hotpool::Error::Egress { .. }), "{err:?}");
    client.close().await;
}
