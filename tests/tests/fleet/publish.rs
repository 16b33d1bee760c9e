//! The publish queue: publishing never waits on Redis; what does not fit the bounded queue
//! is dropped and counted, and what fits is published.

use std::net::SocketAddr;
use std::time::Duration;

use pool_core::{BlacklistReason, FleetBan, FleetEvent, SharedState};
use pool_redis::RedisFleet;
use pool_testkit::RedisServer;

use crate::rig::{self, WAIT};

const PREFIX: &str = "publish:";

fn ban(n: u16) -> FleetEvent {
    FleetEvent::Ban(FleetBan {
        host: "publish.test".into(),
        addr: SocketAddr::from(([127, 0, 0, 176], 1000 + n)),
        reason: BlacklistReason::Banned,
        retestable: true,
        ttl: Duration::from_secs(600),
    })
}

/// A burst of bans past `queue`: exactly `queue` are kept and published (their keys are in
/// Redis), the rest are dropped and counted in `dropped_queue_full`.
///
/// On a current-thread runtime the backend's publisher task runs only when the test
/// awaits, so the burst (no await in it) meets a queue nobody drains: the split is exact.
#[tokio::test(flavor = "current_thread")]
async fn a_full_publish_queue_drops_and_counts_what_does_not_fit() {
    const QUEUE: usize = 4;
    const BURST: usize = 20;
    let redis = RedisServer::start().unwrap();
    let mut cfg = rig::fleet_config(&redis, PREFIX);
    cfg.queue = QUEUE;
    let fleet = RedisFleet::start(cfg).unwrap();

    for n in 0..BURST {
        fleet.publish(ban(n as u16));
    }
    let stats = fleet.stats();
    assert_eq!(
        stats.dropped_queue_full,
        (BURST - QUEUE) as u64,
        "{stats:?}"
    );

    assert!(fleet.flush(WAIT).await, "the queued bans are published");
    let stats = fleet.stats();
    assert_eq!(stats.published, QUEUE as u64, "{stats:?}");
    assert_eq!(
        stats.dropped_queue_full,
        (BURST - QUEUE) as u64,
        "{stats:?}"
    );
    let mut conn = rig::redis_conn(&redis).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{PREFIX}ban:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let expected: Vec<String> = (0..QUEUE)
        .map(|n| format!("{PREFIX}ban:{{publish.test}}:127.0.0.176:{}", 1000 + n))
        .collect();
    assert_eq!(keys, expected, "the first {QUEUE} bans, in Redis");
}
