//! The retry policy and the outcome reporting, over a scripted fake connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use pool_core::{CloseReason, Connection, DialError, Dialer, Pool, PoolOptions, Target};

use crate::{
    BufferedBody, Empty, HttpConnection, HttpLeaseExt, PoolService, Protocol, RequestError,
    Validation, validate,
};

/// What the next request on any connection gets.
#[derive(Clone, Copy, Debug)]
enum Step {
    Status(u16),
    NotSent,
    Refused,
    Lost,
    Stream,
}

#[derive(Default)]
struct Script {
    steps: Mutex<VecDeque<Step>>,
    /// (connection number, path) of every request.
    log: Mutex<Vec<(usize, String)>>,
    dials: AtomicUsize,
}

impl Script {
    fn push(&self, steps: &[Step]) {
        self.steps.lock().unwrap().extend(steps);
    }

    fn log(&self) -> Vec<(usize, String)> {
        self.log.lock().unwrap().clone()
    }
}

struct Fake {
    id: usize,
    script: Arc<Script>,
    sent: AtomicU64,
}

impl Connection for Fake {
    fn capacity(&self) -> usize {
        1
    }

    fn is_closed(&self) -> bool {
        false
    }
}

impl HttpConnection for Fake {
    type ResponseBody = BufferedBody;

    async fn send<B>(&self, request: Request<B>) -> Result<Response<BufferedBody>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<crate::BoxError>,
    {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let step = self.script.steps.lock().unwrap().pop_front();
        self.script
            .log
            .lock()
            .unwrap()
            .push((self.id, request.uri().path().to_owned()));
        let boxed = |m: &str| -> crate::BoxError { m.to_owned().into() };
        match step.unwrap_or(Step::Status(200)) {
            Step::Status(s) => {
                let mut r = Response::new(BufferedBody::default());
                *r.status_mut() = http::StatusCode::from_u16(s).unwrap();
                Ok(r)
            }
            Step::NotSent => Err(RequestError::NotSent(boxed("goaway"))),
            Step::Refused => Err(RequestError::Refused {
                source: boxed("refused stream"),
                connection_closing: false,
            }),
            Step::Lost => Err(RequestError::ConnectionLost(boxed("reset"))),
            Step::Stream => Err(RequestError::Protocol(boxed("stream reset"))),
        }
    }

    fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }
}

struct FakeDialer(Arc<Script>);

impl Dialer for FakeDialer {
    type Conn = Fake;

    async fn dial(&self, _: &Target) -> Result<Fake, DialError> {
        Ok(Fake {
            id: self.0.dials.fetch_add(1, Ordering::Relaxed),
            script: self.0.clone(),
            sent: AtomicU64::new(0),
        })
    }
}

const HOST: &str = "fake.test";

fn pool() -> (Pool<FakeDialer>, Arc<Script>) {
    let script = Arc::new(Script::default());
    let options = PoolOptions {
        checkout_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    };
    let pool = Pool::new(FakeDialer(script.clone()), options).unwrap();
    pool.set_addrs(HOST, ["127.0.0.1:443".parse().unwrap()]);
    (pool, script)
}

fn req(method: Method, path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Empty::new())
        .unwrap()
}

#[test]
fn error_predicates() {
    let b = || -> crate::BoxError { "x".into() };
    let cases = [
        // (error, connection error, retry safe)
        (RequestError::NotSent(b()), true, true),
        (
            RequestError::Refused {
                source: b(),
                connection_closing: false,
            },
            false,
            true,
        ),
        (
            RequestError::Refused {
                source: b(),
                connection_closing: true,
            },
            true,
            true,
        ),
        (RequestError::ConnectionLost(b()), true, false),
        (RequestError::Protocol(b()), false, false),
        (RequestError::BodyTooLarge { limit: 1 }, false, false),
        (RequestError::Timeout(Duration::from_secs(1)), false, false),
        (RequestError::Pool(pool_core::Error::Closed), false, false),
    ];
    for (e, conn, safe) in cases {
        assert_eq!(e.is_connection_error(), conn, "{e:?}");
        assert_eq!(e.is_retry_safe(), safe, "{e:?}");
        // Retry-safe errors are retryable whatever the method and reuse.
        assert_eq!(e.is_retryable(&Method::POST, false), safe, "{e:?}");
        // Connection errors on a reused connection: only idempotent methods.
        assert_eq!(e.is_retryable(&Method::GET, true), safe || conn, "{e:?}");
        assert_eq!(e.is_retryable(&Method::POST, true), safe, "{e:?}");
        assert_eq!(e.is_retryable(&Method::GET, false), safe, "{e:?}");
    }
    assert!(RequestError::Timeout(Duration::from_secs(1)).is_timeout());
    assert!(!RequestError::NotSent(b()).is_timeout());
}

#[tokio::test]
async fn lease_request_reports_the_outcome() {
    let (pool, script) = pool();
    script.push(&[Step::Status(503), Step::Stream, Step::Lost]);
    let lease = pool.get(HOST).await.unwrap();
    assert!(!lease.is_reused());
    // A response, whatever its status, is a success for the connection.
    assert_eq!(
        lease
            .request(req(Method::GET, "/a"))
            .await
            .unwrap()
            .status(),
        503
    );
    let lease = pool.get(HOST).await.unwrap();
    assert!(lease.is_reused());
    // A stream error counts as an error, the connection stays.
    assert!(lease.request(req(Method::GET, "/b")).await.is_err());
    assert_eq!(pool.stats().connections, 1);
    let errors: u32 = pool.connections().iter().map(|c| c.error_count).sum();
    assert_eq!(errors, 1);
    // A connection error: broken, removed.
    let lease = pool.get(HOST).await.unwrap();
    assert!(lease.request(req(Method::GET, "/c")).await.is_err());
    assert_eq!(pool.stats().closed_for(CloseReason::Broken), 1);
    assert_eq!(pool.stats().connections, 0);
    pool.close().await;
}

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

#[tokio::test]
async fn the_service_sends_through_the_pool() {
    use tower_service::Service;
    let (pool, script) = pool();
    let mut service = PoolService::new(pool.clone(), HOST);
    assert_eq!(service.host(), HOST);
    script.push(&[Step::NotSent]);
    let ok = service.call(req(Method::PUT, "/item")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(script.log().len(), 2, "retried like `send`");
    pool.close().await;
}

#[tokio::test]
async fn validate_over_a_connection() {
    let script = Arc::new(Script::default());
    let conn = FakeDialer(script.clone())
        .dial(&Target {
            host: HOST.into(),
            addr: "127.0.0.1:443".parse().unwrap(),
        })
        .await
        .unwrap();
    let v = Validation::default();
    script.push(&[
        Step::Status(204),
        Step::Status(403),
        Step::Status(500),
        Step::Lost,
    ]);
    let t = Duration::from_secs(1);
    assert!(validate(&conn, &v, t).await.is_ok());
    let kinds: Vec<_> = [
        validate(&conn, &v, t).await,
        validate(&conn, &v, t).await,
        validate(&conn, &v, t).await,
    ]
    .into_iter()
    .map(|r| r.unwrap_err().kind())
    .collect();
    use pool_core::DialErrorKind::{Banned, Rejected};
    assert_eq!(kinds, [Banned, Rejected, Rejected]);
}
