//! Requests and dials through a proxy vs direct (issue 26): the same origin, the same
//! client, one run, routes taking turns round by round.
//!
//! # The path
//! The origin (the testkit's rustls + HTTP/2 origin, ALPN `h2, http/1.1`, one address
//! 127.0.1.1) runs in a **child process** (`common::OriginProcess`), and the proxies are
//! Debian's own programs in theirs (`pool_testkit::proxies`), so `getrusage(RUSAGE_SELF)`
//! of this process is the client's CPU alone. Routes:
//! - `direct`: the dialer connects to the origin;
//! - `squid`: HTTP `CONNECT 127.0.1.1:port` through squid, with Basic auth;
//! - `microsocks`: SOCKS5 with username/password through microsocks;
//! - `dante`: SOCKS5 without authentication through Dante (`danted`; the testkit runs it
//!   without a password), a second SOCKS5 server: microsocks sets no `TCP_NODELAY`.
//!
//! # The cells (loopback)
//! - `h2_64`: a warm `Pool<H2Dialer>` (one connection, as a user's h2 default), 64 requests
//!   in flight (64 tasks, one request after another), GET `/` (19 bytes);
//! - `h2_1`: the same pool, one request at a time: the latency the proxy's hop adds;
//! - `h1_6`: a warm `Pool<H1Dialer>` of 6 connections (a user's h1 default per address),
//!   6 requests in flight;
//! - `dial`: `H2Dialer::dial` one after another, each connection dropped after: TCP
//!   connect (to the proxy, then the proxy step) + TLS 1.3 (resumed with the ticket of the
//!   previous dial, as a re-dial is) + the HTTP/2 handshake.
//!
//! Besides rate, latency and CPU, each cell records the client's context switches per
//! request (`/proc/self/task/*/status`): how often its threads slept and woke.
//!
//! Each round runs every cell for every route, routes innermost, so each comparison is
//! between neighbours in time on a shared machine; the figures are medians over rounds.
//!
//! # The WAN rows
//! A `WanRelay` at RTT 50 ms with the proxy on its **far side** (client → relay → proxy →
//! origin, the proxy next to the origin): one front per route (origin, then each proxy). Measured: a dial's time and a warm h2 request's latency, sequentially. The
//! relay runs in this process, so these rows carry no CPU figure.
//!
//! Writes `proxy.jsonl` for `cargo xtask bench` (`--only proxy` runs this bench alone).

#[path = "../../pool-dial-rustls/benches/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{HOST, OriginProcess};
use pool_core::{Dialer, Pool, PoolOptions, Target};
use pool_dial_rustls::{Credentials, H1Dialer, H2Dialer, Proxy, ProxyScheme, TlsOptions};
use pool_http::{Empty, HttpConnection, HttpLeaseExt};
use pool_testkit::proxies::{ProxyKind, ProxyServer};
use pool_testkit::{WanOptions, WanRelay};

/// The credentials both proxies require.
const USER: &str = "bench";
const PASSWORD: &str = "bench pw";
/// Requests in flight in the `h2_64` cell.
const H2_STREAMS: usize = 64;
/// Connections (and requests in flight) of the `h1_6` cell.
const H1_CONNECTIONS: usize = 6;
/// The deadline of one request or one dial.
const DEADLINE: Duration = Duration::from_secs(10);
/// The WAN rows' round-trip time.
const WAN_RTT_MS: u64 = 50;
/// The relay's fronts, one per route: 127.0.31.1 …
const WAN_FRONT_BASE: [u8; 3] = [127, 0, 31];

/// Sizes of the run.
struct Plan {
    rounds: usize,
    h2_64: usize,
    h2_1: usize,
    h1_6: usize,
    dials: usize,
    wan_dials: usize,
    wan_requests: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Plan {
                rounds: 3,
                h2_64: 4_000,
                h2_1: 500,
                h1_6: 1_500,
                dials: 20,
                wan_dials: 3,
                wan_requests: 5,
            }
        } else {
            Plan {
                rounds: 7,
                h2_64: 16_000,
                h2_1: 2_000,
                h1_6: 5_000,
                dials: 100,
                wan_dials: 8,
                wan_requests: 16,
            }
        }
    }
}

/// One way to reach the origin.
struct Route {
    name: &'static str,
    /// The proxy program, `None` for the direct route.
    server: Option<ProxyServer>,
    scheme: ProxyScheme,
    /// Whether the proxy asks for [`USER`] and [`PASSWORD`].
    login: bool,
    /// Why the route could not run (its proxy did not start).
    skipped: Option<String>,
}

impl Route {
    fn direct() -> Self {
        Route {
            name: "direct",
            server: None,
            scheme: ProxyScheme::Http,
            login: false,
            skipped: None,
        }
    }

    fn through(name: &'static str, kind: ProxyKind, scheme: ProxyScheme, login: bool) -> Self {
        let credentials = login.then_some((USER, PASSWORD));
        let (server, skipped) = match ProxyServer::start(kind, credentials) {
            Ok(server) => (Some(server), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Route {
            name,
            server,
            scheme,
            login,
            skipped,
        }
    }

    /// The dialer's proxy setting for this route, reaching the proxy at `at` (its own
    /// address, or a relay front in front of it).
    fn proxy(&self, at: Option<SocketAddr>) -> Option<Proxy> {
        let addr = at.or_else(|| self.server.as_ref().map(ProxyServer::addr))?;
        let proxy = Proxy::new(self.scheme, addr.ip().to_string(), addr.port());
        Some(if self.login {
            proxy.with_credentials(Credentials::new(USER, PASSWORD))
        } else {
            proxy
        })
    }
}

/// TLS options trusting the origin, through `proxy`.
fn tls(origin: &OriginProcess, proxy: Option<Proxy>) -> TlsOptions {
    TlsOptions {
        conn_timeout: DEADLINE,
        proxy,
        ..origin.tls_options()
    }
}

fn h2_dialer(origin: &OriginProcess, proxy: Option<Proxy>) -> H2Dialer {
    let mut options = origin.h2_options();
    options.tls = TlsOptions {
        alpn: options.tls.alpn.clone(),
        ..tls(origin, proxy)
    };
    H2Dialer::new(options).expect("h2 dialer")
}

/// A warm pool of `per_addr` connections to `addr`.
async fn warm_pool<D: Dialer>(dialer: D, addr: SocketAddr, per_addr: usize) -> Arc<Pool<D>> {
    let pool = Pool::new(
        dialer,
        PoolOptions {
            max_conns_per_ip: per_addr,
            checkout_timeout: DEADLINE,
            ..PoolOptions::default()
        },
    )
    .expect("pool");
    pool.set_addrs(HOST, [addr]);
    // Each lease held makes the next `get` open another connection, up to `per_addr`.
    let mut leases = Vec::with_capacity(per_addr);
    for _ in 0..per_addr {
        leases.push(pool.get(HOST).await.expect("warm-up"));
    }
    drop(leases);
    Arc::new(pool)
}

/// One GET `/` through `pool`, the body read whole; `Err` on any failure or after
/// [`DEADLINE`].
async fn get<D>(pool: &Pool<D>) -> Result<(), String>
where
    D: Dialer<Conn: HttpConnection>,
{
    let request = async {
        let lease = pool.get(HOST).await.map_err(|e| format!("lease: {e}"))?;
        let response = lease
            .request(http::Request::new(Empty::<Bytes>::new()))
            .await
            .map_err(|e| format!("request: {e}"))?;
        if response.status() != 200 {
            return Err(format!("status {}", response.status()));
        }
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| format!("body: {e}"))?;
        if body.is_empty() {
            return Err("empty body".into());
        }
        Ok(())
    };
    tokio::time::timeout(DEADLINE, request)
        .await
        .map_err(|_| "deadline".to_owned())?
}

/// The pools and dialer of one route.
struct Clients {
    h2: Arc<Pool<H2Dialer>>,
    h1: Arc<Pool<H1Dialer>>,
    dialer: H2Dialer,
}

/// Context switches (voluntary and not) of every thread of this process so far, from
/// `/proc/self/task/*/status`: how often the client's threads slept and woke.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Figures of one round of one cell.
struct Sample {
    per_sec: f64,
    cpu_ns: f64,
    /// The client's context switches per request (or dial).
    switches: f64,
    p50_us: f64,
    p99_us: f64,
    errors: usize,
}

/// `n` requests through `pool` by `concurrency` tasks.
async fn request_round<D>(pool: &Arc<Pool<D>>, n: usize, concurrency: usize) -> Sample
where
    D: Dialer<Conn: HttpConnection>,
{
    let errors = Arc::new(AtomicUsize::new(0));
    let (p, e) = (Arc::clone(pool), Arc::clone(&errors));
    let switches = context_switches();
    let mut round = common::round(n, concurrency, move || {
        let (p, e) = (Arc::clone(&p), Arc::clone(&e));
        async move {
            if let Err(why) = get(&p).await {
                if e.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("proxy bench: a request failed: {why}");
                }
            }
        }
    })
    .await;
    let switches = context_switches() - switches;
    round.latencies.sort_unstable();
    Sample {
        per_sec: n as f64 / round.wall.as_secs_f64().max(1e-9),
        cpu_ns: round.cpu.as_nanos() as f64 / n as f64,
        switches: switches as f64 / n as f64,
        p50_us: common::quantile_us(&round.latencies, 0.5),
        p99_us: common::quantile_us(&round.latencies, 0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// `n` dials of `target` one after another, each connection dropped once made.
async fn dial_round(dialer: &H2Dialer, target: &Target, n: usize) -> Sample {
    let cpu = common::cpu_time();
    let switches = context_switches();
    let start = Instant::now();
    let mut times = Vec::with_capacity(n);
    let mut errors = 0;
    for _ in 0..n {
        let t = Instant::now();
        match tokio::time::timeout(DEADLINE, dialer.dial(target)).await {
            Ok(Ok(conn)) => {
                times.push(t.elapsed());
                drop(conn);
            }
            Ok(Err(e)) => {
                if errors == 0 {
                    eprintln!("proxy bench: a dial failed: {e}");
                }
                errors += 1;
            }
            Err(_) => errors += 1,
        }
    }
    let wall = start.elapsed();
    let cpu = common::cpu_time() - cpu;
    let switches = context_switches() - switches;
    times.sort_unstable();
    Sample {
        per_sec: n as f64 / wall.as_secs_f64().max(1e-9),
        cpu_ns: cpu.as_nanos() as f64 / n as f64,
        switches: switches as f64 / n as f64,
        p50_us: common::quantile_us(&times, 0.5),
        p99_us: common::quantile_us(&times, 0.99),
        errors,
    }
}

/// A cell's JSON line: the medians of its rounds.
fn cell_json(cell: &str, route: &str, concurrency: usize, samples: &[Sample]) -> String {
    let med =
        |f: fn(&Sample) -> f64| common::median(&mut samples.iter().map(f).collect::<Vec<_>>());
    let errors: usize = samples.iter().map(|s| s.errors).sum();
    format!(
        "{{\"bench\":\"proxy\",\"kind\":\"cell\",\"cell\":\"{cell}\",\"route\":\"{route}\",\"concurrency\":{concurrency},\"rounds\":{},\"per_sec\":{:.1},\"cpu_ns\":{:.0},\"switches\":{:.2},\"p50_us\":{:.1},\"p99_us\":{:.1},\"errors\":{errors}}}",
        samples.len(),
        med(|s| s.per_sec),
        med(|s| s.cpu_ns),
        med(|s| s.switches),
        med(|s| s.p50_us),
        med(|s| s.p99_us),
    )
}

fn skipped_json(cell: &str, route: &str, why: &str) -> String {
    format!(
        "{{\"bench\":\"proxy\",\"kind\":\"cell\",\"cell\":\"{cell}\",\"route\":\"{route}\",\"skipped\":{why:?}}}"
    )
}

/// The loopback cells: every route, round by round.
fn loopback(
    rt: &tokio::runtime::Runtime,
    origin: &OriginProcess,
    routes: &[Route],
    plan: &Plan,
) -> Vec<String> {
    let addr = origin.addrs[0];
    let target = Target {
        host: HOST.into(),
        addr,
    };
    let clients: Vec<Option<Clients>> = routes
        .iter()
        .map(|route| {
            route.skipped.is_none().then(|| {
                rt.block_on(async {
                    Clients {
                        h2: warm_pool(h2_dialer(origin, route.proxy(None)), addr, 1).await,
                        h1: warm_pool(
                            H1Dialer::new(tls(origin, route.proxy(None))).expect("h1 dialer"),
                            addr,
                            H1_CONNECTIONS,
                        )
                        .await,
                        dialer: h2_dialer(origin, route.proxy(None)),
                    }
                })
            })
        })
        .collect();
    // cell name, concurrency
    let cells: [(&str, usize); 4] = [
        ("h2_64", H2_STREAMS),
        ("h2_1", 1),
        ("h1_6", H1_CONNECTIONS),
        ("dial", 1),
    ];
    let mut samples: Vec<Vec<Vec<Sample>>> = cells
        .iter()
        .map(|_| routes.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..plan.rounds {
        eprintln!("proxy bench: round {} of {}", round + 1, plan.rounds);
        for (c, (cell, concurrency)) in cells.iter().enumerate() {
            for (r, client) in clients.iter().enumerate() {
                let Some(client) = client else { continue };
                let sample = rt.block_on(async {
                    match *cell {
                        "h2_64" => request_round(&client.h2, plan.h2_64, *concurrency).await,
                        "h2_1" => request_round(&client.h2, plan.h2_1, 1).await,
                        "h1_6" => request_round(&client.h1, plan.h1_6, *concurrency).await,
                        _ => dial_round(&client.dialer, &target, plan.dials).await,
                    }
                });
                samples[c][r].push(sample);
            }
        }
    }
    let mut lines = Vec::new();
    for (c, (cell, concurrency)) in cells.iter().enumerate() {
        for (r, route) in routes.iter().enumerate() {
            lines.push(match &route.skipped {
                Some(why) => skipped_json(cell, route.name, why),
                None => cell_json(cell, route.name, *concurrency, &samples[c][r]),
            });
        }
    }
    for client in clients.into_iter().flatten() {
        rt.block_on(client.h2.close());
        rt.block_on(client.h1.close());
    }
    lines
}

/// The WAN rows: each route behind its own front of one relay at [`WAN_RTT_MS`].
fn wan(
    rt: &tokio::runtime::Runtime,
    origin: &OriginProcess,
    routes: &[Route],
    plan: &Plan,
) -> Vec<String> {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("proxy-bench-relay")
        .enable_all()
        .build()
        .expect("relay runtime");
    let origin_addr = origin.addrs[0];
    let live: Vec<&Route> = routes.iter().filter(|r| r.skipped.is_none()).collect();
    let fronts: Vec<(IpAddr, SocketAddr)> = live
        .iter()
        .enumerate()
        .map(|(i, route)| {
            let [a, b, c] = WAN_FRONT_BASE;
            let front = IpAddr::V4(Ipv4Addr::new(a, b, c, 1 + i as u8));
            let upstream = route.server.as_ref().map_or(origin_addr, ProxyServer::addr);
            (front, upstream)
        })
        .collect();
    let relay = servers
        .block_on(WanRelay::start(
            &fronts,
            WanOptions::rtt(Duration::from_millis(WAN_RTT_MS)),
        ))
        .expect("relay");
    let mut lines = Vec::new();
    for (route, (front, _)) in live.iter().zip(&fronts) {
        let front = relay.socket_addr(*front);
        // Direct: the origin is dialed at the front. Through a proxy: the proxy is at the
        // front and asked for the origin's own address.
        let (proxy, addr) = match route.server {
            None => (None, front),
            Some(_) => (route.proxy(Some(front)), origin_addr),
        };
        let target = Target {
            host: HOST.into(),
            addr,
        };
        let dialer = h2_dialer(origin, proxy.clone());
        let dial = rt.block_on(dial_round(&dialer, &target, plan.wan_dials));
        let pool = rt.block_on(warm_pool(h2_dialer(origin, proxy), addr, 1));
        let request = rt.block_on(request_round(&pool, plan.wan_requests, 1));
        rt.block_on(pool.close());
        for (cell, sample) in [("wan_dial", dial), ("wan_h2_1", request)] {
            lines.push(format!(
                "{{\"bench\":\"proxy\",\"kind\":\"wan\",\"cell\":\"{cell}\",\"route\":\"{}\",\"rtt_ms\":{WAN_RTT_MS},\"p50_us\":{:.0},\"p99_us\":{:.0},\"errors\":{}}}",
                route.name, sample.p50_us, sample.p99_us, sample.errors
            ));
        }
    }
    servers.block_on(relay.shutdown());
    lines
}

fn main() {
    common::origin_main_if_child();
    let plan = Plan::new(common::quick());
    let origin = OriginProcess::start(1);
    let routes = [
        Route::direct(),
        Route::through("squid", ProxyKind::Squid, ProxyScheme::Http, true),
        Route::through(
            "microsocks",
            ProxyKind::Microsocks,
            ProxyScheme::Socks5,
            true,
        ),
        Route::through("dante", ProxyKind::Dante, ProxyScheme::Socks5, false),
    ];
    for route in &routes {
        if let Some(why) = &route.skipped {
            eprintln!("proxy bench: {} skipped: {why}", route.name);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("proxy-bench-clients")
        .enable_all()
        .build()
        .expect("clients' runtime");
    let started = Instant::now();
    let mut lines = loopback(&rt, &origin, &routes, &plan);
    lines.extend(wan(&rt, &origin, &routes, &plan));
    eprintln!("proxy bench: {:.0} s", started.elapsed().as_secs_f64());
    for line in &lines {
        println!("{line}");
    }
    common::write_jsonl("proxy", &lines);
}
