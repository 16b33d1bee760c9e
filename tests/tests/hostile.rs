//! Hostile origins on every protocol (HTTP/1.1, HTTP/2, HTTP/3): servers from
//! `pool_testkit::hostile` that complete the handshake and then misbehave on purpose.
//!
//! Every case asserts: a typed error (not a hang, not a panic) within a bounded time, the
//! client's heap bounded while it lasts (the counting allocator; the hostile server runs
//! in this process too, so the bound covers both sides), the pool still serving another
//! host, and, after `close()`, no connection left on either server and the process's open
//! fds back to the baseline. `docs/hostile-peers.md` lists each case with its limit.
//!
//! The tests run one at a time (`hostile_rig::run`), because the fd baseline and the
//! allocator counters are process-wide. Each uses its own 127.0.N.0/24.

mod hostile_rig;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hostile_rig::{self as rig, DEADLINE, get, ip, pool_options, run};
use pool_core::{Dialer, Pool};
use pool_dial_quic::{QuicDialer, QuicOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, HttpsDialer, HttpsOptions, TlsOptions};
use pool_http::{HttpConnection, PeerLimit, RequestError, RequestOptions};
use pool_testkit::alloc::{self, Counting};
use pool_testkit::fds::open_fds;
use pool_testkit::hostile::{H1Script, H2Script, H3Script, HostileH3, HostileTls, TlsScript};
use pool_testkit::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const EVIL: &str = "evil.test";
const GOOD: &str = "good.test";
/// The response header limit every dialer here runs with.
const HEADER_LIMIT: usize = 16 << 10;
/// The response body limit of the requests.
const BODY_LIMIT: usize = 1 << 20;
/// The request deadline (headers): no case here waits it out; it only bounds a slow
/// machine's floods.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// What the client (plus the in-process hostile server) may hold while a case lasts, on
/// TCP (HTTP/1.1, HTTP/2): the 1 MiB body collected plus buffers.
const HEAP_BOUND: i64 = 4 << 20;
/// The same on QUIC: quinn's receive buffers (a datagram batch per chunk, the stream
/// window) come on top; measured at about 5 MB for the 1 MiB body limit.
const QUIC_HEAP_BOUND: i64 = 8 << 20;

fn tls_options(ca: &TestCa) -> TlsOptions {
    TlsOptions {
        max_response_header_size: HEADER_LIMIT,
        ..rig::tls_options(ca)
    }
}

fn h2_options(ca: &TestCa) -> H2Options {
    let mut options = H2Options::default();
    options.tls = TlsOptions {
        alpn: options.tls.alpn,
        ..tls_options(ca)
    };
    options
}

fn quic_options(ca: &TestCa) -> QuicOptions {
    let mut options = rig::quic_options(ca);
    options.max_response_header_size = HEADER_LIMIT;
    // What a stream may buffer unread (quinn's default is 1.25 MB): part of the bound.
    options.stream_receive_window = 256 << 10;
    options
}

fn request_options() -> RequestOptions {
    RequestOptions::default()
        .with_timeout(REQUEST_TIMEOUT)
        .with_body_idle_timeout(Some(Duration::from_secs(1)))
        .with_max_response_body(Some(BODY_LIMIT))
}

/// What one request to the hostile host ended with, how long it took, and the most heap
/// held above the level before it.
struct Outcome {
    result: Result<(u16, Bytes), RequestError>,
    elapsed: Duration,
    held: i64,
    /// The heap bound of the case.
    bound: i64,
}

impl Outcome {
    fn err(self) -> RequestError {
        // Ended by the limit the answer broke, not by waiting out the request deadline
        // (what a dialer that missed it would do).
        assert!(self.elapsed < REQUEST_TIMEOUT, "took {:?}", self.elapsed);
        assert!(
            self.held < self.bound,
            "{} bytes held by a hostile exchange",
            self.held
        );
        match self.result {
            Ok((status, body)) => panic!("a hostile answer succeeded: {status} {body:?}"),
            Err(e) => e,
        }
    }
}

async fn exchange<D>(pool: &Pool<D>, host: &str, bound: i64) -> Outcome
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let before = alloc::live_bytes();
    alloc::reset_peak();
    let started = Instant::now();
    let result = tokio::time::timeout(DEADLINE, async {
        let response = pool_http::send_with(pool, host, get("/"), &request_options()).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().bytes().await?))
    })
    .await
    .expect("the exchange ends by itself");
    Outcome {
        result,
        elapsed: started.elapsed(),
        held: alloc::peak_bytes() - before,
        bound,
    }
}

/// The pool serves the good host, then is closed; the servers' connections are gone and
/// the fds are back to `baseline`.
async fn serves_other_hosts_and_leaks_nothing<D>(
    pool: Pool<D>,
    baseline: usize,
    servers_idle: impl FnMut() -> bool,
) where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let good = exchange(&pool, GOOD, i64::MAX).await;
    let (status, _) = good.result.expect("the other host is served");
    assert_eq!(status, 200);
    rig::finish(pool, baseline, servers_idle).await;
}

/// One hostile TLS case: the script on 127.0.`net`.1, a good HTTP/1.1 + HTTP/2 origin on
/// .2, a pool of `dialer`; `check` gets the hostile host's outcome.
async fn tls_case<D>(
    net: u8,
    script: TlsScript,
    dialer: impl FnOnce(&TestCa) -> D,
    check: impl FnOnce(Outcome),
) where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let ca = Arc::new(TestCa::new().unwrap());
    let hostile = HostileTls::start(ip(net, 1), &[EVIL], &ca, script)
        .await
        .unwrap();
    let good = H2Origin::start(H2OriginOptions::new(&[ip(net, 2)], &[GOOD], &ca))
        .await
        .unwrap();
    let baseline = open_fds();
    let pool = Pool::new(dialer(&ca), pool_options()).unwrap();
    pool.set_addrs(EVIL, [hostile.addr()]);
    pool.set_addrs(GOOD, good.socket_addrs());
    check(exchange(&pool, EVIL, HEAP_BOUND).await);
    assert!(hostile.stats().requests >= 1, "{:?}", hostile.stats());
    serves_other_hosts_and_leaks_nothing(pool, baseline, || {
        hostile.stats().open == 0 && good.stats().open_connections == 0
    })
    .await;
    hostile.shutdown().await;
    good.shutdown().await;
}

fn h1(ca: &TestCa) -> H1Dialer {
    H1Dialer::new(tls_options(ca)).unwrap()
}

fn h2(ca: &TestCa) -> H2Dialer {
    H2Dialer::new(h2_options(ca)).unwrap()
}

/// The auto-ALPN dialer (`h2, http/1.1`): the same limit reaches both protocols.
fn https(ca: &TestCa) -> HttpsDialer {
    let mut options = HttpsOptions::default();
    options.tls = TlsOptions {
        alpn: options.tls.alpn,
        ..tls_options(ca)
    };
    HttpsDialer::new(options).unwrap()
}

fn is_peer_limit(e: &RequestError, want: PeerLimit) -> bool {
    matches!(e, RequestError::PeerLimit { limit, .. } if *limit == want)
}

// ---- HTTP/1.1 ----

#[test]
fn h1_oversized_headers_are_a_peer_limit_error() {
    run(tls_case(
        151,
        TlsScript::H1(H1Script::OversizedHeaders(4 * HEADER_LIMIT)),
        h1,
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::HeaderList), "{e:?}");
            assert!(!e.is_retryable(&http::Method::GET, true));
        },
    ));
}

#[test]
fn h1_endless_headers_stop_at_the_header_limit() {
    run(tls_case(
        152,
        TlsScript::H1(H1Script::EndlessHeaders),
        h1,
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::HeaderList), "{e:?}");
        },
    ));
}

#[test]
fn h1_endless_body_stops_at_the_body_limit() {
    run(tls_case(
        153,
        TlsScript::H1(H1Script::EndlessBody),
        h1,
        |o| {
            let e = o.err();
            assert!(
                matches!(e, RequestError::BodyTooLarge { limit } if limit == BODY_LIMIT),
                "{e:?}"
            );
        },
    ));
}

#[test]
fn h1_malformed_status_line_is_a_protocol_error() {
    run(tls_case(
        154,
        TlsScript::H1(H1Script::MalformedStatus),
        h1,
        |o| {
            let e = o.err();
            assert!(matches!(e, RequestError::Protocol(_)), "{e:?}");
            assert!(!e.is_retryable(&http::Method::GET, true));
        },
    ));
}

// ---- HTTP/2 ----

#[test]
fn h2_header_list_just_over_the_limit_resets_the_stream() {
    // h2 0.4 refuses a header list over SETTINGS_MAX_HEADER_LIST_SIZE but within 4× of it
    // with a stream reset (PROTOCOL_ERROR): the connection carries on.
    run(tls_case(
        161,
        TlsScript::H2(H2Script::OversizedHeaders(2 * HEADER_LIMIT)),
        h2,
        |o| {
            let e = o.err();
            assert!(matches!(e, RequestError::Protocol(_)), "{e:?}");
            assert!(!e.is_connection_error());
        },
    ));
}

#[test]
fn h2_header_list_far_over_the_limit_is_a_peer_limit_error() {
    run(tls_case(
        162,
        TlsScript::H2(H2Script::OversizedHeaders(8 * HEADER_LIMIT)),
        h2,
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::Flood), "{e:?}");
            assert!(!e.is_retryable(&http::Method::GET, true));
        },
    ));
}

#[test]
fn h2_continuation_flood_is_cut_off() {
    run(tls_case(
        163,
        TlsScript::H2(H2Script::ContinuationFlood),
        h2,
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::Flood), "{e:?}");
        },
    ));
}

#[test]
fn h2_endless_body_stops_at_the_body_limit() {
    run(tls_case(
        164,
        TlsScript::H2(H2Script::EndlessBody),
        h2,
        |o| {
            let e = o.err();
            assert!(
                matches!(e, RequestError::BodyTooLarge { limit } if limit == BODY_LIMIT),
                "{e:?}"
            );
        },
    ));
}

#[test]
fn h2_data_on_stream_zero_ends_the_connection() {
    run(tls_case(
        165,
        TlsScript::H2(H2Script::DataOnStreamZero),
        h2,
        |o| {
            let e = o.err();
            // h2 answers with GOAWAY(PROTOCOL_ERROR): the connection is gone under the request.
            assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
            assert!(!e.is_retry_safe());
            assert!(
                !e.is_retryable(&http::Method::GET, false),
                "a fresh connection: not retried"
            );
        },
    ));
}

#[test]
fn h2_bad_frame_length_ends_the_connection() {
    run(tls_case(
        166,
        TlsScript::H2(H2Script::BadPingLength),
        h2,
        |o| {
            let e = o.err();
            assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
            assert!(!e.is_retryable(&http::Method::GET, false));
        },
    ));
}

/// A flood h2 absorbs: it answers one PING (or SETTINGS) at a time and reads no further
/// frame before that answer is written, so memory stays bounded and the connection
/// survives; the request is answered after the flood.
fn flood_survives(o: Outcome) {
    assert!(o.elapsed < REQUEST_TIMEOUT, "took {:?}", o.elapsed);
    assert!(o.held < o.bound, "{} bytes held during a flood", o.held);
    let (status, body) = o.result.expect("the request is answered after the flood");
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
}

#[test]
fn h2_ping_flood_is_absorbed_with_bounded_memory() {
    run(tls_case(
        167,
        TlsScript::H2(H2Script::PingFlood(10_000)),
        h2,
        flood_survives,
    ));
}

#[test]
fn h2_settings_flood_is_absorbed_with_bounded_memory() {
    run(tls_case(
        168,
        TlsScript::H2(H2Script::SettingsFlood(10_000)),
        h2,
        flood_survives,
    ));
}

// ---- HTTP/3 ----

async fn h3_case(net: u8, script: H3Script, check: impl FnOnce(Outcome)) {
    let ca = Arc::new(TestCa::new().unwrap());
    let hostile = HostileH3::start(ip(net, 1), &[EVIL], &ca, script)
        .await
        .unwrap();
    let good = H3Origin::start(H3OriginOptions::new(&[ip(net, 2)], &[GOOD], &ca))
        .await
        .unwrap();
    let baseline = open_fds();
    let pool = Pool::new(QuicDialer::new(quic_options(&ca)).unwrap(), pool_options()).unwrap();
    pool.set_addrs(EVIL, [hostile.addr()]);
    pool.set_addrs(GOOD, good.socket_addrs());
    check(exchange(&pool, EVIL, QUIC_HEAP_BOUND).await);
    assert!(hostile.stats().requests >= 1, "{:?}", hostile.stats());
    serves_other_hosts_and_leaks_nothing(pool, baseline, || {
        hostile.stats().open == 0 && good.stats().open_connections == 0
    })
    .await;
    hostile.shutdown().await;
    good.shutdown().await;
}

#[test]
fn h3_oversized_header_block_is_a_peer_limit_error() {
    run(h3_case(
        171,
        H3Script::OversizedHeaders(4 * HEADER_LIMIT),
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::HeaderList), "{e:?}");
            assert!(!e.is_retryable(&http::Method::GET, true));
        },
    ));
}

#[test]
fn h3_endless_body_stops_at_the_body_limit() {
    run(h3_case(172, H3Script::EndlessBody, |o| {
        let e = o.err();
        assert!(
            matches!(e, RequestError::BodyTooLarge { limit } if limit == BODY_LIMIT),
            "{e:?}"
        );
    }));
}

#[test]
fn h3_garbage_on_the_request_stream_is_a_typed_error() {
    run(h3_case(173, H3Script::Garbage, |o| {
        let e = o.err();
        // h3 closes the connection with H3_FRAME_UNEXPECTED.
        assert!(matches!(e, RequestError::ConnectionLost(_)), "{e:?}");
        assert!(!e.is_retryable(&http::Method::GET, false));
    }));
}

#[test]
fn h3_endless_header_block_is_refused_at_its_frame_header() {
    // h3 buffers a whole HEADERS frame before decoding it: pool-dial-quic reads the announced
    // length as it passes and fails the stream before buffering any of it.
    run(h3_case(174, H3Script::EndlessHeaders, |o| {
        let e = o.err();
        assert!(is_peer_limit(&e, PeerLimit::HeaderList), "{e:?}");
        assert!(!e.is_retryable(&http::Method::GET, true));
    }));
}

// ---- auto ALPN: the one option reaches whichever protocol the origin picks ----

#[test]
fn auto_alpn_bounds_http1_headers() {
    run(tls_case(
        181,
        TlsScript::H1(H1Script::EndlessHeaders),
        https,
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::HeaderList), "{e:?}");
        },
    ));
}

#[test]
fn auto_alpn_bounds_http2_headers() {
    // Without the configured limit, h2 (16 MB by default) would hold far more than the
    // heap bound before cutting the flood off.
    run(tls_case(
        182,
        TlsScript::H2(H2Script::ContinuationFlood),
        https,
        |o| {
            let e = o.err();
            assert!(is_peer_limit(&e, PeerLimit::Flood), "{e:?}");
        },
    ));
}
