//! Decompression throughput of `pool_http::Decoded` (decoded bytes per second), per
//! content coding, on 8 MiB of page-like text held in memory (no I/O): what decoding adds
//! to a response's read. `cargo bench -p pool-http --bench decode`.

use std::collections::VecDeque;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body::{Body as _, Frame};
use pool_http::{DecodeLimits, Decoded, Encoding, RequestError};

/// 8 MiB of numbered text lines (compresses about like a web page).
fn content() -> Vec<u8> {
    let mut out = Vec::with_capacity(8 << 20);
    let mut i = 0u64;
    while out.len() < 8 << 20 {
        let _ = writeln!(out, "{i:08} hotpool bench content {:04}", i * 7919 % 10_000);
        i += 1;
    }
    out
}

fn encode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::default();
    match encoding {
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Encoding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Encoding::Brotli => {
            let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
            e.write_all(data).unwrap();
            e.into_inner()
        }
        Encoding::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        _ => unreachable!("a coding this bench does not know"),
    }
}

/// The encoded body in 16 KiB frames, as a transport hands them over.
struct Frames(VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// Decodes `encoded` whole; the decoded length.
fn decode(encoding: Encoding, encoded: &Bytes) -> usize {
    let frames = (0..encoded.len())
        .step_by(16 << 10)
        .map(|at| encoded.slice(at..encoded.len().min(at + (16 << 10))))
        .collect();
    let mut body = Decoded::new(Frames(frames), &[encoding], DecodeLimits::UNLIMITED);
    let mut cx = Context::from_waker(Waker::noop());
    let mut len = 0;
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => len += frame.unwrap().into_data().unwrap().len(),
            Poll::Ready(None) => return len,
            Poll::Pending => unreachable!("the frames are all in memory"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let data = content();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    for encoding in [
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Brotli,
        Encoding::Zstd,
    ] {
        let encoded = Bytes::from(encode(encoding, &data));
        assert_eq!(decode(encoding, &encoded), data.len());
        group.bench_function(encoding.as_str(), |b| {
            b.iter(|| decode(encoding, &encoded));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
