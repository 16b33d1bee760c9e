//! How long the adaptation takes to meet a server's rate limit (`docs/rate-limits.md`),
//! measured against a real server, not simulated: the testkit's HTTP/2 origin in this
//! process limiting `/limited/…` to 200 requests/s (token bucket, burst 10, 429 above it:
//! `OriginRateLimit`), crawled by a default `hotpool::Client` (no configured rate,
//! adaptation and status retries on) with 16 workers sending back to back for 3 s. A
//! sampler reads the host's adapted rate every 5 ms.
//!
//! Per round: the time from the first request until the adapted rate is at or under the
//! limit ("met"), the origin's 429s until then and over the whole run, and the rate the
//! origin served over the last second. Medians over rounds, written as one JSON line to
//! `$HOTPOOL_BENCH_OUT/adapt.jsonl` (else printed). `HOTPOOL_BENCH_QUICK`: 2 rounds.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hotpool::{Client, Config, HostRates, Polite, StatusRetry};
use pool_core::Adaptation;
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions, OriginRateLimit, RateLimitCounts};

const HOST: &str = "adapt.bench.test";
const LIMIT: f64 = 200.0;
const RUN: Duration = Duration::from_secs(3);
const WORKERS: usize = 16;

/// One round's figures.
struct Round {
    /// Milliseconds from the start until the adapted rate was ≤ the limit (`None`: never).
    met_ms: Option<f64>,
    /// The origin's 429s until then.
    refused_until_met: u64,
    /// The origin's 429s over the run.
    refused: u64,
    /// Requests the origin answered 200 over the run.
    passed: u64,
    /// The rate the origin served (200s) over the run's last second.
    served_last_second: f64,
    /// The adapted rate at the end.
    final_rate: f64,
}

async fn round(origin: &H2Origin, config: &Config) -> Round {
    origin.set_rate_limit(Some(OriginRateLimit {
        burst: 10,
        ..OriginRateLimit::new(LIMIT)
    }));
    let rates = Arc::new(HostRates::new(None, Some(Adaptation::default())));
    let client = Client::builder()
        .config(config.clone())
        .polite(Polite::new(
            Some(Arc::clone(&rates)),
            StatusRetry::default(),
        ))
        .build()
        .expect("client");
    let url = format!("https://{HOST}:{}/limited/page", origin.port());
    // The host started before the clock runs: the run measures adaptation, not a dial.
    let warm = client
        .get(format!("https://{HOST}:{}/", origin.port()))
        .send()
        .await;
    let _ = warm.expect("warm-up").into_body().bytes().await;

    // The origin's counts run on across rounds: this round's are the differences.
    let base = origin.rate_limit_counts();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (client, url, stop) = (client.clone(), url.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = client.get(&url).send().await.expect("request");
                    let _ = response.into_body().bytes().await;
                }
            })
        })
        .collect();
    let mut met = None;
    let mut at_second = None;
    while start.elapsed() < RUN {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let current = rates.stats(HOST).and_then(|s| s.current);
        if met.is_none() && current.is_some_and(|r| r <= LIMIT) {
            met = Some((
                start.elapsed(),
                origin.rate_limit_counts().refused - base.refused,
            ));
        }
        if at_second.is_none() && start.elapsed() >= RUN - Duration::from_secs(1) {
            at_second = Some((
                start.elapsed(),
                origin.rate_limit_counts().passed - base.passed,
            ));
        }
    }
    let now = origin.rate_limit_counts();
    let end = start.elapsed();
    let counts = RateLimitCounts {
        passed: now.passed - base.passed,
        refused: now.refused - base.refused,
    };
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let final_rate = rates
        .stats(HOST)
        .and_then(|s| s.current)
        .unwrap_or(f64::NAN);
    client.close().await;
    let (second_at, passed_then) = at_second.expect("the run lasts over a second");
    Round {
        met_ms: met.map(|(t, _)| t.as_secs_f64() * 1e3),
        refused_until_met: met.map_or(counts.refused, |(_, r)| r),
        refused: counts.refused,
        passed: counts.passed,
        served_last_second: (counts.passed - passed_then) as f64 / (end - second_at).as_secs_f64(),
        final_rate,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter is not supported (one measurement).
    let rounds = if std::env::var_os("HOTPOOL_BENCH_QUICK").is_some() {
        2
    } else {
        5
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ca = Arc::new(TestCa::new().expect("CA"));
    let ip: IpAddr = [127, 0, 0, 3].into();
    let origin = rt
        .block_on(H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca)))
        .expect("origin");
    let dir = std::env::temp_dir().join(format!("hotpool-bench-adapt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).expect("CA file");
    let text = format!(
        "[tls]\nca_files = [\"{}\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"{HOST}\"\nport = {}\ntransport = \"h2\"\naddrs = [\"{ip}\"]\n",
        ca_file.display(),
        origin.port()
    );
    let config = Config::from_str_named(&text, "adapt.toml").expect("config");
    let mut all = Vec::new();
    for i in 0..rounds {
        let r = rt.block_on(round(&origin, &config));
        eprintln!(
            "adapt round {i}: met {:?} ms, 429s until then {}, 429s {}, 200s {}, served last second {:.0}/s, final rate {:.0}/s",
            r.met_ms, r.refused_until_met, r.refused, r.passed, r.served_last_second, r.final_rate
        );
        all.push(r);
    }
    rt.block_on(origin.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
    let met: Vec<f64> = all.iter().filter_map(|r| r.met_ms).collect();
    let pick = |f: fn(&Round) -> f64| median(all.iter().map(f).collect());
    let line = format!(
        "{{\"limit_per_sec\":{LIMIT},\"burst\":10,\"workers\":{WORKERS},\"run_ms\":{},\"rounds\":{rounds},\"met_rounds\":{},\"met_ms\":{},\"refused_until_met\":{},\"refused\":{},\"passed\":{},\"served_last_second\":{:.1},\"final_rate\":{:.1}}}",
        RUN.as_millis(),
        met.len(),
        if met.is_empty() {
            "null".to_owned()
        } else {
            format!("{:.1}", median(met.clone()))
        },
        pick(|r| r.refused_until_met as f64),
        pick(|r| r.refused as f64),
        pick(|r| r.passed as f64),
        pick(|r| r.served_last_second),
        pick(|r| r.final_rate),
    );
    match std::env::var_os("HOTPOOL_BENCH_OUT") {
        Some(out) => {
            let path = std::path::Path::new(&out).join("adapt.jsonl");
            std::fs::write(&path, format!("{line}\n")).expect("adapt.jsonl");
        }
        None => println!("{line}"),
    }
}
