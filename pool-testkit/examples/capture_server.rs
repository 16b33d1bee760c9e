//! A capture origin for a manual check with a real client (a browser, curl, hotpool):
//! prints, per connection, the JA4, the raw JA4, the extension order, ALPN and for HTTP/2
//! the Akamai string and the first request's header names.
//!
//! ```text
//! cargo run -p pool-testkit --example capture_server -- [IP] [HOST] [SECONDS] [CA_PEM_PATH]
//! ```
//! Defaults: `127.0.0.77`, `capture.test`, 60 s, `capture-ca.pem` (written, so a client
//! can trust it). Then e.g.
//! `chromium --headless --no-sandbox --host-resolver-rules="MAP capture.test 127.0.0.77"
//! --ignore-certificate-errors https://capture.test:PORT/` (see docs/fingerprints.md).

use std::net::IpAddr;
use std::time::Duration;

use pool_testkit::capture::{CaptureOrigin, Captured, extension_order};

fn describe(n: usize, c: &Captured) -> String {
    let mut out = format!(
        "connection {n} from {}: handshake {}, alpn {:?}\n",
        c.peer,
        if c.handshake_ok { "ok" } else { "failed" },
        c.alpn
    );
    match c.ja4() {
        Ok(fp) => {
            out += &format!("  JA4     {fp}\n  JA4_r   {}\n", fp.raw());
            if let Ok(order) = extension_order(&c.client_hello) {
                let hex: Vec<String> = order.iter().map(|e| format!("{e:04x}")).collect();
                out += &format!("  ext order (wire, GREASE kept) {}\n", hex.join(","));
            }
        }
        Err(e) => out += &format!("  no ClientHello: {e}\n"),
    }
    if let (Some(akamai), Some(h2)) = (c.akamai_h2(), c.h2.as_ref()) {
        let names: Vec<&str> = h2.headers.iter().map(|(n, _)| n.as_str()).collect();
        out += &format!(
            "  HTTP/2  {akamai}\n  headers {}\n  HEADERS priority {:?}\n",
            names.join(","),
            h2.headers_priority
        );
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ip: IpAddr = args.first().map_or("127.0.0.77", String::as_str).parse()?;
    let host = args
        .get(1)
        .map_or("capture.test", String::as_str)
        .to_owned();
    let secs: u64 = args.get(2).map_or("60", String::as_str).parse()?;
    let ca_path = args
        .get(3)
        .map_or("capture-ca.pem", String::as_str)
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let origin = CaptureOrigin::start(&host, ip).await?;
        std::fs::write(&ca_path, origin.ca_pem())?;
        println!(
            "capture origin for {host} on {} (CA: {ca_path}); {secs} s",
            origin.addr()
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut printed = std::collections::BTreeSet::new();
        while tokio::time::Instant::now() < deadline {
            let seen = origin
                .wait_for(printed.len() + 1, Duration::from_millis(500))
                .await;
            // Each connection once, when its record is complete (an HTTP/2 connection
            // after its first request: a preconnect that never asks waits).
            for (n, c) in seen.iter().enumerate() {
                if c.complete && printed.insert(n) {
                    println!("{}", describe(n, c));
                }
            }
        }
        Ok(())
    })
}
