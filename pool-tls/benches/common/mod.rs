//! Shared by the transport benches that measure the client alone (throughput and CPU per
//! request, warm-up, memory): the local TLS + HTTP/2 origin runs in a **child process**
//! (this same bench binary, re-run with `HOTPOOL_BENCH_ORIGIN` set), so the bench
//! process's CPU time (`getrusage`) and heap (a counting allocator) are the client's only.
//!
//! Every address is on 127.0.0.0/8; the child exits when its stdin closes, so it never
//! outlives the bench.
// `getrusage` and `setrlimit` are foreign functions and so `unsafe` to call; each call
// below passes a valid pointer to a local struct, which is all they need.
#![allow(unsafe_code, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::{H2Origin, H2OriginOptions, TestCa, client_config_trusting};
use rustls_pki_types::CertificateDer;

/// The host name every transport bench uses (the origin's certificate names it).
pub const HOST: &str = "bench.test";

const ENV_ORIGIN: &str = "HOTPOOL_BENCH_ORIGIN";

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
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
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

/// A local TLS + HTTP/2 origin for [`HOST`] running in a child process, listening on
/// [`loopback_ips`]`(n)` with one shared port.
pub struct OriginProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The listening socket addresses.
    pub addrs: Vec<SocketAddr>,
    /// The certificate of the CA that issued the origin's certificate.
    pub ca_der: CertificateDer<'static>,
}

impl OriginProcess {
    /// Starts the child and waits until it listens. Call [`origin_main_if_child`] first
    /// thing in the bench's `main`.
    pub fn start(n: usize) -> OriginProcess {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .env(ENV_ORIGIN, n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn origin process");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut port = None;
        let mut ca = None;
        while port.is_none() || ca.is_none() {
            let line = lines
                .next()
                .expect("origin process ended before listening")
                .expect("origin stdout");
            if let Some(p) = line.strip_prefix("port ") {
                port = Some(p.trim().parse::<u16>().expect("port"));
            } else if let Some(hex) = line.strip_prefix("ca ") {
                ca = Some(from_hex(hex.trim()));
            }
        }
        let port = port.expect("port");
        OriginProcess {
            stdin: child.stdin.take(),
            child,
            addrs: loopback_ips(n)
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            ca_der: CertificateDer::from(ca.expect("ca")),
        }
    }

    /// H2Dialer options that trust this origin's CA only.
    pub fn h2_options(&self) -> pool_tls::H2Options {
        let mut options = pool_tls::H2Options::default();
        options.tls.trust.webpki_roots = false;
        options.tls.trust.extra_ca_certs = vec![self.ca_der.clone()];
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

/// In the child (when `HOTPOOL_BENCH_ORIGIN` is set): runs the origin until stdin closes,
/// then exits the process. In the bench itself: returns at once.
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
    let origin = rt
        .block_on(H2Origin::start(H2OriginOptions::new(
            &loopback_ips(n),
            &[HOST],
            &ca,
        )))
        .expect("origin");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "port {}", origin.port());
        let _ = writeln!(out, "ca {}", to_hex(ca.ca_cert_der().as_ref()));
        let _ = out.flush();
    }
    // Until the parent closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    rt.block_on(origin.shutdown());
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
