//! DNS HTTPS records (RFC 9460) at a host's start: the origin's records are looked up
//! alongside its A/AAAA answers, and an `h3` service moves the origin to HTTP/3 from its
//! first request, through the Alt-Svc cache ([`AltSvcCache::apply_dns`]: one fallback to
//! TCP, one broken-h3 backoff). What was chosen and why: `docs/alt-svc.md`.

use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::time::Duration;

use pool_config::Config;
use pool_dns::HttpsLookup;

use crate::ConfigOptions;
use crate::altsvc::{AltSvcCache, Origin};
use crate::stack::HostSpec;

/// How long a host's start waits for its HTTPS records once its A/AAAA answers are in.
///
/// Both lookups leave together, to the same name servers, so the records are normally in
/// first; this bounds what a slow or silent HTTPS answer adds to the first request of a
/// host (a record arriving later is not used: the origin is as if it had none, and
/// `Alt-Svc` still applies). 100 ms: under one round trip to a distant resolver, far
/// above the gap between two answers of one server.
pub const HTTPS_RECORD_GRACE: Duration = Duration::from_millis(100);

/// Runs `start` (the TCP start of `spec`'s host, which waits for its A/AAAA answers) and,
/// when `cache` is given, the lookup of the origin's HTTPS records at the same time; once
/// `start` has ended, waits for the records at most [`HTTPS_RECORD_GRACE`] more and feeds
/// them to `cache` ([`AltSvcCache::apply_dns`]) if the start succeeded. A host with
/// pinned addresses (an IP literal, or `[[hosts]] addrs`) is never looked up in DNS,
/// HTTPS records included. Every failure (no record, SERVFAIL, timeout, no resolver)
/// leaves the origin as it was.
pub(crate) async fn start_with_records<T, E>(
    cfg: &Config,
    spec: &HostSpec,
    cache: Option<&AltSvcCache>,
    start: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let pinned = spec.name.parse::<IpAddr>().is_ok()
        || spec.entry.as_ref().is_some_and(|e| e.addrs.is_some());
    let Some(cache) = cache.filter(|_| !pinned) else {
        return start.await;
    };
    let origin: Origin = (spec.name.to_ascii_lowercase(), spec.port);
    let lookup = async {
        let lookup = HttpsLookup::new(&cfg.dns_options()).map_err(|e| e.to_string())?;
        lookup
            .lookup(&origin.0, origin.1)
            .await
            .map_err(|e| e.to_string())
    };
    let mut lookup = pin!(lookup);
    let mut records = None;
    let started = {
        let mut start = pin!(start);
        loop {
            tokio::select! {
                started = &mut start => break started,
                answer = &mut lookup, if records.is_none() => records = Some(answer),
            }
        }
    };
    // A start that failed: the records are not used (the next request starts again).
    let started = started?;
    let answer = match records {
        Some(answer) => answer,
        None => tokio::time::timeout(HTTPS_RECORD_GRACE, lookup)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer {HTTPS_RECORD_GRACE:?} after the addresses"
                ))
            }),
    };
    match answer {
        Ok(records) => {
            let now = tokio::time::Instant::now().into_std();
            if let Some(port) = cache.apply_dns(&origin, &records, now) {
                tracing::debug!(host = %origin.0, port = origin.1, h3_port = port, "HTTPS record: HTTP/3 from the first request");
            }
        }
        Err(reason) => {
            tracing::debug!(host = %origin.0, port = origin.1, %reason, "no HTTPS record used");
        }
    }
    Ok(started)
}
