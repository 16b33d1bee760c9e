//! The client against a web server this project did not write: Debian's nginx
//! (`pool_testkit::origin::NginxServer`) over `http://`.
//!
//! - Rate limits as a site sets them (`limit_req`, 200 requests/s, answered 429 above it,
//!   or 503 with `Retry-After`): a configured rate under nginx's is never refused; with no
//!   rate, adaptation meets the limit with far fewer refusals than an unpaced crawl; a
//!   503's `Retry-After` pauses the host. The refusals are counted in nginx's own access
//!   log (every attempt, retries included) and in the statuses the client got.
//! - `gzip on`: a page nginx compressed comes back decoded, with the coding it had.
//!
//! `docs/third-party-servers.md` says why these servers and these figures.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hotpool::{Client, Config, DecodedFrom};
use pool_testkit::origin::{
    NGINX_BUSY_PREFIX, NGINX_LIMITED_PREFIX, NginxOptions, NginxRateLimit, NginxServer,
};

const HOST: &str = "nginx.hotpool.test";

/// nginx's limit: 200 requests/s, with a burst of 20 that absorbs the client's scheduling
/// jitter (a paced client stalled 100 ms on a loaded machine sends its late requests
/// together), as a site's `burst` does for browsers.
const LIMIT: NginxRateLimit = NginxRateLimit {
    per_second: 200,
    burst: 20,
};

/// A page big enough for nginx to compress (`gzip_min_length 256`).
fn page() -> Vec<u8> {
    (0..400)
        .flat_map(|i| format!("line {i} of a page served by nginx\n").into_bytes())
        .collect()
}

/// nginx on `ip` with `options`, serving `/limited/page`, `/busy/page` and `/page.html`.
fn nginx(ip: &str, options: NginxOptions) -> NginxServer {
    let addr: IpAddr = ip.parse().unwrap();
    let page = page();
    let files: [(&str, &[u8]); 3] = [
        ("limited/page", b"limited page\n"),
        ("busy/page", b"busy page\n"),
        ("page.html", &page),
    ];
    NginxServer::start_with(&[addr], &files, options).unwrap()
}

/// A client of `server` (on its first address, HTTP/1.1 port) with `pool` keys in
/// `[pool]` and `host` keys in its `[[hosts]]` entry.
fn client(server: &NginxServer, pool: &str, host: &str) -> Client {
    let text = format!(
        "[pool]\nrequest_timeout = \"10s\"\n{pool}\n\
         [[hosts]]\nname = \"{HOST}\"\nport = {}\ntransport = \"h1\"\naddrs = [\"{}\"]\n{host}",
        server.http1_port(),
        server.addrs()[0],
    );
    let config = Config::from_str_named(&text, "nginx.toml").unwrap();
    Client::builder().config(config).build().unwrap()
}

/// `count` GETs of `path` by 16 workers, each one after the other (a crawler's shape);
/// the statuses the client got, and one `Retry-After` seen.
async fn crawl(client: &Client, server: &NginxServer, path: &str, count: usize) -> Crawl {
    let url = format!("http://{HOST}:{}{path}", server.http1_port());
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (client, url) = (client.clone(), url.clone());
            let share = count / 16 + usize::from(w < count % 16);
            tokio::spawn(async move {
                let mut seen = Crawl::default();
                for _ in 0..share {
                    let response = client.get(&url).send().await.unwrap();
                    if let Some(v) = response.headers().get("retry-after") {
                        seen.retry_after = Some(v.to_str().unwrap().to_owned());
                    }
                    *seen.statuses.entry(response.status().as_u16()).or_default() += 1;
                    response.into_body().bytes().await.unwrap();
                }
                seen
            })
        })
        .collect();
    let mut all = Crawl::default();
    for w in workers {
        let seen = w.await.unwrap();
        for (status, n) in seen.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        all.retry_after = all.retry_after.or(seen.retry_after);
    }
    all
}

#[derive(Debug, Default)]
struct Crawl {
    statuses: BTreeMap<u16, usize>,
    retry_after: Option<String>,
}

impl Crawl {
    fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.statuses.values().sum()
    }
}

/// What nginx answered under `prefix` so far, once its log holds at least `at_least`
/// requests there (it writes a line as each request ends, just after the response).
async fn logged(server: &NginxServer, prefix: &str, at_least: usize) -> BTreeMap<u16, usize> {
    pool_testkit::eventually("nginx logged every request", Duration::from_secs(5), || {
        server
            .statuses(prefix)
            .is_ok_and(|s| s.values().sum::<usize>() >= at_least)
    })
    .await
    .unwrap();
    server.statuses(prefix).unwrap()
}

/// The politeness keys off: every 429 and 503 comes back as it is, nothing slows down.
const RUDE: &str = "adaptive_rate = false\nstatus_retries = false\n";

fn limited() -> NginxOptions {
    NginxOptions {
        rate_limit: Some(LIMIT),
        ..NginxOptions::default()
    }
}

/// How many times nginx answered `status` under `prefix`, once it logged `at_least`
/// requests there.
async fn nginx_count(server: &NginxServer, prefix: &str, at_least: usize, status: u16) -> usize {
    logged(server, prefix, at_least)
        .await
        .get(&status)
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_under_nginx_limit_is_not_refused_and_unpaced_is() {
    let server = nginx("127.0.0.61", limited());
    let rude = client(&server, RUDE, "");
    let unpaced = crawl(&rude, &server, "/limited/page", 300).await;
    rude.close().await;
    // Unpaced, a loopback client runs at thousands a second: nginx refuses most.
    assert!(
        unpaced.count(429) > 150,
        "an unpaced crawl is refused in the main: {unpaced:?}"
    );
    let before = nginx_count(&server, NGINX_LIMITED_PREFIX, 300, 429).await;
    assert_eq!(before, unpaced.count(429), "nginx counts the same");

    // The same crawl paced at 150/s, under nginx's 200/s: no 429 (at most 1 %, for a
    // stall of the client longer than nginx's burst covers).
    let paced_client = client(&server, RUDE, "rate_limit = \"150/s\"\n");
    let paced = crawl(&paced_client, &server, "/limited/page", 300).await;
    paced_client.close().await;
    assert_eq!(paced.total(), 300);
    let refused = nginx_count(&server, NGINX_LIMITED_PREFIX, 600, 429).await - before;
    eprintln!("unpaced {unpaced:?}; paced at 150/s {paced:?}, nginx refused {refused}");
    assert!(
        refused <= 3 && paced.count(429) <= 3,
        "paced at 150/s under nginx's 200/s: {paced:?}, nginx refused {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_rate_adaptation_meets_nginx_limit_with_far_fewer_429s() {
    let server = nginx("127.0.0.62", limited());
    let rude = client(&server, RUDE, "");
    let unpaced = crawl(&rude, &server, "/limited/page", 600).await;
    rude.close().await;
    let unpaced_429 = unpaced.count(429);
    assert!(unpaced_429 > 300, "unpaced: {unpaced:?}");

    // Adaptation alone (no retries): every request is sent once, so the client's 429s
    // are nginx's.
    let adaptive = client(
        &server,
        "adaptive_rate = true\nstatus_retries = false\n",
        "",
    );
    let adapted = crawl(&adaptive, &server, "/limited/page", 600).await;
    adaptive.close().await;
    let adapted_429 = adapted.count(429);
    assert!(
        adapted_429 * 10 < unpaced_429,
        "adaptive {adapted:?} vs unpaced {unpaced:?}"
    );
    let logged_429 = nginx_count(&server, NGINX_LIMITED_PREFIX, 1200, 429).await;
    assert_eq!(
        logged_429,
        unpaced_429 + adapted_429,
        "nginx counts the same"
    );

    // The default client (adaptation and retries): what a crawl gets is pages.
    let polite = client(&server, "", "");
    let crawled = crawl(&polite, &server, "/limited/page", 600).await;
    polite.close().await;
    eprintln!("unpaced {unpaced:?}; adaptive {adapted:?}; default {crawled:?}");
    assert!(
        crawled.count(200) >= 540,
        "the default client gets at least 90 % of the pages: {crawled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_pauses_the_host() {
    let server = nginx("127.0.0.63", limited());
    let rude = client(&server, RUDE, "");
    let unpaced = crawl(&rude, &server, "/busy/page", 400).await;
    rude.close().await;
    let unpaced_503 = unpaced.count(503);
    assert!(unpaced_503 > 200, "unpaced: {unpaced:?}");
    assert_eq!(
        unpaced.retry_after.as_deref(),
        Some("1"),
        "nginx says when to come back"
    );
    let before = nginx_count(&server, NGINX_BUSY_PREFIX, 400, 503).await;

    // The default client: the first 503 pauses the host for a second and cuts its rate;
    // the 503s are sent again after it.
    let polite = client(&server, "", "");
    let crawled = crawl(&polite, &server, "/busy/page", 400).await;
    polite.close().await;
    let polite_503 = nginx_count(&server, NGINX_BUSY_PREFIX, 800, 503).await - before;
    eprintln!("unpaced {unpaced:?}; default {crawled:?}, nginx's 503s to it {polite_503}");
    assert!(
        polite_503 * 8 < unpaced_503,
        "nginx answered 503 {polite_503} times to the polite client, {unpaced_503} unpaced"
    );
    assert!(
        crawled.count(200) >= 360,
        "after the pause the pages come: {crawled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_nginx_gzipped_comes_back_decoded() {
    let options = NginxOptions {
        gzip: true,
        ..NginxOptions::default()
    };
    let server = nginx("127.0.0.64", options);
    let client = client(&server, "", "");
    let url = format!("http://{HOST}:{}/page.html", server.http1_port());

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let from = response.extensions().get::<DecodedFrom>().cloned();
    assert!(response.headers().get("content-encoding").is_none());
    let body = response.into_body().bytes().await.unwrap();
    assert_eq!(body, page(), "decoded to the file nginx served");
    let from = from.expect("the response was decoded");
    assert_eq!(from.content_encoding, "gzip");

    // The same page as sent: gzip's magic bytes, a quarter of the file or less.
    let raw = client
        .get(&url)
        .raw()
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-encoding"], "gzip");
    let bytes = raw.into_body().bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    assert!(bytes.len() * 4 < page().len(), "{} bytes", bytes.len());
    client.close().await;
}
