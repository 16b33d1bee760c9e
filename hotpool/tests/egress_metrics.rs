//! The per-egress gauges of a host with several proxies (`hotpool_egress`, labelled by the
//! proxy's endpoint, never its credentials), recorded by its `HostStack`. A binary of its
//! own: it installs the process's metrics recorder.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hotpool::Config;
use hotpool::stack::{HostSpec, HostStack, https_dialers};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};
use pool_testkit::proxies::{ProxyKind, ProxyServer};

const HOST: &str = "gauges.hotpool.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_egress_reports_its_connections_without_credentials() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let ca = Arc::new(TestCa::new().unwrap());
    let addr: IpAddr = "127.0.0.10".parse().unwrap();
    let origin = H2Origin::start(H2OriginOptions::new(&[addr], &[HOST], &ca))
        .await
        .unwrap();
    let squid = ProxyServer::start(ProxyKind::Squid, Some(("alice", "s3cret"))).unwrap();
    let socks = ProxyServer::start(ProxyKind::Microsocks, None).unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-gauges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let text = format!(
        "[tls]\nca_files = [\"ca.pem\"]\nuse_webpki_roots = false\n\n\
         [egress]\nproxies = [\"http://alice:s3cret@{}\", \"socks5://{}\"]\n\n\
         [[hosts]]\nname = \"{HOST}\"\nport = {}\ntransport = \"auto\"\naddrs = [\"{addr}\"]\n",
        squid.addr(),
        socks.addr(),
        origin.port()
    );
    std::fs::write(dir.join("hotpool.toml"), text).unwrap();
    let cfg = Config::from_file(dir.join("hotpool.toml")).unwrap();
    let host = HostSpec::parse(HOST, &cfg).unwrap();
    let stack = HostStack::start(&cfg, https_dialers(&cfg, &host).unwrap(), &host, false)
        .await
        .unwrap();
    assert_eq!(stack.warm_with_progress(HOST, |_| {}).await.ok, 2);

    // Gauges come every few seconds: wait for both egresses to show their connection.
    let connections = || {
        let mut found = Vec::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let label = |n: &str| {
                key.labels()
                    .find(|l| l.key() == n)
                    .map(|l| l.value().to_owned())
            };
            if key.name() == "hotpool_egress" && label("what").as_deref() == Some("connections") {
                if let DebugValue::Gauge(v) = value {
                    found.push((label("egress").unwrap_or_default(), v.into_inner()));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    };
    let mut seen = Vec::new();
    pool_testkit::wait_for("egress gauges", Duration::from_secs(15), || {
        seen = connections();
        seen.len() == 2 && seen.iter().all(|(_, v)| *v == 1.0)
    })
    .await;
    let labels: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            format!("http://{}", squid.addr()),
            format!("socks5://{}", socks.addr())
        ]
    );
    assert!(
        labels
            .iter()
            .all(|l| !l.contains("s3cret") && !l.contains("alice"))
    );
    stack.stop().await;
}
