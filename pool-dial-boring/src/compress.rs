//! Certificate decompression (RFC 8879) for the algorithms the profiles offer: the client
//! only ever decompresses (the server compresses its certificate chain).

use std::io::{Read, Write};

use btls::ssl::{CertificateCompressionAlgorithm, CertificateCompressor, SslContextBuilder};

use crate::profiles::CertCompression;

/// The largest decompressed certificate message accepted (BoringSSL also checks the
/// length the peer announced).
const MAX_CERT: u64 = 1 << 20;

struct Brotli;
struct Zlib;
struct Zstd;

fn copy_bounded(mut from: impl Read, out: &mut impl Write) -> std::io::Result<()> {
    let mut limited = (&mut from).take(MAX_CERT + 1);
    let n = std::io::copy(&mut limited, out)?;
    if n > MAX_CERT {
        return Err(std::io::Error::other("decompressed certificate too large"));
    }
    Ok(())
}

impl CertificateCompressor for Brotli {
    const ALGORITHM: CertificateCompressionAlgorithm = CertificateCompressionAlgorithm::BROTLI;
    const CAN_COMPRESS: bool = false;
    const CAN_DECOMPRESS: bool = true;

    fn decompress<W: Write>(&self, input: &[u8], output: &mut W) -> std::io::Result<()> {
        copy_bounded(brotli_decompressor::Decompressor::new(input, 4096), output)
    }
}

impl CertificateCompressor for Zlib {
    const ALGORITHM: CertificateCompressionAlgorithm = CertificateCompressionAlgorithm::ZLIB;
    const CAN_COMPRESS: bool = false;
    const CAN_DECOMPRESS: bool = true;

    fn decompress<W: Write>(&self, input: &[u8], output: &mut W) -> std::io::Result<()> {
        copy_bounded(flate2::read::ZlibDecoder::new(input), output)
    }
}

impl CertificateCompressor for Zstd {
    const ALGORITHM: CertificateCompressionAlgorithm = CertificateCompressionAlgorithm::ZSTD;
    const CAN_COMPRESS: bool = false;
    const CAN_DECOMPRESS: bool = true;

    fn decompress<W: Write>(&self, input: &[u8], output: &mut W) -> std::io::Result<()> {
        let decoder = ruzstd::decoding::StreamingDecoder::new(input)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        copy_bounded(decoder, output)
    }
}

/// Registers `algorithm`'s decompressor on `ctx` (the extension lists them in the order
/// registered).
pub(crate) fn register(
    ctx: &mut SslContextBuilder,
    algorithm: CertCompression,
) -> Result<(), btls::error::ErrorStack> {
    match algorithm {
        CertCompression::Brotli => ctx.add_certificate_compression_algorithm(Brotli),
        CertCompression::Zlib => ctx.add_certificate_compression_algorithm(Zlib),
        CertCompression::Zstd => ctx.add_certificate_compression_algorithm(Zstd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_round_trip_and_bound() {
        let data = vec![7u8; 5000];
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        let packed = enc.finish().unwrap();
        let mut out = Vec::new();
        Zlib.decompress(&packed, &mut out).unwrap();
        assert_eq!(out, data);

        let huge = vec![0u8; (MAX_CERT + 10) as usize];
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&huge).unwrap();
        let packed = enc.finish().unwrap();
        assert!(Zlib.decompress(&packed, &mut Vec::new()).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(Brotli.decompress(&[0xff; 16], &mut Vec::new()).is_err());
        assert!(Zstd.decompress(&[0xff; 16], &mut Vec::new()).is_err());
    }
}
