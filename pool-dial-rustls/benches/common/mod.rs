//! Shared by the transport benches that measure the client alone (throughput and CPU per
//! request, per protocol, warm-up, memory): the local origins run in a **child process**
//! (this same bench binary, re-run with `HOTPOOL_BENCH_ORIGIN` set), so the bench
//! process's CPU time (`getrusage`) and heap (a counting allocator) are the client's only.
//! The child serves TLS with ALPN `h2, http/1.1` (one port for HTTP/1.1, HTTP/2 and auto)
//! and, when asked, HTTP/3 on the same addresses; it answers `stats` on its stdin with the
//! TLS handshakes it completed, so a bench can count the connections each client opened.
//!
//! Every address is on 127.0.0.0/8; the child exits when its stdin closes, so it never
//! outlives the bench. Also here: one request loop ([`round`]: `n` requests by
//! `concurrency` tasks, wall and CPU time, every latency) and one reqwest peer
//! ([`reqwest_client`], [`reqwest_get`]), so each bench measures its clients the same way.
// `getrusage` and `setrlimit` are foreign functions and so `unsafe` to call; each call
// below passes a valid pointer to a local struct, which is all they need.
#![allow(unsafe_code, dead_code)]

use std::io::{BufRead, BufReader, Lines, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pool_testkit::{
    H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa, client_config_trusting,
};
use rustls_pki_types::CertificateDer;

/// The host name every transport bench uses (the origin's certificate names it).
pub const HOST: &str = "bench.test";

const ENV_ORIGIN: &str = "HOTPOOL_BENCH_ORIGIN";
const ENV_ORIGIN_H3: &str = "HOTPOOL_BENCH_ORIGIN_H3";

/// True in quick mode (`HOTPOOL_BENCH_QUICK=1`, set by `cargo xtask bench --quick`).
pub fn quick() -> bool {
    std::env::var_os("HOTPOOL_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty())
}

/// `n` loopback addresses 127.0.x.y, starting at 127.0.1.1 (y in 1..=254), clear of the
/// 127.0.0.x addresses the tests and the demo use.
pub fn loopback_ips(n: usize) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            let x = 1 + i / 254;
            let y = 1 + i % 254;
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                u8::try_from(x).expect("at most 64,770 addresses"),
                u8::try_from(y).expect("1..=254"),
            ))
        })
        .collect()
}

/// Raises the open-file limit (soft, and hard where allowed) to `want`; returns the soft
/// limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max.max(want),
    };
    // SAFETY: `raised` is a valid rlimit; raising the hard limit needs privileges and
    // simply fails without them.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return want;
    }
    let soft = libc::rlimit {
        rlim_cur: lim.rlim_max.min(want),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: as above; the soft limit may always be raised up to the hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
        soft.rlim_cur
    } else {
        lim.rlim_cur
    }
}

/// User + system CPU time of this process so far (all threads).
pub fn cpu_time() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// User + system CPU time of the child processes that ended and were waited for (a peer
/// such as `h2load` run to completion; the origin child is only waited for at the end).
pub fn children_cpu_time() -> Duration {
    rusage(libc::RUSAGE_CHILDREN)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Where the benches leave their JSON lines for `cargo xtask bench`:
/// `HOTPOOL_BENCH_OUT`, else `<workspace>/target/hotpool-bench`.
pub fn out_dir() -> PathBuf {
    let dir = std::env::var_os("HOTPOOL_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hotpool-bench")
        });
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Prints `lines` (JSON objects) and writes them to `<out_dir>/<name>.jsonl`.
pub fn write_jsonl(name: &str, lines: &[String]) {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let path = out_dir().join(format!("{name}.jsonl"));
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

/// The median of `values` (0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The `q` quantile (0.0–1.0, nearest rank) of sorted `samples`, in microseconds (0 when
/// empty).
pub fn quantile_us(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

/// What one [`round`] measured.
pub struct Round {
    /// From the first request sent to the last response read.
    pub wall: Duration,
    /// Client CPU time (this process, all threads) over the round.
    pub cpu: Duration,
    /// Every request's latency: sent → response body read to its end.
    pub latencies: Vec<Duration>,
}

/// Runs `concurrency` tasks that together send `n` requests with `send`, each task one
/// request after another; returns wall and client CPU time and every latency.
pub async fn round<F, Fut>(n: usize, concurrency: usize, send: F) -> Round
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let left = Arc::new(AtomicUsize::new(n));
    let cpu = cpu_time();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let left = Arc::clone(&left);
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n / concurrency + 1);
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                send().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for task in tasks {
        latencies.extend(task.await.expect("request task"));
    }
    Round {
        wall: start.elapsed(),
        cpu: cpu_time() - cpu,
        latencies,
    }
}

/// The reqwest peer (hyper, rustls + ring) for `origin`: [`HOST`] resolved to `addrs`,
/// trusting the origin's CA only, no proxy. `http1`: HTTP/1.1 only (ALPN `http/1.1`,
/// one exclusive connection per request in flight, as reqwest does); otherwise HTTP/2
/// by ALPN (one connection per host).
pub fn reqwest_client(
    origin: &OriginProcess,
    addrs: &[SocketAddr],
    http1: bool,
) -> reqwest::Client {
    let alpn: &[&[u8]] = if http1 { &[b"http/1.1"] } else { &[b"h2"] };
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(origin.client_config(alpn))
        .resolve_to_addrs(HOST, addrs)
        .no_proxy();
    if http1 {
        builder = builder.http1_only();
    }
    builder.build().expect("reqwest client")
}

/// One GET of `url` with `client`, the body read whole; panics unless the response came
/// over `version` with a non-empty body.
pub async fn reqwest_get(client: &reqwest::Client, url: &str, version: http::Version) {
    let response = client.get(url).send().await.expect("reqwest send");
    assert_eq!(response.version(), version);
    let body = response.bytes().await.expect("reqwest body");
    assert!(!body.is_empty());
}

/// The local origins for [`HOST`] running in a child process, listening on
/// [`loopback_ips`]`(n)`: TLS with ALPN `h2, http/1.1` on one shared TCP port and,
/// when started with [`start_with_h3`](Self::start_with_h3), HTTP/3 on one UDP port.
pub struct OriginProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The listening TLS socket addresses.
    pub addrs: Vec<SocketAddr>,
    /// The listening HTTP/3 socket addresses (same IPs; empty without HTTP/3).
    pub h3_addrs: Vec<SocketAddr>,
    /// The certificate of the CA that issued the origin's certificate.
    pub ca_der: CertificateDer<'static>,
}

impl OriginProcess {
    /// Starts the child (TLS only) and waits until it listens. Call
    /// [`origin_main_if_child`] first thing in the bench's `main`.
    pub fn start(n: usize) -> OriginProcess {
        Self::spawn(n, false)
    }

    /// [`start`](Self::start) plus an HTTP/3 origin on the same addresses.
    pub fn start_with_h3(n: usize) -> OriginProcess {
        Self::spawn(n, true)
    }

    fn spawn(n: usize, h3: bool) -> OriginProcess {
        let exe = std::env::current_exe().expect("current exe");
        let mut command = Command::new(exe);
        command.env(ENV_ORIGIN, n.to_string());
        if h3 {
            command.env(ENV_ORIGIN_H3, "1");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn origin process");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut port, mut h3_port, mut ca) = (None, None, None);
        while port.is_none() || ca.is_none() || (h3 && h3_port.is_none()) {
            let line = lines
                .next()
                .expect("origin process ended before listening")
                .expect("origin stdout");
            if let Some(p) = line.strip_prefix("port ") {
                port = Some(p.trim().parse::<u16>().expect("port"));
            } else if let Some(p) = line.strip_prefix("h3port ") {
                h3_port = Some(p.trim().parse::<u16>().expect("h3 port"));
            } else if let Some(hex) = line.strip_prefix("ca ") {
                ca = Some(from_hex(hex.trim()));
            }
        }
        let on = |port: Option<u16>| -> Vec<SocketAddr> {
            port.map_or_else(Vec::new, |port| {
                loopback_ips(n)
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect()
            })
        };
        OriginProcess {
            stdin: child.stdin.take(),
            child,
            stdout: lines,
            addrs: on(port),
            h3_addrs: on(h3_port),
            ca_der: CertificateDer::from(ca.expect("ca")),
        }
    }

    /// The TLS handshakes the origin completed so far (asks the child, which first waits
    /// until every connection it accepted has finished its handshake, at most 2 s).
    pub fn tls_handshakes(&mut self) -> u64 {
        let stdin = self.stdin.as_mut().expect("origin stdin");
        writeln!(stdin, "stats").expect("ask the origin for its counters");
        stdin.flush().expect("ask the origin for its counters");
        loop {
            let line = self
                .stdout
                .next()
                .expect("origin process ended")
                .expect("origin stdout");
            if let Some(count) = line.strip_prefix("stats ") {
                return count.trim().parse().expect("handshake count");
            }
        }
    }

    /// TLS options (for `H1Dialer`, and inside the other dialers' options) that trust
    /// this origin's CA only.
    pub fn tls_options(&self) -> pool_dial_rustls::TlsOptions {
        let mut options = pool_dial_rustls::TlsOptions::default();
        options.trust.webpki_roots = false;
        options.trust.extra_ca_certs = vec![self.ca_der.to_vec()];
        options
    }

    /// H2Dialer options that trust this origin's CA only.
    pub fn h2_options(&self) -> pool_dial_rustls::H2Options {
        let mut options = pool_dial_rustls::H2Options::default();
        options.tls.trust = self.tls_options().trust;
        options
    }

    /// A rustls client config (ring) trusting this origin's CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        client_config_trusting(self.ca_der.clone(), alpn).expect("client config")
    }
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        // Closing stdin tells the child to exit; kill it if it does not within 10 s.
        drop(self.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In the child (when `HOTPOOL_BENCH_ORIGIN` is set): runs the origins until stdin
/// closes, answering `stats` lines with the TLS handshake count, then exits the process.
/// In the bench itself: returns at once.
pub fn origin_main_if_child() {
    let Some(n) = std::env::var_os(ENV_ORIGIN) else {
        return;
    };
    let n: usize = n
        .to_str()
        .and_then(|s| s.parse().ok())
        .expect("address count");
    raise_nofile(2 * n as u64 + 4096);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("origin runtime");
    let ca = Arc::new(TestCa::new().expect("CA"));
    let ips = loopback_ips(n);
    let origin = rt
        .block_on(H2Origin::start(H2OriginOptions::new(&ips, &[HOST], &ca)))
        .expect("origin");
    let h3 = std::env::var_os(ENV_ORIGIN_H3).map(|_| {
        rt.block_on(H3Origin::start(H3OriginOptions::new(&ips, &[HOST], &ca)))
            .expect("HTTP/3 origin")
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "port {}", origin.port());
    if let Some(h3) = &h3 {
        let _ = writeln!(out, "h3port {}", h3.port());
    }
    let _ = writeln!(out, "ca {}", to_hex(ca.ca_cert_der().as_ref()));
    let _ = out.flush();
    // Until the parent closes our stdin (or dies).
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            // A client counts a connection once its side of the handshake is done; the
            // origin's counter follows when the server's side is.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut stats = origin.stats();
            while stats.accepted > stats.handshakes + stats.handshake_failures
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
                stats = origin.stats();
            }
            let _ = writeln!(out, "stats {}", stats.handshakes);
            let _ = out.flush();
        }
    }
    rt.block_on(origin.shutdown());
    if let Some(h3) = h3 {
        rt.block_on(h3.shutdown());
    }
    std::process::exit(0);
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
