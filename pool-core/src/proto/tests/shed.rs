//! Memory-pressure shedding in the state machine, with injected readings and the fake
//! clock: episodes, hysteresis, what is shed (idle only, least recently used first), the
//! counts, and the options' rules.

use super::*;
use crate::options::OptionsError;

const MIB: u64 = 1024 * 1024;

fn shed_opts() -> PoolOptions {
    PoolOptions {
        max_idle_conns: 10,
        memory_limit: Some(100 * MIB),
        memory_low_water: Some(80 * MIB),
        shed_fraction: 0.5,
        ..opts()
    }
}

/// A harness with one idle connection on each of `n` addresses (tags 1..=n, 1 the least
/// recently used).
fn with_idle(opts: PoolOptions, n: u8) -> Harness {
    let mut h = Harness::new(opts);
    let addrs: Vec<_> = (2..2 + n).map(addr).collect();
    h.set_addrs(HOST, &addrs);
    h.warm(HOST, 1);
    assert_eq!(h.s.stats().idle, usize::from(n));
    h
}

impl Harness {
    fn reading(&mut self, mib: u64) -> Pressure {
        let p = self.s.handle_memory_reading(mib * MIB, self.now);
        self.pump();
        p
    }
}

#[test]
fn off_by_default_no_reading_sheds() {
    let mut h = with_idle(
        PoolOptions {
            max_idle_conns: 10,
            ..opts()
        },
        4,
    );
    assert_eq!(h.reading(u64::MAX / MIB), Pressure::Calm);
    assert!(!h.s.is_shedding());
    assert!(h.closed.is_empty());
    assert_eq!(h.s.stats().shed_episodes, 0);
}

#[test]
fn above_the_limit_sheds_the_oldest_idle_share_until_below_the_low_water_mark() {
    let mut h = with_idle(shed_opts(), 8);
    assert_eq!(
        h.reading(100),
        Pressure::Calm,
        "at the limit is not above it"
    );
    let started = h.now;
    assert_eq!(
        h.reading(101),
        Pressure::Shedding {
            closed: 4,
            started: true
        }
    );
    assert!(h.s.is_shedding());
    let tags: Vec<u32> = h.closed.iter().map(|c| c.0).collect();
    assert_eq!(tags, vec![1, 2, 3, 4], "least recently used first");
    assert!(h.closed.iter().all(|c| c.1 == CloseReason::Shed));
    // Below the limit but above the low-water mark: the episode goes on.
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.reading(90),
        Pressure::Shedding {
            closed: 2,
            started: false
        }
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.reading(80),
        Pressure::Shedding {
            closed: 1,
            started: false
        },
        "at the low-water mark is not below it"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.reading(79),
        Pressure::Relieved {
            closed: 7,
            lasted: h.now - started
        }
    );
    assert!(!h.s.is_shedding());
    // Between the marks with no episode under way: nothing happens.
    assert_eq!(h.reading(95), Pressure::Calm);
    let stats = h.s.stats();
    assert_eq!(stats.idle, 1);
    assert_eq!(stats.memory_shed_total, 7);
    assert_eq!(stats.shed_episodes, 1);
    assert_eq!(stats.closed_for(CloseReason::Shed), 7);
}

#[test]
fn leased_connections_are_never_shed_and_episodes_are_counted() {
    let mut h = with_idle(shed_opts(), 4);
    let leased = h.ready(HOST);
    assert_eq!(h.s.stats().idle, 3);
    for _ in 0..4 {
        h.reading(200);
        h.advance(Duration::from_millis(100));
    }
    assert_eq!(h.closed.len(), 3, "every idle one, none leased");
    assert!(h.s.conn_info(leased).is_some());
    assert_eq!(
        h.reading(200),
        Pressure::Shedding {
            closed: 0,
            started: false
        }
    );
    h.release(leased, Outcome::Success);
    assert!(matches!(
        h.reading(10),
        Pressure::Relieved { closed: 3, .. }
    ));
    // A second episode sheds the connection released since.
    assert_eq!(
        h.reading(101),
        Pressure::Shedding {
            closed: 1,
            started: true
        }
    );
    let stats = h.s.stats();
    assert_eq!((stats.shed_episodes, stats.memory_shed_total), (2, 4));
}

#[test]
fn a_shed_connection_is_dialed_again_on_demand() {
    let mut h = with_idle(shed_opts(), 1);
    h.reading(150);
    assert_eq!(h.s.stats().connections, 0);
    h.reading(50);
    let w = h.waits(HOST);
    let d = h.next_dial();
    let id = h.dial_ok(&d, 1).expect("admitted");
    assert_eq!(h.grants, vec![(w, id)]);
}

#[test]
fn the_low_water_mark_defaults_to_90_percent_and_the_options_are_checked() {
    let o = PoolOptions {
        memory_limit: Some(1000),
        ..PoolOptions::default()
    };
    assert_eq!(o.memory_low_water_or_default(), Some(900));
    assert!(o.problems().is_empty());
    assert_eq!(PoolOptions::default().memory_low_water_or_default(), None);
    // Off: the other shedding options are not checked.
    let off = PoolOptions {
        shed_fraction: 0.0,
        ..PoolOptions::default()
    };
    assert!(off.problems().is_empty());
    for bad in [0.0, -0.5, 1.5, f64::NAN] {
        let p = PoolOptions {
            shed_fraction: bad,
            ..o.clone()
        }
        .problems();
        assert_eq!(p.len(), 1, "{bad}: {p:?}");
        assert_eq!(p[0].key(), "shed_fraction");
    }
    let p = PoolOptions {
        memory_low_water: Some(1001),
        ..o.clone()
    }
    .problems();
    assert_eq!(
        p,
        vec![OptionsError::Exceeds {
            key: "memory_low_water",
            value: 1001,
            limit_key: "memory_limit",
            limit: 1000
        }]
    );
    let p = PoolOptions {
        memory_limit: Some(0),
        memory_check_interval: Duration::ZERO,
        ..PoolOptions::default()
    }
    .problems();
    let keys: Vec<_> = p.iter().map(OptionsError::key).collect();
    assert_eq!(keys, vec!["memory_limit", "memory_check_interval"]);
}

#[test]
fn with_the_default_low_water_mark_an_episode_ends_below_90_percent() {
    let mut h = with_idle(
        PoolOptions {
            memory_low_water: None,
            shed_fraction: 0.2,
            ..shed_opts()
        },
        10,
    );
    assert!(matches!(
        h.reading(101),
        Pressure::Shedding { closed: 2, .. }
    ));
    assert!(matches!(
        h.reading(91),
        Pressure::Shedding { closed: 2, .. }
    ));
    assert!(matches!(
        h.reading(89),
        Pressure::Relieved { closed: 4, .. }
    ));
}

#[test]
fn an_idle_connection_a_waiter_needs_is_not_shed_but_granted() {
    // A lane return (no lock, no state machine step) can leave a connection idle just as a
    // waiter is queued; shedding it then would leave the waiter with nothing to be served
    // by (found by the shuttle model: a blocked `get`).
    let mut h = Harness::new(opts());
    h.set_addrs(HOST, &[addr(2)]);
    let id = h.warm(HOST, 1)[0];
    assert_eq!(h.ready(HOST), id);
    let w = h.waits(HOST);
    let gauge = h.s.gauge(id).unwrap();
    assert!(
        gauge.try_return(1, 0, crate::proto::Use::Success, true),
        "the lane's return"
    );
    assert_eq!(h.s.shed(1.0), 0, "not shed");
    h.pump();
    assert_eq!(h.grants, vec![(w, id)], "granted to the waiter instead");
    assert!(h.closed.is_empty());
}
