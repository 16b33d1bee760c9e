//! The real-path bench's warm-up row: `Pool::warm` over 1,611 relay fronts at RTT 50 ms,
//! next to h2load opening as many connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::H2Dialer;
use pool_testkit::{WanOptions, WanRelay};

use super::common::{self, HOST};
use super::peers::run_until;
use super::{WARM_ADDRESSES, WARM_RTT_MS, WanPath};

/// `n` loopback addresses 127.0.40.1, 127.0.40.2, … (y in 1..=254): the warm-up row's
/// relay fronts, clear of the origin's and the matrix's addresses.
fn warm_fronts(n: usize) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            let x = u8::try_from(40 + i / 254).expect("at most 54,000 fronts");
            let y = u8::try_from(1 + i % 254).expect("1..=254");
            IpAddr::V4(Ipv4Addr::new(127, 0, x, y))
        })
        .collect()
}

/// The warm-up row: a relay with [`WARM_ADDRESSES`] fronts (each to the same origin
/// address) at [`WARM_RTT_MS`]; `Pool::warm` of a fresh `H2Dialer` pool (default options
/// but room for every address) over every front, next to `h2load -c 1611 -n 1611` (one
/// request per client, every client at once) against one front.
pub(crate) fn warm_row(rt: &tokio::runtime::Runtime, path: &WanPath, h2load: bool) -> String {
    let fronts = warm_fronts(WARM_ADDRESSES);
    let upstream = SocketAddr::new(common::loopback_ips(1)[0], path.origin.port());
    let routes: Vec<(IpAddr, SocketAddr)> = fronts.iter().map(|ip| (*ip, upstream)).collect();
    let options = WanOptions::rtt(Duration::from_millis(WARM_RTT_MS));
    let relay = match path.rt.block_on(WanRelay::start(&routes, options)) {
        Ok(relay) => relay,
        Err(e) => {
            return format!(
                "{{\"bench\":\"realpath\",\"kind\":\"warm\",\"rtt_ms\":{WARM_RTT_MS},\"addresses\":{WARM_ADDRESSES},\"skipped\":\"relay with {WARM_ADDRESSES} fronts: {e}\"}}"
            );
        }
    };
    let dialer = H2Dialer::new(pool_dial_rustls::H2Options {
        tls: pool_dial_rustls::TlsOptions {
            trust: path.trust(),
            ..pool_dial_rustls::H2Options::default().tls
        },
        ..pool_dial_rustls::H2Options::default()
    })
    .expect("h2 dialer");
    // The pool's driver task is spawned on the clients' runtime.
    let _clients = rt.enter();
    let pool = Pool::new(
        dialer,
        PoolOptions {
            max_connections: 2 * WARM_ADDRESSES,
            max_conns_per_host: 2 * WARM_ADDRESSES,
            max_idle_conns: 2 * WARM_ADDRESSES,
            ..PoolOptions::default()
        },
    )
    .expect("pool");
    pool.set_addrs(HOST, relay.socket_addrs());
    let warm_concurrency = PoolOptions::default().warm_concurrency;
    let report = rt.block_on(pool.warm(HOST));
    let hotpool_secs = report.elapsed.as_secs_f64();
    rt.block_on(pool.close());
    eprintln!(
        "realpath: warm {} of {WARM_ADDRESSES} addresses in {hotpool_secs:.2} s",
        report.ok
    );
    let peer = if h2load {
        let mut command = Command::new("h2load");
        let n = WARM_ADDRESSES.to_string();
        command
            .args(["-n", &n, "-c", &n, "-m", "1", "-t", "2"])
            .arg(format!("--connect-to={}", relay.socket_addrs()[0]))
            .arg(format!("https://{HOST}:{}/1k", relay.port()));
        let t = Instant::now();
        match run_until(command, Duration::from_secs(120)) {
            Ok(out) => {
                let wall = t.elapsed().as_secs_f64();
                let ok = out
                    .lines()
                    .find(|l| l.starts_with("requests:"))
                    .and_then(|l| l.split(',').find(|f| f.trim().ends_with("succeeded")))
                    .and_then(|f| {
                        f.split_whitespace()
                            .next()
                            .and_then(|n| n.parse::<u64>().ok())
                    })
                    .unwrap_or(0);
                format!(",\"h2load_seconds\":{wall:.3},\"h2load_succeeded\":{ok}")
            }
            Err(e) => format!(",\"h2load_skipped\":{e:?}"),
        }
    } else {
        ",\"h2load_skipped\":\"h2load not installed\"".to_owned()
    };
    path.rt.block_on(relay.shutdown());
    format!(
        "{{\"bench\":\"realpath\",\"kind\":\"warm\",\"rtt_ms\":{WARM_RTT_MS},\"addresses\":{WARM_ADDRESSES},\"warm_concurrency\":{warm_concurrency},\"warmed\":{},\"failed\":{},\"hotpool_seconds\":{hotpool_secs:.3}{peer}}}",
        report.ok, report.failed
    )
}
