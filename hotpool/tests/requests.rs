//! What `hotpool::Client` does around a request: bodies decoded (and bounded), redirects
//! followed (across hosts, credentials dropped, limited), `http://` URLs, against the
//! testkit's origins.

use std::net::IpAddr;
use std::sync::Arc;

use hotpool::{Client, Config, DecodeLimits, Error, RedirectPolicy, RequestError, ResponseUrl};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions, encoded_content};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Two TLS hosts (static addresses) and a client trusting their CA.
struct Rig {
    a: H2Origin,
    b: H2Origin,
    config: Config,
}

async fn rig(name: &str) -> Rig {
    let ca = Arc::new(TestCa::new().unwrap());
    let a = H2Origin::start(H2OriginOptions::new(
        &[ip("127.0.0.7")],
        &["a.hotpool.test"],
        &ca,
    ))
    .await
    .unwrap();
    let b = H2Origin::start(H2OriginOptions::new(
        &[ip("127.0.0.8")],
        &["b.hotpool.test"],
        &ca,
    ))
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-requests-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();
    let text = format!(
        "[tls]\nca_files = [\"ca.pem\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"a.hotpool.test\"\nport = {}\ntransport = \"auto\"\naddrs = [\"127.0.0.7\"]\n\n\
         [[hosts]]\nname = \"b.hotpool.test\"\nport = {}\ntransport = \"h1\"\naddrs = [\"127.0.0.8\"]\n",
        a.port(),
        b.port()
    );
    let file = dir.join("hotpool.toml");
    std::fs::write(&file, text).unwrap();
    let config = Config::from_file(&file).unwrap();
    Rig { a, b, config }
}

impl Rig {
    fn client(&self) -> Client {
        Client::builder()
            .config(self.config.clone())
            .build()
            .unwrap()
    }

    fn a(&self, path: &str) -> String {
        format!("https://a.hotpool.test:{}{path}", self.a.port())
    }

    fn b(&self, path: &str) -> String {
        format!("https://b.hotpool.test:{}{path}", self.b.port())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_decoded_unless_raw() {
    let rig = rig("decode").await;
    let client = rig.client();
    let want = encoded_content(100_000);
    for coding in ["gzip", "deflate", "br", "zstd"] {
        for url in [
            rig.a(&format!("/encoded/{coding}/100000")),
            rig.b(&format!("/encoded/{coding}/100000")),
        ] {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            assert!(
                response.headers().get("content-encoding").is_none(),
                "{url}"
            );
            assert_eq!(response.into_body().bytes().await.unwrap(), want, "{url}");
        }
    }
    // Raw: the bytes as sent, the header kept.
    let response = client
        .get(rig.a("/encoded/gzip/100000"))
        .raw()
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let raw = response.into_body().bytes().await.unwrap();
    assert!(
        raw.len() < want.len() && raw.starts_with(&[0x1f, 0x8b]),
        "{}",
        raw.len()
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bomb_is_a_typed_error() {
    let rig = rig("bomb").await;
    let client = rig.client();
    let response = client.get(rig.a("/bomb/gzip")).send().await.unwrap();
    let err = response.into_body().collect(usize::MAX).await.unwrap_err();
    assert!(matches!(err, RequestError::Decode(_)), "{err:?}");
    // A size bound instead: the body past it is an error too.
    let bounded = Client::builder()
        .config(rig.config.clone())
        .decode(DecodeLimits {
            max_decoded: Some(1 << 20),
            ..DecodeLimits::UNLIMITED
        })
        .build()
        .unwrap();
    let response = bounded.get(rig.a("/bomb/zstd")).send().await.unwrap();
    let err = response.into_body().collect(usize::MAX).await.unwrap_err();
    assert!(matches!(err, RequestError::Decode(_)), "{err:?}");
    client.close().await;
    bounded.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_across_hosts_and_limited() {
    let rig = rig("redirects").await;
    let client = rig.client();
    let response = client.get(rig.a("/redirect/302/3")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .extensions()
            .get::<ResponseUrl>()
            .map(|u| u.0.path().to_owned()),
        Some("/redirect/302/0".to_owned())
    );
    drop(response);

    // To the other host (HTTP/1.1 there): credentials stay behind; a 303 becomes a GET.
    let to_b = rig.b("/echo");
    let url = rig.a(&format!("/redirect-to?status=303&url={to_b}"));
    let response = client
        .post(&url)
        .header("authorization", "Bearer s3cret")
        .header("x-kept", "yes")
        .body("payload")
        .send()
        .await
        .unwrap();
    let echo = response.into_body().text().await.unwrap();
    assert!(echo.starts_with("GET /echo"), "{echo}");
    assert!(
        echo.contains("x-kept: yes") && !echo.contains("s3cret"),
        "{echo}"
    );

    // 307 keeps the method (and the body, replayed from memory: pool-http's policy tests).
    let url = rig.a("/redirect-to?status=307&url=/echo");
    let echo = client.post(&url).body("payload").send().await.unwrap();
    let echo = echo.into_body().text().await.unwrap();
    assert!(echo.starts_with("POST /echo"), "{echo}");

    // Past the limit: a typed error naming the URL that answered with the 11th redirect.
    let err = client
        .get(rig.a("/redirect/301/11"))
        .send()
        .await
        .unwrap_err();
    match &err {
        Error::Request {
            url,
            source: RequestError::Redirect(_),
        } => {
            assert!(url.contains("/redirect/301/1"), "{url}");
        }
        other => panic!("{other:?}"),
    }
    // Not followed when the client says so.
    let manual = Client::builder()
        .config(rig.config.clone())
        .redirects(RedirectPolicy::NONE)
        .build()
        .unwrap();
    let status = manual
        .get(rig.a("/redirect/302/1"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 302);
    client.close().await;
    manual.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_urls_go_over_plain_tcp() {
    let origin = H2Origin::start(H2OriginOptions::plain(&[ip("127.0.0.9")]))
        .await
        .unwrap();
    let client = Client::new().unwrap();
    let url = format!("http://127.0.0.9:{}/encoded/gzip/5000", origin.port());
    for _ in 0..3 {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(
            (response.status(), response.version()),
            (http::StatusCode::OK, http::Version::HTTP_11)
        );
        assert_eq!(
            response.into_body().bytes().await.unwrap(),
            encoded_content(5000)
        );
    }
    // Keep-alive: one connection carried the three.
    assert_eq!(origin.stats().accepted, 1);
    client.close().await;
}

/// The client is a `tower::Service` over `http::Request<Bytes>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_a_tower_service() {
    use tower_service::Service as _;
    let rig = rig("service").await;
    let mut client = rig.client();
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::get(rig.a("/echo"))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = client.call(request).await.unwrap();
    assert!(
        response
            .into_body()
            .text()
            .await
            .unwrap()
            .starts_with("GET /echo")
    );
    client.close().await;
}
