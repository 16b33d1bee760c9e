//! Hosts dropped when idle: a host's pool unused for `idle_host_timeout` is stopped and
//! removed (its connections closed), one with a response still held is kept, and the
//! next request starts it again.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

const WAIT: Duration = Duration::from_secs(10);

async fn origin(ip: &str, ca: &Arc<TestCa>) -> H2Origin {
    let addrs: [IpAddr; 1] = [ip.parse().unwrap()];
    H2Origin::start(H2OriginOptions::new(&addrs, &[ip], ca))
        .await
        .unwrap()
}

fn client(ca_file: &Path, idle: Duration) -> Client {
    let text = format!(
        "[pool]\nrequest_timeout = \"5s\"\n\n[tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n",
        ca_file.display()
    );
    let config = Config::from_str_named(&text, "idle.toml").unwrap();
    Client::builder()
        .config(config)
        .idle_host_timeout(idle)
        .build()
        .unwrap()
}

fn ca_file(ca: &TestCa, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hotpool-idle-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    ca.write_ca_pem(&path).unwrap();
    path
}

fn running(client: &Client) -> Vec<String> {
    client
        .hosts()
        .into_iter()
        .map(|h| format!("{}:{}", h.host, h.port))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_host_is_stopped_and_started_again_by_the_next_request() {
    let ca = Arc::new(TestCa::new().unwrap());
    let site = origin("127.0.0.50", &ca).await;
    let client = client(&ca_file(&ca, "restart"), Duration::from_millis(300));
    let url = format!("https://127.0.0.50:{}/", site.port());

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().bytes().await.unwrap();
    assert_eq!(running(&client), [format!("127.0.0.50:{}", site.port())]);
    let first = site.stats().handshakes;
    assert!(first >= 1);

    // Unused: removed, and its connection closed.
    pool_testkit::wait_for("the idle host removed", WAIT, || client.hosts().is_empty()).await;
    assert!(
        site.wait_until(WAIT, |o| o.stats().open_connections == 0)
            .await,
        "the idle host's connection is closed"
    );

    // The next request starts it again, on a new connection.
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().bytes().await.unwrap();
    assert_eq!(client.hosts().len(), 1);
    assert!(site.stats().handshakes > first);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_a_response_still_held_is_kept() {
    let ca = Arc::new(TestCa::new().unwrap());
    let busy = origin("127.0.0.51", &ca).await;
    let quiet = origin("127.0.0.52", &ca).await;
    let client = client(&ca_file(&ca, "busy"), Duration::from_millis(300));

    // The busy host's response body is held (a stalled body: its lease stays out).
    let held = client
        .get(format!("https://127.0.0.51:{}/stall-body", busy.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    // The quiet host is used after it, so when it is due the busy one was due too.
    let response = client
        .get(format!("https://127.0.0.52:{}/", quiet.port()))
        .send()
        .await
        .unwrap();
    response.into_body().bytes().await.unwrap();

    pool_testkit::wait_for("the quiet host removed", WAIT, || client.hosts().len() == 1).await;
    assert_eq!(running(&client), [format!("127.0.0.51:{}", busy.port())]);
    assert!(client.hosts()[0].idle >= Duration::from_millis(300));

    // Once the response is dropped, the busy host goes too.
    drop(held);
    pool_testkit::wait_for("the busy host removed", WAIT, || client.hosts().is_empty()).await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_in_use_are_kept() {
    let ca = Arc::new(TestCa::new().unwrap());
    let site = origin("127.0.0.53", &ca).await;
    let client = client(&ca_file(&ca, "used"), Duration::from_secs(1));
    let url = format!("https://127.0.0.53:{}/", site.port());
    let response = client.get(&url).send().await.unwrap();
    response.into_body().bytes().await.unwrap();
    let first = site.stats().handshakes;
    // Requests every 100 ms for two and a half times the idle timeout: the host is never
    // dropped, so no new connection is made.
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < until {
        let response = client.get(&url).send().await.unwrap();
        response.into_body().bytes().await.unwrap();
        assert_eq!(client.hosts().len(), 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(site.stats().handshakes, first);
    assert_eq!(site.stats().open_connections, first);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http3_stack_from_alt_svc_is_stopped_and_started_again() {
    use pool_testkit::origin::{H3Origin, H3OriginOptions};

    let ca = Arc::new(TestCa::new().unwrap());
    let tcp = origin("127.0.0.54", &ca).await;
    let addrs: [IpAddr; 1] = ["127.0.0.54".parse().unwrap()];
    let h3 = H3Origin::start(H3OriginOptions::new(&addrs, &["127.0.0.54"], &ca))
        .await
        .unwrap();
    let client = client(&ca_file(&ca, "h3"), Duration::from_millis(300));
    let url = format!(
        "https://127.0.0.54:{}/response-headers?alt-svc=h3%3D%22%3A{}%22",
        tcp.port(),
        h3.port()
    );
    let in_use = || {
        client
            .alt_svc("127.0.0.54", tcp.port())
            .is_some_and(|s| s.in_use)
    };
    let version = |response: hotpool::Response| response.version();

    let first = client.get(&url).send().await.unwrap();
    assert_eq!(version(first), http::Version::HTTP_2);
    pool_testkit::wait_for("HTTP/3 in use", WAIT, in_use).await;
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(version(response), http::Version::HTTP_3);
    assert_eq!(client.hosts().len(), 2, "{:?}", client.hosts());

    // Both stacks idle: stopped, and the origin's HTTP/3 no longer counted as started.
    pool_testkit::wait_for("both stacks removed", WAIT, || client.hosts().is_empty()).await;
    assert!(!in_use());
    assert!(
        h3.wait_until(WAIT, |o| o.stats().open_connections == 0)
            .await
    );
    // The next request goes over TCP and starts HTTP/3 again in the background.
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(version(response), http::Version::HTTP_2);
    pool_testkit::wait_for("HTTP/3 in use again", WAIT, in_use).await;
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(version(response), http::Version::HTTP_3);
    assert!(h3.stats().handshakes >= 2);
    client.close().await;
}
