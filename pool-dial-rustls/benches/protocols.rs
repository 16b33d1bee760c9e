//! Per protocol: hotpool over HTTP/1.1 (`H1Dialer`), HTTP/2 (`H2Dialer`), auto ALPN
//! (`HttpsDialer`) and HTTP/3 (`QuicDialer`), each next to a peer of the same protocol, in
//! one run against the same origins: GET `/1k` (1 KiB body), 64 requests in flight, one
//! address (127.0.1.1: TLS with ALPN `h2, http/1.1` on one TCP port, HTTP/3 on one UDP
//! port), a 2-thread client runtime.
//!
//! Peers:
//! - `reqwest_h1` / `reqwest_h2`: reqwest over HTTP/1.1 only / HTTP/2 by ALPN, built as in
//!   the throughput bench (`common::reqwest_client`);
//! - `h2load_h1` / `h2load_h2`: nghttp2's `h2load` (`--h1` with 64 clients; h2 with one
//!   client and 64 streams), when it is on `PATH` (`cargo xtask bench` installs the Debian
//!   package `nghttp2-client` when it is missing); otherwise their lines say `skipped`.
//!   Its rate and latencies come from its `--log-file` (first request sent → last
//!   response), its CPU time from `getrusage(RUSAGE_CHILDREN)`;
//! - `raw_h3`: one h3-quinn connection driven directly (no pool): the HTTP/3 floor.
//!
//! The origins run in a child process (`common`), so `getrusage(RUSAGE_SELF)` is the
//! client's CPU alone. Connections opened, over the whole run (warm-up and every round):
//! over TLS the origin's handshake counter, read around each client's steps; over QUIC the
//! client's own count (the pool's dials; the raw connection is one). Each round sends `n` requests per client, clients
//! alternating round by round; round 0 warms every client and is not kept. Requests/s and
//! CPU per request are medians over the rounds, p50/p99 over every kept request.
//!
//! Writes `protocols.jsonl` (see `common::out_dir`) for `cargo xtask bench`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use common::{HOST, OriginProcess, Round};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, HttpsDialer, HttpsOptions};
use pool_http::{Empty, HttpConnection, HttpLeaseExt, Protocol};

/// Requests in flight at once, for every client.
const CONCURRENCY: usize = 64;
/// The path every client requests.
const PATH: &str = "/1k";

/// A warm pool over the origin's one address, `per_ip` connections allowed to it (HTTP/1.1
/// is exclusive: one connection per request in flight).
async fn hot_pool<D: Dialer>(dialer: D, addr: SocketAddr, per_ip: usize) -> Arc<Pool<D>> {
    let options = PoolOptions {
        max_connections: 1000,
        max_conns_per_host: 1000,
        max_idle_conns: 1000,
        max_conns_per_ip: per_ip,
        ..PoolOptions::default()
    };
    let pool = Pool::new(dialer, options).expect("pool");
    pool.set_addrs(HOST, [addr]);
    assert!(pool.warm(HOST).await.ok >= 1, "warm-up");
    Arc::new(pool)
}

/// One GET of [`PATH`] through `pool`, the body read to its end; the protocol it went over.
async fn pool_get<D>(pool: &Pool<D>) -> Protocol
where
    D: Dialer<Conn: HttpConnection>,
{
    let lease = pool.get(HOST).await.expect("lease");
    let request = http::Request::get(PATH)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = lease.request(request).await.expect("request");
    assert_eq!(response.status(), 200);
    let body = response.into_body();
    let protocol = body.protocol();
    assert_eq!(body.bytes().await.expect("body").len(), 1024);
    protocol
}

/// One measured round of `n` GETs through `pool`; then one more, unmeasured, for the
/// protocol the pool's connections speak (what auto chose).
async fn pool_round<D>(pool: &Arc<Pool<D>>, n: usize) -> (Round, Option<Protocol>)
where
    D: Dialer<Conn: HttpConnection>,
{
    let send = {
        let pool = Arc::clone(pool);
        move || {
            let pool = Arc::clone(&pool);
            async move {
                pool_get(&pool).await;
            }
        }
    };
    let round = common::round(n, CONCURRENCY, send).await;
    (round, Some(pool_get(pool).await))
}

/// One raw HTTP/3 connection: quinn endpoint + h3-quinn + h3, its driver on a task.
async fn raw_h3(
    origin: &OriginProcess,
    addr: SocketAddr,
) -> h3::client::SendRequest<h3_quinn::OpenStreams, Bytes> {
    let tls = origin.client_config(&[b"h3"]);
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("bind address"))
        .expect("QUIC endpoint");
    let conn = endpoint
        .connect_with(quinn::ClientConfig::new(Arc::new(crypto)), addr, HOST)
        .expect("QUIC connect")
        .await
        .expect("QUIC handshake");
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
        .await
        .expect("h3 handshake");
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        drop(endpoint);
    });
    send
}

/// One measured round of `n` GETs on the raw h3 connection.
async fn raw_h3_round(
    send: &h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    url: &Arc<str>,
    n: usize,
) -> Round {
    let send = send.clone();
    let url = Arc::clone(url);
    common::round(n, CONCURRENCY, move || {
        let mut send = send.clone();
        let url = Arc::clone(&url);
        async move {
            let request = http::Request::get(&*url).body(()).expect("request");
            let mut stream = send.send_request(request).await.expect("h3 send");
            stream.finish().await.expect("h3 finish");
            let response = stream.recv_response().await.expect("h3 response");
            assert_eq!(response.status(), 200);
            let mut len = 0;
            while let Some(mut chunk) = stream.recv_data().await.expect("h3 body") {
                len += chunk.remaining();
                chunk.advance(chunk.remaining());
            }
            assert_eq!(len, 1024);
        }
    })
    .await
}

/// One round of `h2load` (`-n n`, 64 in flight) against `addr`; `None` when it cannot run.
fn h2load_round(h1: bool, addr: SocketAddr, url: &str, n: usize, log: &Path) -> Option<Round> {
    let mut command = std::process::Command::new("h2load");
    command.args(["-n", &n.to_string()]);
    if h1 {
        command.args(["--h1", "-t", "2", "-c", &CONCURRENCY.to_string(), "-m", "1"]);
    } else {
        command.args(["-t", "1", "-c", "1", "-m", &CONCURRENCY.to_string()]);
    }
    command
        .arg(format!("--connect-to={addr}"))
        .arg(format!("--log-file={}", log.display()))
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    // h2load appends to its log file.
    let _ = std::fs::remove_file(log);
    let cpu = common::children_cpu_time();
    let status = command.status().ok()?;
    let cpu = common::children_cpu_time() - cpu;
    if !status.success() {
        eprintln!("h2load exited with {status}");
        return None;
    }
    // Tab-separated: start (µs since the epoch), status, µs until the response ended.
    let text = std::fs::read_to_string(log).ok()?;
    let mut first = u64::MAX;
    let mut last = 0;
    let mut latencies = Vec::with_capacity(n);
    for line in text.lines() {
        let mut cols = line.split('\t');
        let (Some(start), Some(status), Some(us)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let (Ok(start), Ok(us)) = (start.parse::<u64>(), us.parse::<u64>()) else {
            continue;
        };
        if status != "200" {
            eprintln!("h2load: status {status}");
            return None;
        }
        first = first.min(start);
        last = last.max(start + us);
        latencies.push(Duration::from_micros(us));
    }
    if latencies.len() != n {
        eprintln!("h2load: {} of {n} requests logged", latencies.len());
        return None;
    }
    Some(Round {
        wall: Duration::from_micros(last.saturating_sub(first).max(1)),
        cpu,
        latencies,
    })
}

/// Whether `h2load` runs here.
fn h2load_available() -> bool {
    std::process::Command::new("h2load")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The clients of the run.
enum Client {
    H1(Arc<Pool<H1Dialer>>),
    H2(Arc<Pool<H2Dialer>>),
    Auto(Arc<Pool<HttpsDialer>>),
    H3(Arc<Pool<QuicDialer>>),
    Reqwest(reqwest::Client, http::Version),
    H2load { h1: bool },
    RawH3(h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>),
}

/// One client and what it measured.
struct Variant {
    name: &'static str,
    protocol: &'static str,
    client: Client,
    /// Connections this client opened (see the module's doc).
    opened: u64,
    rps: Vec<f64>,
    cpu_ns: Vec<f64>,
    latencies: Vec<Duration>,
    negotiated: Option<Protocol>,
    skipped: Option<&'static str>,
}

impl Variant {
    fn new(name: &'static str, protocol: &'static str, client: Client) -> Self {
        Variant {
            name,
            protocol,
            client,
            opened: 0,
            rps: Vec::new(),
            cpu_ns: Vec::new(),
            latencies: Vec::new(),
            negotiated: None,
            skipped: None,
        }
    }

    fn quic(&self) -> bool {
        matches!(self.client, Client::H3(_) | Client::RawH3(_))
    }

    /// The QUIC clients' own count of the connections they opened.
    fn quic_opened(&self) -> u64 {
        match &self.client {
            Client::H3(pool) => pool.stats().dials_total,
            Client::RawH3(_) => 1,
            _ => 0,
        }
    }

    fn json(&mut self, n: usize, rounds: usize) -> String {
        let head = format!(
            "{{\"bench\":\"protocols\",\"client\":\"{}\",\"protocol\":\"{}\",\"concurrency\":{CONCURRENCY},\"addresses\":1,\"path\":\"{PATH}\",\"requests_per_round\":{n},\"rounds\":{rounds}",
            self.name, self.protocol
        );
        if let Some(why) = self.skipped {
            return format!("{head},\"skipped\":\"{why}\"}}");
        }
        self.latencies.sort_unstable();
        let negotiated = match self.negotiated {
            Some(Protocol::Http1) => ",\"negotiated\":\"http/1.1\"",
            Some(Protocol::Http2) => ",\"negotiated\":\"h2\"",
            Some(Protocol::Http3) => ",\"negotiated\":\"h3\"",
            _ => "",
        };
        format!(
            "{head},\"requests_per_sec\":{:.0},\"p50_us\":{:.1},\"p99_us\":{:.1},\"cpu_ns_per_request\":{:.0},\"connections\":{}{negotiated}}}",
            common::median(&mut self.rps),
            common::quantile_us(&self.latencies, 0.5),
            common::quantile_us(&self.latencies, 0.99),
            common::median(&mut self.cpu_ns),
            self.opened,
        )
    }
}

fn main() {
    common::origin_main_if_child();
    let quick = common::quick();
    let (n, rounds) = if quick { (2_000, 2) } else { (20_000, 7) };
    let mut origin = OriginProcess::start_with_h3(1);
    let addr = origin.addrs[0];
    let h3_addr = origin.h3_addrs[0];
    let url = format!("https://{HOST}:{}{PATH}", addr.port());
    let h3_url: Arc<str> = format!("https://{HOST}:{}{PATH}", h3_addr.port()).into();
    let log = common::out_dir().join("h2load.log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let h2load = h2load_available();
    if !h2load {
        eprintln!("protocols: h2load not installed; its lines say skipped");
    }
    let mut variants = Vec::new();
    // Each client is built (and a pool warmed) between two counter reads, so its
    // connections are its own.
    let mut add = |origin: &mut OriginProcess,
                   name: &'static str,
                   protocol: &'static str,
                   build: &mut dyn FnMut(&OriginProcess) -> Client| {
        let before = origin.tls_handshakes();
        let mut v = Variant::new(name, protocol, build(origin));
        if !v.quic() {
            v.opened = origin.tls_handshakes() - before;
        }
        if matches!(v.client, Client::H2load { .. }) && !h2load {
            v.skipped = Some("h2load not installed");
        }
        variants.push(v);
    };
    add(&mut origin, "hotpool_h1", "h1", &mut |o| {
        let dialer = H1Dialer::new(o.tls_options()).expect("h1 dialer");
        Client::H1(rt.block_on(hot_pool(dialer, addr, CONCURRENCY)))
    });
    add(&mut origin, "reqwest_h1", "h1", &mut |o| {
        Client::Reqwest(
            common::reqwest_client(o, &[addr], true),
            http::Version::HTTP_11,
        )
    });
    add(&mut origin, "h2load_h1", "h1", &mut |_| Client::H2load {
        h1: true,
    });
    add(&mut origin, "hotpool_h2", "h2", &mut |o| {
        let dialer = H2Dialer::new(o.h2_options()).expect("h2 dialer");
        Client::H2(rt.block_on(hot_pool(dialer, addr, 1)))
    });
    add(&mut origin, "reqwest_h2", "h2", &mut |o| {
        Client::Reqwest(
            common::reqwest_client(o, &[addr], false),
            http::Version::HTTP_2,
        )
    });
    add(&mut origin, "h2load_h2", "h2", &mut |_| Client::H2load {
        h1: false,
    });
    add(&mut origin, "hotpool_auto", "auto", &mut |o| {
        let mut options = HttpsOptions::default();
        options.tls.trust = o.tls_options().trust;
        let dialer = HttpsDialer::new(options).expect("https dialer");
        Client::Auto(rt.block_on(hot_pool(dialer, addr, 1)))
    });
    add(&mut origin, "hotpool_h3", "h3", &mut |o| {
        let options = QuicOptions {
            trust: o.tls_options().trust,
            ..QuicOptions::default()
        };
        let dialer = QuicDialer::new(options).expect("QUIC dialer");
        Client::H3(rt.block_on(hot_pool(dialer, h3_addr, 1)))
    });
    add(&mut origin, "raw_h3", "h3", &mut |o| {
        Client::RawH3(rt.block_on(raw_h3(o, h3_addr)))
    });

    for r in 0..=rounds {
        for v in &mut variants {
            if v.skipped.is_some() {
                continue;
            }
            let before = origin.tls_handshakes();
            let started = Instant::now();
            let measured = match &v.client {
                Client::H1(pool) => Some(rt.block_on(pool_round(pool, n))),
                Client::H2(pool) => Some(rt.block_on(pool_round(pool, n))),
                Client::Auto(pool) => Some(rt.block_on(pool_round(pool, n))),
                Client::H3(pool) => Some(rt.block_on(pool_round(pool, n))),
                Client::Reqwest(client, version) => {
                    let (client, version) = (client.clone(), *version);
                    let url: Arc<str> = url.as_str().into();
                    let send = move || {
                        let client = client.clone();
                        let url = Arc::clone(&url);
                        async move { common::reqwest_get(&client, &url, version).await }
                    };
                    Some((rt.block_on(common::round(n, CONCURRENCY, send)), None))
                }
                Client::H2load { h1 } => h2load_round(*h1, addr, &url, n, &log).map(|r| (r, None)),
                Client::RawH3(send) => Some((rt.block_on(raw_h3_round(send, &h3_url, n)), None)),
            };
            if !v.quic() {
                v.opened += origin.tls_handshakes() - before;
            }
            let Some((round, negotiated)) = measured else {
                v.skipped = Some("h2load failed (see the bench's stderr)");
                continue;
            };
            eprintln!(
                "protocols: round {r} {}: {:.0} req/s ({:.1} s)",
                v.name,
                n as f64 / round.wall.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            if r > 0 {
                v.rps.push(n as f64 / round.wall.as_secs_f64());
                v.cpu_ns.push(round.cpu.as_nanos() as f64 / n as f64);
                v.latencies.extend(round.latencies);
                v.negotiated = negotiated.or(v.negotiated);
            }
        }
    }
    for v in &mut variants {
        if v.quic() {
            v.opened = v.quic_opened();
        }
    }
    let lines: Vec<String> = variants.iter_mut().map(|v| v.json(n, rounds)).collect();
    for line in &lines {
        println!("{line}");
    }
    common::write_jsonl("protocols", &lines);
    let _ = std::fs::remove_file(&log);
    rt.block_on(async {
        for v in &variants {
            match &v.client {
                Client::H1(pool) => pool.close().await,
                Client::H2(pool) => pool.close().await,
                Client::Auto(pool) => pool.close().await,
                Client::H3(pool) => pool.close().await,
                _ => {}
            }
        }
    });
    drop(variants);
    drop(rt);
    drop(origin);
}
