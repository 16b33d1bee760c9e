//! Response decompression end to end: each content coding the testkit origins serve,
//! over HTTP/1.1, HTTP/2 and HTTP/3, decoded by `pool_http::decode_response`; a
//! decompression bomb ends in the typed error with the client's memory bounded. Its own
//! test binary, because it installs the counting allocator; the origins run on a runtime
//! whose threads are left out of the count, and the tests of this file run one at a time
//! (`SERIAL`), so the peak measured is one request's client side.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dial_quic::{QuicDialer, QuicOptions};
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, TlsOptions, Trust};
use pool_http::http_body_util::BodyExt;
use pool_http::{
    DEFAULT_ACCEPT_ENCODING, DecodeError, DecodeLimits, Decoded, Empty, Encoding, HttpConnection,
    RequestError, decode_response,
};
use pool_testkit::alloc::{self, Counting};
use pool_testkit::origin::{CODINGS, bomb, encoded_content};
use pool_testkit::{H2Origin, H2OriginOptions, H3Origin, H3OriginOptions, TestCa};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time: the allocator's counts are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const HOST: &str = "decode.test";

/// The three origins' pools (the origins run on `servers`, uncounted).
struct Rig {
    servers: tokio::runtime::Runtime,
    h2_origin: Arc<H2Origin>,
    h3_origin: Arc<H3Origin>,
    h1: Pool<H1Dialer>,
    h2: Pool<H2Dialer>,
    h3: Pool<QuicDialer>,
}

impl Rig {
    async fn start(last: u8) -> Rig {
        let servers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(alloc::exclude_current_thread)
            .enable_all()
            .build()
            .unwrap();
        let ca = Arc::new(TestCa::new().unwrap());
        let addrs = [IpAddr::from([127, 0, 0, last])];
        let (h2_options, h3_options) = (
            H2OriginOptions::new(&addrs, &[HOST], &ca),
            H3OriginOptions::new(&addrs, &[HOST], &ca),
        );
        let (h2_origin, h3_origin) = servers
            .spawn(async move {
                (
                    Arc::new(H2Origin::start(h2_options).await.unwrap()),
                    Arc::new(H3Origin::start(h3_options).await.unwrap()),
                )
            })
            .await
            .unwrap();
        let trust = Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
            ..Trust::default()
        };
        let tls = TlsOptions {
            trust: trust.clone(),
            conn_timeout: Duration::from_secs(5),
            ..TlsOptions::default()
        };
        let mut h2_options = H2Options::default();
        h2_options.tls.trust = tls.trust.clone();
        h2_options.tls.conn_timeout = tls.conn_timeout;
        let quic = QuicOptions {
            trust,
            conn_timeout: Duration::from_secs(5),
            ..QuicOptions::default()
        };
        let pool_options = || PoolOptions {
            checkout_timeout: Duration::from_secs(10),
            ..PoolOptions::default()
        };
        let h1 = Pool::new(H1Dialer::new(tls).unwrap(), pool_options()).unwrap();
        let h2 = Pool::new(H2Dialer::new(h2_options).unwrap(), pool_options()).unwrap();
        let h3 = Pool::new(QuicDialer::new(quic).unwrap(), pool_options()).unwrap();
        h1.set_addrs(HOST, h2_origin.socket_addrs());
        h2.set_addrs(HOST, h2_origin.socket_addrs());
        h3.set_addrs(HOST, h3_origin.socket_addrs());
        Rig {
            servers,
            h2_origin,
            h3_origin,
            h1,
            h2,
            h3,
        }
    }

    async fn stop(self) {
        self.h1.close().await;
        self.h2.close().await;
        self.h3.close().await;
        let (h2, h3) = (self.h2_origin, self.h3_origin);
        self.servers
            .spawn(async move {
                h2.shutdown().await;
                h3.shutdown().await;
            })
            .await
            .unwrap();
        self.servers.shutdown_background();
    }
}

/// What a GET of `path` came to: the response head, and the decoded body or its error;
/// with the most heap bytes held above the level at the start of the body's read.
struct Fetched {
    head: http::response::Parts,
    body: Result<Vec<u8>, RequestError>,
    held: i64,
}

/// GETs `path` with `Accept-Encoding` and decodes the answer within `limits`, keeping
/// the body when `keep` (a long one is read and dropped).
async fn fetch<D>(pool: &Pool<D>, path: &str, limits: DecodeLimits, keep: bool) -> Fetched
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    let request = http::Request::get(path)
        .header(header::ACCEPT_ENCODING, DEFAULT_ACCEPT_ENCODING)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = pool_http::send(pool, HOST, request).await.unwrap();
    let (head, mut body) = decode_response(response, limits).into_parts();
    let before = alloc::live_bytes();
    alloc::reset_peak();
    let mut out = Vec::new();
    let mut error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && keep
                {
                    out.extend_from_slice(&data);
                }
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    drop(body);
    let held = alloc::peak_bytes() - before;
    assert!(before > 0, "the allocator counts");
    Fetched {
        head,
        body: error.map_or(Ok(out), Err),
        held,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_coding_decodes_over_h1_h2_and_h3() {
    let _serial = SERIAL.lock().await;
    let rig = Rig::start(81).await;
    const N: usize = 300_000;
    let content = encoded_content(N);
    for (coding, _) in CODINGS {
        let path = format!("/encoded/{coding}/{N}");
        for (protocol, fetched) in [
            (
                "h1",
                fetch(&rig.h1, &path, DecodeLimits::default(), true).await,
            ),
            (
                "h2",
                fetch(&rig.h2, &path, DecodeLimits::default(), true).await,
            ),
            (
                "h3",
                fetch(&rig.h3, &path, DecodeLimits::default(), true).await,
            ),
        ] {
            assert_eq!(fetched.head.status, 200, "{coding} over {protocol}");
            assert!(
                fetched.head.headers.get(header::CONTENT_ENCODING).is_none()
                    && fetched.head.headers.get(header::CONTENT_LENGTH).is_none(),
                "{coding} over {protocol}: the coding's headers are removed"
            );
            let body = fetched
                .body
                .unwrap_or_else(|e| panic!("{coding} over {protocol}: {e}"));
            assert!(body == content, "{coding} over {protocol}: wrong bytes");
        }
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bomb_ends_in_the_typed_error_with_the_memory_bounded() {
    let _serial = SERIAL.lock().await;
    let rig = Rig::start(82).await;
    for (coding, _) in CODINGS {
        let size = bomb(coding).unwrap().len() as i64;
        let path = format!("/bomb/{coding}");
        for (protocol, fetched) in [
            (
                "h1",
                fetch(&rig.h1, &path, DecodeLimits::default(), false).await,
            ),
            (
                "h2",
                fetch(&rig.h2, &path, DecodeLimits::default(), false).await,
            ),
            (
                "h3",
                fetch(&rig.h3, &path, DecodeLimits::default(), false).await,
            ),
        ] {
            match fetched.body {
                Err(RequestError::Decode(DecodeError::RatioExceeded {
                    limit: 100,
                    decoded,
                    compressed,
                })) => assert!(decoded > 1 << 20 && decoded > 100 * compressed),
                other => panic!("{coding} over {protocol}: {other:?}"),
            }
            // At most the whole compressed body buffered by the transport (a bomb is at
            // most ~1 MiB), plus the decoder's chunks and window (measured: 0.1-0.5 MiB),
            // for 1 GiB.
            assert!(
                fetched.held < size + (1 << 20),
                "{coding} over {protocol}: {} bytes held",
                fetched.held
            );
        }
    }
    // Each pool still serves after its bombs (HTTP/1.1: on a new connection).
    for fetched in [
        fetch(&rig.h1, "/1k", DecodeLimits::default(), true).await,
        fetch(&rig.h2, "/1k", DecodeLimits::default(), true).await,
        fetch(&rig.h3, "/1k", DecodeLimits::default(), true).await,
    ] {
        assert_eq!(fetched.body.unwrap().len(), 1024);
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ratio_bound_a_bomb_streams_to_the_size_bound_in_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let rig = Rig::start(83).await;
    const LIMIT: u64 = 32 << 20;
    let limits = DecodeLimits {
        max_decoded: Some(LIMIT),
        ..DecodeLimits::UNLIMITED
    };
    for (coding, _) in CODINGS {
        let size = bomb(coding).unwrap().len() as i64;
        let fetched = fetch(&rig.h2, &format!("/bomb/{coding}"), limits, false).await;
        match fetched.body {
            Err(RequestError::Decode(DecodeError::TooLarge { limit: LIMIT })) => {}
            other => panic!("{coding}: {other:?}"),
        }
        // 32 MiB decoded and handed out, a few MiB ever held.
        assert!(
            fetched.held < size + (1 << 20),
            "{coding}: {} bytes held",
            fetched.held
        );
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_is_not_in_its_coding_is_a_typed_error() {
    let _serial = SERIAL.lock().await;
    let rig = Rig::start(84).await;
    // `/1k` is plain text: read as gzip over a real HTTP/2 body, it is corrupt.
    let response = pool_http::send(
        &rig.h2,
        HOST,
        http::Request::get("/1k")
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await
    .unwrap();
    let body = Decoded::new(
        response.into_body(),
        &[Encoding::Gzip],
        DecodeLimits::default(),
    );
    match body.collect().await {
        Err(RequestError::Decode(DecodeError::Corrupt {
            encoding: Encoding::Gzip,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    rig.stop().await;
}
