//! `hotpool bench URL -n N -c C`: requests through the pool, a latency histogram and req/s
//! (like a small h2load).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pool_config::Transport as TransportKind;
use pool_core::Dialer;
use pool_http::HttpConnection;
use serde::Serialize;

use crate::args::{BenchArgs, Global};
use crate::latency::{Latencies, Summary, fmt_us};
use crate::progress::WarmBar;
use crate::report::print_json;
use crate::stack::{self, HostSpec, Stack};
use crate::{Error, load_config};

/// A parsed `https://host[:port]/path` URL.
#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    /// `host` or `host:port` as written.
    pub authority: String,
    /// Path and query, `/` when absent.
    pub path: String,
}

/// Parses an `https://` URL (the only scheme: every transport here is TLS-based).
pub fn parse_url(url: &str) -> Result<Url, Error> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| Error::new(format!("bench: expected an https:// URL, got {url:?}")))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::new(format!("bench: no usable host in {url:?}")));
    }
    Ok(Url {
        authority: authority.to_owned(),
        path,
    })
}

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
    elapsed_ms: f64,
    requests_per_sec: f64,
    latency: Summary,
    /// Power-of-two buckets: (upper bound in µs, count).
    histogram: Vec<(u64, usize)>,
    reuse_rate: f64,
    connections: usize,
    addresses: usize,
    warm_ok: usize,
}

/// `hotpool bench URL`.
pub async fn run(global: &Global, args: &BenchArgs) -> Result<ExitCode, Error> {
    let cfg = load_config(global)?;
    let url = parse_url(&args.url)?;
    let host = HostSpec::parse(&url.authority, &cfg)?;
    match host.transport {
        TransportKind::H2 => {
            let dialer = crate::stack::h2_dialer(&cfg, &host)?;
            bench_with(global, args, &cfg, dialer, &host, &url).await
        }
        TransportKind::H1 => {
            let dialer = crate::stack::h1_dialer(&cfg, &host)?;
            bench_with(global, args, &cfg, dialer, &host, &url).await
        }
        TransportKind::Auto => {
            let dialer = crate::stack::https_dialer(&cfg, &host)?;
            bench_with(global, args, &cfg, dialer, &host, &url).await
        }
        TransportKind::H3 => {
            let dialer = crate::stack::quic_dialer(&cfg, &host)?;
            bench_with(global, args, &cfg, dialer, &host, &url).await
        }
        other => Err(Error::new(format!(
            "bench: transport {:?} of {} is not supported by the CLI (it sends requests over h1, h2, auto or h3)",
            other.as_str(),
            host.name
        ))),
    }
}

async fn bench_with<D: Dialer<Conn: HttpConnection>>(
    global: &Global,
    args: &BenchArgs,
    cfg: &pool_config::Config,
    dialer: D,
    host: &HostSpec,
    url: &Url,
) -> Result<ExitCode, Error> {
    let stack = Stack::start(cfg, dialer, host).await?;
    let mut bar = WarmBar::new(&host.name);
    let warm = stack
        .pool
        .warm_with_progress(&host.name, |p| bar.update(p))
        .await;
    bar.finish(&warm);

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        let share =
            args.requests / args.concurrency + u64::from(w < args.requests % args.concurrency);
        let pool = stack.pool.clone();
        let name = host.name.clone();
        let path = url.path.clone();
        let options = stack.request.clone();
        tasks.spawn(async move {
            let mut lat = Latencies::with_capacity(share as usize);
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut errors = Vec::new();
            let mut bytes = 0u64;
            for _ in 0..share {
                let t = Instant::now();
                match stack::get(&pool, &name, &path, &options).await {
                    Ok(response) => {
                        lat.record(t.elapsed());
                        *statuses.entry(response.status().as_u16()).or_default() += 1;
                        bytes += response.body().len() as u64;
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (lat, statuses, errors, bytes)
        });
    }
    let mut lat = Latencies::with_capacity(args.requests as usize);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    let mut body_bytes = 0u64;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((l, s, e, b)) => {
                lat.merge(l);
                body_bytes += b;
                for (k, v) in s {
                    *statuses.entry(k).or_default() += v;
                }
                errors.extend(e);
            }
            Err(e) => errors.push(format!("worker failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    let stats = stack.pool.stats();
    let connections = stack.pool.connections().len();
    let addresses = stack.pool.addrs(&host.name).len();
    stack.stop().await;

    let ok = lat.len() as u64;
    let out = BenchJson {
        url: args.url.clone(),
        transport: stack.transport,
        requests: args.requests,
        concurrency: args.concurrency,
        ok,
        errors: errors.len() as u64,
        body_bytes,
        statuses,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        requests_per_sec: ok as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64(),
        latency: lat.summary(),
        histogram: lat.buckets(),
        reuse_rate: stats.reuse_rate(),
        connections,
        addresses,
        warm_ok: warm.ok,
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
        "\n{} over {}: {} requests, concurrency {}, {} connections to {} addresses\n\n",
        r.url, r.transport, r.requests, r.concurrency, r.connections, r.addresses
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
    out.push_str(&format!("  reuse rate     {:.4}\n\n", r.reuse_rate));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://a.test:8443/x/y?z=1").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("a.test:8443", "/x/y?z=1")
        );
        let u = parse_url("https://a.test").unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("a.test", "/"));
        let u = parse_url("https://[::1]:443?q").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("[::1]:443", "/?q")
        );
        assert!(parse_url("http://a.test/").is_err());
        assert!(parse_url("https:///x").is_err());
    }
}
