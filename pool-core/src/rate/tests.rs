//! The rate, its pacing and its adaptation on a fake clock (`now` is an input).

use super::*;

const MS: Duration = Duration::from_millis(1);

fn limit(text: &str) -> RateLimit {
    text.parse().expect("a valid rate")
}

#[test]
fn rates_parse_per_second_minute_and_hour_with_typed_errors() {
    assert_eq!(limit("150/s").per_sec(), 150.0);
    assert_eq!(limit(" 600 / m ").per_sec(), 10.0);
    assert_eq!(limit("3600/hour").per_sec(), 1.0);
    assert_eq!(limit("5/h").to_string(), "5/h");
    assert_eq!(limit("150/sec").to_string(), "150/s");
    assert_eq!("".parse::<RateLimit>(), Err(RateLimitError::Empty));
    assert_eq!("0/s".parse::<RateLimit>(), Err(RateLimitError::Zero));
    assert_eq!(
        "abc".parse::<RateLimit>(),
        Err(RateLimitError::NoUnit("abc".into()))
    );
    assert_eq!(
        "x/s".parse::<RateLimit>(),
        Err(RateLimitError::Count("x".into()))
    );
    assert_eq!(
        "-1/s".parse::<RateLimit>(),
        Err(RateLimitError::Count("-1".into()))
    );
    assert_eq!(
        "5/d".parse::<RateLimit>(),
        Err(RateLimitError::Unit("d".into()))
    );
    assert_eq!(RateLimit::new(1, Duration::ZERO), Err(RateLimitError::Zero));
    assert!(
        RateLimitError::Zero.to_string().contains("zero"),
        "the message says why"
    );
}

/// Grants `n` requests asking at `now`; the instants they may go at.
fn grants(rate: &mut HostRate, now: Instant, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| match rate.decide(now, None).expect("no deadline") {
            Decision::Ready => Duration::ZERO,
            Decision::WaitUntil(t) => t - now,
        })
        .collect()
}

#[test]
fn a_rate_spaces_requests_evenly_and_waiters_keep_their_order() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("100/s")), None);
    // Ten callers at once: the first goes, each next one 10 ms after the one before.
    let slots = grants(&mut rate, now, 10);
    let expected: Vec<Duration> = (0..10).map(|i| MS * 10 * i).collect();
    assert_eq!(slots, expected);
    // A caller coming later queues behind them (it never takes an earlier slot).
    let later = now + MS * 5;
    assert_eq!(
        rate.decide(later, None),
        Ok(Decision::WaitUntil(now + MS * 100))
    );
    let stats = rate.stats();
    assert_eq!(stats.granted, 11);
    assert_eq!(stats.waits, 10);
    assert_eq!(
        stats.waited,
        (1..10).map(|i| MS * 10 * i).sum::<Duration>() + MS * 95
    );
    // After a quiet second the host is idle again: at once.
    assert_eq!(
        rate.decide(now + Duration::from_secs(2), None),
        Ok(Decision::Ready)
    );
}

#[test]
fn a_burst_goes_at_once_then_the_rate_holds() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("10/s").with_burst(5)), None);
    let slots = grants(&mut rate, now, 8);
    assert_eq!(
        slots,
        [0, 0, 0, 0, 0, 100, 200, 300].map(|ms| MS * ms),
        "five back to back, then one per 100 ms"
    );
    // Over a long run the rate is the rate: 100 more requests take 10 s.
    let mut last = now;
    for _ in 0..100 {
        if let Ok(Decision::WaitUntil(t)) = rate.decide(now, None) {
            last = t;
        }
    }
    assert_eq!(last - now, MS * 300 + MS * 100 * 100);
}

#[test]
fn a_wait_past_the_deadline_fails_at_once_and_reserves_nothing() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("10/s")), None);
    assert_eq!(rate.decide(now, Some(now + MS * 50)), Ok(Decision::Ready));
    // The next slot is at +100 ms: a request due by +50 ms fails now.
    assert_eq!(
        rate.decide(now, Some(now + MS * 50)),
        Err(RateError::WouldPassDeadline { wait: MS * 100 })
    );
    // Nothing was reserved: the next caller gets the +100 ms slot.
    assert_eq!(
        rate.decide(now, Some(now + MS * 100)),
        Ok(Decision::WaitUntil(now + MS * 100))
    );
    assert_eq!(rate.stats().refused, 1);
    assert_eq!(rate.stats().granted, 2);
}

#[test]
fn an_abandoned_last_slot_is_given_back() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("10/s")), None);
    grants(&mut rate, now, 2);
    let Ok(Decision::WaitUntil(third)) = rate.decide(now, None) else {
        panic!("a wait")
    };
    assert_eq!(third, now + MS * 200);
    rate.cancel(third);
    assert_eq!(rate.decide(now, None), Ok(Decision::WaitUntil(third)));
    // A slot that is not the last stays taken (those after it keep their order).
    let fourth = now + MS * 300;
    assert_eq!(rate.decide(now, None), Ok(Decision::WaitUntil(fourth)));
    rate.cancel(third);
    assert_eq!(
        rate.decide(now, None),
        Ok(Decision::WaitUntil(now + MS * 400))
    );
}

#[test]
fn an_unconfigured_host_is_unpaced_until_a_throttle_starts_adaptation() {
    let now = Instant::now();
    let mut rate = HostRate::new(None, Some(Adaptation::default()));
    // 400 requests in 200 ms: all at once, none paced.
    for i in 0..400u32 {
        assert_eq!(rate.decide(now + MS * (i / 2), None), Ok(Decision::Ready));
    }
    assert_eq!(rate.current(), None);
    let at = now + MS * 200;
    rate.on_response(at, Feedback::Throttled { retry_after: None });
    // Observed 2000/s over 200 ms: pacing starts at half of it.
    let current = rate.current().expect("paced now");
    assert!((current - 1000.0).abs() < 1.0, "{current}");
    assert_eq!(rate.stats().cuts, 1);
    assert_eq!(rate.decide(at, None), Ok(Decision::Ready));
    assert_eq!(rate.decide(at, None), Ok(Decision::WaitUntil(at + MS)));
}

#[test]
fn throttles_cut_the_rate_once_per_cooldown_down_to_the_floor() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("16/s")), Some(Adaptation::default()));
    let throttled = Feedback::Throttled { retry_after: None };
    rate.on_response(now, throttled);
    assert_eq!(rate.current(), Some(8.0));
    // 429s answering requests already in flight: within the cooldown, no second cut.
    rate.on_response(now + MS * 50, throttled);
    assert_eq!(rate.current(), Some(8.0));
    let mut t = now;
    for expected in [4.0, 2.0, 1.0, 1.0] {
        t += MS * 100;
        rate.on_response(t, throttled);
        assert_eq!(rate.current(), Some(expected), "floor 1/s");
    }
    assert_eq!(rate.stats().throttled, 6);
    assert_eq!(rate.stats().cuts, 5);
    // The cut rate paces: 1/s now.
    let at = t + Duration::from_secs(5);
    assert_eq!(rate.decide(at, None), Ok(Decision::Ready));
    assert_eq!(
        rate.decide(at, None),
        Ok(Decision::WaitUntil(at + Duration::from_secs(1)))
    );
}

#[test]
fn successes_grow_the_rate_back_additively_never_above_the_configured_one() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("20/s")), Some(Adaptation::default()));
    rate.on_response(now, Feedback::Throttled { retry_after: None });
    assert_eq!(rate.current(), Some(10.0));
    // +5/s per second of successes.
    rate.on_response(now + Duration::from_secs(1), Feedback::Success);
    assert_eq!(rate.current(), Some(15.0));
    rate.on_response(now + MS * 1500, Feedback::Success);
    assert_eq!(rate.current(), Some(17.5));
    rate.on_response(now + Duration::from_secs(10), Feedback::Success);
    assert_eq!(rate.current(), Some(20.0), "capped at the configured rate");
    assert_eq!(rate.stats().configured, Some(20.0));
}

#[test]
fn a_fixed_rate_does_not_adapt() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("20/s")), None);
    rate.on_response(now, Feedback::Throttled { retry_after: None });
    rate.on_response(now + Duration::from_secs(1), Feedback::Success);
    assert_eq!(rate.current(), Some(20.0));
    assert_eq!(rate.stats().cuts, 0);
    assert_eq!(rate.stats().throttled, 1);
}

#[test]
fn retry_after_pauses_the_host_capped() {
    let now = Instant::now();
    let mut rate = HostRate::new(Some(limit("10/s")), Some(Adaptation::default()));
    rate.on_response(
        now,
        Feedback::Throttled {
            retry_after: Some(Duration::from_secs(3)),
        },
    );
    assert_eq!(rate.stats().pauses, 1);
    let resume = now + Duration::from_secs(3);
    // Nothing before the pause ends, then paced (at the cut rate: 5/s), no burst.
    assert_eq!(rate.decide(now, None), Ok(Decision::WaitUntil(resume)));
    assert_eq!(
        rate.decide(now + MS, None),
        Ok(Decision::WaitUntil(resume + MS * 200))
    );
    // A deadline before the pause ends fails at once.
    assert!(
        rate.decide(now, Some(now + Duration::from_secs(1)))
            .is_err()
    );

    // An hour is capped at 120 s.
    let mut rate = HostRate::new(Some(limit("10/s")), Some(Adaptation::default()));
    rate.on_response(
        now,
        Feedback::Throttled {
            retry_after: Some(Duration::from_secs(3600)),
        },
    );
    assert_eq!(
        rate.decide(now, None),
        Ok(Decision::WaitUntil(now + Duration::from_secs(120)))
    );
}

#[test]
fn retry_after_pauses_even_an_unconfigured_fixed_host() {
    let now = Instant::now();
    let mut rate = HostRate::new(None, None);
    for _ in 0..10 {
        rate.decide(now, None).unwrap();
    }
    rate.on_response(
        now,
        Feedback::Throttled {
            retry_after: Some(Duration::from_secs(2)),
        },
    );
    assert_eq!(
        rate.decide(now, None),
        Ok(Decision::WaitUntil(now + Duration::from_secs(2)))
    );
}

proptest::proptest! {
    /// Whatever the arrival pattern, granted slots come in the order requests asked, and no
    /// window of the rate's period holds more than `burst + requests` of them.
    #[test]
    fn slots_keep_order_and_never_exceed_the_rate(
        gaps in proptest::collection::vec(0u64..30, 1..300),
        requests in 1u32..50,
        burst in 1u32..8,
    ) {
        let start = Instant::now();
        let per = Duration::from_millis(100);
        let mut rate = HostRate::new(Some(RateLimit::new(requests, per).unwrap().with_burst(burst)), None);
        let mut now = start;
        let mut slots = Vec::new();
        for gap in gaps {
            now += MS * u32::try_from(gap).unwrap();
            let slot = match rate.decide(now, None).unwrap() {
                Decision::Ready => now,
                Decision::WaitUntil(t) => t,
            };
            proptest::prop_assert!(slot >= now);
            if let Some(&last) = slots.last() {
                proptest::prop_assert!(slot >= last, "served out of order");
            }
            slots.push(slot);
        }
        for (i, &from) in slots.iter().enumerate() {
            let within = slots[i..].iter().take_while(|&&s| s < from + per).count();
            proptest::prop_assert!(
                within as u32 <= burst + requests,
                "{within} in one period (rate {requests}/100ms, burst {burst})"
            );
        }
    }
}
