//! Encoded bodies the origins serve (`/encoded/{coding}/{n}`, `/bomb/{coding}`), for the
//! client's decompression tests: known content in each `Content-Encoding`, and
//! decompression bombs built once and cheaply (a repeated block, never 1 GiB compressed).

use std::io::Write as _;
use std::sync::OnceLock;

use bytes::Bytes;

/// The size a `/bomb/{coding}` body decodes to: 1 GiB of zero bytes.
pub const BOMB_DECODED_SIZE: u64 = 1 << 30;

/// The largest `n` of `/encoded/{coding}/{n}` (64 MiB): the body is built in memory.
pub const MAX_ENCODED_CONTENT: usize = 64 << 20;

/// The codings the origins can serve: the `{coding}` of `/encoded/{coding}/{n}` and
/// `/bomb/{coding}`, and the `Content-Encoding` each is served with.
///
/// `deflate` is zlib-wrapped (RFC 9110); `deflate-raw` is a raw deflate stream served as
/// `Content-Encoding: deflate`, as some servers do.
pub const CODINGS: [(&str, &str); 5] = [
    ("gzip", "gzip"),
    ("deflate", "deflate"),
    ("deflate-raw", "deflate"),
    ("br", "br"),
    ("zstd", "zstd"),
];

/// The `Content-Encoding` a path coding is served with, `None` for an unknown one.
pub(crate) fn content_encoding(coding: &str) -> Option<&'static str> {
    CODINGS
        .iter()
        .find_map(|&(name, header)| (name == coding).then_some(header))
}

/// The first `n` bytes of the content `/encoded/{coding}/{n}` encodes: numbered lines of
/// text, compressible like a page (about 5:1 with gzip), never all one byte.
pub fn encoded_content(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        let _ = writeln!(out, "{i:08} hotpool test content {:04}", i * 7919 % 10_000);
        i += 1;
    }
    out.truncate(n);
    out
}

/// `data` encoded in `coding` (see [`CODINGS`]), `None` for an unknown coding. Fast
/// settings: the bodies are built per request.
pub fn encode(coding: &str, data: &[u8]) -> Option<Vec<u8>> {
    fn flate<W: std::io::Write>(mut w: W, data: &[u8]) -> W {
        w.write_all(data).expect("writing to memory");
        w
    }
    let level = flate2::Compression::fast();
    Some(match coding {
        "gzip" => flate(flate2::write::GzEncoder::new(Vec::new(), level), data)
            .finish()
            .ok()?,
        "deflate" => flate(flate2::write::ZlibEncoder::new(Vec::new(), level), data)
            .finish()
            .ok()?,
        "deflate-raw" => flate(flate2::write::DeflateEncoder::new(Vec::new(), level), data)
            .finish()
            .ok()?,
        "br" => flate(brotli::CompressorWriter::new(Vec::new(), 4096, 1, 20), data).into_inner(),
        "zstd" => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        _ => return None,
    })
}

/// The `/bomb/{coding}` body (built on first use, then shared): a valid stream in
/// `coding` that decodes to [`BOMB_DECODED_SIZE`] zero bytes; `None` for an unknown
/// coding.
pub fn bomb(coding: &str) -> Option<Bytes> {
    static BOMBS: [OnceLock<Bytes>; 5] = [const { OnceLock::new() }; 5];
    let i = CODINGS.iter().position(|&(name, _)| name == coding)?;
    let mib = BOMB_DECODED_SIZE >> 20;
    Some(
        BOMBS[i]
            .get_or_init(|| Bytes::from(build_bomb(coding, mib)))
            .clone(),
    )
}

/// A stream in `coding` of `mib` MiB of zeros (`mib` ≥ 2).
pub(crate) fn build_bomb(coding: &str, mib: u64) -> Vec<u8> {
    match coding {
        "zstd" => zstd_zeros(mib),
        "br" => repeat_flushed(mib, |n| {
            let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 16);
            let mut marks = Vec::new();
            for _ in 0..n {
                w.write_all(&ZEROS_MIB[..]).expect("to memory");
                w.flush().expect("to memory");
                marks.push(w.get_ref().len());
            }
            let out = w.into_inner();
            marks.push(out.len());
            (out, marks)
        }),
        "gzip" | "deflate" | "deflate-raw" => {
            let raw = repeat_flushed(mib, deflate_zeros);
            let mut out = Vec::with_capacity(raw.len() + 18);
            match coding {
                "gzip" => {
                    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
                    out.extend_from_slice(&raw);
                    let mut one = flate2::Crc::new();
                    one.update(&ZEROS_MIB[..]);
                    let mut all = flate2::Crc::new();
                    for _ in 0..mib {
                        all.combine(&one);
                    }
                    out.extend_from_slice(&all.sum().to_le_bytes());
                    out.extend_from_slice(&((mib << 20) as u32).to_le_bytes());
                }
                "deflate" => {
                    out.extend_from_slice(&[0x78, 0x01]);
                    out.extend_from_slice(&raw);
                    // Adler-32 of zeros: a = 1, b = 1 per byte.
                    let b = ((mib << 20) % 65_521) as u32;
                    out.extend_from_slice(&(b << 16 | 1).to_be_bytes());
                }
                _ => out = raw,
            }
            out
        }
        _ => Vec::new(),
    }
}

static ZEROS_MIB: [u8; 1 << 20] = [0; 1 << 20];

/// `mib` MiB of zeros in a coding whose encoder can flush to a byte boundary: `encode(n)`
/// encodes `n` MiB, flushing after each, and returns the stream and the stream length
/// after each flush (and at the end). The second MiB's bytes decode to 1 MiB of zeros
/// after any zeros, so they are repeated instead of encoding every MiB.
fn repeat_flushed(mib: u64, encode: impl Fn(u64) -> (Vec<u8>, Vec<usize>)) -> Vec<u8> {
    let (stream, marks) = encode(2);
    let (first, second, end) = (marks[0], marks[1], marks[2]);
    let mut out = Vec::with_capacity(first + (second - first) * mib as usize + 64);
    out.extend_from_slice(&stream[..first]);
    for _ in 1..mib {
        out.extend_from_slice(&stream[first..second]);
    }
    out.extend_from_slice(&stream[second..end]);
    out
}

/// `n` MiB of zeros as a raw deflate stream, sync-flushed after each MiB.
fn deflate_zeros(n: u64) -> (Vec<u8>, Vec<usize>) {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(8 << 10);
    let mut marks = Vec::new();
    // Until all of `input` is in and the flush is complete (room left in `out`).
    let mut run = |input: &[u8], flush, out: &mut Vec<u8>| {
        let start = c.total_in();
        loop {
            let done = (c.total_in() - start) as usize;
            out.reserve(64 << 10);
            let status = c.compress_vec(&input[done..], out, flush).expect("deflate");
            let all_in = (c.total_in() - start) as usize == input.len();
            if all_in && (status == flate2::Status::StreamEnd || out.len() < out.capacity()) {
                return;
            }
        }
    };
    for _ in 0..n {
        run(&ZEROS_MIB[..], flate2::FlushCompress::Sync, &mut out);
        marks.push(out.len());
    }
    run(&[], flate2::FlushCompress::Finish, &mut out);
    marks.push(out.len());
    (out, marks)
}

/// `mib` MiB of zeros as one zstd frame of RLE blocks (128 KiB from 4 bytes each).
fn zstd_zeros(mib: u64) -> Vec<u8> {
    const BLOCK: u32 = 128 << 10;
    let blocks = mib * 8;
    let mut out = Vec::with_capacity(6 + 4 * blocks as usize);
    // Magic, descriptor (no checksum, no content size), window 2^(10+7) = 128 KiB.
    out.extend_from_slice(&[0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3]);
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = (BLOCK << 3) | (1 << 1) | last;
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            "gzip" => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
            "deflate" => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out),
            "deflate-raw" => flate2::read::DeflateDecoder::new(data).read_to_end(&mut out),
            "br" => brotli::Decompressor::new(data, 4096).read_to_end(&mut out),
            "zstd" => ruzstd::decoding::StreamingDecoder::new(data)
                .expect("zstd header")
                .read_to_end(&mut out),
            _ => panic!("{coding}"),
        }
        .unwrap_or_else(|e| panic!("{coding}: {e}"));
        out
    }

    #[test]
    fn every_coding_round_trips() {
        let data = encoded_content(100_000);
        assert_eq!(&data[..38], b"00000000 hotpool test content 0000\n000");
        for (coding, _) in CODINGS {
            assert_eq!(
                decode(coding, &encode(coding, &data).unwrap()),
                data,
                "{coding}"
            );
        }
        assert!(encode("compress", &data).is_none());
        assert_eq!(content_encoding("deflate-raw"), Some("deflate"));
        assert_eq!(content_encoding("lzma"), None);
    }

    #[test]
    fn bombs_are_valid_small_and_decode_to_zeros() {
        for (coding, _) in CODINGS {
            let small = build_bomb(coding, 5);
            let decoded = decode(coding, &small);
            assert_eq!(decoded.len(), 5 << 20, "{coding}");
            assert!(decoded.iter().all(|&b| b == 0), "{coding}");
        }
        for (coding, _) in CODINGS {
            let full = bomb(coding).unwrap();
            assert!(full.len() < 2 << 20, "{coding}: {} bytes", full.len());
        }
        assert!(bomb("lzma").is_none());
    }
}
