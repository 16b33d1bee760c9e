//! The decoders against real encoders (flate2, brotli, ruzstd), fed whole and byte by
//! byte; the header rules; corrupt, truncated and bomb bodies.

use std::collections::VecDeque;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::BodyExt as _;

use super::*;

/// A body made of these frames, then optionally an error.
struct Frames {
    frames: VecDeque<Frame<Bytes>>,
    error: Option<RequestError>,
}

impl Frames {
    fn data(chunks: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self {
            frames: chunks
                .into_iter()
                .map(|c| Frame::data(Bytes::from(c)))
                .collect(),
            error: None,
        }
    }

    /// `bytes` split in chunks of `n`.
    fn split(bytes: &[u8], n: usize) -> Self {
        Self::data(bytes.chunks(n.max(1)).map(<[u8]>::to_vec))
    }
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        Poll::Ready(match self.frames.pop_front() {
            Some(frame) => Some(Ok(frame)),
            None => self.error.take().map(Err),
        })
    }
}

/// Known content: text that compresses like a web page (not all one byte).
fn content(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("line {i}: hotpool decodes {} ", i * 7919 % 1000).as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

fn encode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
    match encoding {
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Encoding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Encoding::Brotli => {
            let mut out = Vec::new();
            {
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                e.write_all(data).unwrap();
            }
            out
        }
        Encoding::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const ALL: [Encoding; 4] = [
    Encoding::Gzip,
    Encoding::Deflate,
    Encoding::Brotli,
    Encoding::Zstd,
];

/// Reads `body` to its end: the data (checking every chunk is at most
/// [`DECODE_CHUNK`]), the trailers, or the error.
async fn read<B>(body: B) -> (Result<Vec<u8>, RequestError>, Option<HeaderMap>)
where
    B: http_body::Body<Data = Bytes, Error = RequestError> + Unpin,
{
    let mut body = body;
    let mut out = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => {
                    assert!(data.len() <= DECODE_CHUNK, "a chunk of {}", data.len());
                    out.extend_from_slice(&data);
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            },
            Err(e) => {
                assert!(body.frame().await.is_none(), "nothing after an error");
                return (Err(e), trailers);
            }
        }
    }
    assert!(body.is_end_stream());
    (Ok(out), trailers)
}

async fn decode(
    codings: &[Encoding],
    body: Frames,
    limits: DecodeLimits,
) -> Result<Vec<u8>, RequestError> {
    read(Decoded::new(body, codings, limits)).await.0
}

fn decode_error(result: Result<Vec<u8>, RequestError>) -> DecodeError {
    match result {
        Err(RequestError::Decode(e)) => e,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_coding_decodes_whole_and_byte_by_byte() {
    for encoding in ALL {
        for n in [1, 1000, 300_000] {
            let data = content(n);
            let encoded = encode(encoding, &data);
            for split in [encoded.len(), 7, 1] {
                let decoded = decode(
                    &[encoding],
                    Frames::split(&encoded, split),
                    DecodeLimits::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("{encoding} n={n} split={split}: {e}"));
                assert!(
                    decoded == data,
                    "{encoding} n={n} split={split}: wrong bytes"
                );
            }
        }
    }
}

#[tokio::test]
async fn deflate_is_zlib_or_raw_and_gzip_may_have_several_members() {
    let data = content(50_000);
    let decoded = decode(
        &[Encoding::Deflate],
        Frames::split(&raw_deflate(&data), 100),
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(decoded.unwrap(), data);

    let mut two = encode(Encoding::Gzip, &data[..20_000]);
    two.extend(encode(Encoding::Gzip, &data[20_000..]));
    let decoded = decode(
        &[Encoding::Gzip],
        Frames::split(&two, 3),
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(decoded.unwrap(), data);

    // A header with a name, a comment and an extra field.
    let mut e = flate2::GzBuilder::new()
        .filename("page.html")
        .comment("a comment")
        .extra(vec![1, 2, 3, 4])
        .write(Vec::new(), flate2::Compression::fast());
    e.write_all(&data).unwrap();
    let decoded = decode(
        &[Encoding::Gzip],
        Frames::split(&e.finish().unwrap(), 5),
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(decoded.unwrap(), data);
}

#[tokio::test]
async fn every_gzip_header_field_is_skipped_even_one_byte_at_a_time() {
    let data = content(10_000);
    // FEXTRA (empty), FNAME (100 KiB long), FCOMMENT, FHCRC; one-byte frames (the
    // header is parsed as it comes, never re-scanned).
    let mut gz = vec![0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 0xff, 0, 0];
    gz.extend(std::iter::repeat_n(b'n', 100 << 10));
    gz.push(0);
    gz.extend_from_slice(b"a comment\0");
    gz.extend_from_slice(&[0xAB, 0xCD]);
    gz.extend(raw_deflate(&data));
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    gz.extend_from_slice(&crc.sum().to_le_bytes());
    gz.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let decoded = decode(
        &[Encoding::Gzip],
        Frames::split(&gz, 1),
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(decoded.unwrap(), data);
    // A header that is not gzip's: corrupt at once.
    let e = decode_error(
        decode(
            &[Encoding::Gzip],
            Frames::split(b"\x1f\x8b\x07", 1),
            DecodeLimits::default(),
        )
        .await,
    );
    assert!(matches!(e, DecodeError::Corrupt { .. }), "{e}");
}

#[tokio::test]
async fn zstd_frames_follow_each_other_and_skippable_frames_are_skipped() {
    let data = content(200_000);
    let mut stream = vec![0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 9, 9, 9];
    stream.extend(encode(Encoding::Zstd, &data[..70_000]));
    stream.extend(encode(Encoding::Zstd, &data[70_000..]));
    let decoded = decode(
        &[Encoding::Zstd],
        Frames::split(&stream, 1000),
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(decoded.unwrap(), data);
}

#[tokio::test]
async fn stacked_codings_are_undone_last_applied_first() {
    let data = content(100_000);
    let gzipped = encode(Encoding::Gzip, &data);
    let both = encode(Encoding::Brotli, &gzipped);
    let mut response = Response::new(Frames::split(&both, 999));
    response.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("gzip, br"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(both.len()));
    let response = decode_response(response, DecodeLimits::default());
    assert!(response.body().is_decoding());
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
    assert_eq!(read(response.into_body()).await.0.unwrap(), data);

    // Over MAX_CODINGS: a typed error, not four decoders.
    let body = Decoded::new(
        Frames::split(&both, 10),
        &[Encoding::Gzip; MAX_CODINGS + 1],
        DecodeLimits::default(),
    );
    assert_eq!(
        decode_error(read(body).await.0),
        DecodeError::TooManyCodings {
            count: MAX_CODINGS + 1
        }
    );
}

fn response_with(
    status: StatusCode,
    encoding: Option<&'static str>,
    body: &[u8],
) -> Response<Frames> {
    let mut response = Response::new(Frames::split(body, 64));
    *response.status_mut() = status;
    if let Some(encoding) = encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

#[tokio::test]
async fn what_passes_through_undecoded_with_its_headers() {
    let gz = encode(Encoding::Gzip, b"hello");
    for (status, encoding) in [
        (StatusCode::OK, None),
        (StatusCode::OK, Some("identity")),
        (StatusCode::OK, Some("compress")),
        (StatusCode::OK, Some("gzip, snappy")),
        (StatusCode::PARTIAL_CONTENT, Some("gzip")),
        (StatusCode::NO_CONTENT, Some("gzip")),
        (StatusCode::NOT_MODIFIED, Some("br")),
    ] {
        let response = decode_response(
            response_with(status, encoding, &gz),
            DecodeLimits::default(),
        );
        assert!(!response.body().is_decoding(), "{status} {encoding:?}");
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap()),
            encoding,
        );
        assert_eq!(read(response.into_body()).await.0.unwrap(), gz);
    }
    // Case, aliases, spaces, identity mixed in, several header lines.
    let mut response = response_with(StatusCode::OK, Some(" X-GZIP , identity"), &gz);
    response.headers_mut().append(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let response = decode_response(response, DecodeLimits::default());
    assert!(response.body().is_decoding());
    assert_eq!(read(response.into_body()).await.0.unwrap(), b"hello");
}

#[tokio::test]
async fn an_empty_body_with_a_coding_is_empty_and_trailers_come_after_the_data() {
    for encoding in ALL {
        assert_eq!(
            decode(&[encoding], Frames::data([]), DecodeLimits::default())
                .await
                .unwrap(),
            b""
        );
    }
    let data = content(100_000);
    let mut body = Frames::split(&encode(Encoding::Zstd, &data), 4096);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    body.frames.push_back(Frame::trailers(trailers.clone()));
    let (decoded, got) = read(Decoded::new(
        body,
        &[Encoding::Zstd],
        DecodeLimits::default(),
    ))
    .await;
    assert_eq!(decoded.unwrap(), data);
    assert_eq!(got, Some(trailers));
}

#[tokio::test]
async fn corrupt_and_truncated_data_are_typed_errors() {
    let data = content(100_000);
    for encoding in ALL {
        let encoded = encode(encoding, &data);
        let truncated = &encoded[..encoded.len() - 3];
        match decode_error(
            decode(
                &[encoding],
                Frames::split(truncated, 1000),
                DecodeLimits::default(),
            )
            .await,
        ) {
            DecodeError::Truncated { encoding: e } | DecodeError::Corrupt { encoding: e, .. } => {
                assert_eq!(e, encoding);
            }
            other => panic!("{encoding}: {other}"),
        }
        let garbage = content(5000);
        assert!(
            matches!(
                decode_error(decode(&[encoding], Frames::split(&garbage, 100), DecodeLimits::default()).await),
                DecodeError::Corrupt { encoding: e, .. } if e == encoding
            ) || matches!(
                // brotli has no magic number: text may read as the start of a stream
                decode_error(
                    decode(
                        &[encoding],
                        Frames::split(&garbage, 100),
                        DecodeLimits::default()
                    )
                    .await
                ),
                DecodeError::Truncated {
                    encoding: Encoding::Brotli
                }
            ),
            "{encoding}"
        );
        let mut trailing = encoded.clone();
        trailing.extend_from_slice(b"\0junk after the end");
        assert!(
            matches!(
                decode_error(
                    decode(
                        &[encoding],
                        Frames::split(&trailing, 1000),
                        DecodeLimits::default()
                    )
                    .await
                ),
                DecodeError::Corrupt { .. }
            ),
            "{encoding}"
        );
    }
    // A flipped bit in the deflate data of gzip: the CRC (or the stream) catches it.
    let mut gz = encode(Encoding::Gzip, &data);
    let mid = gz.len() / 2;
    gz[mid] ^= 0x10;
    assert!(matches!(
        decode_error(
            decode(
                &[Encoding::Gzip],
                Frames::split(&gz, 1000),
                DecodeLimits::default()
            )
            .await
        ),
        DecodeError::Corrupt {
            encoding: Encoding::Gzip,
            ..
        }
    ));
    // The inner body's own error passes through as it is.
    let mut body = Frames::split(&encode(Encoding::Gzip, &data), 1000);
    body.frames.truncate(1);
    body.error = Some(RequestError::Timeout(std::time::Duration::from_secs(1)));
    assert!(matches!(
        decode(&[Encoding::Gzip], body, DecodeLimits::default()).await,
        Err(RequestError::Timeout(_))
    ));
}

#[tokio::test]
async fn a_zstd_window_over_8_mib_is_refused_before_any_allocation() {
    // Magic, descriptor (no single segment, no checksum), window descriptor 2^(10+14) =
    // 16 MiB, then an RLE last block.
    let frame = [
        0x28,
        0xB5,
        0x2F,
        0xFD,
        0x00,
        14 << 3,
        0x0B,
        0x00,
        0x00,
        0x00,
    ];
    assert_eq!(
        decode_error(
            decode(
                &[Encoding::Zstd],
                Frames::split(&frame, 100),
                DecodeLimits::default()
            )
            .await
        ),
        DecodeError::WindowTooLarge {
            window: 16 << 20,
            limit: ZSTD_MAX_WINDOW
        }
    );
}

#[tokio::test]
async fn the_decoded_size_and_the_ratio_are_bounded() {
    let zeros = vec![0u8; 8 << 20];
    for encoding in ALL {
        let bomb = encode(encoding, &zeros);
        // Far over 100:1: stopped soon after the first MiB.
        let e = decode_error(
            decode(
                &[encoding],
                Frames::split(&bomb, 4096),
                DecodeLimits::default(),
            )
            .await,
        );
        let DecodeError::RatioExceeded {
            limit: 100,
            decoded,
            compressed,
        } = e
        else {
            panic!("{encoding}: {e}");
        };
        assert!(
            decoded > 1 << 20 && decoded <= (1 << 20) + 2 * DECODE_CHUNK as u64,
            "{encoding}: {decoded}"
        );
        assert!(decoded > 100 * compressed);
        // Without a ratio bound, a size bound.
        let limits = DecodeLimits {
            max_decoded: Some(3 << 20),
            ..DecodeLimits::UNLIMITED
        };
        assert_eq!(
            decode_error(decode(&[encoding], Frames::split(&bomb, 4096), limits).await),
            DecodeError::TooLarge { limit: 3 << 20 }
        );
        // No bound at all: all of it.
        let all = decode(
            &[encoding],
            Frames::split(&bomb, 4096),
            DecodeLimits::UNLIMITED,
        )
        .await;
        assert_eq!(all.unwrap().len(), zeros.len(), "{encoding}");
    }
    // Very compressible but small: under `ratio_after`, decoded.
    let small = vec![b' '; 1 << 20];
    let decoded = decode(
        &[Encoding::Gzip],
        Frames::data([encode(Encoding::Gzip, &small)]),
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(decoded.unwrap(), small);
}

#[test]
fn names_and_the_error_kind() {
    for encoding in ALL {
        assert_eq!(Encoding::from_token(encoding.as_str()), Some(encoding));
        assert_eq!(
            Encoding::from_token(&encoding.as_str().to_uppercase()),
            Some(encoding)
        );
    }
    assert_eq!(Encoding::from_token("x-gzip"), Some(Encoding::Gzip));
    assert_eq!(Encoding::from_token("compress"), None);
    for token in DEFAULT_ACCEPT_ENCODING.split(", ") {
        assert!(Encoding::from_token(token).is_some(), "{token}");
    }
    let e = RequestError::from(DecodeError::TooLarge { limit: 10 });
    assert_eq!(e.kind(), "decode");
    assert!(!e.is_retryable(&http::Method::GET, true));
    assert_eq!(
        e.to_string(),
        "response body not decoded: decoded body larger than 10 bytes"
    );
}

#[test]
fn a_decoded_body_is_send_when_its_inner_body_is() {
    fn send<T: Send>() {}
    send::<Decoded<Frames>>();
}

/// Decodes at once: every frame of a [`Frames`] body is ready, so no runtime is needed.
fn decode_now(codings: &[Encoding], body: Frames) -> Result<Vec<u8>, RequestError> {
    use http_body::Body as _;
    let mut body = Decoded::new(body, codings, DecodeLimits::UNLIMITED);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => out.extend_from_slice(&frame?.into_data().unwrap()),
            Poll::Ready(None) => return Ok(out),
            Poll::Pending => panic!("the frames are all ready"),
        }
    }
}

/// `bytes` cut at these lengths (cycled), the last piece whatever is left.
fn cut(bytes: &[u8], lengths: &[usize]) -> Frames {
    let mut pieces = Vec::new();
    let mut at = 0;
    for len in lengths.iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = bytes.len().min(at + len);
        pieces.push(bytes[at..end].to_vec());
        at = end;
    }
    Frames::data(pieces)
}

mod props {
    use proptest::prelude::*;

    use super::{ALL, content, cut, decode_now, encode};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the data, the coding (one, or two stacked) and where the frames are
        /// cut, the decoded body is the data.
        #[test]
        fn any_data_cut_anywhere_decodes_back(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..4000),
                (0usize..60_000).prop_map(content),
            ],
            lengths in proptest::collection::vec(1usize..3000, 1..8),
            first in 0usize..4,
            second in proptest::option::of(0usize..4),
        ) {
            let mut codings = vec![ALL[first]];
            let mut encoded = encode(ALL[first], &data);
            if let Some(second) = second {
                codings.push(ALL[second]);
                encoded = encode(ALL[second], &encoded);
            }
            let decoded = decode_now(&codings, cut(&encoded, &lengths));
            prop_assert_eq!(decoded.map_err(|e| TestCaseError::fail(e.to_string()))?, data);
        }
    }
}
