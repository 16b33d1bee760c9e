//! `send_polite` over the scripted fake connections, under paused time: pacing, throttles
//! sent again (or not), `Retry-After`, the budget, another address, the deadline.

use std::sync::Arc;

use pool_core::{Adaptation, RateLimit};
use tokio::time::Instant;

use super::*;
use crate::{HostRates, Polite, RequestOptions, StatusRetry, send_polite};

fn retry(seed: u64) -> StatusRetry {
    StatusRetry {
        seed,
        ..StatusRetry::default()
    }
}

fn polite(rate: Option<&str>) -> Polite {
    let rates = HostRates::new(
        rate.map(|r| r.parse::<RateLimit>().unwrap()),
        Some(Adaptation::default()),
    );
    Polite::new(Some(Arc::new(rates)), retry(7))
}

async fn get(
    pool: &Pool<FakeDialer>,
    polite: &Polite,
    path: &str,
) -> Result<http::StatusCode, RequestError> {
    let options = RequestOptions::default();
    let response = send_polite(pool, polite, HOST, req(Method::GET, path), &options).await?;
    let status = response.status();
    response.into_body().collect(1024).await?;
    Ok(status)
}

#[tokio::test(start_paused = true)]
async fn requests_over_the_rate_wait_in_turn() {
    let (pool, _script) = pool();
    let polite = polite(Some("10/s"));
    let start = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(&pool, &polite, "/paced").await.unwrap(), 200);
    }
    // 10/s: the fifth request goes 400 ms after the first.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    let stats = polite.rates().unwrap().stats(HOST).unwrap();
    assert_eq!(stats.granted, 5);
    assert_eq!(stats.waits, 4);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_waiters_are_served_in_the_order_they_asked() {
    let rates = Arc::new(HostRates::new(Some("10/s".parse().unwrap()), None));
    let deadline = Instant::now() + Duration::from_secs(30);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (rates, order) = (rates.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            rates.acquire(HOST, deadline).await.unwrap();
            order.lock().unwrap().push(i);
        }));
        // Each asks after the one before.
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    // A request whose slot is past its deadline fails at once, typed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let soon = Instant::now() + Duration::from_millis(10);
    rates.acquire(HOST, soon).await.unwrap();
    let e = rates.acquire(HOST, soon).await.unwrap_err();
    assert!(
        matches!(e, pool_core::RateError::WouldPassDeadline { .. }),
        "{e:?}"
    );
    assert_eq!(rates.stats(HOST).unwrap().refused, 1);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_get_is_sent_again_and_the_last_answer_returned() {
    let (pool, script) = pool();
    let polite = polite(None);
    script.push(&[Step::Throttle(429, None), Step::Status(200)]);
    assert_eq!(get(&pool, &polite, "/once").await.unwrap(), 200);
    assert_eq!(script.log().len(), 2);

    // Throttled every time: after 3 attempts the 429 itself comes back, not an error.
    script.push(&[
        Step::Throttle(503, None),
        Step::Throttle(429, None),
        Step::Throttle(429, None),
    ]);
    assert_eq!(get(&pool, &polite, "/always").await.unwrap(), 429);
    assert_eq!(script.log().len(), 5);
    let stats = polite.stats();
    assert_eq!((stats.requests, stats.throttled, stats.retried), (2, 4, 3));
    // The throttles started adaptation for the host: it is paced now.
    assert!(
        polite
            .rates()
            .unwrap()
            .stats(HOST)
            .unwrap()
            .current
            .is_some()
    );
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_a_post_is_never_sent_again() {
    let (pool, script) = pool();
    let polite = polite(None);
    script.push(&[Step::Throttle(429, Some("2")), Step::Status(200)]);
    let start = Instant::now();
    assert_eq!(get(&pool, &polite, "/later").await.unwrap(), 200);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "waited the Retry-After: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");

    script.push(&[Step::Throttle(429, None)]);
    let options = RequestOptions::default();
    let response = send_polite(&pool, &polite, HOST, req(Method::POST, "/order"), &options)
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "a POST is returned as answered");
    drop(response);
    assert_eq!(script.log().len(), 3);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_returns_the_answer_and_pauses_the_host() {
    let (pool, script) = pool();
    let polite = polite(None);
    script.push(&[Step::Throttle(503, Some("60"))]);
    let options = RequestOptions::default().with_timeout(Duration::from_secs(5));
    let start = Instant::now();
    let response = send_polite(&pool, &polite, HOST, req(Method::GET, "/busy"), &options)
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(start.elapsed() < Duration::from_secs(1), "no wait in vain");
    drop(response);
    // The host is paused for 60 s: the next request fails at once, typed, never sent.
    let e = send_polite(&pool, &polite, HOST, req(Method::GET, "/next"), &options)
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::RateLimited(_)), "{e:?}");
    assert!(e.is_timeout());
    assert_eq!(e.kind(), "rate_limited");
    assert_eq!(script.log().len(), 1);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_returns_the_throttle_as_it_is() {
    let (pool, script) = pool();
    let polite = Polite::new(
        None,
        StatusRetry {
            budget_ratio: 0.0,
            budget_min_per_sec: 0,
            ..retry(1)
        },
    );
    script.push(&[Step::Throttle(429, None)]);
    assert_eq!(get(&pool, &polite, "/x").await.unwrap(), 429);
    assert_eq!(script.log().len(), 1);
    assert_eq!(polite.stats().budget_exhausted, 1);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn the_retry_goes_to_another_address_of_the_host() {
    // `fill` keeps handing out the first connection with room: without the retry's
    // preference every attempt would go to one address.
    let script = Arc::new(Script::default());
    let options = PoolOptions {
        placement: pool_core::Placement::Fill { streams: 1 },
        ..PoolOptions::default()
    };
    let pool = Pool::new(FakeDialer(script.clone()), options).unwrap();
    pool.set_addrs(
        HOST,
        [
            "127.0.0.1:443".parse().unwrap(),
            "127.0.0.2:443".parse().unwrap(),
        ],
    );
    pool.warm(HOST).await;
    let polite = polite(None);
    for _ in 0..4 {
        let before = script.sent_to.lock().unwrap().len();
        script.push(&[Step::Throttle(429, None), Step::Status(200)]);
        assert_eq!(get(&pool, &polite, "/elsewhere").await.unwrap(), 200);
        let sent = script.sent_to.lock().unwrap()[before..].to_vec();
        assert_eq!(sent.len(), 2);
        assert_ne!(sent[0], sent[1], "the retry left through the other address");
    }
    pool.close().await;
}
