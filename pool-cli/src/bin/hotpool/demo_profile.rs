//! `hotpool demo --profile BROWSER`: what an origin sees of each engine. A local capture
//! origin (pool-testkit `capture`) on 127.0.0.250 records the ClientHello and HTTP/2
//! preface of one connection made by the rustls `H2Dialer` and one made by the BoringSSL
//! dialer as BROWSER, each through a pool with one request; the report puts their JA4 and
//! Akamai HTTP/2 strings side by side, with the browser's published JA4.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Dialer, Pool, PoolOptions};
use pool_http::{Empty, HttpConnection, HttpLeaseExt};
use pool_testkit::capture::{CaptureOrigin, Captured};
use serde::Serialize;

use crate::Error;
use crate::args::{Browser, Global};
use crate::report::{print_json, table_aligned};

/// The capture origin's host name and address.
const HOST: &str = "capture.hotpool.test";
const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 250));
/// Bound of each step (dial, request, capture).
const WAIT: Duration = Duration::from_secs(15);

/// One engine's line of the report.
#[derive(Debug, Serialize)]
struct Seen {
    engine: String,
    status: u16,
    alpn: Option<String>,
    ja4: String,
    ja4_r: String,
    akamai_h2: Option<String>,
    /// The browser's published JA4 (boring only).
    published_ja4: Option<&'static str>,
}

/// One request through a pool of `dialer`; returns the status and what the origin saw of
/// the connection.
async fn one<D>(dialer: D, origin: &CaptureOrigin) -> Result<(u16, Captured), Error>
where
    D: Dialer<Conn: HttpConnection>,
{
    let before = origin.captures().len();
    let options = PoolOptions {
        checkout_timeout: WAIT,
        ..PoolOptions::default()
    };
    let pool = Pool::new(dialer, options).map_err(|e| Error::new(format!("pool: {e}")))?;
    pool.set_addrs(HOST, vec![origin.addr()]);
    let status = async {
        let lease = pool
            .get(HOST)
            .await
            .map_err(|e| Error::new(format!("dial: {e}")))?;
        let request = http::Request::get("/")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::new(format!("request: {e}")))?;
        let response = lease
            .request(request)
            .await
            .map_err(|e| Error::new(format!("request: {e}")))?;
        Ok::<_, Error>(response.status().as_u16())
    }
    .await;
    pool.close().await;
    let status = status?;
    let seen = origin.wait_for(before + 1, WAIT).await;
    let captured = seen
        .into_iter()
        .skip(before)
        .find(|c| c.handshake_ok)
        .ok_or_else(|| Error::new("the capture origin recorded no handshake"))?;
    Ok((status, captured))
}

fn line(engine: String, status: u16, c: &Captured, published: Option<&'static str>) -> Seen {
    let (ja4, ja4_r) = match c.ja4() {
        Ok(fp) => (fp.to_string(), fp.raw()),
        Err(e) => (format!("({e})"), String::new()),
    };
    Seen {
        engine,
        status,
        alpn: c.alpn.clone(),
        ja4,
        ja4_r,
        akamai_h2: c.akamai_h2(),
        published_ja4: published,
    }
}

/// `hotpool demo --profile BROWSER`.
pub async fn run(global: &Global, browser: Browser) -> Result<ExitCode, Error> {
    // The same refusal as `--profile` on the other commands, in a build without boring.
    crate::client::use_profile(&mut pool_config::Config::default(), browser)?;
    let origin = CaptureOrigin::start(HOST, IP)
        .await
        .map_err(|e| Error::new(format!("capture origin on {IP}: {e}")))?;
    let mut trust = pool_dial_rustls::Trust {
        webpki_roots: false,
        ..pool_dial_rustls::Trust::default()
    };
    trust.extra_ca_certs = vec![origin.ca().ca_cert_der().to_vec()];
    let mut rustls = pool_dial_rustls::H2Options::default();
    rustls.tls.trust = trust.clone();
    let rustls =
        pool_dial_rustls::H2Dialer::new(rustls).map_err(|e| Error::new(format!("TLS: {e}")))?;
    let (status, captured) = one(rustls, &origin).await?;
    let mut lines = vec![line("rustls".to_owned(), status, &captured, None)];
    lines.push(boring_line(browser, trust, &origin).await?);
    if global.json {
        for l in &lines {
            print_json(l)?;
        }
    } else {
        println!(
            "What the capture origin ({HOST} on {}) saw, one connection per engine:",
            origin.addr()
        );
        let rows: Vec<Vec<String>> = lines
            .iter()
            .map(|l| {
                vec![
                    l.engine.clone(),
                    l.alpn.clone().unwrap_or_else(|| "-".to_owned()),
                    l.ja4.clone(),
                    l.akamai_h2.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        print!(
            "{}",
            table_aligned(&["engine", "ALPN", "JA4", "HTTP/2 (Akamai)"], &rows, 1)
        );
        for l in &lines {
            if let Some(published) = l.published_ja4 {
                let same = if l.ja4 == published {
                    "equal"
                } else {
                    "differs"
                };
                println!("{} published JA4: {published} ({same})", l.engine);
            }
        }
    }
    origin.shutdown();
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "boring")]
async fn boring_line(
    browser: Browser,
    trust: pool_dial_rustls::Trust,
    origin: &CaptureOrigin,
) -> Result<Seen, Error> {
    let profile = pool_dial_boring::BrowserProfile::by_name(browser.name())
        .map_err(|e| Error::new(e.to_string()))?;
    let published = profile.ja4;
    let dialer = pool_dial_boring::BoringDialer::new(pool_dial_boring::BoringOptions {
        profiles: vec![profile],
        trust,
        ..pool_dial_boring::BoringOptions::default()
    })
    .map_err(|e| Error::new(format!("BoringSSL setup: {e}")))?;
    let (status, captured) = one(dialer, origin).await?;
    Ok(line(
        format!("boring {}", browser.name()),
        status,
        &captured,
        Some(published),
    ))
}

#[cfg(not(feature = "boring"))]
async fn boring_line(
    _browser: Browser,
    _trust: pool_dial_rustls::Trust,
    _origin: &CaptureOrigin,
) -> Result<Seen, Error> {
    Err(Error::new("built without the boring feature"))
}
