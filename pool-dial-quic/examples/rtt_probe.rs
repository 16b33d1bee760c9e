//! HTTP/3 at a real round trip: the testkit's H3 origin behind its WAN relay, timed with
//! quinn's own transport defaults against the pool's (`docs/quic-tuning.md`).
//!
//! ```text
//! cargo run --release -p pool-dial-quic --example rtt_probe -- [RTT_MS ...]
//! ```
//!
//! For each RTT (default 50) and each setting it prints: one 20 MB body on a hot
//! connection (seconds, MB/s), 100 KB bodies with 64 in flight (req/s over 640 requests),
//! and the cold dial (QUIC handshake) time; then dial times through the same path losing
//! 10 % of datagrams. Not a test: figures vary with the machine.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool_core::{Dialer, Pool, PoolOptions, Target};
use pool_dial_quic::{Congestion, QuicDialer, QuicOptions, Trust};
use pool_http::Empty;
use pool_testkit::{H3Origin, H3OriginOptions, TestCa, WanOptions, WanRelay};

const HOST: &str = "rtt.test";
const BIG: usize = 20_000_000;
const SMALL: usize = 100_000;
const IN_FLIGHT: usize = 64;
const SMALL_REQUESTS: usize = 640;
const LOSSY_DIALS: usize = 40;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

async fn fetch(pool: &Pool<QuicDialer>, path: &str) -> Result<usize, Error> {
    let response = pool_http::send(pool, HOST, get(path)).await?;
    Ok(response.into_body().bytes().await?.len())
}

struct Figures {
    big: Duration,
    small_rate: f64,
    dial: Duration,
}

async fn measure(options: QuicOptions, relay: &WanRelay, front: IpAddr) -> Result<Figures, Error> {
    // The cold dial: a QUIC handshake through the relay (median of 5).
    let dialer = QuicDialer::new(options.clone())?;
    let target = Target {
        host: HOST.into(),
        addr: relay.socket_addr(front),
    };
    let mut dials = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let conn = dialer.dial(&target).await?;
        dials.push(started.elapsed());
        drop(conn);
    }
    dials.sort();

    let pool = Arc::new(Pool::new(
        QuicDialer::new(options)?,
        PoolOptions {
            checkout_timeout: Duration::from_secs(60),
            ..PoolOptions::default()
        },
    )?);
    pool.set_addrs(HOST, vec![relay.socket_addr(front)]);
    // Hot: the connection is open (and past its first round trips) before timing.
    fetch(&pool, "/").await?;
    fetch(&pool, &format!("/bytes/{SMALL}")).await?;

    let started = Instant::now();
    assert_eq!(fetch(&pool, &format!("/bytes/{BIG}")).await?, BIG);
    let big = started.elapsed();

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (pool, next) = (pool.clone(), next.clone());
        workers.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < SMALL_REQUESTS {
                assert_eq!(fetch(&pool, &format!("/bytes/{SMALL}")).await?, SMALL);
            }
            Ok::<(), Error>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let small_rate = SMALL_REQUESTS as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(Figures {
        big,
        small_rate,
        dial: dials[dials.len() / 2],
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let rtts: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let rtts = if rtts.is_empty() { vec![50] } else { rtts };
    let ca = Arc::new(TestCa::new()?);
    let origin = H3Origin::start(H3OriginOptions::new(
        &[IpAddr::from([127, 0, 0, 90])],
        &[HOST],
        &ca,
    ))
    .await?;
    let front = IpAddr::from([127, 0, 0, 91]);
    let base = QuicOptions {
        trust: Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
            ..Trust::default()
        },
        conn_timeout: Duration::from_secs(10),
        ..QuicOptions::default()
    };
    let settings: Vec<(&str, QuicOptions)> = vec![
        ("quinn defaults", base.clone().with_quinn_defaults()),
        ("pool defaults", base.clone()),
        (
            "pool, stream window 16 MiB / conn 32 MiB",
            QuicOptions {
                stream_receive_window: 16 << 20,
                receive_window: 32 << 20,
                ..base.clone()
            },
        ),
        (
            "pool, BBR",
            QuicOptions {
                congestion: Congestion::Bbr,
                ..base.clone()
            },
        ),
    ];
    println!("| RTT | setting | 20 MB body | 100 KB x 64 in flight | cold dial (median of 5) |");
    println!("|---|---|---|---|---|");
    for rtt in rtts {
        let relay = WanRelay::start(
            &[(front, origin.socket_addrs()[0])],
            WanOptions::rtt(Duration::from_millis(rtt)),
        )
        .await?;
        for (name, options) in &settings {
            let f = measure(options.clone(), &relay, front).await?;
            println!(
                "| {rtt} ms | {name} | {:.2} s ({:.1} MB/s) | {:.0} req/s | {:.0} ms |",
                f.big.as_secs_f64(),
                BIG as f64 / 1e6 / f.big.as_secs_f64(),
                f.small_rate,
                f.dial.as_secs_f64() * 1e3
            );
        }
        // The initial RTT only matters when a handshake packet is lost: dials through a
        // path losing 10 % of datagrams (seeded), quinn's 333 ms against the pool's 100 ms.
        relay.set_options(WanOptions::rtt(Duration::from_millis(rtt)).with_loss(0.1));
        for (name, options) in settings.iter().take(2) {
            let dialer = QuicDialer::new(options.clone())?;
            let target = Target {
                host: HOST.into(),
                addr: relay.socket_addr(front),
            };
            let mut times = Vec::new();
            for _ in 0..LOSSY_DIALS {
                let started = Instant::now();
                if dialer.dial(&target).await.is_ok() {
                    times.push(started.elapsed());
                }
            }
            times.sort();
            let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
            println!(
                "| {rtt} ms, 10 % loss | {name}: {} dials ok of {LOSSY_DIALS} | p50 {:.0} ms | p90 {:.0} ms | max {:.0} ms |",
                times.len(),
                at(0.5),
                at(0.9),
                at(1.0)
            );
        }
        relay.shutdown().await;
    }
    origin.shutdown().await;
    Ok(())
}
