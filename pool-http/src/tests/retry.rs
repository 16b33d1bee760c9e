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

    // Out of attempts: the error reaches the caller, marked as one a retry could save.
    script.push(&[Step::NotSent, Step::NotSent, Step::NotSent]);
    let (e, attempts) = crate::send_with_attempts(
        &pool,
        HOST,
        req(Method::GET, "/thrice"),
        &Default::default(),
    )
    .await;
    let e = e.unwrap_err();
    assert_eq!(attempts.sent, crate::MAX_ATTEMPTS);
    assert_eq!(script.log().len(), 6);
    assert!(attempts.retry_could_have_saved(&e, &Method::GET), "{e:?}");

    // Connections lost under it on every attempt: it had its retries.
    let lost = |connections_lost| Attempts {
        sent: crate::MAX_ATTEMPTS,
        last_reused: true,
        connections_lost,
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
