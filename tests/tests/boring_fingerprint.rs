//! pool-dial-boring's browser profiles against the capture origin (`pool_testkit::capture`) on
//! loopback: per profile (bare and versioned names), the wire JA4 equals the table's
//! documented one and the one computed from the table's own lists, the signature algorithms
//! and extension set are the table's, the HTTP/2 (Akamai) fingerprint equals the table's
//! documented string, and the profile's `User-Agent` / `Accept-Language` are sent; Chrome
//! permutes its extensions per connection (the wire order differs, the JA4 does not);
//! Firefox and Safari keep their documented order. And each table's browser lists (what it
//! sends plus [`NotSent`](pool_dial_boring::profiles::NotSent)) rebuild the raw JA4 captured
//! from the real browser (Chromium 156, firefox-esr 153; docs/fingerprints.md).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use pool_core::{Dialer, Target};
use pool_dial_boring::profiles::ExtensionOrder;
use pool_dial_boring::{BoringDialer, BoringOptions, BrowserProfile, Mode, Trust};
use pool_http::{Empty, HttpConnection};
use pool_testkit::capture::{
    CaptureOrigin, Captured, ClientHello, extension_order, is_grease, ja4_of, parse_client_hello,
};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "fp.test";

fn trust(origin: &CaptureOrigin) -> Trust {
    Trust {
        webpki_roots: false,
        extra_ca_certs: vec![origin.ca().ca_cert_der().to_vec()],
        ..Trust::default()
    }
}

/// Dials `n` connections with `profile` and sends one GET on each; returns what the
/// origin recorded.
async fn capture(profile: BrowserProfile, ip: u8, n: usize) -> (CaptureOrigin, Vec<Captured>) {
    let origin = CaptureOrigin::start(HOST, IpAddr::from([127, 0, 0, ip]))
        .await
        .unwrap();
    let dialer = BoringDialer::new(BoringOptions {
        profiles: vec![profile],
        trust: trust(&origin),
        conn_timeout: Duration::from_secs(5),
        ..BoringOptions::default()
    })
    .unwrap();
    let target = Target {
        host: HOST.into(),
        addr: origin.addr(),
    };
    for _ in 0..n {
        let conn = dialer.dial(&target).await.unwrap();
        let response = conn
            .send(http::Request::new(Empty::<Bytes>::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    let captured = origin.wait_for(n, WAIT).await;
    assert_eq!(captured.len(), n);
    (origin, captured)
}

/// The ClientHello the profile's documented lists describe (what JA4 reads of it).
fn documented_hello(profile: &BrowserProfile) -> ClientHello {
    ClientHello {
        legacy_version: 0x0303,
        cipher_suites: profile.tls.cipher_suites.clone(),
        extensions: profile.tls.extensions.clone(),
        supported_versions: vec![profile.tls.max_version],
        server_name: Some(HOST.to_owned()),
        alpn: profile
            .tls
            .alpn
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect(),
        signature_algorithms: profile.tls.signature_algorithms.clone(),
    }
}

/// The ClientHello of the browser itself as the table documents it: what it sends plus
/// what the engine cannot.
fn browser_hello(profile: &BrowserProfile) -> ClientHello {
    ClientHello {
        extensions: profile.browser_extensions(),
        signature_algorithms: profile.browser_signature_algorithms(),
        ..documented_hello(profile)
    }
}

/// The raw JA4 (`ja4_r`) of Debian's Chromium 156.0.8078.129, captured headless against
/// `capture_server` on 2026-12-07 (docs/fingerprints.md); four connections, one value.
const CHROMIUM_156_JA4_R: &str = "t13d1517h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,ca34,fe0d,ff01_0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601";

/// The raw JA4 of Debian's firefox-esr 153.8.0esr, captured the same way (two connections).
const FIREFOX_ESR_153_JA4_R: &str = "t13d1617h2_002f,0035,009c,009d,1301,1302,1303,c00a,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,001c,0022,0023,002b,002d,0033,fe0d,ff01_0403,0503,0603,0804,0805,0806,0401,0501,0601,0203,0201";

/// The per-profile checks on one captured connection.
fn check(profile: &BrowserProfile, c: &Captured) {
    let name = &profile.name;
    assert!(c.handshake_ok, "{name}: handshake");
    assert_eq!(c.alpn.as_deref(), Some("h2"), "{name}: ALPN");
    let ja4 = c.ja4().unwrap();
    assert_eq!(
        format!("{}_{}", ja4.a, ja4.b),
        profile.ja4_ab(),
        "{name}: JA4_a_b"
    );
    let expected = ja4_of(&documented_hello(profile));
    assert_eq!(ja4.c, expected.c, "{name}: JA4_c from the profile's lists");
    assert_eq!(ja4.to_string(), expected.to_string(), "{name}: JA4");
    assert_eq!(
        ja4.to_string(),
        profile.ja4,
        "{name}: the documented wire JA4"
    );
    assert_eq!(
        ja4_of(&browser_hello(profile)).to_string(),
        profile.browser_ja4,
        "{name}: the browser's JA4 from the table's lists and what it does not send"
    );
    let hello = parse_client_hello(&c.client_hello).unwrap();
    let sigalgs: Vec<u16> = hello
        .signature_algorithms
        .iter()
        .copied()
        .filter(|s| !is_grease(*s))
        .collect();
    assert_eq!(
        sigalgs, profile.tls.signature_algorithms,
        "{name}: signature algorithms"
    );
    assert_eq!(
        sigalgs.len(),
        hello.signature_algorithms.len(),
        "{name}: no GREASE signature algorithm (this BoringSSL sends none)"
    );
    assert_eq!(
        c.akamai_h2().as_deref(),
        Some(profile.h2.documented),
        "{name}: HTTP/2 fingerprint"
    );
    let h2 = c.h2.as_ref().unwrap();
    let header = |n: &str| {
        h2.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("user-agent"),
        Some(profile.user_agent.clone()),
        "{name}"
    );
    assert_eq!(
        header("accept-language"),
        Some(profile.accept_language.clone()),
        "{name}"
    );
    // The regular headers go out in the profile's order (Chrome: user-agent before
    // accept-language; Safari: the other way round).
    let pos = |list: &[String], n: &str| list.iter().position(|k| k == n);
    let sent: Vec<String> = h2.headers.iter().map(|(k, _)| k.clone()).collect();
    let documented = &profile.h2.header_order;
    assert_eq!(
        pos(&sent, "user-agent") < pos(&sent, "accept-language"),
        pos(documented, "user-agent") < pos(documented, "accept-language"),
        "{name}: header order {sent:?}"
    );
    let order = extension_order(&c.client_hello).unwrap();
    let no_grease: Vec<u16> = order.iter().copied().filter(|e| !is_grease(*e)).collect();
    let mut sorted = no_grease.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, profile.tls.extensions, "{name}: the extension set");
    if let ExtensionOrder::Fixed(fixed) = &profile.tls.extension_order {
        assert_eq!(&no_grease, fixed, "{name}: the documented fixed order");
    }
    assert_eq!(
        order.len() > no_grease.len(),
        profile.tls.grease,
        "{name}: GREASE extensions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chrome_permutes_extensions_but_keeps_its_ja4() {
    let profile = BrowserProfile::chrome();
    let (_origin, captured) = capture(profile.clone(), 60, 2).await;
    for c in &captured {
        check(&profile, c);
    }
    assert_eq!(captured[0].ja4().unwrap(), captured[1].ja4().unwrap());
    assert_eq!(
        captured[0].ja4().unwrap().to_string(),
        "t13d1516h2_8daaf6152771_d8a2da3f94cd"
    );
    let first = extension_order(&captured[0].client_hello).unwrap();
    let second = extension_order(&captured[1].client_hello).unwrap();
    let strip = |v: Vec<u16>| -> Vec<u16> { v.into_iter().filter(|e| !is_grease(*e)).collect() };
    // 16 extensions permuted: two equal orders in a row are a 1-in-10^13 event.
    assert_ne!(
        strip(first),
        strip(second),
        "the wire order changes per connection"
    );
}

/// `chrome` is Chrome 156: its browser lists rebuild the Chromium 156 capture exactly; on
/// the wire it is Chrome 143's ClientHello (the ML-DSA schemes and trust_anchors are what
/// the engine cannot send), with Chrome 156's `User-Agent`.
#[test]
fn chrome_is_the_chromium_156_capture() {
    let chrome = BrowserProfile::chrome();
    let browser = ja4_of(&browser_hello(&chrome));
    assert_eq!(browser.to_string(), "t13d1517h2_8daaf6152771_cb7bf5808d99");
    assert_eq!(browser.raw(), CHROMIUM_156_JA4_R);
    assert_eq!(chrome.browser_ja4, browser.to_string());
    assert!(chrome.user_agent.contains("Chrome/156."));
    let chrome_143 = BrowserProfile::by_name("chrome-143").unwrap();
    assert_eq!(chrome.ja4, chrome_143.browser_ja4);
    assert_eq!(chrome.tls, chrome_143.tls);
    assert_eq!(chrome.not_sent.extensions, [0xca34]);
    assert_eq!(
        chrome.not_sent.leading_signature_algorithms,
        [0x0904, 0x0905, 0x0906]
    );
    // The captured trust_anchors body: a 2-byte length, then that many bytes of
    // length-prefixed IDs (28 of them).
    let ta = chrome.not_sent.trust_anchors;
    assert_eq!(
        usize::from(u16::from_be_bytes([ta[0], ta[1]])),
        ta.len() - 2
    );
    let (mut ids, mut rest) = (0, &ta[2..]);
    while let Some((&n, tail)) = rest.split_first() {
        assert!(n > 0 && usize::from(n) <= tail.len());
        rest = &tail[usize::from(n)..];
        ids += 1;
    }
    assert_eq!(ids, 28);
}

/// Why `chrome` leaves Chrome 156's ML-DSA schemes out: the BoringSSL `btls` vendors refuses
/// them when the connector is built (docs/boring.md). When this fails, the engine can send
/// them: move them from `NotSent` into the Chrome 156 table.
#[test]
fn this_boringssl_refuses_chrome_156s_ml_dsa_schemes() {
    let mut chrome = BrowserProfile::chrome();
    chrome.tls.signature_algorithms = chrome.browser_signature_algorithms();
    let refused = BoringDialer::new(BoringOptions {
        profiles: vec![chrome],
        trust: Trust {
            danger_accept_invalid_certs: true,
            ..Trust::default()
        },
        ..BoringOptions::default()
    });
    let Err(err) = refused else {
        panic!("ML-DSA signature algorithms accepted");
    };
    assert!(
        matches!(err, pool_dial_boring::BoringError::Ssl(_)),
        "{err}"
    );
    assert!(
        err.to_string().contains("INVALID_SIGNATURE_ALGORITHM"),
        "{err}"
    );
}

/// `firefox` is Firefox ESR 153, sent whole: its lists rebuild the firefox-esr 153 capture.
#[test]
fn firefox_is_the_firefox_esr_153_capture() {
    let firefox = BrowserProfile::firefox();
    assert!(firefox.not_sent.is_empty());
    assert_eq!(
        ja4_of(&documented_hello(&firefox)).raw(),
        FIREFOX_ESR_153_JA4_R
    );
    assert_eq!(firefox.ja4, "t13d1617h2_86a278354501_3cbfd9057e0d");
    let firefox_144 = BrowserProfile::by_name("firefox-144").unwrap();
    let mut dropped = firefox_144.tls.cipher_suites.clone();
    dropped.retain(|c| !firefox.tls.cipher_suites.contains(c));
    assert_eq!(dropped, [0xc009]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_versioned_table_matches_its_documented_values_on_the_wire() {
    for (i, name) in BrowserProfile::VERSIONED.iter().enumerate() {
        let profile = BrowserProfile::by_name(name).unwrap();
        let ip = 70 + u8::try_from(i).unwrap();
        let (_origin, captured) = capture(profile.clone(), ip, 1).await;
        check(&profile, &captured[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_safari_and_edge_match_their_captures() {
    for (i, profile) in [
        BrowserProfile::firefox(),
        BrowserProfile::safari(),
        BrowserProfile::edge(),
    ]
    .into_iter()
    .enumerate()
    {
        let ip = 61 + u8::try_from(i).unwrap();
        let (_origin, captured) = capture(profile.clone(), ip, 1).await;
        check(&profile, &captured[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_rotate_per_connection_and_h1_mode_offers_http1_only() {
    let origin = CaptureOrigin::start(HOST, IpAddr::from([127, 0, 0, 64]))
        .await
        .unwrap();
    let target = Target {
        host: HOST.into(),
        addr: origin.addr(),
    };
    let dialer = BoringDialer::new(BoringOptions {
        profiles: vec![BrowserProfile::chrome(), BrowserProfile::firefox()],
        trust: trust(&origin),
        ..BoringOptions::default()
    })
    .unwrap();
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(
            dialer
                .dial(&target)
                .await
                .unwrap()
                .info()
                .profile
                .to_string(),
        );
    }
    assert_eq!(names, ["chrome", "firefox", "chrome", "firefox"]);

    let h1 = BoringDialer::new(BoringOptions {
        mode: Mode::H1,
        trust: trust(&origin),
        ..BoringOptions::default()
    })
    .unwrap();
    let conn = h1.dial(&target).await.unwrap();
    assert_eq!(conn.info().alpn.as_deref(), Some(&b"http/1.1"[..]));
    let response = conn
        .send(http::Request::new(Empty::<Bytes>::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let captured = origin.wait_for(5, WAIT).await;
    assert_eq!(captured[4].alpn.as_deref(), Some("http/1.1"));
    let ja4 = captured[4].ja4().unwrap();
    assert!(ja4.a.ends_with("h1"), "{}", ja4.a);
    let _unused: Option<SocketAddr> = None;
}

/// HTTP/1.1 on the BoringSSL path writes header names as browsers do (`Host`,
/// `User-Agent`), where the stock rustls path writes hyper's lower case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_header_names_in_the_browsers_case() {
    let origin = CaptureOrigin::start(HOST, IpAddr::from([127, 0, 0, 79]))
        .await
        .unwrap();
    let target = Target {
        host: HOST.into(),
        addr: origin.addr(),
    };
    let boring = BoringDialer::new(BoringOptions {
        profiles: vec![BrowserProfile::firefox()],
        mode: Mode::H1,
        trust: trust(&origin),
        conn_timeout: Duration::from_secs(5),
        ..BoringOptions::default()
    })
    .unwrap();
    let conn = boring.dial(&target).await.unwrap();
    let response = conn
        .send(http::Request::new(Empty::<Bytes>::new()))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let rustls = pool_dial_rustls::TlsOptions {
        trust: trust(&origin),
        ..pool_dial_rustls::TlsOptions::default()
    };
    let stock = pool_dial_rustls::H1Dialer::new(rustls).unwrap();
    let conn = stock.dial(&target).await.unwrap();
    let response = conn
        .send(http::Request::new(Empty::<Bytes>::new()))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let captured = origin.wait_for(2, WAIT).await;
    let heads: Vec<&str> = captured
        .iter()
        .filter_map(|c| c.h1_head.as_deref())
        .collect();
    assert_eq!(heads.len(), 2, "{captured:?}");
    let browser = heads
        .iter()
        .find(|h| h.contains("Firefox"))
        .expect("the boring request");
    let port = origin.addr().port();
    assert!(
        browser.starts_with(&format!("GET / HTTP/1.1\r\nHost: fp.test:{port}\r\n")),
        "{browser}"
    );
    assert!(browser.contains("\r\nUser-Agent: Mozilla/5.0"), "{browser}");
    assert!(!browser.contains("\r\nuser-agent:"), "{browser}");
    let plain = heads
        .iter()
        .find(|h| !h.contains("Firefox"))
        .expect("the rustls request");
    assert!(
        plain.contains(&format!("\r\nhost: fp.test:{port}\r\n")),
        "hyper's own case: {plain}"
    );
}
