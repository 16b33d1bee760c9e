//! The fleet account on a fake clock: leased slots spent in order, batches sized to the
//! worker's rate, the lease asked for once, the fallback share when the backend is lost.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn account(rate: &str) -> FleetAccount {
    FleetAccount::new(rate.parse().unwrap(), FleetRateSettings::default())
}

fn grant(granted: u32, first_in: Duration, interval: Duration, workers: u32) -> TokenGrant {
    TokenGrant {
        granted,
        first_in,
        interval,
        workers,
    }
}

#[test]
fn an_empty_account_asks_for_one_lease_and_its_waiters_get_the_slots_in_order() {
    let t0 = Instant::now();
    let mut fleet = account("100/s");
    let first = fleet.take(t0, None).unwrap();
    assert_eq!(first.decision, None, "no token before the lease");
    assert_eq!(first.lease, Some(1), "a new worker leases one token first");
    let second = fleet.take(t0, None).unwrap();
    assert_eq!(
        second,
        FleetStep {
            decision: None,
            lease: None
        },
        "one lease in flight at a time"
    );
    fleet.on_granted(t0 + MS, grant(3, 5 * MS, 10 * MS, 4));
    let now = t0 + MS;
    let slots: Vec<_> = (0..3)
        .map(|_| fleet.take(now, None).unwrap().decision.unwrap())
        .collect();
    assert_eq!(
        slots,
        [
            Decision::WaitUntil(now + 5 * MS),
            Decision::WaitUntil(now + 15 * MS),
            Decision::WaitUntil(now + 25 * MS),
        ]
    );
    let stats = fleet.stats();
    assert_eq!((stats.leases, stats.leased, stats.granted), (1, 3, 3));
    assert_eq!(stats.workers, 4);
}

#[test]
fn a_slot_past_the_deadline_is_refused_without_being_spent() {
    let t0 = Instant::now();
    let mut fleet = account("10/s");
    let _ = fleet.take(t0, None).unwrap();
    fleet.on_granted(t0, grant(1, 300 * MS, 100 * MS, 1));
    assert_eq!(
        fleet.take(t0, Some(t0 + 100 * MS)),
        Err(RateError::WouldPassDeadline { wait: 300 * MS })
    );
    assert_eq!(
        fleet.take(t0, Some(t0 + 400 * MS)).unwrap().decision,
        Some(Decision::WaitUntil(t0 + 300 * MS)),
        "the slot was kept for a request that can wait for it"
    );
    assert_eq!(fleet.stats().refused, 1);
}

#[test]
fn batches_grow_with_the_workers_rate_up_to_a_period_of_the_fleet_rate() {
    let t0 = Instant::now();
    let mut fleet = account("200/s");
    let mut now = t0;
    let mut sizes = Vec::new();
    // A worker granted everything it asks for, one request per ms (1000/s of demand).
    for _ in 0..2000 {
        let step = fleet.take(now, None).unwrap();
        if let Some(want) = step.lease {
            sizes.push(want);
            fleet.on_granted(now, grant(want, Duration::ZERO, MS, 1));
        }
        now += MS;
    }
    assert_eq!(sizes[0], 1);
    assert!(
        sizes.windows(2).any(|w| w[1] > w[0]),
        "batches grow: {sizes:?}"
    );
    assert_eq!(
        *sizes.iter().max().unwrap(),
        20,
        "never more than 100 ms of the fleet's 200/s: {sizes:?}"
    );
    assert!(
        sizes.len() < 2000 / 5,
        "far fewer leases than requests: {}",
        sizes.len()
    );
}

#[test]
fn the_next_batch_is_leased_when_half_of_the_current_one_is_left() {
    let t0 = Instant::now();
    let mut fleet = account("1000/s");
    // A worker that had 100 grants in the last 100 ms: batches of 10.
    for i in 0..100 {
        let now = t0 + i * MS;
        let step = fleet.take(now, None).unwrap();
        if let Some(want) = step.lease {
            fleet.on_granted(now, grant(want, Duration::ZERO, Duration::ZERO, 1));
        }
    }
    let now = t0 + 100 * MS;
    let mut taken = 0;
    let lease = loop {
        let step = fleet.take(now, None).unwrap();
        if step.decision.is_none() {
            panic!("ran dry before a prefetch");
        }
        taken += 1;
        if let Some(want) = step.lease {
            break want;
        }
    };
    assert!(lease >= 8, "about a period of the worker's rate: {lease}");
    fleet.on_granted(now, grant(lease, Duration::ZERO, Duration::ZERO, 1));
    assert!(taken >= 1);
    assert!(
        fleet.take(now, None).unwrap().decision.is_some(),
        "the prefetched batch is there before the old one ran out"
    );
}

#[test]
fn a_lost_backend_falls_back_to_the_share_of_the_last_known_workers_without_waiting() {
    let t0 = Instant::now();
    let mut fleet = account("100/s");
    let _ = fleet.take(t0, None).unwrap();
    fleet.on_granted(t0, grant(1, Duration::ZERO, 10 * MS, 4));
    let spent = fleet.take(t0, None).unwrap();
    assert_eq!(spent.decision, Some(Decision::Ready));
    assert!(
        spent.lease.is_some(),
        "the last slot taken: the next batch is asked for"
    );
    let step = fleet.take(t0, None).unwrap();
    assert_eq!(
        step,
        FleetStep {
            decision: None,
            lease: None
        },
        "waiting for it"
    );
    // That lease fails: the host goes on 100/s ÷ 4 workers = 25/s, paced locally.
    fleet.on_failed(t0 + MS);
    assert!(fleet.on_fallback());
    assert_eq!(fleet.share(), 25.0);
    let now = t0 + MS;
    let slots: Vec<_> = (0..3).map(|_| fleet.take(now, None).unwrap()).collect();
    assert_eq!(slots[0].decision, Some(Decision::Ready));
    assert_eq!(slots[1].decision, Some(Decision::WaitUntil(now + 40 * MS)));
    assert_eq!(slots[2].decision, Some(Decision::WaitUntil(now + 80 * MS)));
    assert!(
        slots.iter().all(|s| s.lease.is_none()),
        "no lease before the retry interval"
    );
    // After the retry interval a lease is tried in the background: the request still goes.
    let later = now + FleetRateSettings::default().retry;
    let step = fleet.take(later, None).unwrap();
    assert!(step.decision.is_some(), "never blocked on the backend");
    assert!(step.lease.is_some(), "a lease is tried again");
    fleet.on_failed(later);
    let step = fleet.take(later + MS, None).unwrap();
    assert!(step.decision.is_some() && step.lease.is_none());
    let stats = fleet.stats();
    assert_eq!(stats.failures, 2);
    assert_eq!(stats.fallback_granted, 5);
    assert!(stats.on_fallback);
    // A granted lease ends the fallback.
    fleet.on_granted(later + 2 * MS, grant(2, Duration::ZERO, 10 * MS, 4));
    assert!(!fleet.on_fallback());
    assert_eq!(
        fleet.take(later + 2 * MS, None).unwrap().decision,
        Some(Decision::Ready)
    );
    assert_eq!(fleet.stats().fallback_granted, 5);
}

#[test]
fn a_backend_never_reached_falls_back_to_the_whole_rate() {
    let t0 = Instant::now();
    let mut fleet = account("50/s");
    let _ = fleet.take(t0, None).unwrap();
    fleet.on_failed(t0);
    assert_eq!(fleet.share(), 50.0, "one worker known: itself");
    assert_eq!(fleet.stats().workers, 1);
}

#[test]
fn slots_left_unused_for_longer_than_stale_are_dropped() {
    let t0 = Instant::now();
    let mut fleet = account("100/s");
    let _ = fleet.take(t0, None).unwrap();
    fleet.on_granted(t0, grant(10, Duration::ZERO, 10 * MS, 1));
    // Quiet for 1.05 s: the first six slots (t0 .. t0 + 50 ms) are more than 1 s old.
    let now = t0 + Duration::from_millis(1050);
    let step = fleet.take(now, None).unwrap();
    assert_eq!(step.decision, Some(Decision::Ready));
    assert_eq!(fleet.stats().expired, 6);
    assert_eq!(fleet.stats().granted, 1);
}

#[test]
fn a_lease_granting_nothing_leaves_the_waiters_asking_again() {
    let t0 = Instant::now();
    let mut fleet = account("100/s");
    let _ = fleet.take(t0, None).unwrap();
    fleet.on_granted(t0, grant(0, Duration::ZERO, 10 * MS, 2));
    let step = fleet.take(t0, None).unwrap();
    assert_eq!(step.decision, None);
    assert_eq!(step.lease, Some(1), "asked again");
}
