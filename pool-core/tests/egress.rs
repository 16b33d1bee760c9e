//! `EgressSet` on a fake dialer and a paused clock: an egress whose dials fail as its proxy's
//! fault is benched 1 s, then 2 s, … and tried again after; requests spread over the
//! usable egresses only; the counters per egress are recorded. (The same over real proxies:
//! `tests/tests/proxy.rs`.)

#![cfg(not(hotpool_shuttle))]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pool_core::{
    Connection, DialError, DialErrorKind, Dialer, EgressRotation, EgressSet, Pool, PoolOptions,
    Target,
};

const HOST: &str = "example.test";

/// A recorded metric: name, labels, value (as `Debug`).
type Recorded = (String, Vec<(String, String)>, String);

struct Conn;

impl Connection for Conn {
    fn capacity(&self) -> usize {
        8
    }
    fn is_closed(&self) -> bool {
        false
    }
    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }
}

/// Dials succeed, or fail as the proxy's fault while `proxy_down` is set.
#[derive(Clone, Default)]
struct Exit {
    proxy_down: Arc<AtomicBool>,
}

impl Dialer for Exit {
    type Conn = Conn;

    async fn dial(&self, _: &Target) -> Result<Conn, DialError> {
        if self.proxy_down.load(Ordering::SeqCst) {
            return Err(DialError::new(
                DialErrorKind::Proxy,
                "proxy refused the tunnel",
            ));
        }
        Ok(Conn)
    }
}

fn pool(exit: &Exit) -> Pool<Exit> {
    let options = PoolOptions {
        health_check_interval: None,
        keep_warm: false,
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    };
    Pool::new(exit.clone(), options).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_failing_egress_is_benched_doubling_and_tried_again_after() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();

    let (good, bad) = (Exit::default(), Exit::default());
    bad.proxy_down.store(true, Ordering::SeqCst);
    let set = EgressSet::new(
        [("good", pool(&good)), ("bad", pool(&bad))],
        EgressRotation::RoundRobin,
    );
    set.set_addrs(HOST, [SocketAddr::from(([127, 0, 0, 2], 443))]);

    // Every request is served; the bad egress is tried once, then benched 1 s.
    for _ in 0..4 {
        assert_eq!(&*set.get(HOST).await.unwrap().egress, "good");
    }
    let bench = |set: &EgressSet<Exit>| {
        let bad = set
            .egresses()
            .into_iter()
            .find(|s| &*s.label == "bad")
            .unwrap();
        (
            bad.benched_until.map(|u| u - tokio::time::Instant::now()),
            bad.benched_total,
        )
    };
    let (left, total) = bench(&set);
    assert_eq!(total, 1);
    assert!(
        left.is_some_and(|l| l <= Duration::from_secs(1)),
        "{left:?}"
    );

    // After the bench the bad egress is tried again: still down, benched 2 s.
    tokio::time::advance(Duration::from_millis(1001)).await;
    for _ in 0..2 {
        assert_eq!(&*set.get(HOST).await.unwrap().egress, "good");
    }
    let (left, total) = bench(&set);
    assert_eq!(total, 2);
    assert!(
        left.is_some_and(|l| l > Duration::from_secs(1) && l <= Duration::from_secs(2)),
        "{left:?}"
    );

    // Back up: after its bench it serves again, and requests alternate.
    bad.proxy_down.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(2)).await;
    let mut via_bad = 0;
    for _ in 0..4 {
        via_bad += usize::from(&*set.get(HOST).await.unwrap().egress == "bad");
    }
    assert_eq!(via_bad, 2);
    assert_eq!(bench(&set).0, None);

    set.record_metrics();
    let values: Vec<Recorded> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()));
            (
                key.key().name().to_owned(),
                labels.collect(),
                format!("{value:?}"),
            )
        })
        .collect();
    let find = |name: &str, labels: &[(&str, &str)]| {
        values.iter().find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    };
    let benched = find(
        pool_core::metrics::EGRESS_BENCHED_TOTAL,
        &[("egress", "bad")],
    );
    assert!(
        benched.is_some_and(|(_, _, v)| v == "Counter(2)"),
        "{benched:?}"
    );
    let failures = find(
        pool_core::metrics::EGRESS,
        &[("egress", "bad"), ("what", "dial_failures")],
    );
    assert!(
        failures.is_some_and(|(_, _, v)| v.contains("2.0")),
        "{failures:?}"
    );
    set.close().await;
}
