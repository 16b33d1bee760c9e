//! The jar's `Cookie` field goes where a browser profile's header order puts it
//! (`cargo test -p hotpool --features cookies,boring --test cookies_profile`): a cookie set
//! by one host of a domain (the testkit origin's `/response-headers`) is sent to another
//! (the capture origin, which records the request's header block in wire order), through
//! BoringSSL with the Chrome profile; and a profile's own `Accept-Encoding`.
#![cfg(all(feature = "cookies", feature = "boring"))]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hotpool::{Client, Config, WarmPolicy};
use pool_testkit::TestCa;
use pool_testkit::capture::CaptureOrigin;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_field_takes_its_place_in_the_profiles_order() {
    let ca = Arc::new(TestCa::new().unwrap());
    let (set_ip, seen_ip): (IpAddr, IpAddr) =
        ("127.0.0.91".parse().unwrap(), "127.0.0.92".parse().unwrap());
    let setter = H2Origin::start(H2OriginOptions::new(&[set_ip], &["set.jar.test"], &ca))
        .await
        .unwrap();
    let capture = CaptureOrigin::start_with_ca("seen.jar.test", seen_ip, ca.clone())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-cookie-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let text = format!(
        "[pool]\nrequest_timeout = \"5s\"\n\n\
         [tls]\nengine = \"boring\"\nprofiles = [\"chrome\"]\nca_files = [\"{ca}\"]\n\
         use_webpki_roots = false\n\n\
         [[hosts]]\nname = \"set.jar.test\"\nport = {set_port}\naddrs = [\"{set_ip}\"]\n\n\
         [[hosts]]\nname = \"seen.jar.test\"\nport = {seen_port}\naddrs = [\"{seen_ip}\"]\n",
        ca = ca_file.display(),
        set_port = setter.port(),
        seen_port = capture.addr().port(),
    );
    let client = Client::builder()
        .config(Config::from_str_named(&text, "order.toml").unwrap())
        .cookie_store(true)
        .warm(WarmPolicy::OnDemand)
        .build()
        .unwrap();
    let set = "set-cookie=k%3Dv%3B%20Domain%3Djar.test%3B%20Path%3D%2F";
    let response = client
        .get(format!(
            "https://set.jar.test:{}/response-headers?{set}",
            setter.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);

    let response = client
        .get(format!("https://seen.jar.test:{}/", capture.addr().port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let captured = capture.wait_for(1, Duration::from_secs(10)).await;
    let h2 = captured
        .iter()
        .find_map(|c| c.h2.as_ref())
        .expect("an HTTP/2 request captured");
    let sent: Vec<&str> = h2
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with(':'))
        .collect();
    let value = |n: &str| {
        h2.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("cookie"), Some("k=v"), "{sent:?}");
    // Chrome's order: ... user-agent, ..., accept-encoding, accept-language, cookie. The jar
    // added the field before the profile added accept-language: the order is the profile's.
    let pos = |n: &str| {
        sent.iter()
            .position(|k| *k == n)
            .unwrap_or_else(|| panic!("{n}: {sent:?}"))
    };
    assert!(pos("user-agent") < pos("accept-encoding"), "{sent:?}");
    assert!(pos("accept-encoding") < pos("accept-language"), "{sent:?}");
    assert!(pos("accept-language") < pos("cookie"), "{sent:?}");
    client.close().await;
    capture.shutdown();
}

/// A browser profile offers its own `Accept-Encoding` (Safari: no zstd) in place of the
/// client's default offer; a value the caller sets is sent as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_offers_its_own_accept_encoding() {
    let ca = Arc::new(TestCa::new().unwrap());
    let ip: IpAddr = "127.0.0.93".parse().unwrap();
    let capture = CaptureOrigin::start_with_ca("enc.jar.test", ip, ca.clone())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("hotpool-accept-enc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let port = capture.addr().port();
    let mut seen = Vec::new();
    for (profile, asked) in [
        ("safari", None),
        ("chrome", None),
        ("safari", Some("identity")),
    ] {
        let text = format!(
            "[tls]\nengine = \"boring\"\nprofiles = [\"{profile}\"]\nca_files = [\"{ca}\"]\n\
             use_webpki_roots = false\n\n\
             [[hosts]]\nname = \"enc.jar.test\"\nport = {port}\naddrs = [\"{ip}\"]\n",
            ca = ca_file.display(),
        );
        let client = Client::builder()
            .config(Config::from_str_named(&text, "enc.toml").unwrap())
            .warm(WarmPolicy::OnDemand)
            .build()
            .unwrap();
        let mut request = client.get(format!("https://enc.jar.test:{port}/"));
        if let Some(value) = asked {
            request = request.header("accept-encoding", value);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
        client.close().await;
        let captured = capture
            .wait_for(seen.len() + 1, Duration::from_secs(10))
            .await;
        let h2 = captured[seen.len()].h2.as_ref().expect("an HTTP/2 request");
        let value = h2.headers.iter().find(|(k, _)| k == "accept-encoding");
        seen.push(value.map(|(_, v)| v.clone()));
    }
    let seen: Vec<Option<&str>> = seen.iter().map(Option::as_deref).collect();
    assert_eq!(
        seen,
        [
            Some("gzip, deflate, br"),
            Some("gzip, deflate, br, zstd"),
            Some("identity")
        ]
    );
    capture.shutdown();
}
