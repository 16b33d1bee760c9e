//! The incremental decoders behind [`Decoded`](super::Decoded): one per content coding,
//! each pushed with whatever compressed bytes have arrived and asked for at most one
//! output buffer at a time, so the memory a decoder holds is its own window plus one
//! chunk, never the body.
//!
//! All pure Rust: `flate2` (miniz_oxide) for deflate and gzip (the gzip framing, CRC-32
//! and length check are here), `brotli-decompressor`, `ruzstd` (frames split into whole
//! blocks here, so that it never reads past what has arrived). `docs/decompression.md`
//! says why these.

use flate2::{Crc, Decompress, FlushDecompress, Status};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use std::io::Read as _;

use super::{DecodeError, Encoding, ZSTD_MAX_WINDOW};

/// What one call of [`Codec::decode`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Step {
    /// Input bytes consumed (from the front of the slice given).
    pub(super) consumed: usize,
    /// Output bytes written (to the front of the buffer given).
    pub(super) written: usize,
}

/// An incremental decoder of one content coding.
pub(super) trait Codec: Send {
    /// Decodes from the front of `input` into `out`. Consuming and writing nothing means
    /// the decoder needs more contiguous input than `input` holds (the caller joins the
    /// next input to what is left), or, with `input` empty, that it has nothing to give.
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeError>;

    /// Whether the input so far ends at a complete stream (the body may end here).
    fn at_end(&self) -> bool;
}

/// The decoder of `encoding`.
pub(super) fn codec(encoding: Encoding) -> Box<dyn Codec> {
    match encoding {
        Encoding::Gzip => Box::new(Gzip::Header(GzipHeader::Fixed)),
        Encoding::Deflate => Box::new(Deflate(None)),
        Encoding::Brotli => Box::new(Brotli::new()),
        Encoding::Zstd => Box::new(Zstd::new()),
    }
}

fn corrupt(encoding: Encoding, reason: impl Into<String>) -> DecodeError {
    DecodeError::Corrupt {
        encoding,
        reason: reason.into(),
    }
}

/// A deflate stream (zlib-wrapped or raw) through `flate2`.
struct Flate {
    inner: Decompress,
    encoding: Encoding,
    ended: bool,
}

impl Flate {
    fn new(zlib: bool, encoding: Encoding) -> Self {
        Self {
            inner: Decompress::new(zlib),
            encoding,
            ended: false,
        }
    }

    /// Decodes until the end of the deflate stream (the bytes after it are not consumed).
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeError> {
        if self.ended {
            return Ok(Step::default());
        }
        let (in0, out0) = (self.inner.total_in(), self.inner.total_out());
        let status = self
            .inner
            .decompress(input, out, FlushDecompress::None)
            .map_err(|e| corrupt(self.encoding, e.to_string()))?;
        if status == Status::StreamEnd {
            self.ended = true;
        }
        Ok(Step {
            consumed: usize::try_from(self.inner.total_in() - in0).unwrap_or(usize::MAX),
            written: usize::try_from(self.inner.total_out() - out0).unwrap_or(usize::MAX),
        })
    }
}

/// `deflate`: RFC 9110 says zlib (RFC 1950); some servers send a raw deflate stream
/// (RFC 1951), which browsers accept: the first two bytes decide, as in browsers.
struct Deflate(Option<Flate>);

/// Whether two bytes are a zlib header: deflate method, a window of at most 32 KiB, and
/// the check bits (the 16-bit big-endian value is a multiple of 31).
fn is_zlib_header(b0: u8, b1: u8) -> bool {
    b0 & 0x0f == 8 && b0 >> 4 <= 7 && (u16::from(b0) << 8 | u16::from(b1)) % 31 == 0
}

impl Codec for Deflate {
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeError> {
        let flate = match &mut self.0 {
            Some(flate) => flate,
            None => {
                let [b0, b1, ..] = *input else {
                    return Ok(Step::default());
                };
                self.0
                    .insert(Flate::new(is_zlib_header(b0, b1), Encoding::Deflate))
            }
        };
        if flate.ended && !input.is_empty() {
            return Err(corrupt(
                Encoding::Deflate,
                "data after the end of the stream",
            ));
        }
        flate.decode(input, out)
    }

    fn at_end(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.ended)
    }
}

/// `gzip` (RFC 1952): members one after another (each decoded in turn, as zlib and
/// browsers do), each a header, a raw deflate stream, and a CRC-32 + length trailer that
/// is checked.
enum Gzip {
    /// In a member's header (parsed as it arrives: a long name costs no re-scan).
    Header(GzipHeader),
    /// In a member's deflate stream.
    Body { flate: Box<Flate>, crc: Crc },
    /// After a member's deflate stream: its 8-byte trailer is next.
    Trailer { crc: Crc },
    /// After a whole member: the body may end, or another member follow.
    MemberEnd,
}

/// Where a gzip header's parse is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GzipHeader {
    /// The 10 fixed bytes.
    Fixed,
    /// The 2-byte length of the extra field.
    ExtraLen { flags: u8 },
    /// Skipping the extra field: bytes left.
    Extra { flags: u8, left: usize },
    /// Skipping the file name, up to its NUL.
    Name { flags: u8 },
    /// Skipping the comment, up to its NUL.
    Comment { flags: u8 },
    /// The 2-byte header CRC.
    HeaderCrc,
}

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

impl GzipHeader {
    /// The part after the extra field, by the flags.
    fn after_extra(flags: u8) -> Option<GzipHeader> {
        if flags & FNAME != 0 {
            Some(GzipHeader::Name { flags })
        } else {
            GzipHeader::after_name(flags)
        }
    }

    fn after_name(flags: u8) -> Option<GzipHeader> {
        if flags & FCOMMENT != 0 {
            Some(GzipHeader::Comment { flags })
        } else {
            GzipHeader::after_comment(flags)
        }
    }

    fn after_comment(flags: u8) -> Option<GzipHeader> {
        (flags & FHCRC != 0).then_some(GzipHeader::HeaderCrc)
    }

    /// Parses from the front of `input`: the bytes consumed and the next part (`None`:
    /// the header is complete). Consuming nothing means more contiguous input is needed.
    fn parse(self, input: &[u8]) -> Result<(usize, Option<GzipHeader>), DecodeError> {
        let fixed = |n: usize| input.get(..n);
        Ok(match self {
            GzipHeader::Fixed => {
                let check = |i: usize, ok: bool, what: &str| match input.get(i) {
                    Some(_) if !ok => Err(corrupt(Encoding::Gzip, what)),
                    _ => Ok(()),
                };
                check(0, input.first() == Some(&0x1f), "not a gzip header")?;
                check(1, input.get(1) == Some(&0x8b), "not a gzip header")?;
                check(
                    2,
                    input.get(2) == Some(&8),
                    "compression method is not deflate",
                )?;
                check(
                    3,
                    input.get(3).is_some_and(|f| f & 0xe0 == 0),
                    "reserved flags set",
                )?;
                let Some(header) = fixed(10) else {
                    return Ok((0, Some(self)));
                };
                let flags = header[3];
                let next = if flags & FEXTRA != 0 {
                    Some(GzipHeader::ExtraLen { flags })
                } else {
                    GzipHeader::after_extra(flags)
                };
                (10, next)
            }
            GzipHeader::ExtraLen { flags } => match fixed(2) {
                Some(len) => {
                    let left = usize::from(u16::from_le_bytes([len[0], len[1]]));
                    (2, Some(GzipHeader::Extra { flags, left }))
                }
                None => (0, Some(self)),
            },
            GzipHeader::Extra { flags, left } => {
                let n = left.min(input.len());
                if n == left {
                    (n, GzipHeader::after_extra(flags))
                } else {
                    (
                        n,
                        Some(GzipHeader::Extra {
                            flags,
                            left: left - n,
                        }),
                    )
                }
            }
            GzipHeader::Name { flags } | GzipHeader::Comment { flags } => {
                match input.iter().position(|&b| b == 0) {
                    Some(nul) if self == (GzipHeader::Name { flags }) => {
                        (nul + 1, GzipHeader::after_name(flags))
                    }
                    Some(nul) => (nul + 1, GzipHeader::after_comment(flags)),
                    None => (input.len(), Some(self)),
                }
            }
            GzipHeader::HeaderCrc => match fixed(2) {
                Some(_) => (2, None),
                None => (0, Some(self)),
            },
        })
    }
}

impl Codec for Gzip {
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeError> {
        // Through as many parts as the input allows; back with the first output (or when
        // stuck: `consumed` then says whether anything moved).
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            match self {
                Gzip::MemberEnd => match rest.first() {
                    None => break,
                    Some(&0x1f) => *self = Gzip::Header(GzipHeader::Fixed),
                    Some(_) => {
                        return Err(corrupt(Encoding::Gzip, "data after the end of the stream"));
                    }
                },
                Gzip::Header(part) => {
                    let (n, next) = part.parse(rest)?;
                    consumed += n;
                    match next {
                        None => {
                            *self = Gzip::Body {
                                flate: Box::new(Flate::new(false, Encoding::Gzip)),
                                crc: Crc::new(),
                            }
                        }
                        Some(next) if n == 0 && next == *part => break,
                        Some(next) => *part = next,
                    }
                }
                Gzip::Body { flate, crc } => {
                    let step = flate.decode(rest, out)?;
                    crc.update(&out[..step.written]);
                    if flate.ended {
                        let crc = std::mem::take(crc);
                        *self = Gzip::Trailer { crc };
                    }
                    return Ok(Step {
                        consumed: consumed + step.consumed,
                        written: step.written,
                    });
                }
                Gzip::Trailer { crc } => {
                    let Some(trailer) = rest.get(..8) else {
                        break;
                    };
                    let sum = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    let len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    if sum != crc.sum() {
                        return Err(corrupt(Encoding::Gzip, "CRC-32 mismatch"));
                    }
                    if len != crc.amount() {
                        return Err(corrupt(Encoding::Gzip, "length mismatch"));
                    }
                    consumed += 8;
                    *self = Gzip::MemberEnd;
                }
            }
        }
        Ok(Step {
            consumed,
            written: 0,
        })
    }

    fn at_end(&self) -> bool {
        matches!(self, Gzip::MemberEnd)
    }
}

type BrotliState = brotli_decompressor::BrotliState<
    brotli_decompressor::StandardAlloc,
    brotli_decompressor::StandardAlloc,
    brotli_decompressor::StandardAlloc,
>;

/// `br` (RFC 7932) through `brotli-decompressor`, strict (no large-window streams: the
/// window stays within RFC 7932's 16 MiB).
struct Brotli {
    state: Box<BrotliState>,
    ended: bool,
}

impl Brotli {
    fn new() -> Self {
        let alloc = brotli_decompressor::StandardAlloc::default;
        Self {
            state: Box::new(BrotliState::new_strict(alloc(), alloc(), alloc())),
            ended: false,
        }
    }
}

impl Codec for Brotli {
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeError> {
        use brotli_decompressor::BrotliResult;
        if self.ended {
            if input.is_empty() {
                return Ok(Step::default());
            }
            return Err(corrupt(
                Encoding::Brotli,
                "data after the end of the stream",
            ));
        }
        let (mut available_in, mut input_offset) = (input.len(), 0);
        let (mut available_out, mut output_offset, mut total) = (out.len(), 0, 0);
        let result = brotli_decompressor::BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            input,
            &mut available_out,
            &mut output_offset,
            out,
            &mut total,
            &mut self.state,
        );
        match result {
            BrotliResult::ResultSuccess => self.ended = true,
            BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => {}
            BrotliResult::ResultFailure => {
                return Err(corrupt(Encoding::Brotli, "invalid brotli stream"));
            }
        }
        Ok(Step {
            consumed: input_offset,
            written: output_offset,
        })
    }

    fn at_end(&self) -> bool {
        self.ended
    }
}

/// The largest zstd block (RFC 8878 §3.1.1.2.4: `Block_Maximum_Size`).
const ZSTD_MAX_BLOCK: usize = 128 << 10;
const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// Where a [`Zstd`] decoder is in its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ZstdAt {
    /// Before a frame (the body may end here once a frame has been read).
    FrameStart,
    /// Skipping the rest of a skippable frame.
    Skip(u64),
    /// Between the blocks of a frame.
    Blocks { checksum: bool },
    /// The frame's last block is decoded; its output is being drained.
    Draining,
}

/// `zstd` (RFC 8878) through `ruzstd`'s frame decoder, fed one whole block at a time
/// (its reader must never run dry mid-block); frames one after another, skippable frames
/// skipped, a window over [`ZSTD_MAX_WINDOW`] refused (RFC 9659), content checksums
/// checked.
struct Zstd {
    decoder: FrameDecoder,
    at: ZstdAt,
    frames: u64,
}

impl Zstd {
    fn new() -> Self {
        Self {
            decoder: FrameDecoder::new(),
            at: ZstdAt::FrameStart,
            frames: 0,
        }
    }

    /// Starts the frame whose header begins `input`: how many bytes the header took,
    /// `None` while it is incomplete.
    fn frame_header(&mut self, input: &[u8]) -> Result<Option<usize>, DecodeError> {
        let Some(magic) = input.get(..4) else {
            return Ok(None);
        };
        let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let Some(size) = input.get(4..8) else {
                return Ok(None);
            };
            let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
            self.at = ZstdAt::Skip(u64::from(size));
            return Ok(Some(8));
        }
        if magic != ZSTD_MAGIC {
            let reason = if self.frames == 0 {
                "not a zstd frame"
            } else {
                "data after the end of the stream"
            };
            return Err(corrupt(Encoding::Zstd, reason));
        }
        let Some(&descriptor) = input.get(4) else {
            return Ok(None);
        };
        let single_segment = descriptor & 0x20 != 0;
        if descriptor & 0x08 != 0 {
            return Err(corrupt(Encoding::Zstd, "reserved frame header bit set"));
        }
        let window_len = usize::from(!single_segment);
        let dict_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
        let fcs_len = match descriptor >> 6 {
            0 => usize::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let len = 5 + window_len + dict_len + fcs_len;
        let Some(header) = input.get(..len) else {
            return Ok(None);
        };
        if header[5 + window_len..5 + window_len + dict_len]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(corrupt(Encoding::Zstd, "frame needs a dictionary"));
        }
        let window = if single_segment {
            let mut fcs = [0u8; 8];
            fcs[..fcs_len].copy_from_slice(&header[len - fcs_len..]);
            u64::from_le_bytes(fcs) + if fcs_len == 2 { 256 } else { 0 }
        } else {
            let exponent = u32::from(header[5] >> 3);
            let base = 1u64 << (10 + exponent);
            base + base / 8 * u64::from(header[5] & 7)
        };
        if window > ZSTD_MAX_WINDOW {
            return Err(DecodeError::WindowTooLarge {
                window,
                limit: ZSTD_MAX_WINDOW,
            });
        }
        self.decoder
            .reset(header)
            .map_err(|e| corrupt(Encoding::Zstd, e.to_string()))?;
        self.at = ZstdAt::Blocks {
            checksum: descriptor & 0x04 != 0,
        };
        Ok(Some(len))
    }

    /// Decodes the block at the front of `input` if it is all there: the bytes taken.
    fn block(&mut self, input: &[u8], checksum: bool) -> Result<usize, DecodeError> {
        let Some(header) = input.get(..3) else {
            return Ok(0);
        };
        let header = u32::from_le_bytes([header[0], header[1], header[2], 0]);
        let last = header & 1 != 0;
        let size = (header >> 3) as usize;
        if size > ZSTD_MAX_BLOCK {
            return Err(corrupt(Encoding::Zstd, "block larger than 128 KiB"));
        }
        let content = match (header >> 1) & 3 {
            0 | 2 => size,
            1 => 1,
            _ => return Err(corrupt(Encoding::Zstd, "reserved block type")),
        };
        let len = 3 + content + if last && checksum { 4 } else { 0 };
        let Some(block) = input.get(..len) else {
            return Ok(0);
        };
        self.decoder
            .decode_blocks(block, BlockDecodingStrategy::UptoBlocks(1))
            .map_err(|e| corrupt(Encoding::Zstd, e.to_string()))?;
        if last {
            self.at = ZstdAt::Draining;
        }
        Ok(len)
    }
}

impl Codec for Zstd {
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeError> {
        let written = self
            .decoder
            .read(out)
            .map_err(|e| corrupt(Encoding::Zstd, e.to_string()))?;
        if written > 0 {
            return Ok(Step {
                consumed: 0,
                written,
            });
        }
        if self.at == ZstdAt::Draining {
            // All drained: the checksum covers every byte read out.
            if let (Some(sent), Some(computed)) = (
                self.decoder.get_checksum_from_data(),
                self.decoder.get_calculated_checksum(),
            ) && sent != computed
            {
                return Err(corrupt(Encoding::Zstd, "content checksum mismatch"));
            }
            self.at = ZstdAt::FrameStart;
            self.frames += 1;
        }
        let consumed = match self.at {
            ZstdAt::Draining => 0,
            ZstdAt::FrameStart => self.frame_header(input)?.unwrap_or(0),
            ZstdAt::Skip(left) => {
                let n = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                self.at = match left - n as u64 {
                    0 => ZstdAt::FrameStart,
                    left => ZstdAt::Skip(left),
                };
                n
            }
            ZstdAt::Blocks { checksum } => self.block(input, checksum)?,
        };
        Ok(Step {
            consumed,
            written: 0,
        })
    }

    fn at_end(&self) -> bool {
        self.at == ZstdAt::FrameStart && self.frames > 0
    }
}
