//! The client is polite by default (`docs/rate-limits.md`): a host's configured rate paces
//! its requests, and with no rate a host answering 429 is met by adaptation and retries,
//! against a testkit origin that enforces a rate.

use std::net::IpAddr;
use std::sync::Arc;

use hotpool::{Client, Config};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions, OriginRateLimit};

const HOST: &str = "polite.hotpool.test";

async fn origin_and_config(name: &str, host_extra: &str) -> (H2Origin, Config) {
    let ca = Arc::new(TestCa::new().unwrap());
    let addr: IpAddr = "127.0.0.11".parse().unwrap();
    let origin = H2Origin::start(H2OriginOptions::new(&[addr], &[HOST], &ca))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-polite-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let text = format!(
        "[tls]\nca_files = [\"ca.pem\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"{HOST}\"\nport = {}\naddrs = [\"{addr}\"]\n{host_extra}",
        origin.port()
    );
    std::fs::write(dir.join("hotpool.toml"), text).unwrap();
    (origin, Config::from_file(dir.join("hotpool.toml")).unwrap())
}

/// `count` GETs of the rate-limited path by 16 workers, each one after the other (a
/// crawler's shape); their statuses.
async fn burst(client: &Client, origin: &H2Origin, count: usize) -> Vec<u16> {
    let url = format!("https://{HOST}:{}/limited/x", origin.port());
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (client, url) = (client.clone(), url.clone());
            let share = count / 16 + usize::from(w < count % 16);
            tokio::spawn(async move {
                let mut statuses = Vec::with_capacity(share);
                for _ in 0..share {
                    let response = client.get(&url).send().await.unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for w in workers {
        statuses.extend(w.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_rate_keeps_it_under_the_origins_limit() {
    let (origin, config) = origin_and_config("paced", "rate_limit = \"40/s\"\n").await;
    // A burst of 5 at the origin absorbs the network's jitter between paced requests.
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 5,
        ..OriginRateLimit::new(50.0)
    }));
    let client = Client::builder().config(config).build().unwrap();
    let statuses = burst(&client, &origin, 40).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        origin.rate_limit_counts().refused,
        0,
        "paced under the origin's rate"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_rate_429s_are_met_by_adaptation_and_retries() {
    let (origin, config) = origin_and_config("adapted", "").await;
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 10,
        ..OriginRateLimit::new(100.0)
    }));
    // Politeness off first: the 429s come back as they are.
    let mut rude = config.clone();
    rude.pool.adaptive_rate = false;
    rude.pool.status_retries = false;
    let client = Client::builder().config(rude).build().unwrap();
    let statuses = burst(&client, &origin, 300).await;
    let rude_429 = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        rude_429 > 100,
        "an unpaced crawl is refused in part: {rude_429} of 300"
    );
    client.close().await;

    // The default client: the first 429s slow the host down and are sent again.
    let client = Client::builder().config(config).build().unwrap();
    let statuses = burst(&client, &origin, 300).await;
    let polite_429 = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        polite_429 * 5 < rude_429,
        "polite {polite_429} vs unpaced {rude_429} 429s of 300"
    );
    client.close().await;
}
