//! Response decompression: `Content-Encoding` gzip, deflate, br and zstd, decoded as the
//! body streams, within bounds.
//!
//! [`decode_response`] wraps a response's body in a [`Decoded`] body that yields the
//! decoded bytes frame by frame as the compressed frames arrive (trailers passed
//! through), and removes `Content-Encoding` and `Content-Length` when it decodes. What
//! it does, by the header:
//!
//! - one or more known codings (`gzip` / `x-gzip`, `deflate` — zlib-wrapped, or raw as
//!   browsers accept —, `br`, `zstd`), stacked up to [`MAX_CODINGS`] deep
//!   (`Content-Encoding: gzip, br` is undone br first, then gzip); `identity` entries are
//!   ignored;
//! - any coding it does not know (or a header that is not text): the body passes
//!   through **undecoded, headers kept**, as curl does — the caller sees what was sent;
//! - no body by definition (1xx, 204, 304) and partial content (206, a range of the
//!   *encoded* bytes, which cannot be decoded alone): passed through. A `HEAD` response
//!   has no body either: do not call this for one.
//!
//! **Bounds** ([`DecodeLimits`]): the decoded size ([`DecodeLimits::max_decoded`]) and
//! the ratio of decoded to compressed bytes once past [`DecodeLimits::ratio_after`]
//! ([`DecodeLimits::max_ratio`], default 100:1 after 1 MiB). Over either, the body ends
//! in [`RequestError::Decode`]: a decompression bomb is a typed error, not an OOM. The
//! memory the body holds is one input frame, one output chunk ([`DECODE_CHUNK`]) and
//! the decoders' windows (deflate 32 KiB, brotli ≤ 16 MiB by RFC 7932, zstd ≤ 8 MiB,
//! enforced: RFC 9659) — never the body. Corrupt or truncated data is a typed error
//! too. See `docs/decompression.md`.
//!
//! ```
//! use std::io::Write as _;
//! use http_body_util::BodyExt as _;
//! use pool_http::{DecodeLimits, Full, decode_response};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
//! gzip.write_all(b"hello, decoded")?;
//! let response = http::Response::builder()
//!     .header("content-encoding", "gzip")
//!     .body(Full::new(bytes::Bytes::from(gzip.finish()?)))?;
//!
//! let response = decode_response(response, DecodeLimits::default());
//! assert!(response.headers().get("content-encoding").is_none());
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(body, "hello, decoded");
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode, header};
use http_body::{Frame, SizeHint};

use crate::RequestError;

mod codec;
#[cfg(test)]
mod tests;

use codec::Codec;

/// The `Accept-Encoding` value a client sends by default: every coding
/// [`decode_response`] decodes.
pub const DEFAULT_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// The most content codings decoded one over another; more is [`DecodeError::TooManyCodings`]
/// (each costs a decoder and its window; real servers apply one).
pub const MAX_CODINGS: usize = 3;

/// The size of the decoded chunks a [`Decoded`] body yields (at most): 32 KiB.
pub const DECODE_CHUNK: usize = 32 << 10;

/// The largest zstd window accepted: 8 MiB, the bound RFC 9659 sets for the `zstd`
/// content coding (what browsers enforce); a larger one is
/// [`DecodeError::WindowTooLarge`].
pub const ZSTD_MAX_WINDOW: u64 = 8 << 20;

/// The most compressed bytes held while a decoder waits for a whole unit (a gzip header
/// with its name and comment, a zstd block): beyond it the data is called corrupt.
const MAX_PENDING: usize = 256 << 10;

/// A content coding [`decode_response`] decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// `gzip` (and its alias `x-gzip`): RFC 1952.
    Gzip,
    /// `deflate`: zlib (RFC 1950), or a raw deflate stream (RFC 1951).
    Deflate,
    /// `br`: brotli, RFC 7932.
    Brotli,
    /// `zstd`: Zstandard, RFC 8878 / RFC 9659.
    Zstd,
}

impl Encoding {
    /// The coding's name in `Content-Encoding`: `gzip`, `deflate`, `br`, `zstd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }

    /// The coding a `Content-Encoding` token names (case-insensitive), `None` when it is
    /// not one of these (nor `x-gzip`).
    pub fn from_token(token: &str) -> Option<Self> {
        [
            ("gzip", Encoding::Gzip),
            ("x-gzip", Encoding::Gzip),
            ("deflate", Encoding::Deflate),
            ("br", Encoding::Brotli),
            ("zstd", Encoding::Zstd),
        ]
        .into_iter()
        .find_map(|(name, e)| token.eq_ignore_ascii_case(name).then_some(e))
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bounds of a decoded body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The most decoded bytes; `None`: no bound (default — a streamed body may be any
    /// size; buffering has its own limit, e.g. [`Body::collect`](crate::Body::collect)'s).
    pub max_decoded: Option<u64>,
    /// The most decoded bytes per compressed byte once [`ratio_after`](Self::ratio_after)
    /// bytes are decoded; `None`: no bound. Default 100: text compresses 3–20:1 and
    /// very repetitive data rarely past 100:1, while bombs are 1,000:1 (deflate) to
    /// millions:1 (brotli, zstd).
    pub max_ratio: Option<u32>,
    /// The decoded bytes before the ratio is checked: 1 MiB by default (a small,
    /// very compressible answer — a page of spaces — is no bomb).
    pub ratio_after: u64,
}

impl DecodeLimits {
    /// No bound at all (the decoders' memory is still bounded: see the module docs).
    pub const UNLIMITED: DecodeLimits = DecodeLimits {
        max_decoded: None,
        max_ratio: None,
        ratio_after: 0,
    };
}

impl Default for DecodeLimits {
    /// No size bound; at most 100:1 after the first 1 MiB.
    fn default() -> Self {
        Self {
            max_decoded: None,
            max_ratio: Some(100),
            ratio_after: 1 << 20,
        }
    }
}

/// Why a body could not be decoded ([`RequestError::Decode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The data is not valid in its coding (bad header, bad stream, checksum mismatch,
    /// bytes after the end of the stream).
    #[error("corrupt {encoding} data: {reason}")]
    Corrupt {
        /// The coding.
        encoding: Encoding,
        /// What was wrong.
        reason: String,
    },
    /// The body ended before its compressed stream did.
    #[error("{encoding} data truncated: the body ended before the end of the stream")]
    Truncated {
        /// The coding.
        encoding: Encoding,
    },
    /// More decoded bytes than [`DecodeLimits::max_decoded`].
    #[error("decoded body larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body decoded to more than [`DecodeLimits::max_ratio`] times its compressed
    /// size: a decompression bomb.
    #[error(
        "decoded body more than {limit}:1 its compressed size ({decoded} bytes from {compressed}): a decompression bomb?"
    )]
    RatioExceeded {
        /// The ratio limit.
        limit: u32,
        /// Decoded bytes so far.
        decoded: u64,
        /// Compressed bytes read so far.
        compressed: u64,
    },
    /// A zstd frame asked for a window larger than [`ZSTD_MAX_WINDOW`].
    #[error("zstd window of {window} bytes is over the {limit} bytes HTTP allows (RFC 9659)")]
    WindowTooLarge {
        /// The frame's window.
        window: u64,
        /// The limit.
        limit: u64,
    },
    /// More stacked codings than [`MAX_CODINGS`].
    #[error("{count} stacked content codings: at most {MAX_CODINGS} are decoded")]
    TooManyCodings {
        /// How many the header listed.
        count: usize,
    },
}

/// The codings to undo, in the order they were applied, or `None` to pass the body
/// through (no body, a range, an unknown coding, no coding).
fn codings(status: StatusCode, headers: &HeaderMap) -> Option<Vec<Encoding>> {
    if status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
        )
    {
        return None;
    }
    let mut out = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        for token in value.to_str().ok()?.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            out.push(Encoding::from_token(token)?);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Decodes `response`'s body by its `Content-Encoding` (see the module docs for which
/// responses are passed through); when it decodes, `Content-Encoding` and
/// `Content-Length` are removed (the decoded length is not known in advance).
pub fn decode_response<B>(response: Response<B>, limits: DecodeLimits) -> Response<Decoded<B>> {
    let (mut parts, body) = response.into_parts();
    let Some(codings) = codings(parts.status, &parts.headers) else {
        return Response::from_parts(parts, Decoded::pass(body));
    };
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Decoded::new(body, &codings, limits))
}

/// A body decoded as it streams (an [`http_body::Body`] of `Bytes`, errors
/// [`RequestError`]): see [`decode_response`]. Made by it, or by [`Decoded::new`] for a
/// body whose codings the caller knows.
pub struct Decoded<B> {
    inner: Option<B>,
    pipeline: Option<Box<Pipeline>>,
}

impl<B> std::fmt::Debug for Decoded<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("codings", &self.pipeline.as_ref().map(|p| p.codings()))
            .field("ended", &self.inner.is_none())
            .finish()
    }
}

impl<B> Decoded<B> {
    /// `body` undecoded.
    pub fn pass(body: B) -> Self {
        Self {
            inner: Some(body),
            pipeline: None,
        }
    }

    /// `body` decoded from `codings`, listed in the order they were applied (as in
    /// `Content-Encoding`), within `limits`. More than [`MAX_CODINGS`] ends the body in
    /// [`DecodeError::TooManyCodings`]; none passes it through.
    pub fn new(body: B, codings: &[Encoding], limits: DecodeLimits) -> Self {
        if codings.is_empty() {
            return Self::pass(body);
        }
        Self {
            inner: Some(body),
            pipeline: Some(Box::new(Pipeline::new(codings, limits))),
        }
    }

    /// Whether the body is being decoded (not passed through).
    pub fn is_decoding(&self) -> bool {
        self.pipeline.is_some()
    }
}

impl<B> http_body::Body for Decoded<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<RequestError>,
{
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        let this = self.get_mut();
        let Some(pipeline) = this.pipeline.as_deref_mut() else {
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = ready!(Pin::new(inner).poll_frame(cx));
            if frame.is_none() {
                this.inner = None;
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        };
        loop {
            match pipeline.pull() {
                Err(e) => {
                    pipeline.fail();
                    this.inner = None;
                    return Poll::Ready(Some(Err(RequestError::Decode(e))));
                }
                Ok(Pull::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Pull::End) => {
                    this.inner = None;
                    return Poll::Ready(pipeline.trailers.take().map(|t| Ok(Frame::trailers(t))));
                }
                Ok(Pull::NeedInput) => {}
            }
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => pipeline.feed(data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            pipeline.trailers = Some(trailers);
                            pipeline.end_input();
                        }
                    }
                },
                Some(Err(e)) => {
                    pipeline.fail();
                    this.inner = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => pipeline.end_input(),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match (&self.inner, &self.pipeline) {
            (None, _) => true,
            (Some(inner), None) => inner.is_end_stream(),
            (Some(_), Some(_)) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.inner, &self.pipeline) {
            (Some(inner), None) => inner.size_hint(),
            (None, _) => SizeHint::with_exact(0),
            (Some(_), Some(_)) => SizeHint::default(),
        }
    }
}

/// What the pipeline has next.
enum Pull {
    /// Decoded bytes.
    Data(Bytes),
    /// Nothing until more compressed input arrives.
    NeedInput,
    /// The decoded body is complete.
    End,
}

/// A stage's unconsumed input: the last frame as it came (no copy), or, once a decoder
/// needed more than that frame held (a zstd block, a gzip trailer split across frames),
/// a buffer the next frames are appended to — amortised, so a peer sending one-byte
/// frames costs no re-copying. At most one of the two holds bytes.
#[derive(Default)]
struct Input {
    frame: Bytes,
    joined: BytesMut,
}

impl Input {
    fn bytes(&self) -> &[u8] {
        if self.joined.is_empty() {
            &self.frame
        } else {
            &self.joined
        }
    }

    fn len(&self) -> usize {
        self.frame.len() + self.joined.len()
    }

    fn advance(&mut self, n: usize) {
        if self.joined.is_empty() {
            self.frame.advance(n);
        } else {
            self.joined.advance(n);
        }
    }

    fn push(&mut self, data: Bytes) {
        if !self.joined.is_empty() {
            self.joined.extend_from_slice(&data);
        } else if self.frame.is_empty() {
            self.frame = data;
        } else {
            self.joined.extend_from_slice(&self.frame);
            self.joined.extend_from_slice(&data);
            self.frame = Bytes::new();
        }
    }
}

/// One coding's decoder with its unconsumed input.
struct Stage {
    codec: Box<dyn Codec>,
    encoding: Encoding,
    pending: Input,
    /// Where the next output goes: split off as a chunk is produced, renewed when short.
    out: BytesMut,
    received: u64,
    input_ended: bool,
}

impl Stage {
    fn new(encoding: Encoding) -> Self {
        Self {
            codec: codec::codec(encoding),
            encoding,
            pending: Input::default(),
            out: BytesMut::new(),
            received: 0,
            input_ended: false,
        }
    }

    fn feed(&mut self, data: Bytes) {
        self.received += data.len() as u64;
        self.pending.push(data);
    }

    /// The next decoded chunk of this stage.
    fn produce(&mut self) -> Result<Pull, DecodeError> {
        loop {
            if self.out.len() < DECODE_CHUNK / 4 {
                self.out = BytesMut::zeroed(DECODE_CHUNK);
            }
            let step = self.codec.decode(self.pending.bytes(), &mut self.out)?;
            self.pending.advance(step.consumed);
            if step.written > 0 {
                return Ok(Pull::Data(self.out.split_to(step.written).freeze()));
            }
            if step.consumed > 0 {
                continue;
            }
            if !self.input_ended {
                if self.pending.len() > MAX_PENDING {
                    return Err(DecodeError::Corrupt {
                        encoding: self.encoding,
                        reason: format!("no progress in {MAX_PENDING} bytes"),
                    });
                }
                return Ok(Pull::NeedInput);
            }
            // An empty body (`Content-Encoding` on nothing) is tolerated, as browsers do.
            if self.received == 0 || (self.pending.len() == 0 && self.codec.at_end()) {
                return Ok(Pull::End);
            }
            return Err(DecodeError::Truncated {
                encoding: self.encoding,
            });
        }
    }
}

/// The stages of a decoded body, the outermost coding (the last applied) first, and the
/// bounds.
struct Pipeline {
    stages: Vec<Stage>,
    limits: DecodeLimits,
    compressed: u64,
    decoded: u64,
    trailers: Option<HeaderMap>,
    /// Set when the header listed too many codings: the first poll fails with it.
    refused: Option<DecodeError>,
    done: bool,
}

impl Pipeline {
    fn new(codings: &[Encoding], limits: DecodeLimits) -> Self {
        let refused = (codings.len() > MAX_CODINGS).then_some(DecodeError::TooManyCodings {
            count: codings.len(),
        });
        let stages = if refused.is_some() {
            Vec::new()
        } else {
            codings
                .iter()
                .rev()
                .map(|&encoding| Stage::new(encoding))
                .collect()
        };
        Self {
            stages,
            limits,
            compressed: 0,
            decoded: 0,
            trailers: None,
            refused,
            done: false,
        }
    }

    fn codings(&self) -> Vec<Encoding> {
        self.stages.iter().rev().map(|s| s.encoding).collect()
    }

    fn feed(&mut self, data: Bytes) {
        self.compressed += data.len() as u64;
        if !data.is_empty()
            && let Some(first) = self.stages.first_mut()
        {
            first.feed(data);
        }
    }

    fn end_input(&mut self) {
        if let Some(first) = self.stages.first_mut() {
            first.input_ended = true;
        }
    }

    fn fail(&mut self) {
        self.done = true;
        self.stages.clear();
        self.trailers = None;
    }

    fn pull(&mut self) -> Result<Pull, DecodeError> {
        if let Some(refused) = self.refused.take() {
            return Err(refused);
        }
        if self.done {
            return Ok(Pull::End);
        }
        let pulled = pull(&mut self.stages)?;
        match &pulled {
            Pull::Data(data) => self.check(data.len() as u64)?,
            Pull::End => self.done = true,
            Pull::NeedInput => {}
        }
        Ok(pulled)
    }

    /// Counts `n` more decoded bytes against the limits.
    fn check(&mut self, n: u64) -> Result<(), DecodeError> {
        self.decoded += n;
        let limits = self.limits;
        if let Some(limit) = limits.max_decoded
            && self.decoded > limit
        {
            return Err(DecodeError::TooLarge { limit });
        }
        if let Some(limit) = limits.max_ratio
            && self.decoded > limits.ratio_after
            && u128::from(self.decoded) > u128::from(limit) * u128::from(self.compressed)
        {
            return Err(DecodeError::RatioExceeded {
                limit,
                decoded: self.decoded,
                compressed: self.compressed,
            });
        }
        Ok(())
    }
}

/// The next output of the last of `stages`, pulling through the ones before it.
fn pull(stages: &mut [Stage]) -> Result<Pull, DecodeError> {
    let Some((last, before)) = stages.split_last_mut() else {
        return Ok(Pull::End);
    };
    loop {
        match last.produce()? {
            Pull::NeedInput if !before.is_empty() => match pull(before)? {
                Pull::Data(data) => last.feed(data),
                Pull::End => last.input_ended = true,
                Pull::NeedInput => return Ok(Pull::NeedInput),
            },
            other => return Ok(other),
        }
    }
}
