//! The cookie jar (feature `cookies`) against the testkit origins: `Set-Cookie` from a
//! response (`/response-headers`) sent back on later requests (`/echo` shows what
//! arrived), by domain, path and `Secure`, on every hop of a redirect chain, and across
//! origins only by the domain rules.
#![cfg(feature = "cookies")]

use std::net::IpAddr;
use std::sync::Arc;

use hotpool::{Client, Config};
use pool_testkit::origin::{H2Origin, H2OriginOptions};
use pool_testkit::{DnsServer, TestCa};

const ZONE: &str = "hotpool.test";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `cookie` lines `/echo` shows (one field: the jar sends one).
async fn cookie_sent(client: &Client, url: &str) -> Option<String> {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let text = response.into_body().text().await.unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cookie: "))
        .collect();
    assert!(lines.len() <= 1, "one Cookie field: {text}");
    lines.first().map(|l| (*l).to_owned())
}

fn has(field: &Option<String>, pair: &str) -> bool {
    field
        .as_deref()
        .is_some_and(|f| f.split("; ").any(|p| p == pair))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_kept_and_sent_by_domain_path_and_secure_across_redirects() {
    let ca = Arc::new(TestCa::new().unwrap());
    let (a_ip, b_ip) = (ip("127.0.0.71"), ip("127.0.0.72"));
    let (a_name, b_name) = (format!("a.{ZONE}"), format!("b.{ZONE}"));
    let a = H2Origin::start(H2OriginOptions::new(&[a_ip], &[&a_name], &ca))
        .await
        .unwrap();
    // `http://a.hotpool.test`: the same host without TLS (cookies ignore ports).
    let a_plain = H2Origin::start(H2OriginOptions::plain(&[a_ip]))
        .await
        .unwrap();
    let b = H2Origin::start(H2OriginOptions::new(&[b_ip], &[&b_name], &ca))
        .await
        .unwrap();
    let dns = DnsServer::start_zone(ZONE).await.unwrap();
    dns.set_addrs(&a_name, &[a_ip], 60).await.unwrap();
    dns.set_addrs(&b_name, &[b_ip], 60).await.unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-cookies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let text = format!(
        "[pool]\nrequest_timeout = \"5s\"\n\n[dns]\nname_servers = [\"{}\"]\ntimeout = \"2s\"\n\n\
         [tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n",
        dns.addr(),
        ca_file.display()
    );
    let config = || Config::from_str_named(&text, "cookies.toml").unwrap();
    let client = Client::builder()
        .config(config())
        .cookie_store(true)
        .build()
        .unwrap();
    let a_url = format!("https://{a_name}:{}", a.port());
    let b_url = format!("https://{b_name}:{}", b.port());

    let set: String = [
        "host=1; Path=/",
        &format!("shared=2; Domain={ZONE}; Path=/"),
        "deep=3; Path=/redirect",
        "sec=4; Secure; Path=/",
    ]
    .iter()
    .map(|c| format!("set-cookie={}", encode(c)))
    .collect::<Vec<_>>()
    .join("&");
    let response = client
        .get(format!("{a_url}/response-headers?{set}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 4);
    drop(response);

    // Same host: the host-only, domain and secure cookies; not the one for /redirect.
    let sent = cookie_sent(&client, &format!("{a_url}/echo")).await;
    for pair in ["host=1", "shared=2", "sec=4"] {
        assert!(has(&sent, pair), "{pair}: {sent:?}");
    }
    assert!(!has(&sent, "deep=3"), "{sent:?}");
    // A path under /redirect, reached by a redirect chain (each hop asks the jar).
    let sent = cookie_sent(&client, &format!("{a_url}/redirect/302/2")).await;
    assert!(has(&sent, "deep=3") && has(&sent, "host=1"), "{sent:?}");
    // Plain http to the same host: never the Secure cookie.
    let sent = cookie_sent(&client, &format!("http://{a_name}:{}/echo", a_plain.port())).await;
    assert!(has(&sent, "host=1") && !has(&sent, "sec=4"), "{sent:?}");

    // A redirect to another origin: the caller's own Cookie field is dropped there, and
    // the jar gives that origin only what the domain rules allow.
    let to_b = format!(
        "{a_url}/redirect-to?status=302&url={}",
        encode(&format!("{b_url}/echo"))
    );
    let response = client
        .get(&to_b)
        .header("cookie", "mine=secret")
        .send()
        .await
        .unwrap();
    let text = response.into_body().text().await.unwrap();
    let sent: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cookie: "))
        .collect();
    assert_eq!(sent, ["shared=2"], "{text}");
    assert_eq!(
        client.cookies_for(&format!("{b_url}/")).unwrap(),
        "shared=2"
    );

    // A client without the jar (the default) sends nothing it was given.
    let plain_client = Client::builder().config(config()).build().unwrap();
    let _ = plain_client
        .get(format!("{a_url}/response-headers?{set}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cookie_sent(&plain_client, &format!("{a_url}/echo")).await,
        None
    );
    assert_eq!(plain_client.cookies_for(&a_url), None);
    client.close().await;
    plain_client.close().await;
}
