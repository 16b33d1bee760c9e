//! The one place that decides what every testkit origin (HTTP/1.1, HTTP/2, HTTP/3) answers.
//!
//! [`reply`] turns a request path into a protocol-neutral [`Reply`]; each origin turns the
//! reply into its own protocol's frames (and adds its `x-served-by` header). The paths:
//!
//! | path | reply |
//! |---|---|
//! | a path with a status override ([`Responses::set_status`]) | that status, the origin's body |
//! | `/1k` | 200, 1024 bytes |
//! | `/status/{code}` | `{code}` (500 when invalid), empty body |
//! | `/bytes/{n}` | 200, `n` bytes streamed in [`STREAM_CHUNK`]-byte chunks (never buffered whole) |
//! | `/slow/{ms}` | the `/` reply after `{ms}` milliseconds |
//! | `/stall` | nothing: the response headers are never sent |
//! | `/stall-body` | 200, headers and one chunk, then nothing |
//! | anything else (`/` included) | 200, the origin's body |
//!
//! The origin's response delay ([`Responses::set_delay`]) comes before every reply
//! (`/stall` included, which never answers anyway).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::Responses;

/// The chunk size of a streamed `/bytes/{n}` body.
pub(crate) const STREAM_CHUNK: usize = 16 * 1024;
/// The byte a streamed `/bytes/{n}` body is made of.
pub(crate) const STREAM_BYTE: u8 = b'x';

/// What an origin answers to one request, independent of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// A response with a body known in full.
    Full {
        /// The status.
        status: StatusCode,
        /// Headers besides `x-served-by` (which the origin adds) and the framing headers
        /// (content-length, transfer-encoding: the protocol's).
        headers: HeaderMap,
        /// The body.
        body: Bytes,
    },
    /// A response whose body of `len` bytes is sent in chunks of `chunk` bytes, each
    /// produced when the previous one was written (see [`stream_chunks`]).
    Stream {
        /// The status.
        status: StatusCode,
        /// Headers, as for [`Reply::Full`].
        headers: HeaderMap,
        /// The body length.
        len: u64,
        /// The chunk size.
        chunk: usize,
    },
    /// `reply` after `delay`.
    Delayed {
        /// How long to wait first.
        delay: Duration,
        /// What to answer then.
        reply: Box<Reply>,
    },
    /// Never answer: no headers, no body, until the client gives up.
    Stall,
    /// Refuse the request unprocessed (`/refuse`): HTTP/2 `RST_STREAM(REFUSED_STREAM)`,
    /// HTTP/3 `H3_REQUEST_REJECTED`; HTTP/1.1, which has no such answer, a 503 with
    /// `connection: close`.
    Refuse,
    /// The headers and a first chunk of the body, then nothing until the client gives up.
    StallBody {
        /// The status.
        status: StatusCode,
        /// Headers, as for [`Reply::Full`].
        headers: HeaderMap,
        /// The one chunk sent.
        first: Bytes,
    },
}

impl Reply {
    /// Waits through every [`Reply::Delayed`] and returns what to send: `Full`, `Stream`
    /// or `Stall`.
    pub(crate) async fn settle(self) -> Reply {
        let mut reply = self;
        loop {
            match reply {
                Reply::Delayed { delay, reply: next } => {
                    tokio::time::sleep(delay).await;
                    reply = *next;
                }
                other => return other,
            }
        }
    }
}

/// The body chunks of a [`Reply::Stream`]: `len` bytes of [`STREAM_BYTE`] in chunks of
/// `chunk` bytes (the last one shorter), produced lazily.
pub(crate) fn stream_chunks(len: u64, chunk: usize) -> impl Iterator<Item = Bytes> + Send {
    let chunk = chunk.max(1);
    let full = Bytes::from(vec![STREAM_BYTE; chunk]);
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = usize::try_from(left).map_or(chunk, |l| l.min(chunk));
        left -= n as u64;
        Some(full.slice(..n))
    })
}

fn text_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h
}

fn full(status: StatusCode, body: Bytes) -> Reply {
    Reply::Full {
        status,
        headers: text_headers(),
        body,
    }
}

/// What the origin answers for `path` (the request target without its query string).
pub(crate) fn reply(responses: &Responses, path: &str) -> Reply {
    let path = path.split('?').next().unwrap_or("/");
    let route = route(responses, path);
    match responses.current_delay() {
        Some(delay) => Reply::Delayed {
            delay,
            reply: Box::new(route),
        },
        None => route,
    }
}

fn route(responses: &Responses, path: &str) -> Reply {
    if let Some(status) = responses.status_override(path) {
        return full(status, responses.body().clone());
    }
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    match (segments.next(), segments.next()) {
        (Some("1k"), None) => full(StatusCode::OK, Bytes::from(vec![STREAM_BYTE; 1024])),
        (Some("status"), Some(code)) => {
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            full(status, Bytes::new())
        }
        (Some("bytes"), Some(n)) => match n.parse::<u64>() {
            Ok(len) => Reply::Stream {
                status: StatusCode::OK,
                headers: {
                    let mut h = HeaderMap::new();
                    h.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    );
                    h
                },
                len,
                chunk: STREAM_CHUNK,
            },
            Err(_) => full(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        (Some("slow"), Some(ms)) => match ms.parse::<u64>() {
            Ok(ms) => Reply::Delayed {
                delay: Duration::from_millis(ms),
                reply: Box::new(full(StatusCode::OK, responses.body().clone())),
            },
            Err(_) => full(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        (Some("stall"), None) => Reply::Stall,
        (Some("refuse"), None) => Reply::Refuse,
        (Some("stall-body"), None) => Reply::StallBody {
            status: StatusCode::OK,
            headers: text_headers(),
            first: Bytes::from_static(b"first chunk, then nothing"),
        },
        _ => full(StatusCode::OK, responses.body().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn responses() -> Responses {
        Responses::new(None, Bytes::from_static(b"body"))
    }

    fn status_of(r: &Reply) -> StatusCode {
        match r {
            Reply::Full { status, .. }
            | Reply::Stream { status, .. }
            | Reply::StallBody { status, .. } => *status,
            Reply::Delayed { reply, .. } => status_of(reply),
            Reply::Stall | Reply::Refuse => panic!("no status: {r:?}"),
        }
    }

    #[test]
    fn root_and_unknown_paths_answer_the_body() {
        let r = responses();
        for path in ["/", "/check", "/a/b/c", "/?x=1"] {
            assert_eq!(
                reply(&r, path),
                full(StatusCode::OK, Bytes::from_static(b"body"))
            );
        }
    }

    #[test]
    fn one_k_is_1024_bytes() {
        match reply(&responses(), "/1k") {
            Reply::Full { status, body, .. } => {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body.len(), 1024);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn status_route_and_invalid_codes() {
        let r = responses();
        assert_eq!(
            status_of(&reply(&r, "/status/503")),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&reply(&r, "/status/204?q")),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            status_of(&reply(&r, "/status/99")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_of(&reply(&r, "/status/abc")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn overrides_win_over_routes_and_can_be_cleared() {
        let r = responses();
        r.set_status("/1k", 403);
        r.set_status("/", 404);
        assert_eq!(
            reply(&r, "/1k"),
            full(StatusCode::FORBIDDEN, Bytes::from_static(b"body"))
        );
        assert_eq!(status_of(&reply(&r, "/")), StatusCode::NOT_FOUND);
        r.clear_status("/1k");
        assert_eq!(status_of(&reply(&r, "/1k")), StatusCode::OK);
    }

    #[test]
    fn bytes_streams_in_chunks_of_the_exact_length() {
        let Reply::Stream { len, chunk, .. } = reply(&responses(), "/bytes/40000") else {
            panic!("/bytes must stream");
        };
        assert_eq!((len, chunk), (40000, STREAM_CHUNK));
        let chunks: Vec<Bytes> = stream_chunks(len, chunk).collect();
        assert_eq!(
            chunks.iter().map(Bytes::len).collect::<Vec<_>>(),
            vec![STREAM_CHUNK, STREAM_CHUNK, 40000 - 2 * STREAM_CHUNK]
        );
        assert!(chunks.iter().all(|c| c.iter().all(|b| *b == STREAM_BYTE)));
        assert_eq!(stream_chunks(0, 10).count(), 0);
        assert_eq!(
            status_of(&reply(&responses(), "/bytes/x")),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn slow_stall_and_the_origin_delay() {
        let r = responses();
        assert_eq!(
            reply(&r, "/slow/250"),
            Reply::Delayed {
                delay: Duration::from_millis(250),
                reply: Box::new(full(StatusCode::OK, Bytes::from_static(b"body"))),
            }
        );
        assert_eq!(reply(&r, "/stall"), Reply::Stall);
        assert!(matches!(
            reply(&r, "/stall-body"),
            Reply::StallBody { status: StatusCode::OK, first, .. } if !first.is_empty()
        ));
        r.set_delay(Some(Duration::from_millis(5)));
        assert_eq!(
            reply(&r, "/stall"),
            Reply::Delayed {
                delay: Duration::from_millis(5),
                reply: Box::new(Reply::Stall),
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn settle_waits_through_every_delay() {
        let r = responses();
        r.set_delay(Some(Duration::from_millis(100)));
        let start = tokio::time::Instant::now();
        let settled = reply(&r, "/slow/900").settle().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
        assert_eq!(settled, full(StatusCode::OK, Bytes::from_static(b"body")));
    }
}
