//! `hotpool demo`: no network, no setup. Local origins on several loopback addresses and a
//! local DNS server answering the demo host with them; a pool built from a built-in config
//! pointing at that DNS server; warm-up with a progress bar; a few thousand requests through
//! the pool; cold vs hot latency, reuse, connections per address and per protocol,
//! handshakes and memory per connection. `--proto` picks the protocol:
//!
//! - `h2` (default): TLS + HTTP/2, one multiplexed connection per address;
//! - `h1`: HTTP/1.1-only origins (ALPN `http/1.1`), exclusive connections: the built-in
//!   config allows as many per address as the concurrency needs;
//! - `auto`: the `HttpsDialer` offering `h2, http/1.1` against half the addresses speaking
//!   both (HTTP/2 chosen) and half HTTP/1.1 only, on one port: each connection is pooled as
//!   what its origin chose;
//! - `h3`: HTTP/3 over QUIC.
//!
//! `--rtt 50ms` puts the origins behind a [`WanRelay`] (loopback fronts 127.0.0.130 …, one
//! per origin address, on one port; the DNS server answers with the fronts): every byte and
//! datagram is delayed by half the RTT each way, so a cold request pays its handshakes'
//! round trips and a hot one only the request's. The relay terminates TCP, so the TCP
//! handshake itself is not delayed (TLS, HTTP/2 and QUIC are): on a real path a cold
//! request over TCP pays one round trip more.
//!
//! - **cold** = what a client without a pool pays per request: a new connection (TCP connect,
//!   TLS handshake, HTTP/2 preface; or the QUIC handshake) and one request, then close.
//!   Made with the pool's own dialer, so TLS settings (and session resumption) are the same.
//! - **hot** = one request on a pooled connection: `get` → request → release.
//! - **handshakes** come from the origin's counters, not from the pool's.
//! - **memory per connection**: the growth of the client side's live heap while the pool
//!   warmed, divided by the connections it opened (see `alloc`): each connection's TLS and
//!   HTTP/2 (or QUIC) state, its driver task and its share of the pool's bookkeeping. Kernel
//!   socket buffers are not heap and are not counted.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hotpool::stack::HostSpec;
use hotpool::{Client, HostHandle};
use pool_config::Config;
use pool_testkit::{DnsServer, H3Origin, H3OriginOptions, TestCa, WanOptions, WanRelay};
use serde::Serialize;
use tokio::runtime::Handle;

use crate::args::{DemoArgs, DemoProto, Global};
use crate::latency::{Latencies, fmt_us};
use crate::progress::WarmBar;
use crate::report::{fmt_bytes, print_json, table, table_aligned};
use crate::{Error, alloc};

/// The demo's origins as it counts them.
#[path = "demo_origins.rs"]
mod origins;
/// `--profile`: the two engines' fingerprints side by side.
#[path = "demo_profile.rs"]
mod profile;
use origins::{DemoOrigin, TlsOrigins};

/// The host the demo's DNS server answers.
pub const DEMO_HOST: &str = "demo.hotpool.test";
/// The zone the demo's DNS server is authoritative for.
const DEMO_ZONE: &str = "hotpool.test";
/// TTL of the demo host's records.
const DEMO_TTL: u32 = 300;
/// Path requested.
const PATH: &str = "/";

/// The built-in configuration. The name server address and the port are only known at run
/// time and are filled in then; `HOTPOOL_*` environment overrides apply on top, and with
/// `--config FILE` the file's `[pool]` section replaces this one.
pub const DEMO_CONFIG: &str = r#"# hotpool demo (built in)
[pool]
max_connections = 100
max_conns_per_host = 64       # the demo host has up to 64 addresses
max_idle_conns = 64
max_conns_per_ip = 1          # one multiplexed connection per address
conn_timeout = "5s"
test_timeout = "2s"
checkout_timeout = "5s"
warm_concurrency = 16

[dns]
name_servers = []             # set at run time: the local DNS server
timeout = "2s"

# [tls]: the demo trusts only its own CA, generated at start; that is set in code (the
# dialer gets the CA certificate and no webpki roots), not here.

[[hosts]]
name = "demo.hotpool.test"
transport = "h2"              # --proto h1 | auto | h3 (or --quic) switches it
"#;

/// What the demo reports (`--json` prints exactly this object).
#[derive(Debug, Serialize)]
struct DemoReport {
    transport: &'static str,
    /// `--rtt`: the round trip the WAN relay adds, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<f64>,
    host: &'static str,
    port: u16,
    dns_server: SocketAddr,
    /// Addresses the host resolved to.
    addresses: usize,
    /// Pooled connections after the run.
    connections: usize,
    /// Requests sent through the pool.
    requests: u64,
    concurrency: u64,
    /// Requests that failed.
    errors: u64,
    /// (leases − dials) / leases of the pool.
    reuse_rate: f64,
    leases: u64,
    dials: u64,
    warm_ms: f64,
    cold_samples: usize,
    cold_p50_us: u64,
    cold_p99_us: u64,
    hot_p50_us: u64,
    hot_p90_us: u64,
    hot_p99_us: u64,
    hot_max_us: u64,
    /// cold p50 / hot p50.
    speedup_p50: f64,
    /// cold p99 / hot p99.
    speedup_p99: f64,
    hot_requests_per_sec: f64,
    /// Handshakes the origin saw for the pool (warm-up and hot phase).
    handshakes: u64,
    /// Of those, during the hot phase (0: every request reused a warm connection).
    hot_handshakes: u64,
    /// Handshakes of the cold samples (one each).
    cold_handshakes: u64,
    /// Client heap growth per warm connection, in bytes.
    bytes_per_connection: u64,
    /// Connections the origins saw for the pool (warm-up and hot phase), by the protocol
    /// they spoke (`h2`, `http/1.1`, `h3`).
    protocols: BTreeMap<&'static str, u64>,
    per_address: Vec<AddressRow>,
}

/// One row of "connections per IP".
#[derive(Debug, Serialize)]
struct AddressRow {
    address: IpAddr,
    connections: usize,
    requests: u64,
    handshakes: u64,
}

/// The demo's addresses: 127.0.0.2, 127.0.0.3, ...
fn demo_ips(n: u8) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i)))
        .collect()
}

/// The first relay front of `--rtt`: 127.0.0.130, 127.0.0.131, … (clear of the origins'
/// 127.0.0.2 … 127.0.0.65).
const FIRST_FRONT: u8 = 130;

/// Where the pool dials: the origins themselves, or with `--rtt` a WAN relay's fronts.
pub(crate) struct DemoPath {
    relay: Option<Arc<WanRelay>>,
    rtt: Option<Duration>,
    /// The addresses the demo host resolves to: the origins', or the relay's fronts.
    dial_ips: Vec<IpAddr>,
    /// The port dialed.
    port: u16,
    /// Relay front → origin address (empty without a relay).
    to_origin: BTreeMap<IpAddr, IpAddr>,
}

impl DemoPath {
    /// Without `rtt`, the origins at `ips`:`port`; with it, a relay on the servers' runtime
    /// whose front `i` forwards TCP and UDP to `ips[i]`:`port`.
    async fn start(
        servers: &Handle,
        rtt: Option<Duration>,
        ips: &[IpAddr],
        port: u16,
    ) -> Result<DemoPath, Error> {
        let Some(rtt) = rtt else {
            return Ok(DemoPath {
                relay: None,
                rtt,
                dial_ips: ips.to_vec(),
                port,
                to_origin: BTreeMap::new(),
            });
        };
        let routes: Vec<(IpAddr, SocketAddr)> = ips
            .iter()
            .zip(FIRST_FRONT..)
            .map(|(ip, last)| {
                let front = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
                (front, SocketAddr::new(*ip, port))
            })
            .collect();
        let relay = {
            let routes = routes.clone();
            on_servers(servers, async move {
                WanRelay::start(&routes, WanOptions::rtt(rtt))
                    .await
                    .map(Arc::new)
            })
            .await?
            .map_err(|e| Error::new(format!("demo WAN relay: {e}")))?
        };
        Ok(DemoPath {
            port: relay.port(),
            relay: Some(relay),
            rtt: Some(rtt),
            dial_ips: routes.iter().map(|(front, _)| *front).collect(),
            to_origin: routes.iter().map(|(f, up)| (*f, up.ip())).collect(),
        })
    }

    /// The origin address behind `ip` (itself without a relay).
    fn origin_ip(&self, ip: IpAddr) -> IpAddr {
        self.to_origin.get(&ip).copied().unwrap_or(ip)
    }

    /// Stops the relay, if any.
    async fn stop(&self, servers: &Handle) {
        if let Some(relay) = self.relay.clone() {
            let _ = on_servers(servers, async move { relay.shutdown().await }).await;
        }
    }
}

/// Runs `fut` on the servers' runtime (so its allocations are not counted as client heap).
pub(crate) async fn on_servers<T: Send + 'static>(
    servers: &Handle,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, Error> {
    servers
        .spawn(fut)
        .await
        .map_err(|e| Error::new(format!("demo server task failed: {e}")))
}

/// The demo's config: built in, `HOTPOOL_*` overrides, `[pool]` from `--config`. Over
/// HTTP/1.1 (`h1`, `auto`), whose connections are exclusive, the built-in `[pool]` allows
/// as many connections per address as `--concurrency` spreads onto each (within
/// `max_conns_per_host`).
fn demo_config(
    global: &Global,
    args: &DemoArgs,
    dns: SocketAddr,
    port: u16,
) -> Result<Config, Error> {
    let mut cfg =
        Config::from_str_with_vars(DEMO_CONFIG, "<built-in demo config>", std::env::vars())
            .map_err(|e| Error::new(e.to_string()))?;
    let transport = match args.proto() {
        DemoProto::H1 => pool_config::Transport::H1,
        DemoProto::H2 => pool_config::Transport::H2,
        DemoProto::Auto => pool_config::Transport::Auto,
        DemoProto::H3 => pool_config::Transport::H3,
    };
    if let Some(path) = &global.config {
        let file = Config::from_file_with_env(path).map_err(|e| Error::new(e.to_string()))?;
        cfg.pool = file.pool;
    } else if matches!(args.proto(), DemoProto::H1 | DemoProto::Auto) {
        let addresses = u64::from(args.addresses);
        let per_host = cfg.pool.max_conns_per_host as u64;
        let per_ip = args
            .concurrency
            .div_ceil(addresses)
            .min((per_host / addresses).max(1));
        cfg.pool.max_conns_per_ip = Some(usize::try_from(per_ip).unwrap_or(1));
    }
    cfg.dns.name_servers = vec![dns];
    for h in &mut cfg.hosts {
        h.port = port;
        h.transport = transport;
    }
    cfg.validate().map_err(|e| Error::new(e.to_string()))?;
    Ok(cfg)
}

/// `hotpool demo`.
pub async fn run(global: &Global, args: &DemoArgs, servers: Handle) -> Result<ExitCode, Error> {
    if let Some(browser) = args.profile {
        return profile::run(global, browser).await;
    }
    if args.addresses > 64 {
        return Err(Error::new("--addresses: at most 64"));
    }
    let ips = demo_ips(args.addresses);
    let ca = Arc::new(TestCa::new().map_err(|e| Error::new(format!("demo CA: {e}")))?);
    let dns_server = on_servers(&servers, async {
        DnsServer::start_zone(DEMO_ZONE).await.map(Arc::new)
    })
    .await?
    .map_err(|e| Error::new(format!("demo DNS server: {e}")))?;

    let report = if args.proto() == DemoProto::H3 {
        run_h3(global, args, &servers, &ca, &ips, &dns_server).await
    } else {
        run_tls(global, args, &servers, &ca, &ips, &dns_server).await
    };
    let d = dns_server.clone();
    let _ = on_servers(&servers, async move { d.shutdown().await }).await;
    let report = report?;
    if global.json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The TLS variants of the demo (`h2`, `h1`, `auto`): their origins (see
/// [`origins::start_tls`]), their dialer, the same phases.
async fn run_tls(
    global: &Global,
    args: &DemoArgs,
    servers: &Handle,
    ca: &Arc<TestCa>,
    ips: &[IpAddr],
    dns_server: &Arc<DnsServer>,
) -> Result<DemoReport, Error> {
    let origins = origins::start_tls(servers, args.proto(), ca, ips).await?;
    let result = match DemoPath::start(servers, args.rtt, ips, origins.port()).await {
        Ok(path) => {
            let result = measure_tls(global, args, servers, ca, &path, dns_server, &origins).await;
            path.stop(servers).await;
            result
        }
        Err(e) => Err(e),
    };
    origins::shutdown(servers, &origins.0).await;
    result
}

async fn measure_tls(
    global: &Global,
    args: &DemoArgs,
    servers: &Handle,
    ca: &Arc<TestCa>,
    path: &DemoPath,
    dns_server: &Arc<DnsServer>,
    origins: &Arc<TlsOrigins>,
) -> Result<DemoReport, Error> {
    set_dns(servers, dns_server, &path.dial_ips).await?;
    let cfg = demo_config(global, args, dns_server.addr(), path.port)?;
    measure(args, cfg, ca, Arc::clone(origins), dns_server.addr(), path).await
}

/// The HTTP/3 variant of the demo: an [`H3Origin`] instead of the h2 origin, a
/// `QuicDialer`, the same phases.
async fn run_h3(
    global: &Global,
    args: &DemoArgs,
    servers: &Handle,
    ca: &Arc<TestCa>,
    ips: &[IpAddr],
    dns_server: &Arc<DnsServer>,
) -> Result<DemoReport, Error> {
    let options = H3OriginOptions::new(ips, &[DEMO_HOST], ca);
    let origin = on_servers(servers, async move {
        H3Origin::start(options).await.map(Arc::new)
    })
    .await?
    .map_err(|e| Error::new(format!("demo HTTP/3 origin: {e}")))?;
    let path = DemoPath::start(servers, args.rtt, ips, origin.port()).await;
    let result = async {
        let path = path.as_ref().map_err(|e| Error::new(e.to_string()))?;
        set_dns(servers, dns_server, &path.dial_ips).await?;
        let cfg = demo_config(global, args, dns_server.addr(), path.port)?;
        measure(args, cfg, ca, origin.clone(), dns_server.addr(), path).await
    }
    .await;
    if let Ok(path) = &path {
        path.stop(servers).await;
    }
    let o = origin.clone();
    let _ = on_servers(servers, async move { o.shutdown().await }).await;
    result
}

/// Points the demo host at `ips` on the local DNS server.
async fn set_dns(servers: &Handle, dns: &Arc<DnsServer>, ips: &[IpAddr]) -> Result<(), Error> {
    let d = dns.clone();
    let ips = ips.to_vec();
    on_servers(servers, async move {
        d.set_addrs(DEMO_HOST, &ips, DEMO_TTL).await
    })
    .await?
    .map_err(|e| Error::new(format!("demo DNS records: {e}")))
}

/// The demo's CA certificate as a PEM file, for the client's `tls.ca_files`; removed
/// when dropped.
struct CaFile(std::path::PathBuf);

impl CaFile {
    fn write(ca: &TestCa) -> Result<Self, Error> {
        let path = std::env::temp_dir().join(format!("hotpool-demo-ca-{}.pem", std::process::id()));
        ca.write_ca_pem(&path)
            .map_err(|e| Error::new(format!("demo CA file {}: {e}", path.display())))?;
        Ok(Self(path))
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Warm-up, hot phase, cold phase, over any transport: a [`Client`] trusting only the
/// demo's CA (no webpki roots), the demo host's pool inspected through its
/// [`HostHandle`].
async fn measure(
    args: &DemoArgs,
    mut cfg: Config,
    ca: &TestCa,
    origin: Arc<impl DemoOrigin>,
    dns_addr: SocketAddr,
    path: &DemoPath,
) -> Result<DemoReport, Error> {
    let ca_file = CaFile::write(ca)?;
    cfg.tls.ca_files = vec![ca_file.0.clone()];
    cfg.tls.use_webpki_roots = false;
    let host = HostSpec::parse(DEMO_HOST, &cfg)?;
    // The demo's origins set no limit: no pacing, no status retries.
    let client = crate::client::builder(cfg, &host)
        .polite(hotpool::Polite::new(None, hotpool::StatusRetry::off()))
        .build()?;
    let origin_url = crate::client::origin_url(&host, true);
    let result = async {
        let handle = client.host_handle(&origin_url).await?;
        let url = format!("{origin_url}{PATH}");
        phases(args, &client, &handle, &url, origin, dns_addr, path).await
    }
    .await;
    client.close().await;
    result
}

async fn phases(
    args: &DemoArgs,
    client: &Client,
    handle: &HostHandle,
    url: &str,
    origin: Arc<impl DemoOrigin>,
    dns_addr: SocketAddr,
    path: &DemoPath,
) -> Result<DemoReport, Error> {
    let (addresses, port) = (path.dial_ips.len(), path.port);
    let resolved = handle.addrs();
    if resolved.is_empty() {
        return Err(Error::new(format!("{DEMO_HOST} resolved to no address")));
    }
    let timeout = client.config().pool.request_timeout;

    // Warm-up, measuring the client heap it adds.
    let base = origin.totals();
    let base_per_addr = origin.per_addr();
    let heap_before = alloc::live_bytes();
    let mut bar = WarmBar::new(DEMO_HOST);
    let warm = handle.warm_with_progress(|p| bar.update(p)).await;
    // Let the connections' driver tasks settle before measuring.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let heap_after = alloc::live_bytes();
    let failures = bar.finish(&warm);
    if warm.ok == 0 {
        return Err(Error::new(format!(
            "warm-up connected to no address of {DEMO_HOST}: {}",
            failures
                .first()
                .map_or("no address to dial", String::as_str)
        )));
    }
    let bytes_per_connection =
        u64::try_from((heap_after - heap_before).max(0)).unwrap_or(0) / warm.ok as u64;
    let after_warm = origin.totals();

    // Hot phase.
    let (mut hot, errors, hot_elapsed) =
        hot_phase(client, url, args.hot_requests(), args.concurrency).await;
    let after_hot = origin.totals();
    let per_addr_counts = origin.per_addr();
    let stats = handle.stats();
    let conns = handle.connections();

    // Cold phase: a new connection per request, with the pool's dialer.
    let mut cold = Latencies::with_capacity(args.cold_samples() as usize);
    for i in 0..args.cold_samples() as usize {
        let addr = resolved[i % resolved.len()];
        let request = hotpool::http::Request::get(PATH)
            .body(Bytes::new())
            .map_err(|e| Error::new(format!("cold request: {e}")))?;
        let started = Instant::now();
        handle
            .send_fresh(addr, request, timeout)
            .await
            .map_err(|e| Error::new(format!("cold request to {addr}: {e}")))?;
        cold.record(started.elapsed());
    }
    let after_cold = origin.totals();

    let mut per_address: BTreeMap<IpAddr, AddressRow> = BTreeMap::new();
    for (ip, c) in per_addr_counts {
        let b = base_per_addr.get(&ip).copied().unwrap_or_default();
        per_address.insert(
            ip,
            AddressRow {
                address: ip,
                connections: 0,
                requests: c.requests - b.requests,
                handshakes: c.handshakes - b.handshakes,
            },
        );
    }
    for c in &conns {
        if let Some(row) = per_address.get_mut(&path.origin_ip(c.addr.ip())) {
            row.connections += 1;
        }
    }
    let cold_s = cold.summary();
    let hot_s = hot.summary();
    let ratio = |c: u64, h: u64| if h == 0 { 0.0 } else { c as f64 / h as f64 };
    Ok(DemoReport {
        transport: handle.transport(),
        rtt_ms: path.rtt.map(|d| d.as_secs_f64() * 1e3),
        host: DEMO_HOST,
        port,
        dns_server: dns_addr,
        addresses,
        connections: conns.len(),
        requests: args.hot_requests(),
        concurrency: args.concurrency,
        errors,
        reuse_rate: stats.reuse_rate(),
        leases: stats.leases_total,
        dials: stats.dials_total,
        warm_ms: warm.elapsed.as_secs_f64() * 1e3,
        cold_samples: cold_s.count,
        cold_p50_us: cold_s.p50_us,
        cold_p99_us: cold_s.p99_us,
        hot_p50_us: hot_s.p50_us,
        hot_p90_us: hot_s.p90_us,
        hot_p99_us: hot_s.p99_us,
        hot_max_us: hot_s.max_us,
        speedup_p50: ratio(cold_s.p50_us, hot_s.p50_us),
        speedup_p99: ratio(cold_s.p99_us, hot_s.p99_us),
        hot_requests_per_sec: args.hot_requests() as f64 / hot_elapsed.as_secs_f64().max(1e-9),
        handshakes: after_hot.handshakes - base.handshakes,
        hot_handshakes: after_hot.handshakes - after_warm.handshakes,
        cold_handshakes: after_cold.handshakes - after_hot.handshakes,
        bytes_per_connection,
        protocols: after_hot.protocols_since(&base),
        per_address: per_address.into_values().collect(),
    })
}

/// `requests` requests of `url` through the client, `concurrency` at a time.
async fn hot_phase(
    client: &Client,
    url: &str,
    requests: u64,
    concurrency: u64,
) -> (Latencies, u64, Duration) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let share = requests / concurrency + u64::from(w < requests % concurrency);
        let (client, url) = (client.clone(), url.to_owned());
        tasks.spawn(async move {
            let mut lat = Latencies::with_capacity(share as usize);
            let mut errors = 0u64;
            for _ in 0..share {
                let t = Instant::now();
                let sent = async {
                    let response = client.get(&url).send().await?;
                    response.into_body().bytes().await?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                };
                match sent.await {
                    Ok(()) => lat.record(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        tracing::debug!(error = %e, "demo request failed");
                    }
                }
            }
            (lat, errors)
        });
    }
    let mut all = Latencies::with_capacity(requests as usize);
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((lat, e)) => {
                all.merge(lat);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    (all, errors, started.elapsed())
}

/// The human-readable report.
fn render(r: &DemoReport) -> String {
    let first = r.per_address.first().map(|a| a.address.to_string());
    let last = r.per_address.last().map(|a| a.address.to_string());
    let range = match (first, last) {
        (Some(f), Some(l)) if f != l => format!("{f} … {l}"),
        (Some(f), _) => f,
        _ => "-".to_owned(),
    };
    let mut out = format!(
        "\nhotpool demo: {} to {} ({} addresses: {range}, port {}), local DNS {}\n\n",
        r.transport, r.host, r.addresses, r.port, r.dns_server
    );
    if let Some(rtt) = r.rtt_ms {
        out.push_str(&format!(
            "path: RTT {rtt:.0}ms through a WAN relay (fronts 127.0.0.{FIRST_FRONT} …, the \
             addresses below are the origins behind them): a cold request pays its \
             handshakes' round trips, a hot one only its own\n\n"
        ));
    }
    let what_cold = format!("new connection + 1 request, {} samples", r.cold_samples);
    let what_hot = format!(
        "pooled connection, {} requests, concurrency {}",
        r.requests, r.concurrency
    );
    out.push_str(&table_aligned(
        &["", "p50", "p99", ""],
        &[
            vec![
                "cold".into(),
                fmt_us(r.cold_p50_us),
                fmt_us(r.cold_p99_us),
                what_cold,
            ],
            vec![
                "hot".into(),
                fmt_us(r.hot_p50_us),
                fmt_us(r.hot_p99_us),
                what_hot,
            ],
            vec![
                "cold/hot".into(),
                format!("{:.1}x", r.speedup_p50),
                format!("{:.1}x", r.speedup_p99),
                String::new(),
            ],
        ],
        3,
    ));
    out.push('\n');
    let kv = [
        (
            "reuse rate",
            format!(
                "{:.4} ({} leases, {} dials)",
                r.reuse_rate, r.leases, r.dials
            ),
        ),
        (
            "handshakes",
            format!(
                "{} by the pool ({} during the hot phase); {} more for the cold samples",
                r.handshakes, r.hot_handshakes, r.cold_handshakes
            ),
        ),
        (
            "connections",
            format!(
                "{} open to {} addresses; by protocol (as each origin chose): {}",
                r.connections,
                r.addresses,
                r.protocols
                    .iter()
                    .map(|(p, n)| format!("{n} {p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (
            "memory/connection",
            format!(
                "{} client heap (TLS + {} state, driver task, pool bookkeeping; kernel buffers not counted)",
                fmt_bytes(r.bytes_per_connection),
                r.transport
            ),
        ),
        (
            "warm-up",
            format!("{:.1}ms for {} connections", r.warm_ms, r.connections),
        ),
        (
            "throughput",
            format!("{:.0} req/s through the pool", r.hot_requests_per_sec),
        ),
    ];
    for (k, v) in kv {
        out.push_str(&format!("  {k:<18} {v}\n"));
    }
    if r.errors > 0 {
        out.push_str(&format!("  {:<18} {}\n", "errors", r.errors));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = r
        .per_address
        .iter()
        .map(|a| {
            vec![
                a.address.to_string(),
                a.connections.to_string(),
                a.requests.to_string(),
                a.handshakes.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["address", "connections", "hot requests", "handshakes"],
        &rows,
    ));
    out
}
