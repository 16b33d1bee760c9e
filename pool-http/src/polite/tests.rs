//! The fleet-rate seam of [`HostRates`] on tokio's paused clock, with an in-memory fleet
//! backend (one GCRA for every `HostRates` sharing it, as Redis keeps): two workers share
//! one rate, a lost backend leaves each on its share without blocking, and the gauges and
//! counters carry the host.

use std::sync::atomic::{AtomicBool, AtomicU64};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use pool_core::fleet::FleetFuture;
use pool_core::{FleetTokensError, TokenGrant};

use super::*;

const HOST: &str = "fleet.test";

/// The fleet's next free slot, shared by every worker leasing from it.
#[derive(Debug)]
struct MemoryFleet {
    tat: Mutex<Option<std::time::Instant>>,
    up: AtomicBool,
    leases: AtomicU64,
    workers: u32,
}

impl MemoryFleet {
    fn new(workers: u32) -> Arc<Self> {
        Arc::new(Self {
            tat: Mutex::new(None),
            up: AtomicBool::new(true),
            leases: AtomicU64::new(0),
            workers,
        })
    }
}

impl FleetTokens for MemoryFleet {
    fn lease(
        &self,
        _host: &str,
        limit: RateLimit,
        want: u32,
    ) -> FleetFuture<'_, Result<TokenGrant, pool_core::FleetTokensError>> {
        Box::pin(async move {
            // A round trip.
            tokio::time::sleep(Duration::from_micros(300)).await;
            if !self.up.load(Ordering::SeqCst) {
                return Err(FleetTokensError("down".into()));
            }
            self.leases.fetch_add(1, Ordering::SeqCst);
            let now = Instant::now().into_std();
            let interval = limit.per() / limit.requests();
            let mut tat = lock(&self.tat);
            let first = tat.map_or(now, |t| t.max(now));
            *tat = Some(first + interval * want);
            Ok(TokenGrant {
                granted: want,
                first_in: first - now,
                interval,
                workers: self.workers,
            })
        })
    }
}

fn worker(fleet: &Arc<MemoryFleet>, limit: &str) -> Arc<HostRates> {
    let rates = HostRates::new(None, None).with_fleet(fleet.clone());
    rates.set_fleet_host(HOST, Some(limit.parse().unwrap()));
    Arc::new(rates)
}

/// `n` requests of `rates`, all asking at once; when each got its slot, from `start`.
async fn burst(rates: &Arc<HostRates>, n: usize, start: Instant) -> Vec<Duration> {
    let deadline = start + Duration::from_secs(60);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let rates = rates.clone();
            tokio::spawn(async move {
                rates.acquire(HOST, deadline).await.expect("a slot");
                Instant::now() - start
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await.unwrap());
    }
    times.sort();
    times
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn two_workers_share_one_fleet_rate_with_a_lease_per_batch_not_per_request() {
    runtime().block_on(async {
        let fleet = MemoryFleet::new(2);
        let (a, b) = (worker(&fleet, "100/s"), worker(&fleet, "100/s"));
        let start = Instant::now();
        let (ta, tb) = tokio::join!(burst(&a, 50, start), burst(&b, 50, start));
        let mut all: Vec<_> = ta.into_iter().chain(tb).collect();
        all.sort();
        // 100 requests at 100/s for the two: the last goes about a second after the first.
        let span = *all.last().unwrap() - all[0];
        assert!(
            span >= Duration::from_millis(980),
            "the fleet's rate held for both workers: 100 requests in {span:?}"
        );
        for pair in all.windows(2) {
            assert!(
                pair[1] - pair[0] <= Duration::from_millis(50),
                "no stall: {pair:?}"
            );
        }
        let leases = fleet.leases.load(Ordering::SeqCst);
        assert!(leases < 40, "{leases} leases for 100 requests");
        let stats = a.fleet_stats(HOST).unwrap();
        assert_eq!(stats.granted + stats.fallback_granted, 50);
        assert_eq!(stats.workers, 2);
        assert!(!stats.on_fallback);
    });
}

#[test]
fn a_lost_fleet_leaves_each_worker_on_its_share_and_it_is_counted_per_host() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            let fleet = MemoryFleet::new(4);
            let rates = worker(&fleet, "100/s");
            rates.set_host(HOST, Some("1000/s".parse().unwrap()));
            let start = Instant::now();
            burst(&rates, 5, start).await;
            fleet.up.store(false, Ordering::SeqCst);
            // On the share: 100/s ÷ 4 workers = 25/s, i.e. 40 ms apart, and nothing blocks.
            let start = Instant::now();
            let times = burst(&rates, 20, start).await;
            let span = *times.last().unwrap() - times[0];
            let stats = rates.fleet_stats(HOST).unwrap();
            assert!(stats.on_fallback, "{stats:?}");
            assert!(stats.failures >= 1);
            // The slots leased before it was lost go first, the rest on the share.
            let on_share = u32::try_from(stats.fallback_granted).unwrap();
            assert!(on_share >= 10, "{stats:?}");
            assert!(
                span >= Duration::from_millis(40) * (on_share - 1)
                    && span <= Duration::from_secs(1),
                "{on_share} requests at 25/s: {span:?}"
            );
        });
    });
    let mut seen = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let value = match value {
            DebugValue::Counter(n) => n as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(v) => v.len() as f64,
        };
        seen.insert(format!("{}{{{}}}", key.name(), labels.join(",")), value);
    }
    let host = format!("host={HOST}");
    assert_eq!(seen[&format!("{FLEET_RATE_CONFIGURED}{{{host}}}")], 100.0);
    assert_eq!(seen[&format!("{RATE_CONFIGURED}{{{host}}}")], 1000.0);
    assert_eq!(seen[&format!("{RATE_CURRENT}{{{host}}}")], 1000.0);
    assert_eq!(seen[&format!("{FLEET_RATE_WORKERS}{{{host}}}")], 4.0);
    assert!(seen[&format!("{FLEET_RATE_FALLBACK_TOTAL}{{{host}}}")] >= 10.0);
    assert!(seen[&format!("{FLEET_RATE_LEASES_TOTAL}{{{host},outcome=failed}}")] >= 1.0);
    assert!(seen[&format!("{FLEET_RATE_LEASES_TOTAL}{{{host},outcome=granted}}")] >= 1.0);
    assert!(seen[&format!("{RATE_WAITS_TOTAL}{{{host},scope=fleet}}")] >= 10.0);
}
