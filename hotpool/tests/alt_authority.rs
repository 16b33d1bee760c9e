//! RFC 7838 §2: a request sent over an HTTP/3 alternative keeps the origin's authority.
//! The origin is HTTPS on TCP port P; its `alt-svc` names HTTP/3 on UDP port Q ≠ P. Once
//! the client moved to HTTP/3, the alternative must receive `:authority` = `host:P`, not
//! `host:Q` (the port the QUIC connection dialed). A host pinned to `h3` (no Alt-Svc) still
//! sends its own `host:Q`.
//!
//! The HTTP/3 side is a small server written here (quinn + h3) that records each request's
//! `:authority`: the testkit's H3 origin does not echo it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hotpool::{Client, Config, Transport};
use http::{Response, Version};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};
use quinn::crypto::rustls::QuicServerConfig;

const HOST: &str = "127.0.0.46";
const WAIT: Duration = Duration::from_secs(10);

/// An HTTP/3 server on `HOST` that answers every request `200 ok` and records its
/// `:authority`.
struct AuthorityServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    endpoint: quinn::Endpoint,
    task: tokio::task::JoinHandle<()>,
}

impl AuthorityServer {
    fn start(ca: &TestCa) -> AuthorityServer {
        let tls = ca.server_config(&[HOST], &[b"h3".to_vec()], true).unwrap();
        let crypto = QuicServerConfig::try_from(tls).unwrap();
        let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let bind = SocketAddr::new(HOST.parse::<IpAddr>().unwrap(), 0);
        let endpoint = quinn::Endpoint::server(config, bind).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(endpoint.clone(), Arc::clone(&seen)));
        AuthorityServer {
            addr,
            seen,
            endpoint,
            task,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn stop(self) {
        self.endpoint.close(0u32.into(), b"done");
        self.task.abort();
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, seen: Arc<Mutex<Vec<String>>>) {
    while let Some(incoming) = endpoint.accept().await {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let Ok(mut h3) = h3::server::builder()
                .build::<_, Bytes>(h3_quinn::Connection::new(conn))
                .await
            else {
                return;
            };
            while let Ok(Some(resolver)) = h3.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Ok((request, mut stream)) = resolver.resolve_request().await else {
                        return;
                    };
                    let authority = request.uri().authority().map(ToString::to_string);
                    seen.lock()
                        .unwrap()
                        .push(authority.unwrap_or_else(|| "(none)".to_owned()));
                    let sent = async {
                        stream.send_response(Response::new(())).await?;
                        stream.send_data(Bytes::from_static(b"ok")).await?;
                        stream.finish().await
                    };
                    let _ = sent.await;
                });
            }
        });
    }
}

fn client(ca_file: &std::path::Path) -> Client {
    let text = format!(
        "[pool]\nconn_timeout = \"2s\"\nrequest_timeout = \"5s\"\n\n\
         [tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n",
        ca_file.display()
    );
    let config = Config::from_str_named(&text, "alt_authority.toml").unwrap();
    Client::builder().config(config).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_an_alternative_carry_the_origins_authority() {
    let ca = Arc::new(TestCa::new().unwrap());
    let tcp = H2Origin::start(H2OriginOptions::new(&[HOST.parse().unwrap()], &[HOST], &ca))
        .await
        .unwrap();
    let h3 = AuthorityServer::start(&ca);
    assert_ne!(
        tcp.port(),
        h3.addr.port(),
        "the alternative is on another port"
    );
    let dir = std::env::temp_dir().join(format!("hotpool-alt-authority-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();

    // The origin advertises the alternative; the client learns it over TCP.
    let client = client(&ca_file);
    let url = format!("https://{HOST}:{}/page", tcp.port());
    let advertise = format!(
        "https://{HOST}:{}/response-headers?alt-svc=h3%3D%22%3A{}%22",
        tcp.port(),
        h3.addr.port()
    );
    let response = client.get(&advertise).send().await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    response.into_body().bytes().await.unwrap();
    pool_testkit::eventually("HTTP/3 in use", WAIT, || {
        client.alt_svc(HOST, tcp.port()).is_some_and(|s| s.in_use)
    })
    .await
    .unwrap();

    let before = h3.seen().len();
    for _ in 0..2 {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.version(), Version::HTTP_3);
        assert_eq!(response.into_body().bytes().await.unwrap(), "ok");
    }
    // The requests (not the pool's own warm-up probes, which came first) name the origin.
    let seen = h3.seen();
    let requests = &seen[before..];
    let origin_authority = format!("{HOST}:{}", tcp.port());
    assert_eq!(
        requests,
        [origin_authority.clone(), origin_authority],
        "{seen:?}"
    );
    client.close().await;

    // A client pinned to h3 for every host: the URL names the HTTP/3 port, and so does
    // the authority.
    let pinned = Client::builder()
        .config(
            Config::from_str_named(
                &format!(
                    "[tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n",
                    ca_file.display()
                ),
                "pinned.toml",
            )
            .unwrap(),
        )
        .transport(Transport::H3)
        .build()
        .unwrap();
    let before = h3.seen().len();
    let response = pinned
        .get(format!("https://{HOST}:{}/pinned", h3.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    response.into_body().bytes().await.unwrap();
    let seen = h3.seen();
    assert_eq!(
        seen.last(),
        Some(&format!("{HOST}:{}", h3.addr.port())),
        "{:?}",
        &seen[before..]
    );
    pinned.close().await;
    h3.stop();
    tcp.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
