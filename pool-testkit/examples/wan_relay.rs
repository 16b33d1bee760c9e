//! A WAN path in front of any local server, for trying clients at a real round trip:
//!
//! ```text
//! cargo run --release -p pool-testkit --example wan_relay -- \
//!     --rtt 50ms [--bandwidth BYTES_PER_SEC] [--loss 0.01] FRONT=UPSTREAM ...
//! ```
//!
//! Each `FRONT=UPSTREAM` pair (`127.0.0.50=127.0.0.5:443`) relays TCP and UDP from the
//! front address (a loopback address; one port shared by every front, printed at start)
//! to the upstream. Runs until Ctrl-C. Loopback fronts only: the relay refuses others.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pool_testkit::{WanOptions, WanRelay};

fn usage() -> ! {
    eprintln!(
        "usage: wan_relay --rtt DURATION [--port N] [--bandwidth BYTES_PER_SEC] [--loss P] FRONT=UPSTREAM ..."
    );
    std::process::exit(2)
}

fn parse_duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    s.strip_suffix('s')
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut options = WanOptions::default();
    let mut routes: Vec<(IpAddr, SocketAddr)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rtt" => {
                let rtt = args.next().and_then(|s| parse_duration(&s));
                options.one_way_delay = rtt.unwrap_or_else(|| usage()) / 2;
            }
            "--bandwidth" => {
                let bw = args.next().and_then(|s| s.parse().ok());
                options = options.with_bandwidth(bw.unwrap_or_else(|| usage()));
            }
            "--loss" => {
                let loss = args.next().and_then(|s| s.parse().ok());
                options = options.with_loss(loss.unwrap_or_else(|| usage()));
            }
            route => {
                let Some((front, upstream)) = route.split_once('=') else {
                    usage()
                };
                let front: IpAddr = front.parse().unwrap_or_else(|_| usage());
                let upstream: SocketAddr = upstream.parse().unwrap_or_else(|_| usage());
                if !front.is_loopback() {
                    eprintln!("wan_relay: front {front} is not a loopback address");
                    std::process::exit(2);
                }
                routes.push((front, upstream));
            }
        }
    }
    if routes.is_empty() {
        usage();
    }
    let relay = WanRelay::start(&routes, options).await?;
    println!(
        "relaying on port {} (RTT {:?}, bandwidth {:?}, loss {}):",
        relay.port(),
        options.one_way_delay * 2,
        options.bandwidth,
        options.loss
    );
    for ((front, upstream), addr) in routes.iter().zip(relay.socket_addrs()) {
        println!("  {addr} -> {upstream}  (front {front})");
    }
    tokio::signal::ctrl_c().await?;
    let stats = relay.stats();
    println!("{stats:?}");
    relay.shutdown().await;
    Ok(())
}
