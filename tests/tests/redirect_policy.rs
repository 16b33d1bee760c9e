//! The redirect policy (`pool_http::Redirects`) driving real requests against the testkit
//! origins' redirect routes, over HTTP/1.1, HTTP/2 and HTTP/3: a chain followed to its
//! end, 303 turning a POST into a GET, a redirect to another origin dropping the
//! credentials, and the limit. The loop here is what a client does around the policy.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, TlsOptions, Trust};
use pool_http::{
    Full, HttpConnection, NextBody, RedirectAction, RedirectError, RedirectPolicy, Redirects,
    RequestError, SentBody, SentRequest,
};
use pool_testkit::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa};

/// Two origins (hosts `a.test` and `b.test`, each on its own address and port) per
/// protocol, and one pool per protocol knowing both hosts.
struct Rig {
    tcp: [H2Origin; 2],
    quic: [H3Origin; 2],
    h1: Pool<H1Dialer>,
    h2: Pool<H2Dialer>,
    h3: Pool<QuicDialer>,
}

const HOSTS: [&str; 2] = ["a.test", "b.test"];

impl Rig {
    async fn start() -> Rig {
        let ca = Arc::new(TestCa::new().unwrap());
        let ips = [IpAddr::from([127, 0, 0, 85]), IpAddr::from([127, 0, 0, 86])];
        let mut tcp = Vec::new();
        let mut quic = Vec::new();
        for (ip, host) in ips.iter().zip(HOSTS) {
            let options = H2OriginOptions::new(&[*ip], &[host], &ca);
            tcp.push(H2Origin::start(options).await.unwrap());
            let options = H3OriginOptions::new(&[*ip], &[host], &ca);
            quic.push(H3Origin::start(options).await.unwrap());
        }
        let trust = Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
            ..Trust::default()
        };
        let tls = TlsOptions {
            trust: trust.clone(),
            conn_timeout: Duration::from_secs(5),
            ..TlsOptions::default()
        };
        let mut h2_options = H2Options::default();
        h2_options.tls.trust = trust.clone();
        h2_options.tls.conn_timeout = tls.conn_timeout;
        let quic_options = QuicOptions {
            trust,
            conn_timeout: Duration::from_secs(5),
            ..QuicOptions::default()
        };
        let options = || PoolOptions {
            checkout_timeout: Duration::from_secs(10),
            ..PoolOptions::default()
        };
        let rig = Rig {
            h1: Pool::new(H1Dialer::new(tls).unwrap(), options()).unwrap(),
            h2: Pool::new(H2Dialer::new(h2_options).unwrap(), options()).unwrap(),
            h3: Pool::new(QuicDialer::new(quic_options).unwrap(), options()).unwrap(),
            tcp: tcp.try_into().ok().unwrap(),
            quic: quic.try_into().ok().unwrap(),
        };
        for (i, host) in HOSTS.iter().enumerate() {
            rig.h1.set_addrs(host, rig.tcp[i].socket_addrs());
            rig.h2.set_addrs(host, rig.tcp[i].socket_addrs());
            rig.h3.set_addrs(host, rig.quic[i].socket_addrs());
        }
        rig
    }

    /// The base URL of host `i` for a protocol's origins.
    fn base(&self, quic: bool, i: usize) -> String {
        let port = if quic {
            self.quic[i].port()
        } else {
            self.tcp[i].port()
        };
        format!("https://{}:{port}", HOSTS[i])
    }

    async fn stop(self) {
        self.h1.close().await;
        self.h2.close().await;
        self.h3.close().await;
        for o in &self.tcp {
            o.shutdown().await;
        }
        for o in &self.quic {
            o.shutdown().await;
        }
    }
}

/// Where a chain ended: the final status and body, and the URIs followed.
struct Ended {
    status: u16,
    body: String,
    followed: Vec<Uri>,
}

/// Sends `method url` with `headers` and `body`, following redirects under `policy` as a
/// client would: each response handed to the policy, its next request sent.
async fn send_following<D>(
    pool: &Pool<D>,
    policy: RedirectPolicy,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: &'static str,
) -> Result<Ended, RequestError>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let mut chain = Redirects::new(policy);
    let (mut method, mut uri, mut headers) = (method, url.parse::<Uri>().unwrap(), headers);
    let mut body = Bytes::from_static(body.as_bytes());
    loop {
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(uri.path_and_query().unwrap().as_str())
            .body(Full::new(body.clone()))
            .unwrap();
        *request.headers_mut() = headers.clone();
        let response = pool_http::send(pool, uri.host().unwrap(), request).await?;
        let sent = SentRequest {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: if body.is_empty() {
                SentBody::Empty
            } else {
                SentBody::Replayable
            },
        };
        match chain.next(sent, response.status(), response.headers())? {
            RedirectAction::Stop => {
                let status = response.status().as_u16();
                let text = response.into_body().collect(1 << 20).await?;
                return Ok(Ended {
                    status,
                    body: String::from_utf8_lossy(&text).into_owned(),
                    followed: chain.followed().to_vec(),
                });
            }
            RedirectAction::Follow(next) => {
                // The redirect's own body is read to its end (HTTP/1.1 reuses the connection).
                response.into_body().collect(1 << 20).await?;
                if next.body == NextBody::Empty {
                    body = Bytes::new();
                }
                (method, uri, headers) = (next.method, next.uri, next.headers);
            }
        }
    }
}

/// The checks, over one protocol's pool.
async fn check<D>(pool: &Pool<D>, a: &str, b: &str, protocol: &str)
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let policy = RedirectPolicy::default();
    let get = |url: String| send_following(pool, policy, Method::GET, url, HeaderMap::new(), "");

    // A chain of three, to the echo.
    let ended = get(format!("{a}/redirect/302/3?k=v")).await.unwrap();
    assert_eq!(ended.status, 200, "{protocol}");
    assert!(
        ended.body.starts_with("GET /redirect/302/0?k=v\n"),
        "{protocol}: {}",
        ended.body
    );
    assert_eq!(ended.followed.len(), 3, "{protocol}");
    assert_eq!(
        ended.followed[2],
        format!("{a}/redirect/302/0?k=v").as_str(),
        "{protocol}"
    );

    // 303: the POST arrives as a GET without its body; 307: still a POST with it.
    let post = |url: String| {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        send_following(pool, policy, Method::POST, url, h, "payload")
    };
    let ended = post(format!("{a}/redirect/303/1")).await.unwrap();
    assert!(
        ended.body.starts_with("GET /redirect/303/0\n"),
        "{protocol}: {}",
        ended.body
    );
    assert!(
        !ended.body.contains("content-type"),
        "{protocol}: {}",
        ended.body
    );
    let ended = post(format!("{a}/redirect/307/1")).await.unwrap();
    assert!(
        ended.body.starts_with("POST /redirect/307/0\n"),
        "{protocol}: {}",
        ended.body
    );
    assert!(
        ended.body.contains("content-type: text/plain"),
        "{protocol}: {}",
        ended.body
    );

    // To the other origin: the credentials stay behind, the rest goes.
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer secret"),
    );
    headers.insert(header::COOKIE, HeaderValue::from_static("session=1"));
    headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("fr"));
    let url = format!("{a}/redirect-to?status=307&url={b}/echo");
    let ended = send_following(pool, policy, Method::GET, url, headers.clone(), "")
        .await
        .unwrap();
    assert!(
        ended.body.starts_with("GET /echo\n"),
        "{protocol}: {}",
        ended.body
    );
    assert!(
        ended.body.contains("accept-language: fr"),
        "{protocol}: {}",
        ended.body
    );
    assert!(
        !ended.body.contains("authorization") && !ended.body.contains("cookie"),
        "{protocol}: {}",
        ended.body
    );
    // On the same origin they go along.
    let url = format!("{a}/redirect-to?url=/echo");
    let ended = send_following(pool, policy, Method::GET, url, headers, "")
        .await
        .unwrap();
    assert!(
        ended.body.contains("authorization: Bearer secret"),
        "{protocol}: {}",
        ended.body
    );

    // Eleven redirects: one more than the limit, named.
    match get(format!("{a}/redirect/301/11")).await {
        Err(RequestError::Redirect(RedirectError::TooMany { url, max: 10 })) => {
            assert_eq!(url, format!("{a}/redirect/301/1"), "{protocol}");
        }
        other => panic!("{protocol}: {:?}", other.map(|e| e.body)),
    }
    // A redirect status without a Location.
    match get(format!("{a}/status/302")).await {
        Err(RequestError::Redirect(RedirectError::MissingLocation { status: 302, .. })) => {}
        other => panic!("{protocol}: {:?}", other.map(|e| e.body)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_chains_over_h1_h2_and_h3() {
    let rig = Rig::start().await;
    let (a, b) = (rig.base(false, 0), rig.base(false, 1));
    check(&rig.h1, &a, &b, "h1").await;
    check(&rig.h2, &a, &b, "h2").await;
    let (a, b) = (rig.base(true, 0), rig.base(true, 1));
    check(&rig.h3, &a, &b, "h3").await;
    rig.stop().await;
}
