//! What the fleet-rate tests and `tests/benches/fleet_rate.rs` share: an HTTP/2 origin that
//! counts the requests it answers, workers (each its own pool, `HostRates` and
//! `RedisRates`, as separate processes would have), their load, and the rate the origin
//! saw.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use pool_core::{FleetRateStats, Pool, PoolOptions, RateLimit};
use pool_dial_rustls::{H2Dialer, H2Options, Trust};
use pool_http::{Empty, HostRates, Polite, RequestOptions, StatusRetry, send_polite};
use pool_redis::{FleetConfig, RedisRates, RedisUrl};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};
use tokio::time::Instant;

/// The host every worker loads.
pub const HOST: &str = "fleetrate.test";
/// The key prefix of the fleet.
pub const PREFIX: &str = "fleetrate-test:";
/// Requests each worker keeps in flight: far more demand than any rate here.
pub const CONCURRENCY: usize = 8;

/// An HTTP/2 origin for [`HOST`] on 127.0.0.151 and .152.
pub async fn origin(ca: &Arc<TestCa>) -> H2Origin {
    origin_on(ca, 151, 152).await
}

/// An HTTP/2 origin for [`HOST`] on 127.0.0.`a` and 127.0.0.`b`.
pub async fn origin_on(ca: &Arc<TestCa>, a: u8, b: u8) -> H2Origin {
    let ips = [IpAddr::from([127, 0, 0, a]), IpAddr::from([127, 0, 0, b])];
    H2Origin::start(H2OriginOptions::new(&ips, &[HOST], ca))
        .await
        .unwrap()
}

/// The fleet at `redis_url` under [`PREFIX`], as worker `worker`.
pub fn fleet_config(redis_url: &str, worker: &str) -> FleetConfig {
    let mut cfg = FleetConfig::new(RedisUrl::parse(redis_url).unwrap());
    cfg.prefix = PREFIX.into();
    cfg.worker = worker.into();
    cfg
}

/// One worker of the fleet: its own pool of the origin and its own fleet rate client.
pub struct Worker {
    /// Its pool.
    pub pool: Arc<Pool<H2Dialer>>,
    /// Its politeness (no status retries: every request is sent once).
    pub polite: Arc<Polite>,
    /// Its rates: [`HOST`] with the fleet rate.
    pub rates: Arc<HostRates>,
}

impl Worker {
    /// Worker `i` of the fleet at `redis_url`, [`HOST`]'s fleet rate `rate`, warmed.
    pub async fn start(
        origin: &H2Origin,
        ca: &TestCa,
        redis_url: &str,
        i: usize,
        rate: RateLimit,
    ) -> Self {
        let fleet = fleet_config(redis_url, &format!("rate-w{i}"));
        Self::join(&origin.socket_addrs(), &ca.ca_cert_der(), &fleet, rate).await
    }

    /// A worker of the fleet `fleet` (any mode; its worker id unique) loading [`HOST`] at
    /// `addrs`, trusting the CA certificate `ca_der`, [`HOST`]'s fleet rate `rate`; warmed.
    /// What a worker in another process starts from.
    pub async fn join(
        addrs: &[SocketAddr],
        ca_der: &[u8],
        fleet: &FleetConfig,
        rate: RateLimit,
    ) -> Self {
        let mut options = H2Options::default();
        options.tls.trust = Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca_der.to_vec()],
            ..Trust::default()
        };
        options.tls.conn_timeout = Duration::from_secs(5);
        let pool = Pool::new(H2Dialer::new(options).unwrap(), PoolOptions::default()).unwrap();
        pool.set_addrs(HOST, addrs.iter().copied());
        pool.warm(HOST).await;
        let tokens = RedisRates::new(fleet).unwrap();
        let rates = Arc::new(HostRates::new(None, None).with_fleet(tokens));
        rates.set_fleet_host(HOST, Some(rate));
        let polite = Arc::new(Polite::new(Some(rates.clone()), StatusRetry::off()));
        Self {
            pool: Arc::new(pool),
            polite,
            rates,
        }
    }

    /// Its fleet account's counters.
    pub fn stats(&self) -> FleetRateStats {
        self.rates.fleet_stats(HOST).unwrap()
    }
}

/// Requests from every worker, [`CONCURRENCY`] at a time each, until `done`; those that
/// did not end in a 200 are counted in `failed`.
pub fn load(
    workers: &[Worker],
    done: &Arc<AtomicBool>,
    failed: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for w in workers {
        for _ in 0..CONCURRENCY {
            let (pool, polite, done, failed) = (
                w.pool.clone(),
                w.polite.clone(),
                done.clone(),
                failed.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let options = RequestOptions::default();
                while !done.load(Ordering::SeqCst) {
                    let request = Request::get(format!("https://{HOST}/item"))
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    match send_polite(&*pool, &polite, HOST, request, &options).await {
                        Ok(response) if response.status() == 200 => {
                            let _ = response.into_body().collect(1 << 16).await;
                        }
                        Ok(response) => {
                            eprintln!("answered {}", response.status());
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            eprintln!("failed: {e}");
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
    }
    tasks
}

/// The requests the origin answered over `window`, and their rate (requests/s).
pub async fn origin_rate(origin: &H2Origin, window: Duration) -> (u64, f64) {
    let (before, start) = (origin.stats().requests, Instant::now());
    tokio::time::sleep(window).await;
    let (after, elapsed) = (origin.stats().requests, start.elapsed());
    let n = after - before;
    (n, n as f64 / elapsed.as_secs_f64())
}
