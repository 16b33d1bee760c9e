//! The retry policy of `send`: which failures are retried, on which connection, how often.

use super::*;

#[tokio::test]
async fn connection_lost_on_a_fresh_connection_is_not_retried() {
    let (pool, script) = pool();
    script.push(&[Step::Lost]);
    let e = crate::send(&pool, HOST, req(Method::GET, "/fresh"))
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
    assert_eq!(script.log(), [(0, "/fresh".to_owned())]);
    pool.close().await;
}

#[tokio::test]
async fn idempotent_request_on_a_reused_connection_is_retried_once_elsewhere() {
    let (pool, script) = pool();
    crate::send(&pool, HOST, req(Method::GET, "/warm"))
        .await
        .unwrap();
    script.push(&[Step::Lost]);
    let ok = crate::send(&pool, HOST, req(Method::GET, "/reused"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        script.log(),
        [
            (0, "/warm".to_owned()),
            (0, "/reused".to_owned()),
            (1, "/reused".to_owned())
        ],
        "retried on a new connection"
    );
    // Only once: two failures in a row reach the caller.
    crate::send(&pool, HOST, req(Method::GET, "/warm"))
        .await
        .unwrap();
    script.push(&[Step::Lost, Step::Lost]);
    assert!(
        crate::send(&pool, HOST, req(Method::GET, "/twice"))
            .await
            .is_err()
    );
    assert_eq!(script.log().len(), 6);
    pool.close().await;
}

#[tokio::test]
async fn non_idempotent_request_is_retried_only_when_not_processed() {
    let (pool, script) = pool();
    crate::send(&pool, HOST, req(Method::GET, "/warm"))
        .await
        .unwrap();
    script.push(&[Step::Lost]);
    let e = crate::send(&pool, HOST, req(Method::POST, "/order"))
        .await
        .unwrap_err();
    assert!(e.is_connection_error(), "{e:?}");
    assert_eq!(
        script.log().len(),
        2,
        "a POST that may have been processed: no retry"
    );

    // Never sent / refused: retried even for a POST, even on a fresh connection.
    for step in [Step::NotSent, Step::Refused] {
        let before = script.log().len();
        script.push(&[step]);
        let ok = crate::send(&pool, HOST, req(Method::POST, "/order"))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{step:?}");
        assert_eq!(script.log().len(), before + 2, "{step:?}: one retry");
    }

    // A stream error is the request's own: never retried.
    script.push(&[Step::Stream]);
    let before = script.log().len();
    assert!(
        crate::send(&pool, HOST, req(Method::GET, "/bad"))
            .await
            .is_err()
    );
    assert_eq!(script.log().len(), before + 1);
    pool.close().await;
}

/// Several connections failing at once (a GOAWAY on all of them): a request never
/// processed is retried until [`crate::MAX_ATTEMPTS`], and what is left says whether a
/// retry could have saved it.
#[tokio::test]
async fn unprocessed_requests_are_retried_up_to_max_attempts() {
    let (pool, script) = pool();
    script.push(&[Step::NotSent, Step::Refused]);
    let (ok, attempts) = crate::send_with_attempts(
        &pool,
        HOST,
        req(Method::POST, "/twice"),
        &Default::default(),
    )
    .await;
    assert_eq!(ok.unwrap().status(), 200);
    assert_eq!(attempts.sent, 3);
    assert_eq!(script.log().len(), 3);

    // Refusals do not spend the attempts: three in a row, then the answer.
    script.push(&[Step::NotSent, Step::NotSent, Step::NotSent]);
    let (ok, attempts) = crate::send_with_attempts(
        &pool,
        HOST,
        req(Method::GET, "/thrice"),
        &Default::default(),
    )
    .await;
    assert_eq!(ok.unwrap().status(), 200);
    assert_eq!((attempts.sent, attempts.refused), (4, 3));
    assert_eq!(script.log().len(), 7);

    // Out of attempts (maybe processed, on reused connections): the error reaches the
    // caller, marked as one a retry could save.
    script.push(&[Step::Lost, Step::Refused, Step::Lost, Step::Lost]);
    let (e, attempts) =
        crate::send_with_attempts(&pool, HOST, req(Method::GET, "/lost"), &Default::default())
            .await;
    let e = e.unwrap_err();
    assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
    assert_eq!(
        (attempts.sent, attempts.refused),
        (crate::MAX_ATTEMPTS + 1, 1)
    );
    assert_eq!(attempts.connections_lost, crate::MAX_ATTEMPTS);
    assert!(
        !attempts.retry_could_have_saved(&e, &Method::GET),
        "lost every time"
    );

    // Connections lost under it on every attempt: it had its retries.
    let lost = |connections_lost| Attempts {
        sent: crate::MAX_ATTEMPTS,
        last_reused: true,
        connections_lost,
        refused: 0,
        ..Attempts::default()
    };
    let e = RequestError::ConnectionLost("reset".into());
    assert!(lost(1).retry_could_have_saved(&e, &Method::GET));
    assert!(!lost(2).retry_could_have_saved(&e, &Method::GET));
    assert!(lost(2).retry_could_have_saved(&RequestError::NotSent("goaway".into()), &Method::GET));

    // A loss on a fresh connection is the request's own failure, not the policy's.
    script.push(&[Step::Lost]);
    let (e, attempts) =
        crate::send_with_attempts(&pool, HOST, req(Method::GET, "/fresh"), &Default::default())
            .await;
    let e = e.unwrap_err();
    assert_eq!(attempts.sent, 1);
    assert!(!attempts.last_reused);
    assert!(!attempts.retry_could_have_saved(&e, &Method::GET), "{e:?}");
    pool.close().await;
}

/// A lease whose connection closed before the pool noticed (its watcher has not run) is
/// handed back without sending on it, and costs no attempt.
#[tokio::test]
async fn a_connection_closed_before_the_pool_noticed_costs_no_attempt() {
    let (pool, script) = pool();
    crate::send(&pool, HOST, req(Method::GET, "/warm"))
        .await
        .unwrap();
    script.closed.lock().unwrap().push(0);
    let (ok, attempts) =
        crate::send_with_attempts(&pool, HOST, req(Method::POST, "/next"), &Default::default())
            .await;
    assert_eq!(ok.unwrap().status(), 200);
    assert_eq!(attempts.sent, 1);
    assert!(!attempts.last_reused);
    assert_eq!(
        script.log(),
        [(0, "/warm".to_owned()), (1, "/next".to_owned())],
        "never sent on the closed connection"
    );
    assert_eq!(pool.stats().closed_for(CloseReason::Broken), 1);
    pool.close().await;
}

/// A server that refuses every request (a `REFUSED_STREAM` on each) ends in the typed
/// error after [`crate::MAX_REFUSALS`] refusals, within the request's deadline; the error
/// says how often, and counts as one the policy should have saved.
#[tokio::test(start_paused = true)]
async fn a_server_refusing_forever_ends_in_refused_too_often_within_the_deadline() {
    let (pool, script) = pool();
    script.push(&[Step::Refused; crate::MAX_REFUSALS as usize + 5]);
    let started = tokio::time::Instant::now();
    let options = crate::RequestOptions::default().with_timeout(Duration::from_secs(10));
    let (e, attempts) =
        crate::send_with_attempts(&pool, HOST, req(Method::POST, "/no"), &options).await;
    let e = e.unwrap_err();
    match &e {
        RequestError::RefusedTooOften { refusals, last } => {
            assert_eq!(*refusals, crate::MAX_REFUSALS);
            assert!(matches!(**last, RequestError::Refused { .. }), "{last:?}");
        }
        other => panic!("expected RefusedTooOften, got {other:?}"),
    }
    assert!(e.to_string().starts_with("request refused 32 times"), "{e}");
    assert!(!e.is_retryable(&Method::GET, true));
    assert_eq!(attempts.refused, crate::MAX_REFUSALS);
    assert_eq!(script.log().len(), crate::MAX_REFUSALS as usize);
    assert!(attempts.retry_could_have_saved(&e, &Method::POST));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "refusals are spaced: {took:?}"
    );
    pool.close().await;
}

/// One deadline for the whole request: refusals and their waits use it up, and the
/// attempt after them gets what is left, not a fresh timeout.
#[tokio::test(start_paused = true)]
async fn refusals_do_not_restart_the_deadline() {
    let (pool, script) = pool();
    let mut steps = vec![Step::Refused; 8];
    steps.push(Step::Hang);
    script.push(&steps);
    let started = tokio::time::Instant::now();
    let timeout = Duration::from_millis(400);
    let options = crate::RequestOptions::default().with_timeout(timeout);
    let (e, attempts) =
        crate::send_with_attempts(&pool, HOST, req(Method::GET, "/slow"), &options).await;
    let e = e.unwrap_err();
    assert!(
        matches!(e, RequestError::Timeout(t) if t == timeout),
        "{e:?}"
    );
    assert_eq!(attempts.refused, 8);
    // 8 refusals wait 1+2+…+64 = 127 ms; the hanging attempt gets the 273 ms left.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(127), "{took:?}");
    assert!(took <= timeout + Duration::from_millis(1), "{took:?}");
    pool.close().await;
}
