//! Setup shared by the end-to-end tests of the TLS + HTTP/2 dialers (pool-dial-rustls's rustls
//! ones and pool-dial-boring's), so each file keeps only what is its own. Each test binary uses
//! a part of it.
#![allow(dead_code, reason = "each test binary uses a part of the shared setup")]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use pool_core::{DialErrorKind, Dialer, Pool, PoolOptions, Target, WarmOutcome, WarmReport};
use pool_dial_rustls::Trust;
use pool_http::Empty;
use pool_testkit::TestCa;

/// How long a test waits for something to happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// 127.0.0.x for each x.
pub fn ips(last: &[u8]) -> Vec<IpAddr> {
    last.iter().map(|n| IpAddr::from([127, 0, 0, *n])).collect()
}

/// Trust the test CA only.
pub fn trust(ca: &TestCa) -> Trust {
    Trust {
        webpki_roots: false,
        extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
        ..Trust::default()
    }
}

/// The pool's defaults with a 10 s checkout timeout.
pub fn pool_options() -> PoolOptions {
    PoolOptions {
        checkout_timeout: Duration::from_secs(10),
        ..PoolOptions::default()
    }
}

/// A pool of `dialer` that retries a dial once (a refused certificate counts as one
/// failure, never more).
pub fn retrying_once<D: Dialer>(dialer: D) -> Pool<D> {
    Pool::new(
        dialer,
        PoolOptions {
            max_retries: 1,
            ..pool_options()
        },
    )
    .unwrap()
}

/// Warms `host` and returns the report with the kinds of the dials that failed.
pub async fn warm_failures<D: Dialer>(
    pool: &Pool<D>,
    host: &str,
) -> (WarmReport, Vec<DialErrorKind>) {
    let mut kinds = Vec::new();
    let report = pool
        .warm_with_progress(host, |p| {
            if let WarmOutcome::Failed(e) = &p.outcome {
                kinds.push(e.kind());
            }
        })
        .await;
    (report, kinds)
}

/// A dial target.
pub fn target(host: &str, addr: SocketAddr) -> Target {
    Target {
        host: host.into(),
        addr,
    }
}

/// A GET of `path` without a body.
pub fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::builder()
        .uri(path)
        .body(Empty::new())
        .unwrap()
}
