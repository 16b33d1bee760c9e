//! The real path (issue 23): every dialer of the workspace and its best peers on the same
//! origin behind the same [`WanRelay`], at RTT 0, 10, 50 and 150 ms, clients alternating
//! cell by cell; then a warm-up of 1,611 addresses at RTT 50 ms next to h2load opening as
//! many connections.
//!
//! # The path
//! One process, two runtimes: the servers' (2 workers) runs the testkit's TLS origin (ALPN
//! `h2, http/1.1`, on 127.0.1.1), its HTTP/3 origin (same address, its own UDP port) and
//! a `WanRelay` in front of both (TCP front 127.0.30.1, UDP front 127.0.30.2, one port);
//! the clients' (2 workers) runs every hotpool client and reqwest. h2load and curl are
//! child processes dialing the same fronts. The relay's RTT is changed between rows with
//! `set_options`; pooled connections stay open across rows (they are hot, which is the
//! pool's point), the peers dial anew per cell and their figures exclude their handshakes
//! (h2load: first request sent → last response, from its log; curl: `time_total −
//! time_pretransfer`).
//!
//! The relay terminates TCP on loopback: TCP's own congestion and receive windows see a
//! near-zero RTT, so over TCP only the application's flow control (HTTP/2 windows) feels
//! the delay. QUIC's datagrams are relayed one by one, so quinn's congestion controller
//! and windows see the whole RTT — a real path's TCP would too. The section says so.
//!
//! # The cells
//! Workloads: `100k` (`/bytes/100000`, 64 in flight), `20m` (one `/bytes/20000000`),
//! `1k` (`/1k`, 64 in flight). Clients: hotpool over `H1Dialer`, `H2Dialer`,
//! `QuicDialer` and the BoringSSL `BoringDialer` (Chrome profile), each a `Pool` with
//! the **defaults** a config / CLI user gets for its protocol (`Config::pool_options_for`)
//! and the dialer's default options (trusting the test CA), warmed
//! once; reqwest over HTTP/2 and HTTP/1.1; `h2load` (one client × 64 streams; `--h1` with
//! as many clients as hotpool's HTTP/1.1 pool had connections after its cell of the same
//! row: what its defaults allow); `curl --http2` for the 20 MB body. Each cell sends a fixed
//! number of requests (fewer at higher RTT) and stops starting new ones after a time budget;
//! each request has a deadline, and a failed or late request counts as an error.
//!
//! Writes `realpath.jsonl` (one line per cell, one `warm` line) for `cargo xtask bench`.

#[path = "../../pool-dial-rustls/benches/common/mod.rs"]
mod common;
/// The child-process peers: h2load and curl.
#[path = "realpath/peers.rs"]
mod peers;
/// The warm-up row: 1,611 addresses behind the relay.
#[path = "realpath/warm.rs"]
mod warm;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::HOST;
use pool_config::Transport;
use pool_core::{Dialer, Pool};
use pool_dial_boring::{BoringDialer, BoringOptions};
use pool_dial_quic::{QuicDialer, QuicOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, Trust};
use pool_http::{Empty, HttpConnection, HttpLeaseExt};
use pool_testkit::{
    H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa, WanOptions, WanRelay,
    client_config_trusting,
};

/// Requests in flight in the `100k` and `1k` workloads.
const CONCURRENCY: usize = 64;
/// The relay's TCP front (the TLS origin behind it).
const TCP_FRONT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 30, 1));
/// The relay's UDP front (the HTTP/3 origin behind it).
const UDP_FRONT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 30, 2));
/// Addresses warmed in the warm-up row.
const WARM_ADDRESSES: usize = 1_611;
/// The warm-up row's RTT.
const WARM_RTT_MS: u64 = 50;

/// One workload of the matrix.
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    path: &'static str,
    body_len: usize,
    concurrency: usize,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "100k",
        path: "/bytes/100000",
        body_len: 100_000,
        concurrency: CONCURRENCY,
    },
    Workload {
        name: "20m",
        path: "/bytes/20000000",
        body_len: 20_000_000,
        concurrency: 1,
    },
    Workload {
        name: "1k",
        path: "/1k",
        body_len: 1024,
        concurrency: CONCURRENCY,
    },
];

/// Sizes of the run: RTTs, requests per cell, budgets.
struct Plan {
    rtts_ms: Vec<u64>,
    quick: bool,
}

impl Plan {
    fn new(quick: bool) -> Self {
        let rtts_ms = if quick {
            vec![0, 50]
        } else {
            vec![0, 10, 50, 150]
        };
        Plan { rtts_ms, quick }
    }

    /// Requests per cell: enough for about a second of the best client at this RTT.
    fn requests(&self, w: &Workload, rtt_ms: u64) -> usize {
        let (k100, k1) = match rtt_ms {
            0 => (1_536, 4_096),
            1..=20 => (1_024, 2_048),
            21..=80 => (512, 1_024),
            _ => (256, 384),
        };
        let n = match w.name {
            "100k" => k100,
            "1k" => k1,
            _ => 1,
        };
        if self.quick && n > 1 { n / 4 } else { n }
    }

    /// After this long a cell starts no new request.
    fn budget(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 4 })
    }

    /// The deadline of one request (the 20 MB body's is the longest cell there is).
    fn request_timeout(&self, w: &Workload) -> Duration {
        match (w.name, self.quick) {
            ("20m", false) => Duration::from_secs(30),
            ("20m", true) => Duration::from_secs(15),
            (_, false) => Duration::from_secs(15),
            (_, true) => Duration::from_secs(8),
        }
    }
}

/// What one cell measured.
#[derive(Default)]
struct Cell {
    ok: usize,
    errors: usize,
    /// First request sent → last response read (or given up).
    wall: Duration,
    /// Latencies of the requests that succeeded, sorted.
    latencies: Vec<Duration>,
    /// curl: its whole time, connection included (`wall` is its transfer alone).
    total: Option<Duration>,
    /// Connections the client had (hotpool: the pool's open connections after the cell;
    /// h2load: its clients).
    connections: Option<usize>,
}

/// Runs `concurrency` tasks that together send at most `n` requests with `send`, none
/// started after `budget`, each bounded by `timeout`.
async fn cell<F, Fut>(
    n: usize,
    concurrency: usize,
    budget: Duration,
    timeout: Duration,
    send: F,
) -> Cell
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let left = Arc::new(AtomicUsize::new(n));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.min(n) {
        let left = Arc::clone(&left);
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (Vec::new(), 0usize);
            while start.elapsed() < budget
                && left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                    .is_ok()
            {
                let t = Instant::now();
                match tokio::time::timeout(timeout, send()).await {
                    Ok(Ok(())) => ok.push(t.elapsed()),
                    Ok(Err(e)) => {
                        errors += 1;
                        eprintln!("realpath: request failed: {e}");
                    }
                    Err(_) => {
                        errors += 1;
                        eprintln!("realpath: request timed out after {timeout:?}");
                    }
                }
            }
            (ok, errors)
        }));
    }
    let mut result = Cell::default();
    for task in tasks {
        let (ok, errors) = task.await.unwrap_or_default();
        result.ok += ok.len();
        result.errors += errors;
        result.latencies.extend(ok);
    }
    result.wall = start.elapsed();
    result.latencies.sort_unstable();
    result
}

/// One GET of `w.path` through `pool`, the body read whole and its length checked.
async fn pool_get<D>(pool: Arc<Pool<D>>, w: Workload) -> Result<(), String>
where
    D: Dialer<Conn: HttpConnection>,
{
    let lease = pool.get(HOST).await.map_err(|e| format!("lease: {e}"))?;
    let request = http::Request::get(w.path)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = lease
        .request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let len = response
        .into_body()
        .bytes()
        .await
        .map_err(|e| format!("body: {e}"))?
        .len();
    if len != w.body_len {
        return Err(format!("{len} bytes, expected {}", w.body_len));
    }
    Ok(())
}

/// One GET with reqwest, the body read whole and its length checked.
async fn reqwest_get(client: reqwest::Client, url: Arc<str>, w: Workload) -> Result<(), String> {
    let response = client.get(&*url).send().await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if body.len() != w.body_len {
        return Err(format!("{} bytes, expected {}", body.len(), w.body_len));
    }
    Ok(())
}

/// The origins and the relay in front of them, on their own runtime.
struct WanPath {
    rt: tokio::runtime::Runtime,
    origin: H2Origin,
    h3: H3Origin,
    relay: WanRelay,
    ca: Arc<TestCa>,
    /// The CA certificate as PEM, for curl.
    ca_pem: PathBuf,
}

impl WanPath {
    fn start(out: &Path) -> WanPath {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("realpath-servers")
            .enable_all()
            .build()
            .expect("servers' runtime");
        let ca = Arc::new(TestCa::new().expect("CA"));
        let ips = common::loopback_ips(1);
        let origin = rt
            .block_on(H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca)))
            .expect("TLS origin");
        let h3 = rt
            .block_on(H3Origin::start(H3OriginOptions::new(&ips, &[HOST], &ca)))
            .expect("HTTP/3 origin");
        let routes = [
            (TCP_FRONT, SocketAddr::new(ips[0], origin.port())),
            (UDP_FRONT, SocketAddr::new(ips[0], h3.port())),
        ];
        let relay = rt
            .block_on(WanRelay::start(&routes, WanOptions::default()))
            .expect("relay");
        let ca_pem = out.join("realpath-ca.pem");
        ca.write_ca_pem(&ca_pem).expect("CA file");
        WanPath {
            rt,
            origin,
            h3,
            relay,
            ca,
            ca_pem,
        }
    }

    fn tcp_front(&self) -> SocketAddr {
        self.relay.socket_addr(TCP_FRONT)
    }

    fn url(&self, path: &str) -> String {
        format!("https://{HOST}:{}{path}", self.relay.port())
    }

    fn trust(&self) -> Trust {
        Trust {
            webpki_roots: false,
            extra_ca_certs: vec![self.ca.ca_cert_der().to_vec()],
            ..Trust::default()
        }
    }

    fn reqwest(&self, http1: bool) -> reqwest::Client {
        let alpn: &[&[u8]] = if http1 { &[b"http/1.1"] } else { &[b"h2"] };
        let tls = client_config_trusting(self.ca.ca_cert_der(), alpn).expect("client config");
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .resolve_to_addrs(HOST, &[self.tcp_front()])
            .no_proxy();
        if http1 {
            builder = builder.http1_only();
        }
        builder.build().expect("reqwest client")
    }
}

/// A warm pool over `addr` with the defaults a user of `transport` gets from the config
/// and the CLI (`Config::pool_options_for`: the per-IP limit resolved for the protocol,
/// 6 exclusive HTTP/1.1 connections, 1 multiplexed one).
async fn hot_pool<D: Dialer>(dialer: D, addr: SocketAddr, transport: Transport) -> Arc<Pool<D>> {
    let options = pool_config::Config::default().pool_options_for(transport);
    let pool = Pool::new(dialer, options).expect("pool");
    pool.set_addrs(HOST, [addr]);
    assert!(pool.warm(HOST).await.ok >= 1, "warm-up through the relay");
    Arc::new(pool)
}

/// The clients, in the order they take turns in each row.
enum Client {
    H1(Arc<Pool<H1Dialer>>),
    H2(Arc<Pool<H2Dialer>>),
    Boring(Arc<Pool<BoringDialer>>),
    H3(Arc<Pool<QuicDialer>>),
    Reqwest(reqwest::Client),
    H2load { h1: bool },
    Curl,
}

struct Variant {
    name: &'static str,
    protocol: &'static str,
    client: Client,
    /// The workloads it runs.
    workloads: &'static [&'static str],
}

/// One JSON line for a cell.
fn cell_json(
    rtt_ms: u64,
    w: &Workload,
    v: &Variant,
    n: usize,
    cell: Result<&Cell, &str>,
) -> String {
    let head = format!(
        "{{\"bench\":\"realpath\",\"kind\":\"cell\",\"rtt_ms\":{rtt_ms},\"workload\":\"{}\",\"concurrency\":{},\"client\":\"{}\",\"protocol\":\"{}\",\"requests\":{n}",
        w.name, w.concurrency, v.name, v.protocol
    );
    let c = match cell {
        Err(why) => return format!("{head},\"skipped\":{why:?}}}"),
        Ok(c) => c,
    };
    let secs = c.wall.as_secs_f64().max(1e-9);
    let mut line = format!(
        "{head},\"ok\":{},\"errors\":{},\"seconds\":{secs:.6},\"requests_per_sec\":{:.1},\"p50_us\":{:.0},\"p99_us\":{:.0}",
        c.ok,
        c.errors,
        c.ok as f64 / secs,
        common::quantile_us(&c.latencies, 0.5),
        common::quantile_us(&c.latencies, 0.99),
    );
    if let Some(total) = c.total {
        line.push_str(&format!(",\"total_seconds\":{:.6}", total.as_secs_f64()));
    }
    if let Some(conns) = c.connections {
        line.push_str(&format!(",\"connections\":{conns}"));
    }
    line.push('}');
    line
}

/// The pool's open connections now.
fn open<D: Dialer>(pool: &Pool<D>) -> usize {
    pool.stats().connections
}

/// One cell of a hotpool client: `n` GETs of `w` through `pool`, and the connections it
/// holds afterwards.
async fn pool_cell<D>(
    pool: &Arc<Pool<D>>,
    n: usize,
    w: Workload,
    budget: Duration,
    timeout: Duration,
) -> Cell
where
    D: Dialer<Conn: HttpConnection>,
{
    let p = Arc::clone(pool);
    let mut c = cell(n, w.concurrency, budget, timeout, move || {
        pool_get(Arc::clone(&p), w)
    })
    .await;
    c.connections = Some(open(pool));
    c
}

fn main() {
    let quick = common::quick();
    let plan = Plan::new(quick);
    common::raise_nofile(32_768);
    let out = common::out_dir();
    let path = WanPath::start(&out);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("realpath-clients")
        .enable_all()
        .build()
        .expect("clients' runtime");
    let (h2load, curl) = (peers::available("h2load"), peers::available("curl"));
    let tcp = path.tcp_front();
    let udp = path.relay.socket_addr(UDP_FRONT);
    let all: &[&str] = &["100k", "20m", "1k"];
    let many: &[&str] = &["100k", "1k"];
    let big: &[&str] = &["20m"];
    let mut variants = vec![
        Variant {
            name: "hotpool_h1",
            protocol: "h1",
            client: Client::H1(
                rt.block_on(hot_pool(
                    H1Dialer::new(pool_dial_rustls::TlsOptions {
                        trust: path.trust(),
                        ..pool_dial_rustls::TlsOptions::default()
                    })
                    .expect("h1 dialer"),
                    tcp,
                    Transport::H1,
                )),
            ),
            workloads: all,
        },
        Variant {
            name: "h2load_h1",
            protocol: "h1",
            client: Client::H2load { h1: true },
            workloads: many,
        },
        Variant {
            name: "reqwest_h1",
            protocol: "h1",
            client: Client::Reqwest(path.reqwest(true)),
            workloads: many,
        },
        Variant {
            name: "hotpool_h2",
            protocol: "h2",
            client: Client::H2(
                rt.block_on(hot_pool(
                    H2Dialer::new(pool_dial_rustls::H2Options {
                        tls: pool_dial_rustls::TlsOptions {
                            trust: path.trust(),
                            ..pool_dial_rustls::H2Options::default().tls
                        },
                        ..pool_dial_rustls::H2Options::default()
                    })
                    .expect("h2 dialer"),
                    tcp,
                    Transport::H2,
                )),
            ),
            workloads: all,
        },
        Variant {
            name: "h2load_h2",
            protocol: "h2",
            client: Client::H2load { h1: false },
            workloads: many,
        },
        Variant {
            name: "curl_h2",
            protocol: "h2",
            client: Client::Curl,
            workloads: big,
        },
        Variant {
            name: "reqwest_h2",
            protocol: "h2",
            client: Client::Reqwest(path.reqwest(false)),
            workloads: all,
        },
        Variant {
            name: "boring_h2",
            protocol: "h2",
            client: Client::Boring(
                rt.block_on(hot_pool(
                    BoringDialer::new(BoringOptions {
                        trust: path.trust(),
                        ..BoringOptions::default()
                    })
                    .expect("boring dialer"),
                    tcp,
                    Transport::H2,
                )),
            ),
            workloads: all,
        },
        Variant {
            name: "hotpool_h3",
            protocol: "h3",
            client: Client::H3(
                rt.block_on(hot_pool(
                    QuicDialer::new(QuicOptions {
                        trust: path.trust(),
                        ..QuicOptions::default()
                    })
                    .expect("QUIC dialer"),
                    udp,
                    Transport::H3,
                )),
            ),
            workloads: all,
        },
    ];

    let mut lines = Vec::new();
    let started = Instant::now();
    for &rtt_ms in &plan.rtts_ms {
        path.relay
            .set_options(WanOptions::rtt(Duration::from_millis(rtt_ms)));
        // What hotpool's HTTP/1.1 pool opened under its defaults in this row.
        let mut h1_conns = 1usize;
        for w in &WORKLOADS {
            // The requests hotpool's HTTP/1.1 client completed in this cell: h2load `--h1`
            // sends no more (with as few connections, a fixed count could outlast any
            // budget at high RTT; its rate does not depend on the count).
            let mut h1_done = usize::MAX;
            let n = plan.requests(w, rtt_ms);
            let (budget, timeout) = (plan.budget(), plan.request_timeout(w));
            for v in &mut variants {
                if !v.workloads.contains(&w.name) {
                    continue;
                }
                let t = Instant::now();
                let w = *w;
                let measured: Result<Cell, String> = match &v.client {
                    Client::H1(pool) => {
                        let c = rt.block_on(pool_cell(pool, n, w, budget, timeout));
                        h1_conns = h1_conns.max(open(pool));
                        h1_done = c.ok;
                        Ok(c)
                    }
                    Client::H2(pool) => {
                        let c = rt.block_on(pool_cell(pool, n, w, budget, timeout));
                        Ok(c)
                    }
                    Client::Boring(pool) => {
                        let c = rt.block_on(pool_cell(pool, n, w, budget, timeout));
                        Ok(c)
                    }
                    Client::H3(pool) => {
                        let c = rt.block_on(pool_cell(pool, n, w, budget, timeout));
                        Ok(c)
                    }
                    Client::Reqwest(client) => {
                        let client = client.clone();
                        let url: Arc<str> = path.url(w.path).into();
                        Ok(
                            rt.block_on(cell(n, w.concurrency, budget, timeout, move || {
                                reqwest_get(client.clone(), Arc::clone(&url), w)
                            })),
                        )
                    }
                    Client::H2load { .. } if !h2load => Err("h2load not installed".into()),
                    Client::H2load { h1: true } => {
                        let n = n.min(h1_done).max(h1_conns);
                        peers::h2load_cell(&path, &w, Some(h1_conns), n, budget + timeout)
                    }
                    Client::H2load { h1: false } => {
                        peers::h2load_cell(&path, &w, None, n, budget + timeout)
                    }
                    Client::Curl if !curl => Err("curl not installed".into()),
                    Client::Curl => peers::curl_cell(&path, &w, timeout),
                };
                let line = cell_json(rtt_ms, &w, v, n, measured.as_ref().map_err(String::as_str));
                eprintln!("realpath: {line} ({:.1} s)", t.elapsed().as_secs_f64());
                lines.push(line);
            }
        }
    }
    eprintln!(
        "realpath: matrix done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    rt.block_on(async {
        for v in &variants {
            match &v.client {
                Client::H1(p) => p.close().await,
                Client::H2(p) => p.close().await,
                Client::Boring(p) => p.close().await,
                Client::H3(p) => p.close().await,
                _ => {}
            }
        }
    });
    drop(variants);

    lines.push(warm::warm_row(&rt, &path, h2load));
    common::write_jsonl("realpath", &lines);
    drop(rt);
    path.rt.block_on(async {
        path.relay.shutdown().await;
        path.origin.shutdown().await;
        path.h3.shutdown().await;
    });
    let _ = std::fs::remove_file(&path.ca_pem);
}
