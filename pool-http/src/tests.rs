//! The request layer over a scripted fake connection: outcome reporting, bodies, deadlines,
//! validation, the service and metrics; the retry policy is in `tests/retry.rs`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use pool_core::{CloseReason, Connection, DialError, Dialer, Pool, PoolOptions, Target};

use crate::{
    Attempts, Empty, HttpConnection, HttpLeaseExt, PoolService, Protocol, RequestError, Validation,
    validate,
};

mod polite;
mod retry;

/// What the next request on any connection gets.
#[derive(Clone, Copy, Debug)]
enum Step {
    Status(u16),
    NotSent,
    Refused,
    Lost,
    Stream,
    /// A 200 whose body is these chunks, then the ending.
    Body(&'static [&'static str], Ending),
    /// The response never comes.
    Hang,
    /// This status with this `Retry-After` (if any): a throttle (`tests/polite.rs`).
    Throttle(u16, Option<&'static str>),
}

/// How a [`FakeBody`] ends after its chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    End,
    Error,
    /// Nothing more, ever.
    Stall,
}

/// A scripted response body.
struct FakeBody {
    chunks: VecDeque<Bytes>,
    ending: Ending,
}

impl FakeBody {
    fn new(chunks: &[&'static str], ending: Ending) -> Self {
        Self {
            chunks: chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
            ending,
        }
    }
}

impl http_body::Body for FakeBody {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, RequestError>>> {
        use std::task::Poll;
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
        }
        match self.ending {
            Ending::End => Poll::Ready(None),
            Ending::Error => {
                self.ending = Ending::End;
                Poll::Ready(Some(Err(RequestError::Protocol("stream reset".into()))))
            }
            Ending::Stall => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.ending == Ending::End
    }
}

#[derive(Default)]
struct Script {
    steps: Mutex<VecDeque<Step>>,
    /// (connection number, path) of every request.
    log: Mutex<Vec<(usize, String)>>,
    dials: AtomicUsize,
    /// New connections speak HTTP/1.1 (else HTTP/2).
    http1: std::sync::atomic::AtomicBool,
    /// Connections (by number) that report closed.
    closed: Mutex<Vec<usize>>,
    /// The address each request went to, in order.
    sent_to: Mutex<Vec<std::net::SocketAddr>>,
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
    addr: std::net::SocketAddr,
    script: Arc<Script>,
    sent: AtomicU64,
    protocol: Protocol,
}

impl Connection for Fake {
    fn protocol(&self) -> Protocol {
        self.protocol
    }

    fn capacity(&self) -> usize {
        1
    }

    fn is_closed(&self) -> bool {
        self.script.closed.lock().unwrap().contains(&self.id)
    }
}

impl HttpConnection for Fake {
    type ResponseBody = FakeBody;

    async fn send<B>(&self, request: Request<B>) -> Result<Response<FakeBody>, RequestError>
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
        self.script.sent_to.lock().unwrap().push(self.addr);
        let boxed = |m: &str| -> crate::BoxError { m.to_owned().into() };
        match step.unwrap_or(Step::Status(200)) {
            Step::Status(s) => {
                let mut r = Response::new(FakeBody::new(&[], Ending::End));
                *r.status_mut() = http::StatusCode::from_u16(s).unwrap();
                Ok(r)
            }
            Step::Throttle(s, after) => {
                let mut r = Response::new(FakeBody::new(&["slow down"], Ending::End));
                *r.status_mut() = http::StatusCode::from_u16(s).unwrap();
                if let Some(after) = after {
                    r.headers_mut()
                        .insert(http::header::RETRY_AFTER, after.parse().unwrap());
                }
                Ok(r)
            }
            Step::Body(chunks, ending) => Ok(Response::new(FakeBody::new(chunks, ending))),
            Step::Hang => std::future::pending().await,
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
}

struct FakeDialer(Arc<Script>);

impl Dialer for FakeDialer {
    type Conn = Fake;

    async fn dial(&self, target: &Target) -> Result<Fake, DialError> {
        Ok(Fake {
            id: self.0.dials.fetch_add(1, Ordering::Relaxed),
            addr: target.addr,
            script: self.0.clone(),
            sent: AtomicU64::new(0),
            protocol: if self.0.http1.load(Ordering::Relaxed) {
                Protocol::Http1
            } else {
                Protocol::Http2
            },
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

/// The outcome reported on the connection once the lease is back: (error count, broken).
fn outcome(pool: &Pool<FakeDialer>) -> (u32, u64) {
    let errors = pool.connections().iter().map(|c| c.error_count).sum();
    (errors, pool.stats().closed_for(CloseReason::Broken))
}

fn pool_for(protocol: Protocol) -> (Pool<FakeDialer>, Arc<Script>) {
    let (pool, script) = pool();
    script
        .http1
        .store(protocol == Protocol::Http1, Ordering::Relaxed);
    (pool, script)
}

#[tokio::test]
async fn the_body_owns_the_lease_and_reports_its_end_once() {
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let (pool, script) = pool_for(protocol);
        script.push(&[Step::Body(&["hello ", "world"], Ending::End)]);
        let lease = pool.get(HOST).await.unwrap();
        let response = lease.request(req(Method::GET, "/")).await.unwrap();
        assert_eq!(pool.stats().leases_out, 1, "{protocol}: held by the body");
        let body = response.into_body();
        assert_eq!(body.protocol(), protocol);
        assert_eq!(body.collect(64).await.unwrap(), "hello world");
        assert_eq!(pool.stats().leases_out, 0, "{protocol}");
        assert_eq!(outcome(&pool), (0, 0), "{protocol}: success");
        assert_eq!(pool.stats().connections, 1);

        // An empty body ends at once: the lease is back before the caller reads it.
        let response = pool_http_get(&pool).await;
        assert!(response.body().is_done());
        assert_eq!(pool.stats().leases_out, 0, "{protocol}");
        drop(response);
        assert_eq!(outcome(&pool), (0, 0), "{protocol}: reported once");
        pool.close().await;
    }
}

async fn pool_http_get(pool: &Pool<FakeDialer>) -> Response<crate::Body<FakeDialer>> {
    crate::send(pool, HOST, req(Method::GET, "/empty"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_body_error_is_an_error_on_h2_and_breaks_h1() {
    for (protocol, want) in [(Protocol::Http2, (1, 0)), (Protocol::Http1, (0, 1))] {
        let (pool, script) = pool_for(protocol);
        script.push(&[Step::Body(&["half"], Ending::Error)]);
        let lease = pool.get(HOST).await.unwrap();
        let body = lease
            .request(req(Method::GET, "/"))
            .await
            .unwrap()
            .into_body();
        let e = body.collect(64).await.unwrap_err();
        assert!(matches!(e, RequestError::Protocol(_)), "{e:?}");
        assert_eq!(outcome(&pool), want, "{protocol}");
        pool.close().await;
    }
}

#[tokio::test]
async fn dropping_a_body_half_read_keeps_h2_and_breaks_h1() {
    use http_body_util::BodyExt;
    for (protocol, want) in [(Protocol::Http2, (0, 0)), (Protocol::Http1, (0, 1))] {
        let (pool, script) = pool_for(protocol);
        script.push(&[Step::Body(&["one", "two", "three"], Ending::End)]);
        let lease = pool.get(HOST).await.unwrap();
        let mut body = lease
            .request(req(Method::GET, "/"))
            .await
            .unwrap()
            .into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "one");
        assert!(!body.is_done());
        drop(body);
        assert_eq!(pool.stats().leases_out, 0);
        assert_eq!(outcome(&pool), want, "{protocol}");
        let kept = usize::from(protocol == Protocol::Http2);
        assert_eq!(pool.stats().connections, kept, "{protocol}");
        pool.close().await;
    }
}

#[tokio::test]
async fn collect_enforces_its_limit_and_the_options_limit() {
    let (pool, script) = pool();
    script.push(&[
        Step::Body(&["12345", "67890"], Ending::End),
        Step::Body(&["12345", "67890"], Ending::End),
        Step::Body(&["12345"], Ending::End),
    ]);
    let body = crate::send(&pool, HOST, req(Method::GET, "/"))
        .await
        .unwrap()
        .into_body();
    let e = body.collect(8).await.unwrap_err();
    assert!(
        matches!(e, RequestError::BodyTooLarge { limit: 8 }),
        "{e:?}"
    );
    assert_eq!(outcome(&pool), (1, 0), "counted as an error");

    let options = crate::RequestOptions::default().with_max_response_body(Some(6));
    let body = crate::send_with(&pool, HOST, req(Method::GET, "/"), &options)
        .await
        .unwrap()
        .into_body();
    let e = body.bytes().await.unwrap_err();
    assert!(
        matches!(e, RequestError::BodyTooLarge { limit: 6 }),
        "{e:?}"
    );
    let body = crate::send_with(&pool, HOST, req(Method::GET, "/"), &options)
        .await
        .unwrap()
        .into_body();
    assert_eq!(body.collect(100).await.unwrap(), "12345");
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_the_headers_under_paused_time() {
    for (protocol, want) in [(Protocol::Http2, (1, 0)), (Protocol::Http1, (0, 1))] {
        let (pool, script) = pool_for(protocol);
        script.push(&[Step::Hang, Step::Hang]);
        let options = crate::RequestOptions::default().with_timeout(Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        let lease = pool.get(HOST).await.unwrap();
        let e = lease
            .request_with(req(Method::GET, "/stall"), &options)
            .await
            .unwrap_err();
        assert!(
            matches!(e, RequestError::Timeout(d) if d == Duration::from_secs(2)),
            "{e:?}"
        );
        assert!(e.is_timeout());
        assert_eq!(started.elapsed(), Duration::from_secs(2), "{protocol}");
        assert_eq!(outcome(&pool), want, "{protocol}");

        // The request's own `Timeout` wins over the sender's; a timeout is never retried.
        let mut request = req(Method::GET, "/stall");
        request
            .extensions_mut()
            .insert(crate::Timeout(Duration::from_millis(300)));
        let started = tokio::time::Instant::now();
        let e = crate::send_with(&pool, HOST, request, &options)
            .await
            .unwrap_err();
        assert!(matches!(e, RequestError::Timeout(_)), "{e:?}");
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        assert_eq!(script.log().len(), 2, "{protocol}: not retried");
        pool.close().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_ends_with_the_idle_timeout() {
    use http_body_util::BodyExt;
    let (pool, script) = pool();
    script.push(&[
        Step::Body(&["first"], Ending::Stall),
        Step::Body(&["first"], Ending::Stall),
    ]);
    let options =
        crate::RequestOptions::default().with_body_idle_timeout(Some(Duration::from_secs(5)));
    let mut body = crate::send_with(&pool, HOST, req(Method::GET, "/"), &options)
        .await
        .unwrap()
        .into_body();
    let started = tokio::time::Instant::now();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "first"
    );
    let e = body.frame().await.unwrap().unwrap_err();
    assert!(
        matches!(e, RequestError::Timeout(d) if d == Duration::from_secs(5)),
        "{e:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(body.is_done());
    assert!(body.frame().await.is_none(), "ended");
    assert_eq!(outcome(&pool), (1, 0), "counted as an error");

    // Per request, by extension.
    let mut request = req(Method::GET, "/");
    request
        .extensions_mut()
        .insert(crate::BodyIdleTimeout(Duration::from_secs(1)));
    let started = tokio::time::Instant::now();
    let e = crate::send(&pool, HOST, request)
        .await
        .unwrap()
        .into_body()
        .bytes()
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::Timeout(_)), "{e:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    pool.close().await;
}

/// A request body that cannot be replayed is never retried, even when retrying would be
/// safe; a body in memory is.
#[tokio::test]
async fn only_replayable_bodies_are_retried() {
    let (pool, script) = pool();
    script.push(&[Step::NotSent]);
    let streamed = Request::post("/upload")
        .body(crate::Streaming(crate::Full::new(Bytes::from_static(
            b"data",
        ))))
        .unwrap();
    let e = crate::send(&pool, HOST, streamed).await.unwrap_err();
    assert!(matches!(e, RequestError::NotSent(_)), "{e:?}");
    assert_eq!(script.log().len(), 1, "a streamed body: no retry");

    script.push(&[Step::Refused]);
    let full = Request::post("/upload")
        .body(crate::Full::new(Bytes::from_static(b"data")))
        .unwrap();
    let ok = crate::send(&pool, HOST, full).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(script.log().len(), 3, "a body in memory: one retry");
    pool.close().await;
}

/// Every request is counted under `hotpool_requests_*` by protocol and result, whatever
/// the transport (here the fake one).
#[test]
fn request_metrics_are_recorded_per_protocol_and_result() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let (pool, script) = pool();
            script.push(&[Step::Status(200), Step::Hang, Step::NotSent]);
            crate::send(&pool, HOST, req(Method::GET, "/ok"))
                .await
                .unwrap();
            let mut stalled = req(Method::GET, "/stall");
            stalled
                .extensions_mut()
                .insert(crate::Timeout(Duration::from_secs(1)));
            crate::send(&pool, HOST, stalled).await.unwrap_err();
            crate::send(&pool, HOST, req(Method::GET, "/retried"))
                .await
                .unwrap();
            pool.close().await;
        });
    });
    let mut counters = std::collections::BTreeMap::new();
    let mut histograms = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                counters.insert(name, n);
            }
            DebugValue::Histogram(v) => {
                histograms.insert(name, v.len());
            }
            DebugValue::Gauge(_) => {}
        }
    }
    let count = |name: &str| counters.get(name).copied();
    assert_eq!(
        count("hotpool_requests_total{protocol=h2,result=ok}"),
        Some(2),
        "{counters:?}"
    );
    assert_eq!(
        count("hotpool_requests_total{protocol=h2,result=timeout}"),
        Some(1)
    );
    assert_eq!(
        count("hotpool_requests_total{protocol=h2,result=not_sent}"),
        Some(1)
    );
    assert_eq!(
        count("hotpool_requests_retries_total{protocol=h2,cause=refused}"),
        Some(1)
    );
    assert_eq!(
        histograms.get("hotpool_requests_headers_seconds{protocol=h2}"),
        Some(&2)
    );
    // Empty bodies end at once: complete; the two failures ended as errors.
    assert_eq!(
        histograms.get("hotpool_requests_duration_seconds{protocol=h2,end=complete}"),
        Some(&2),
        "{histograms:?}"
    );
    assert_eq!(
        histograms.get("hotpool_requests_duration_seconds{protocol=h2,end=error}"),
        Some(&2)
    );
    for name in crate::metrics::ALL {
        assert!(
            counters
                .keys()
                .chain(histograms.keys())
                .any(|k| k.starts_with(name)),
            "{name} recorded"
        );
    }
}

/// A body dropped while its thread panics counts as an error, as a lease would.
#[tokio::test]
async fn a_body_dropped_while_panicking_is_an_error() {
    let (pool, script) = pool();
    script.push(&[Step::Body(&["one", "two"], Ending::End)]);
    let body = crate::send(&pool, HOST, req(Method::GET, "/"))
        .await
        .unwrap()
        .into_body();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _body = body;
        panic!("the caller's own bug");
    }));
    assert!(unwound.is_err());
    assert_eq!(outcome(&pool), (1, 0));
    pool.close().await;
}
