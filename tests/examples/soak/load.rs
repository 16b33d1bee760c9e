//! One soak run on one protocol, whatever the transport: the workers, the fault loop, the
//! classification of failures, the report and its checks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use pool_core::{CloseReason, Dialer, Error, Pool, PoolOptions};
use pool_dns::DnsRefresher;
use pool_health::{HealthChecker, HealthOptions, TransportProbe};
use pool_http::{Attempts, Full, HttpConnection, RequestError, RequestOptions};
use pool_testkit::eventually;
use pool_testkit::fds::open_fds;

use crate::dns::Dns;

/// Workers sending requests at once.
pub(crate) const WORKERS: usize = 16;
/// The deadline of every request's headers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const MIB: u64 = 1024 * 1024;

/// A tiny deterministic generator (xorshift), so a run is repeatable in its choices.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Resident set size of this process in bytes (`VmRSS` of `/proc/self/status`).
/// The pool options every protocol's soak runs with: short idle and lifetime limits, keep
/// warm, blacklist re-tests and health checks every second, so the injected faults exercise
/// the whole lifecycle within seconds.
pub(crate) fn pool_options() -> PoolOptions {
    PoolOptions {
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
    }
}

pub(crate) fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The servers of one protocol's run and the faults only they can inject.
pub(crate) trait Rig {
    /// The hosts requests go to (in rotation) and the port each is reached on.
    fn hosts(&self) -> Vec<(&'static str, u16)>;
    /// The run's DNS server.
    fn dns(&mut self) -> &mut Dns;
    /// Injects one of the rig's own faults (some undone at `later`); returns its name.
    async fn inject(&mut self, rng: &mut Rng, later: Instant) -> &'static str;
    /// Undoes the faults due by `now` (every one with `all`), DNS ones included.
    async fn restore(&mut self, now: Instant, all: bool);
    /// Whether every server-side connection from the pool is closed.
    fn drained(&self) -> bool;
    /// Lines about the servers (accepted, resets, handshakes, requests…).
    fn report(&self) -> Vec<String>;
    /// Stops every server.
    async fn shutdown(&self);
}

/// What the workers saw.
#[derive(Default)]
pub(crate) struct Tally {
    ok: AtomicU64,
    /// Succeeded after at least one retry.
    saved: AtomicU64,
    /// Refusals (refused or never sent) that were sent again, in every request
    /// ([`Attempts::refused`]).
    refusals: AtomicU64,
    /// Failures a retry could have saved, by cause.
    saveable: Mutex<BTreeMap<String, u64>>,
    /// Failures of their own cause.
    failed: Mutex<BTreeMap<String, u64>>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: String) {
    *map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default() += 1;
}

impl Tally {
    fn ok(&self, attempts: &Attempts) {
        self.ok.fetch_add(1, Ordering::Relaxed);
        self.refusals
            .fetch_add(u64::from(attempts.refused), Ordering::Relaxed);
        if attempts.sent > 1 {
            self.saved.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request that failed before its response: a retry could have saved it when the
    /// retry policy would still have retried its last attempt's error
    /// ([`Attempts::retry_could_have_saved`]); otherwise it failed of its own cause.
    fn request_failed(&self, e: &RequestError, method: &Method, attempts: &Attempts) {
        let cause = cause(e, method, attempts);
        if attempts.retry_could_have_saved(e, method) {
            bump(
                &self.saveable,
                format!("{cause} (after {} attempts)", attempts.sent),
            );
        } else {
            bump(&self.failed, cause);
        }
    }

    /// The response came and its body failed: the response was the caller's by then, and
    /// `send` never retries past the headers.
    fn body_failed(&self, e: &RequestError) {
        bump(&self.failed, format!("response_body_{}", e.kind()));
    }

    fn snapshot(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
        map.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The name of a failure's cause.
fn cause(e: &RequestError, method: &Method, attempts: &Attempts) -> String {
    match e {
        RequestError::Pool(Error::Dial { last, .. }) => {
            format!("every_address_down_dial_{}", last.kind().as_str())
        }
        RequestError::Pool(Error::NoUsableAddress { .. }) => "every_address_banned".into(),
        RequestError::Pool(Error::NoAddresses { .. }) => "no_addresses".into(),
        RequestError::Pool(Error::Timeout { .. }) => "checkout_deadline_passed".into(),
        RequestError::Pool(Error::Closed) => "pool_closed".into(),
        RequestError::Pool(_) => "pool_other".into(),
        RequestError::Timeout(_) => "deadline_passed".into(),
        e if e.is_retry_safe() => e.kind().into(),
        e if e.is_connection_error() && !method.is_idempotent() => {
            "non_idempotent_lost_connection".into()
        }
        e if e.is_connection_error() && !attempts.last_reused => "fresh_connection_lost".into(),
        e if e.is_connection_error() && attempts.connections_lost > 1 => {
            format!("connection_lost_on_{}_attempts", attempts.connections_lost)
        }
        e => e.kind().into(),
    }
}

/// The workers: each sends requests in turn to the rig's hosts (one in ten a POST with a
/// 512-byte body) through `pool_http::send_with_attempts`, reads each body, and tallies.
fn start_workers<D>(
    pool: &Pool<D>,
    hosts: &[&'static str],
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
) -> Vec<tokio::task::JoinHandle<()>>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    // Shorter than the 10 s a worker is given to stop: a request that never gets an answer
    // shows as `deadline_passed` in the report, not as a hung worker.
    let options = RequestOptions::default().with_timeout(REQUEST_TIMEOUT);
    (0..WORKERS)
        .map(|w| {
            let (pool, stop, tally) = (pool.clone(), stop.clone(), tally.clone());
            let (hosts, options) = (hosts.to_vec(), options.clone());
            tokio::spawn(async move {
                let mut i: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let host = hosts[(i as usize + w) % hosts.len()];
                    let (method, body) = if i % 10 == 0 {
                        (Method::POST, Bytes::from(vec![b'x'; 512]))
                    } else {
                        (Method::GET, Bytes::new())
                    };
                    let request = http::Request::builder()
                        .method(method.clone())
                        .uri(format!("/w{w}/{i}"))
                        .body(Full::new(body))
                        .expect("a valid request");
                    let (response, attempts) =
                        pool_http::send_with_attempts(&pool, host, request, &options).await;
                    match response {
                        Ok(response) => match response.into_body().bytes().await {
                            Ok(_) => tally.ok(&attempts),
                            Err(e) => tally.body_failed(&e),
                        },
                        Err(e) => {
                            tally.request_failed(&e, &method, &attempts);
                            // Do not spin on a pool that has nothing to give right now.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Where a run started: the fds and RSS before its servers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Baseline {
    pub(crate) fds: usize,
    pub(crate) rss: u64,
}

impl Baseline {
    pub(crate) fn now() -> Self {
        Self {
            fds: open_fds(),
            rss: rss(),
        }
    }
}

/// One soak run: a pool of `dialer` under `options` against `rig` for `duration`, with
/// faults every 400 ms; prints the report and returns the problems found, if any.
pub(crate) async fn run<D, R>(
    dialer: D,
    options: PoolOptions,
    mut rig: R,
    start: Baseline,
    duration: Duration,
) -> Result<(), String>
where
    D: Dialer,
    D::Conn: HttpConnection,
    R: Rig,
{
    let fds_servers = open_fds();
    let pool = Pool::new(dialer, options).map_err(|e| e.to_string())?;
    let refresher = DnsRefresher::start(&pool, rig.dns().options()).map_err(|e| e.to_string())?;
    let hosts = rig.hosts();
    for (host, port) in &hosts {
        refresher
            .add_host(host, *port)
            .await
            .map_err(|e| e.to_string())?;
    }
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
    let names: Vec<&'static str> = hosts.iter().map(|(h, _)| *h).collect();
    let workers = start_workers(&pool, &names, &stop, &tally);

    // The fault injector, and the samples.
    let warm_up = (duration / 5).max(Duration::from_secs(2)).min(duration);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut injected: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut rss_warm = None;
    let mut rss_max_after_warm = 0;
    let mut next_sample = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let now = Instant::now();
        rig.restore(now, false).await;
        if started.elapsed() >= warm_up {
            let r = rss();
            rss_warm.get_or_insert(r);
            rss_max_after_warm = rss_max_after_warm.max(r);
        }
        if now >= next_sample {
            next_sample = now + Duration::from_secs(10);
            samples.push((started.elapsed().as_secs(), rss(), open_fds()));
        }
        let later = now + Duration::from_millis(800 + rng.below(1500));
        let name = match rng.below(15) {
            0 => {
                pool.shed(0.3);
                "shed_30pct"
            }
            1..=3 => rig.dns().inject(&mut rng, later).await.unwrap_or("none"),
            _ => rig.inject(&mut rng, later).await,
        };
        *injected.entry(name).or_default() += 1;
    }
    rig.restore(Instant::now(), true).await;
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
        "the servers' connections and the pool's descriptors closed",
        Duration::from_secs(10),
        || rig.drained() && open_fds() <= fds_servers,
    )
    .await;
    let fds_after_close = open_fds();
    let servers = rig.report();
    rig.shutdown().await;
    let fds_end = open_fds();
    let rss_end = rss();

    // The report.
    let ok = tally.ok.load(Ordering::Relaxed);
    let saved = tally.saved.load(Ordering::Relaxed);
    let saveable = Tally::snapshot(&tally.saveable);
    let failed_by_cause = Tally::snapshot(&tally.failed);
    let failed: u64 = saveable.values().sum::<u64>() + failed_by_cause.values().sum::<u64>();
    let total = ok + failed;
    println!(
        "{:.1} s, {WORKERS} workers, faults every 400 ms, request deadline {:.0} s; hosts {names:?}",
        elapsed.as_secs_f64(),
        REQUEST_TIMEOUT.as_secs_f64()
    );
    let refusals = tally.refusals.load(Ordering::Relaxed);
    println!(
        "requests: {total} ({:.0}/s), ok {ok} ({:.2} %, {saved} of them after a retry; \
         {refusals} refusals sent again), failed {failed}",
        total as f64 / elapsed.as_secs_f64(),
        100.0 * ok as f64 / total.max(1) as f64
    );
    println!("failures a retry could have saved: {saveable:?}");
    println!("failures by cause: {failed_by_cause:?}");
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
    for line in servers {
        println!("{line}");
    }
    println!(
        "fds: start {}, with servers {fds_servers}, after pool close {fds_after_close}, end {fds_end}",
        start.fds
    );
    let rss_warm = rss_warm.unwrap_or(rss_end_load);
    let bound = (16 * MIB).max(rss_warm / 4);
    println!(
        "rss: start {:.1} MiB, after warm-up ({:.0} s) {:.1} MiB, max after warm-up {:.1} MiB, end of load {:.1} MiB, end {:.1} MiB; bound: warm-up + {:.1} MiB",
        start.rss as f64 / MIB as f64,
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
    let saveable_total: u64 = saveable.values().sum();
    if saveable_total > 0 {
        problems.push(format!(
            "{saveable_total} failures a retry could have saved: {saveable:?}"
        ));
    }
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
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
