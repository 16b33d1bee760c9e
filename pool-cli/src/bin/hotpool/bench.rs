//! `hotpool bench URL -n N -c C`: requests through the pool, a latency histogram and req/s
//! (like a small h2load), over any protocol (`--proto h1|h2|h3|auto`): requests per second,
//! latency percentiles, reuse (leases and connections opened).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::args::{BenchArgs, Global};
use crate::latency::{Latencies, Summary, fmt_us};
use crate::progress::WarmBar;
use crate::report::print_json;
use crate::target::{Url, parse_url};
use crate::{Error, load_config};
use hotpool::stack::{HostSpec, split_host_port};

/// The `--json` report of `bench`.
#[derive(Debug, Serialize)]
struct BenchJson {
    url: String,
    transport: &'static str,
    requests: u64,
    concurrency: u64,
    ok: u64,
    errors: u64,
    /// Response body bytes received.
    body_bytes: u64,
    /// Responses by status code.
    statuses: BTreeMap<u16, u64>,
    /// Responses by HTTP version (`HTTP/1.1`, `HTTP/2.0`, `HTTP/3.0`): what `auto` chose.
    versions: BTreeMap<String, u64>,
    elapsed_ms: f64,
    requests_per_sec: f64,
    latency: Summary,
    /// Power-of-two buckets: (upper bound in µs, count).
    histogram: Vec<(u64, usize)>,
    reuse_rate: f64,
    /// Leases handed out and connections dialed by the pool (warm-up included).
    leases: u64,
    dials: u64,
    connections: usize,
    addresses: usize,
    /// Addresses with an open connection at the end (a warmed host stays hot: all of them,
    /// also after the origin drained or restarted).
    connected_addresses: usize,
    warm_ok: usize,
    /// Set when HTTP/1.1's exclusive connections cap the concurrency (`h1`, `auto`): at
    /// most this many connections for more requests in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    exclusive_cap: Option<usize>,
    /// The pool's `max_conns_per_ip` (resolved for the transport when the config has none:
    /// 1 for h2 and h3, 6 for h1 and auto) and `max_conns_per_host`.
    max_conns_per_ip: usize,
    max_conns_per_host: usize,
    /// Pacing, throttles and status retries.
    polite: PoliteJson,
}

/// `GET target` through the client, the body read whole (at most
/// [`pool_http::DEFAULT_COLLECT_LIMIT`]); an error as one line.
async fn get(
    client: &hotpool::Client,
    target: &str,
) -> Result<hotpool::http::Response<bytes::Bytes>, String> {
    let response = client.get(target).send().await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.bytes().await.map_err(|e| format!("{target}: {e}"))?;
    Ok(hotpool::http::Response::from_parts(parts, body))
}

/// How the bench's requests were paced and throttled: the client's
/// [`Polite`](hotpool::Polite) counters and the host's rate (`--rate`, `[[hosts]]
/// rate_limit`, adapted on 429/503).
#[derive(Debug, Default, Serialize)]
struct PoliteJson {
    /// The rate configured for the host, requests/s (none: unpaced until a throttle).
    configured_per_sec: Option<f64>,
    /// The rate in force at the end (adapted down on throttles), requests/s.
    current_per_sec: Option<f64>,
    /// Requests that waited for their slot of the host's rate.
    waits: u64,
    /// Their total wait.
    wait_total_ms: f64,
    /// Their mean wait.
    wait_mean_ms: f64,
    /// The 99th percentile of their waits (none: no request waited).
    wait_p99_ms: Option<f64>,
    /// Requests refused at once because their slot was past their deadline.
    rate_limited: u64,
    /// Throttling answers received (429, 503, …: `pool.status_retries`), retried ones
    /// included.
    throttled: u64,
    /// Of those, by status.
    throttled_by_status: BTreeMap<String, u64>,
    /// Throttled requests sent again after a backoff.
    retried: u64,
    /// Of those, by the status that caused the retry.
    retried_by_reason: BTreeMap<String, u64>,
    /// Throttled requests returned as they were because the retry budget was spent.
    budget_exhausted: u64,
    /// Cuts of the rate the throttles caused, and pauses for a `Retry-After`.
    rate_cuts: u64,
    rate_pauses: u64,
}

impl PoliteJson {
    fn new(client: &hotpool::Client, host: &str) -> Self {
        let polite = client.polite();
        let counts = polite.stats();
        let mut out = PoliteJson {
            throttled: counts.throttled,
            retried: counts.retried,
            budget_exhausted: counts.budget_exhausted,
            ..PoliteJson::default()
        };
        if let Some(rate) = polite.rates().and_then(|r| r.stats(host)) {
            out.configured_per_sec = rate.configured;
            out.current_per_sec = rate.current;
            out.waits = rate.waits;
            out.wait_total_ms = rate.waited.as_secs_f64() * 1e3;
            out.wait_mean_ms = if rate.waits == 0 {
                0.0
            } else {
                out.wait_total_ms / rate.waits as f64
            };
            out.rate_limited = rate.refused;
            out.rate_cuts = rate.cuts;
            out.rate_pauses = rate.pauses;
        }
        // The breakdowns: what the request layer recorded, by label (`tally.rs`).
        if let Some(tally) = crate::tally::get() {
            out.throttled_by_status = tally.by_label(pool_http::polite::THROTTLED_TOTAL);
            out.retried_by_reason = tally.by_label(pool_http::polite::STATUS_RETRIES_TOTAL);
            out.wait_p99_ms = tally.wait_quantile(0.99).map(|d| d.as_secs_f64() * 1e3);
        }
        out
    }
}

/// `hotpool bench URL`.
pub async fn run(global: &Global, args: &BenchArgs) -> Result<ExitCode, Error> {
    let mut cfg = load_config(global)?;
    let url = parse_url(&args.url)?;
    // `http://` without a port is port 80 (a `[[hosts]]` port is an https one).
    let authority = match split_host_port(&url.authority)? {
        (_, None) if !url.tls => format!("{}:80", url.authority),
        _ => url.authority.clone(),
    };
    let mut host = args.target.apply(&mut cfg, &authority)?;
    // `--rtt`: kept until the command ends (dropping it stops the relay).
    let _relay = args.target.wan_relay(&mut cfg, &mut host).await?;
    let client = crate::client::for_host(cfg, &host)?;
    let result = bench_with(global, args, &client, &host, &url).await;
    client.close().await;
    result
}

async fn bench_with(
    global: &Global,
    args: &BenchArgs,
    client: &hotpool::Client,
    host: &HostSpec,
    url: &Url,
) -> Result<ExitCode, Error> {
    let origin = crate::client::origin_url(host, url.tls);
    let handle = client.host_handle(&origin).await?;
    let mut bar = WarmBar::new(&host.name);
    let warm = handle.warm_with_progress(|p| bar.update(p)).await;
    bar.finish(&warm);

    // Through the client, as a user sends them: `--rate`, `[[hosts]] rate_limit`,
    // adaptation to 429/503 and their retries included.
    let target = format!("{origin}{}", url.path);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        let share =
            args.requests / args.concurrency + u64::from(w < args.requests % args.concurrency);
        let (client, target) = (client.clone(), target.clone());
        tasks.spawn(async move {
            let mut lat = Latencies::with_capacity(share as usize);
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut versions: BTreeMap<String, u64> = BTreeMap::new();
            let mut errors = Vec::new();
            let mut bytes = 0u64;
            for _ in 0..share {
                let t = Instant::now();
                match get(&client, &target).await {
                    Ok(response) => {
                        lat.record(t.elapsed());
                        *statuses.entry(response.status().as_u16()).or_default() += 1;
                        *versions
                            .entry(format!("{:?}", response.version()))
                            .or_default() += 1;
                        bytes += response.body().len() as u64;
                    }
                    Err(e) => errors.push(e),
                }
            }
            (lat, statuses, versions, errors, bytes)
        });
    }
    let mut lat = Latencies::with_capacity(args.requests as usize);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    let mut body_bytes = 0u64;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((l, s, v, e, b)) => {
                lat.merge(l);
                body_bytes += b;
                for (k, v) in s {
                    *statuses.entry(k).or_default() += v;
                }
                for (k, v) in v {
                    *versions.entry(k).or_default() += v;
                }
                errors.extend(e);
            }
            Err(e) => errors.push(format!("worker failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    let stats = handle.stats();
    let connections = handle.connections().len();
    let addresses = handle.addrs().len();
    let polite = PoliteJson::new(client, &host.name);
    // HTTP/1.1 (h1, or what auto chose) carries one request per connection at a time.
    // The limits the pool ran with: per address (resolved for the transport when the
    // config leaves it out), per host, in total.
    let limits = handle.options();
    let cap = limits
        .max_conns_per_ip
        .saturating_mul(addresses)
        .min(limits.max_conns_per_host)
        .min(limits.max_connections);
    let http1 = versions
        .keys()
        .any(|v| v.starts_with("HTTP/1") || v.starts_with("HTTP/0"));
    let exclusive_cap = (http1 && (cap as u64) < args.concurrency).then_some(cap);

    let ok = lat.len() as u64;
    let out = BenchJson {
        url: args.url.clone(),
        transport: handle.transport(),
        requests: args.requests,
        concurrency: args.concurrency,
        ok,
        errors: errors.len() as u64,
        body_bytes,
        statuses,
        versions,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        requests_per_sec: ok as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64(),
        latency: lat.summary(),
        histogram: lat.buckets(),
        reuse_rate: stats.reuse_rate(),
        leases: stats.leases_total,
        dials: stats.dials_total,
        connections,
        addresses,
        connected_addresses: stats.connected_addresses,
        warm_ok: warm.ok,
        exclusive_cap,
        max_conns_per_ip: limits.max_conns_per_ip,
        max_conns_per_host: limits.max_conns_per_host,
        polite,
    };
    if global.json {
        print_json(&out)?;
    } else {
        print!("{}", render(&out));
        if let Some(first) = errors.first() {
            println!("  first error: {first}");
        }
    }
    if out.ok == 0 {
        return Err(Error::new(format!(
            "bench {}: every request failed ({})",
            out.url,
            errors.first().map_or("no request sent", String::as_str)
        )));
    }
    Ok(if out.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn render(r: &BenchJson) -> String {
    let l = &r.latency;
    let mut out = format!(
        "\n{} over {}: {} requests, concurrency {}, {} connections to {} of {} addresses\n\n",
        r.url,
        r.transport,
        r.requests,
        r.concurrency,
        r.connections,
        r.connected_addresses,
        r.addresses
    );
    out.push_str(&format!(
        "  finished in {:.2}s, {:.0} req/s, {} ok, {} errors\n",
        r.elapsed_ms / 1e3,
        r.requests_per_sec,
        r.ok,
        r.errors
    ));
    let statuses: Vec<String> = r
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    out.push_str(&format!("  status codes   {}\n", statuses.join(", ")));
    let versions: Vec<String> = r
        .versions
        .iter()
        .map(|(v, n)| format!("{v}: {n}"))
        .collect();
    out.push_str(&format!("  protocols      {}\n", versions.join(", ")));
    out.push_str(&render_polite(&r.polite));
    out.push_str(&format!(
        "  reuse rate     {:.4} ({} leases, {} connections opened)\n",
        r.reuse_rate, r.leases, r.dials
    ));
    if let Some(cap) = r.exclusive_cap {
        out.push_str(&format!(
            "  note           HTTP/1.1 connections are exclusive: at most {cap} ({} addresses × \
             pool.max_conns_per_ip {}, within pool.max_conns_per_host {}) for {} requests in \
             flight; raise them (and the limits they must fit), e.g. \
             HOTPOOL_POOL__MAX_CONNS_PER_HOST={} HOTPOOL_POOL__MAX_CONNS_PER_IP={} \
             HOTPOOL_POOL__MAX_IDLE_CONNS={}\n",
            r.addresses,
            r.max_conns_per_ip,
            r.max_conns_per_host,
            r.concurrency,
            r.concurrency,
            r.concurrency.div_ceil(r.addresses.max(1) as u64),
            r.concurrency,
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "  latency  min {}  p50 {}  p90 {}  p99 {}  max {}  mean {}\n\n",
        fmt_us(l.min_us),
        fmt_us(l.p50_us),
        fmt_us(l.p90_us),
        fmt_us(l.p99_us),
        fmt_us(l.max_us),
        fmt_us(l.mean_us)
    ));
    let max = r
        .histogram
        .iter()
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(1)
        .max(1);
    for (upper, count) in &r.histogram {
        let bar = "#".repeat((count * 40).div_ceil(max));
        out.push_str(&format!(
            "  <= {:>9}  {:>8}  {bar}\n",
            fmt_us(*upper),
            count
        ));
    }
    out
}

/// The pacing and throttling lines of the report: shown when a rate was set or
/// something was paced or throttled.
fn render_polite(p: &PoliteJson) -> String {
    let per_sec = |r: Option<f64>| r.map_or("unpaced".to_owned(), |r| format!("{r:.1}/s"));
    let mut out = String::new();
    if p.configured_per_sec.is_some() || p.waits > 0 || p.rate_limited > 0 {
        out.push_str(&format!(
            "  rate           {} configured, {} at the end; {} requests waited {:.1}ms in all \
             (mean {:.2}ms, p99 {:.2}ms), {} refused past their deadline\n",
            per_sec(p.configured_per_sec),
            per_sec(p.current_per_sec),
            p.waits,
            p.wait_total_ms,
            p.wait_mean_ms,
            p.wait_p99_ms.unwrap_or(0.0),
            p.rate_limited,
        ));
    }
    if p.throttled > 0 || p.retried > 0 || p.budget_exhausted > 0 {
        out.push_str(&format!(
            "  throttled      {} answers ({}), {} sent again ({}), {} not (retry budget spent); \
             rate cut {} times, paused {} times for Retry-After\n",
            p.throttled,
            by_label(&p.throttled_by_status),
            p.retried,
            by_label(&p.retried_by_reason),
            p.budget_exhausted,
            p.rate_cuts,
            p.rate_pauses,
        ));
    }
    out
}

/// `429: 12, 503: 1` (`-` when empty).
fn by_label(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "-".to_owned();
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    parts.join(", ")
}
