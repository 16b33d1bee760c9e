//! `Client::host_handle`: a host started without background warming has no connection
//! until it is warmed; its warm-up reports every address's dial, its statistics count the
//! requests sent through the client, and `send_fresh` opens a connection of its own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

const HOST: &str = "inspect.hotpool.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_warms_with_progress_and_shows_the_pool() {
    let ca = Arc::new(TestCa::new().unwrap());
    let ips: [IpAddr; 3] = ["127.0.0.71", "127.0.0.72", "127.0.0.73"].map(|a| a.parse().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let text = format!(
        "[pool]\nrequest_timeout = \"5s\"\n\n[[hosts]]\nname = \"{HOST}\"\nport = {port}\n\
         transport = \"h2\"\naddrs = [\"{}\", \"{}\", \"{}\"]\n\n[tls]\nca_files = [\"{}\"]\n\
         use_webpki_roots = false\n",
        ips[0],
        ips[1],
        ips[2],
        ca_file.display(),
        port = origin.port(),
    );
    let client = Client::builder()
        .config(Config::from_str_named(&text, "inspect.toml").unwrap())
        .warm(hotpool::WarmPolicy::OnDemand)
        .build()
        .unwrap();
    let origin_url = format!("https://{HOST}:{}", origin.port());

    let handle = client.host_handle(&origin_url).await.unwrap();
    assert_eq!((handle.host(), handle.port()), (HOST, origin.port()));
    assert_eq!(handle.transport(), "h2");
    assert_eq!(handle.addrs().len(), 3);
    assert!(handle.dns_families().is_empty(), "static addresses");
    assert!(handle.connections().is_empty(), "no background warm-up");
    assert_eq!(origin.stats().handshakes, 0);

    let mut seen = Vec::new();
    let report = handle
        .warm_with_progress(|p| seen.push((p.done, p.total, p.addr)))
        .await;
    assert_eq!((report.planned, report.ok, report.failed), (3, 3, 0));
    assert_eq!(seen.len(), 3);
    assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((3, 3)));
    let mut dialed: Vec<_> = seen.iter().filter_map(|s| s.2).collect();
    dialed.sort();
    assert_eq!(dialed, handle.addrs());
    assert_eq!(handle.connections().len(), 3);
    assert_eq!(origin.stats().handshakes, 3);
    // Warm already: nothing more to dial.
    let again = handle.wait_warm(Duration::from_secs(10)).await.unwrap();
    assert_eq!(again.planned, 0);

    for _ in 0..5 {
        let response = client
            .get(format!("{origin_url}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().bytes().await.unwrap();
    }
    let stats = handle.stats();
    assert_eq!(stats.dials_total, 3, "{stats:?}");
    assert!(stats.leases_total >= 5, "{stats:?}");
    assert_eq!(handle.egress_stats().len(), 1);
    assert_eq!(client.polite().stats().requests, 5);

    let request = http::Request::get("/hello").body(Bytes::new()).unwrap();
    let fresh = handle
        .send_fresh(handle.addrs()[0], request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(origin.stats().handshakes, 4, "a connection of its own");
    assert_eq!(handle.stats().dials_total, 3, "not the pool's");

    client.close().await;
    origin.shutdown().await;
}
