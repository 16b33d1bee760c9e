//! The bounded soak: mixed load with injected faults against local origins, for a fixed
//! time; prints what happened and checks that nothing leaked.
//!
//! Run it as `cargo xtask soak --secs 60` (which runs
//! `cargo run --release -p hotpool-tests --example soak -- --secs 60`).
//!
//! Set-up, all on 127.0.200.0/24: one TLS/h2 origin (.1), a [`FaultProxy`] in front of it
//! on six addresses (.10–.15), a DNS server whose answer for the host is four of those six,
//! a pool with `pool-dns` refreshing it and `pool-health` probing it. Sixteen workers send
//! requests through `pool_http::send` (one in ten a POST) while an injector cycles through
//! faults every 400 ms: reset, GOAWAY, handshake stall, black-hole, refused address, close
//! after N bytes, responses held then reset, slow link, DNS change, SERVFAIL, NXDOMAIN, a
//! silent DNS server, frozen PINGs, shedding.
//!
//! Checks (a failure exits non-zero): requests succeed most of the time (at least 50 %),
//! no worker panics, the pool's stats are consistent after `close()`, the open fds return
//! to the baseline, and RSS does not grow after warm-up by more than
//! `max(16 MiB, 25 % of the warm-up RSS)`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool_core::{CloseReason, Error, Pool, PoolOptions};
use pool_dns::{DnsOptions, DnsRefresher, NameServer};
use pool_health::{HealthChecker, HealthOptions, TransportProbe};
use pool_http::{Full, RequestError};
use pool_testkit::eventually;
use pool_testkit::fds::open_fds;
use pool_testkit::{DnsMode, DnsServer, H2Origin, H2OriginOptions, TestCa};
use pool_testkit::{Fault, FaultProxy};
use pool_tls::{H2Dialer, H2Options};

const HOST: &str = "www.soak.test";
const ZONE: &str = "soak.test";
const WORKERS: usize = 16;
const PROXIES: u8 = 6;
const MIB: u64 = 1024 * 1024;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 200, last])
}

/// Resident set size of this process in bytes (`VmRSS` of `/proc/self/status`).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A tiny deterministic generator (xorshift), so a run is repeatable in its choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Errors seen by the workers, by kind.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn error(&self, e: &RequestError) {
        let kind = match e {
            RequestError::Pool(Error::Dial { last, .. }) => {
                format!("dial_{}", last.kind().as_str())
            }
            RequestError::Pool(Error::Timeout { .. }) => "checkout_timeout".into(),
            RequestError::Pool(Error::NoUsableAddress { .. }) => "no_usable_address".into(),
            RequestError::Pool(Error::NoAddresses { .. }) => "no_addresses".into(),
            RequestError::Pool(Error::Closed) => "pool_closed".into(),
            RequestError::Pool(_) => "pool_other".into(),
            RequestError::NotSent(_) => "not_sent".into(),
            e if e.is_retry_safe() => "refused_stream".into(),
            e if e.is_connection_error() => "connection_lost".into(),
            RequestError::Protocol(_) => "stream_error".into(),
            _ => "other".into(),
        };
        *self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(kind)
            .or_default() += 1;
    }
}

fn parse_secs() -> Result<u64, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(60),
        [flag, n] if flag == "--secs" => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--secs wants a positive number, got `{n}`")),
        _ => Err("usage: soak [--secs N]".into()),
    }
}

fn main() -> std::process::ExitCode {
    let secs = match parse_secs() {
        Ok(secs) => secs,
        Err(e) => {
            eprintln!("soak: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(soak(Duration::from_secs(secs))) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: FAILED: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn soak(duration: Duration) -> Result<(), String> {
    let fds_start = open_fds();
    let rss_start = rss();
    let ca = Arc::new(TestCa::new().map_err(|e| e.to_string())?);
    let origin = H2Origin::start(H2OriginOptions {
        max_concurrent_streams: Some(16),
        ..H2OriginOptions::new(&[ip(1)], &[HOST], &ca)
    })
    .await
    .map_err(|e| e.to_string())?;
    let proxy_ips: Vec<IpAddr> = (0..PROXIES).map(|i| ip(10 + i)).collect();
    let proxy = FaultProxy::start(&proxy_ips, origin.socket_addrs()[0])
        .await
        .map_err(|e| e.to_string())?;
    let dns = DnsServer::start_zone(ZONE)
        .await
        .map_err(|e| e.to_string())?;
    dns.set_addrs(HOST, &proxy_ips[..4], 1)
        .await
        .map_err(|e| e.to_string())?;
    let fds_servers = open_fds();

    let mut h2 = H2Options::default();
    h2.tls.trust.webpki_roots = false;
    h2.tls.trust.extra_ca_certs = vec![ca.ca_cert_der()];
    h2.tls.conn_timeout = Duration::from_millis(500);
    h2.tls.test_timeout = Duration::from_millis(500);
    let options = PoolOptions {
        max_connections: 24,
        max_conns_per_host: 12,
        max_idle_conns: 12,
        max_conns_per_ip: 2,
        idle_timeout: Duration::from_secs(5),
        max_lifetime: Duration::from_secs(15),
        keep_warm: true,
        keep_warm_lead: Duration::from_secs(2),
        max_retries: 3,
        blacklist_check_interval: Duration::from_secs(1),
        blacklist_timeout: Duration::from_secs(10),
        health_check_interval: Some(Duration::from_secs(1)),
        checkout_timeout: Duration::from_secs(2),
        ..PoolOptions::default()
    };
    let pool = Pool::new(H2Dialer::new(h2).map_err(|e| e.to_string())?, options)
        .map_err(|e| e.to_string())?;
    let refresher = DnsRefresher::start(
        &pool,
        DnsOptions {
            name_servers: vec![NameServer::udp(dns.addr())],
            min_ttl: Duration::from_millis(200),
            query_timeout: Duration::from_millis(300),
            attempts: 1,
            retry_backoff: Duration::from_millis(100),
            max_retry_backoff: Duration::from_millis(500),
            ..DnsOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    refresher
        .add_host(HOST, proxy.port())
        .await
        .map_err(|e| e.to_string())?;
    let checker = HealthChecker::start(
        &pool,
        TransportProbe,
        HealthOptions {
            test_timeout: Duration::from_millis(500),
            concurrency: 8,
            ..HealthOptions::default()
        },
    );

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (pool, stop, tally) = (pool.clone(), stop.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let request = if i % 10 == 0 {
                    http::Request::builder()
                        .method(http::Method::POST)
                        .uri(format!("/w{w}/{i}"))
                        .body(Full::new(Bytes::from(vec![b'x'; 512])))
                } else {
                    http::Request::builder()
                        .uri(format!("/w{w}/{i}"))
                        .body(Full::new(Bytes::new()))
                }
                .expect("a valid request");
                let response = pool_http::send(&pool, HOST, request).await;
                match response.map(|r| r.into_body().bytes()) {
                    Ok(body) => match body.await {
                        Ok(_) => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tally.error(&e),
                    },
                    Err(e) => {
                        tally.error(&e);
                        // Do not spin on a pool that has nothing to give right now.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    // The fault injector, and the samples.
    let warm_up = (duration / 5).max(Duration::from_secs(2)).min(duration);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut injected: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut rss_warm = None;
    let mut rss_max_after_warm = 0;
    let mut restores: Vec<(Instant, Restore)> = Vec::new();
    let mut dns_answer = proxy_ips[..4].to_vec();
    let mut dns_set = 0u8;
    let mut next_sample = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = restores.drain(..).partition(|(at, _)| *at <= now);
        restores = later;
        for (_, restore) in due {
            restore.apply(&proxy, &origin, &dns, &dns_answer).await;
        }
        if started.elapsed() >= warm_up {
            let r = rss();
            rss_warm.get_or_insert(r);
            rss_max_after_warm = rss_max_after_warm.max(r);
        }
        if now >= next_sample {
            next_sample = now + Duration::from_secs(10);
            samples.push((started.elapsed().as_secs(), rss(), open_fds()));
        }
        let target = proxy_ips[rng.below(u64::from(PROXIES)) as usize];
        let later = now + Duration::from_millis(800 + rng.below(1500));
        let busy = |restores: &[(Instant, Restore)], what: &Restore| {
            restores.iter().any(|(_, r)| r == what)
        };
        let name = match rng.below(14) {
            0 => {
                proxy.inject(target, Fault::Reset);
                "reset_open"
            }
            1 => {
                origin.goaway_all();
                "goaway_all"
            }
            2..=5 if !busy(&restores, &Restore::Fault(target)) => {
                let (fault, name) = match rng.below(4) {
                    0 => (Fault::Stall, "stall_new"),
                    1 => (Fault::BlackHole, "black_hole"),
                    2 => (Fault::Refuse, "refuse"),
                    _ => (Fault::Delay(Duration::from_millis(20)), "slow_link"),
                };
                proxy.set_fault(target, fault);
                restores.push((later, Restore::Fault(target)));
                name
            }
            6 => {
                proxy.inject(target, Fault::CloseAfter(100 + rng.below(4000)));
                "close_after_bytes"
            }
            7 => {
                proxy.inject(target, Fault::StallResponses);
                restores.push((later, Restore::ResetOpen(target)));
                "responses_held_then_reset"
            }
            8 | 9 if !busy(&restores, &Restore::Dns) => {
                dns_set = (dns_set + 1) % PROXIES;
                dns_answer = (0..4)
                    .map(|i| proxy_ips[usize::from((dns_set + i) % PROXIES)])
                    .collect();
                let _ = dns.set_addrs(HOST, &dns_answer, 1).await;
                "dns_change"
            }
            10 if !busy(&restores, &Restore::Dns) => {
                let name = match rng.below(3) {
                    0 => {
                        dns.set_mode(DnsMode::ServFail);
                        "dns_servfail"
                    }
                    1 => {
                        dns.set_mode(DnsMode::Silent);
                        "dns_silent"
                    }
                    _ => {
                        let _ = dns.remove(HOST).await;
                        "dns_nxdomain"
                    }
                };
                restores.push((later, Restore::Dns));
                name
            }
            11 if !busy(&restores, &Restore::Pings) => {
                origin.set_ping_frozen(true);
                restores.push((later, Restore::Pings));
                "pings_frozen"
            }
            12 => {
                pool.shed(0.3);
                "shed_30pct"
            }
            _ => "none",
        };
        *injected.entry(name).or_default() += 1;
    }
    for (_, restore) in restores.drain(..) {
        restore.apply(&proxy, &origin, &dns, &dns_answer).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut panicked = 0;
    for worker in workers {
        match tokio::time::timeout(Duration::from_secs(10), worker).await {
            Ok(Ok(())) => {}
            _ => panicked += 1,
        }
    }
    let rss_end_load = rss();
    let stats_before_close = pool.stats();
    tokio::time::timeout(Duration::from_secs(10), pool.close())
        .await
        .map_err(|_| "pool.close() did not finish within 10 s".to_owned())?;
    let stats = pool.stats();
    refresher.stop().await;
    checker.stop().await;
    let dns_stats = refresher.stats();
    let health_stats = checker.stats();
    drop((pool, refresher, checker));
    // A timeout is not an error here: the report below shows what stayed open.
    let _ = eventually(
        "the proxy's connections and the pool's descriptors closed",
        Duration::from_secs(10),
        || proxy.stats().open == 0 && open_fds() <= fds_servers,
    )
    .await;
    let fds_after_close = open_fds();
    let proxy_stats = proxy.stats();
    let origin_stats = origin.stats();
    proxy.shutdown().await;
    origin.shutdown().await;
    dns.shutdown().await;
    let fds_end = open_fds();
    let rss_end = rss();

    // The report.
    let ok = tally.ok.load(Ordering::Relaxed);
    let errors = tally
        .errors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let failed: u64 = errors.values().sum();
    let total = ok + failed;
    println!(
        "soak: {:.1} s, {WORKERS} workers, faults every 400 ms",
        elapsed.as_secs_f64()
    );
    println!(
        "requests: {total} ({:.0}/s), ok {ok} ({:.2} %), failed {failed}",
        total as f64 / elapsed.as_secs_f64(),
        100.0 * ok as f64 / total.max(1) as f64
    );
    println!("errors by kind: {errors:?}");
    println!("faults injected: {injected:?}");
    println!(
        "connections: dials {} (ok {}, failed {}), admitted {}, closed {}, reuse rate {:.3}",
        stats.dials_total,
        stats.dials_ok,
        stats.dial_failures,
        stats.admitted,
        stats.closed_total(),
        stats_before_close.reuse_rate()
    );
    let reasons: Vec<String> = CloseReason::ALL
        .iter()
        .map(|r| (r, stats.closed_for(*r)))
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{}={n}", r.as_str()))
        .collect();
    println!("closed by reason: {}", reasons.join(" "));
    println!(
        "blacklisted {} times, restored {}; probes {} ({} failed); dns resolutions {} ({} failed, {} changes)",
        stats.blacklisted_total,
        stats.restored_total,
        health_stats.probes,
        health_stats.failed,
        dns_stats.resolutions,
        dns_stats.failures,
        dns_stats.changes
    );
    println!(
        "proxy: accepted {}, resets {}, bytes up {} / down {}; origin: handshakes {}, requests {}",
        proxy_stats.accepted,
        proxy_stats.resets,
        proxy_stats.bytes_up,
        proxy_stats.bytes_down,
        origin_stats.handshakes,
        origin_stats.requests
    );
    println!(
        "fds: start {fds_start}, with servers {fds_servers}, after pool close {fds_after_close}, end {fds_end}"
    );
    let rss_warm = rss_warm.unwrap_or(rss_end_load);
    let bound = (16 * MIB).max(rss_warm / 4);
    println!(
        "rss: start {:.1} MiB, after warm-up ({:.0} s) {:.1} MiB, max after warm-up {:.1} MiB, end of load {:.1} MiB, end {:.1} MiB; bound: warm-up + {:.1} MiB",
        rss_start as f64 / MIB as f64,
        warm_up.as_secs_f64(),
        rss_warm as f64 / MIB as f64,
        rss_max_after_warm as f64 / MIB as f64,
        rss_end_load as f64 / MIB as f64,
        rss_end as f64 / MIB as f64,
        bound as f64 / MIB as f64
    );
    let samples: Vec<String> = samples
        .iter()
        .map(|(t, r, f)| format!("{t}s:{:.1}MiB/{f}fds", *r as f64 / MIB as f64))
        .collect();
    println!("samples: {}", samples.join(" "));

    let mut problems = Vec::new();
    if panicked > 0 {
        problems.push(format!("{panicked} workers panicked or hung"));
    }
    if ok * 2 < total || ok == 0 {
        problems.push(format!("only {ok} of {total} requests succeeded"));
    }
    let open = (
        stats.connections,
        stats.dialing,
        stats.waiters,
        stats.leases_out,
    );
    if open != (0, 0, 0, 0) {
        problems.push(format!("after close: {stats:?}"));
    }
    if stats.closed_total() != stats.dials_ok {
        problems.push(format!(
            "{} connections dialed, {} closed",
            stats.dials_ok,
            stats.closed_total()
        ));
    }
    if fds_after_close > fds_servers {
        problems.push(format!(
            "fds after close {fds_after_close} > baseline {fds_servers}"
        ));
    }
    if rss_max_after_warm > rss_warm + bound {
        problems.push(format!(
            "RSS grew after warm-up: {rss_max_after_warm} > {rss_warm} + {bound}"
        ));
    }
    if problems.is_empty() {
        println!("soak: PASS");
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// A fault to undo later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restore {
    /// New connections to this address pass again.
    Fault(IpAddr),
    /// Reset the (held) open connections of this address.
    ResetOpen(IpAddr),
    /// The DNS server answers normally again, with the current answer.
    Dns,
    /// The origin answers PINGs again.
    Pings,
}

impl Restore {
    async fn apply(
        self,
        proxy: &FaultProxy,
        origin: &H2Origin,
        dns: &DnsServer,
        answer: &[IpAddr],
    ) {
        match self {
            Restore::Fault(ip) => proxy.set_fault(ip, Fault::Pass),
            Restore::ResetOpen(ip) => {
                proxy.inject(ip, Fault::Reset);
            }
            Restore::Dns => {
                dns.set_mode(DnsMode::Normal);
                let _ = dns.set_addrs(HOST, answer, 1).await;
            }
            Restore::Pings => origin.set_ping_frozen(false),
        }
    }
}
