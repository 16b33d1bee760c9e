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
//! | `/encoded/{coding}/{n}` | 200, the first `n` bytes of [`encoded_content`](super::encoded_content) encoded in `{coding}` (`gzip`, `deflate`, `deflate-raw`, `br`, `zstd`: [`CODINGS`](super::CODINGS)) with its `content-encoding`; 400 for an unknown coding or `n` over [`MAX_ENCODED_CONTENT`](super::MAX_ENCODED_CONTENT) |
//! | `/bomb/{coding}` | 200, a small body in `{coding}` that decodes to [`BOMB_DECODED_SIZE`](super::BOMB_DECODED_SIZE) (1 GiB) of zeros |
//! | `/echo` | 200, `text/plain`: `{METHOD} {path?query}`, then each request header as `name: value`, sorted, one a line |
//! | `/redirect/{status}/{n}` | `n` > 0: `{status}` (a 3xx) with `location: /redirect/{status}/{n-1}` (the query kept); `n` = 0: the `/echo` reply; 400 for a status that is not a redirection |
//! | `/redirect-to?status={s}&url={url}` | `{s}` (default 302) with `location: {url}` — `url` comes last, the rest of the query, percent-decoded (`%26` for `&`) |
//! | `/response-headers?{name}={value}&…` | 200, the origin's body, with each `name: value` (percent-decoded) as a response header (e.g. `alt-svc`); 400 for a name or value that is not a header |
//! | `/limited…` with a rate limit set (`H2Origin::set_rate_limit`) | above the rate: its status (429) with its `Retry-After` if any; else the route as usual |
//! | anything else (`/` included) | 200, the origin's body |
//!
//! The origin's response delay ([`Responses::set_delay`]) comes before every reply
//! (`/stall` included, which never answers anyway).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use super::{Responses, encoded};

/// What the routes read of a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asked<'a> {
    /// The method.
    pub(crate) method: &'a Method,
    /// The request target (path and query are read).
    pub(crate) uri: &'a Uri,
    /// The request headers.
    pub(crate) headers: &'a HeaderMap,
}

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

/// What the origin answers for a `GET` of `target` (path and query) with no headers.
#[cfg(test)]
pub(crate) fn reply(responses: &Responses, target: &str) -> Reply {
    let uri: Uri = target.parse().expect("a request target");
    answer(
        responses,
        Asked {
            method: &Method::GET,
            uri: &uri,
            headers: &HeaderMap::new(),
        },
    )
}

/// What the origin answers to `asked`.
pub(crate) fn answer(responses: &Responses, asked: Asked<'_>) -> Reply {
    let route = route(responses, asked);
    match responses.current_delay() {
        Some(delay) => Reply::Delayed {
            delay,
            reply: Box::new(route),
        },
        None => route,
    }
}

fn route(responses: &Responses, asked: Asked<'_>) -> Reply {
    let path = asked.uri.path();
    if let Some((status, retry_after)) = responses.limiter.check(path) {
        let mut headers = text_headers();
        if let Some(after) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(after));
        }
        return Reply::Full {
            status,
            headers,
            body: Bytes::from_static(b"slow down\n"),
        };
    }
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
        (Some("encoded"), Some(rest)) => encoded_reply(rest),
        (Some("bomb"), Some(coding)) => {
            match (encoded::bomb(coding), encoded::content_encoding(coding)) {
                (Some(body), Some(encoding)) => Reply::Full {
                    status: StatusCode::OK,
                    headers: encoded_headers("application/octet-stream", encoding),
                    body,
                },
                _ => full(StatusCode::BAD_REQUEST, Bytes::new()),
            }
        }
        (Some("echo"), None) => echo(asked),
        (Some("redirect"), Some(rest)) => redirect(asked, rest),
        (Some("redirect-to"), None) => redirect_to(asked.uri.query().unwrap_or("")),
        (Some("response-headers"), None) => {
            response_headers(asked.uri.query().unwrap_or(""), responses.body())
        }
        _ => full(StatusCode::OK, responses.body().clone()),
    }
}

fn encoded_headers(content_type: &'static str, encoding: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    h
}

/// `/encoded/{coding}/{n}`.
fn encoded_reply(rest: &str) -> Reply {
    let Some((coding, n)) = rest.split_once('/') else {
        return full(StatusCode::BAD_REQUEST, Bytes::new());
    };
    let n = n
        .parse::<usize>()
        .ok()
        .filter(|&n| n <= encoded::MAX_ENCODED_CONTENT);
    match (n, encoded::content_encoding(coding)) {
        (Some(n), Some(encoding)) => match encoded::encode(coding, &encoded::encoded_content(n)) {
            Some(body) => Reply::Full {
                status: StatusCode::OK,
                headers: encoded_headers("text/plain", encoding),
                body: Bytes::from(body),
            },
            None => full(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        _ => full(StatusCode::BAD_REQUEST, Bytes::new()),
    }
}

/// `/echo`: the method, the target, the headers.
fn echo(asked: Asked<'_>) -> Reply {
    let target = asked.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut lines: Vec<String> = asked
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    lines.sort();
    let mut body = format!("{} {target}\n", asked.method);
    for line in lines {
        body.push_str(&line);
        body.push('\n');
    }
    full(StatusCode::OK, Bytes::from(body))
}

fn redirect_status(code: &str) -> Option<StatusCode> {
    code.parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(StatusCode::is_redirection)
}

fn redirect_reply(status: StatusCode, location: &str) -> Reply {
    let mut headers = text_headers();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            headers.insert(header::LOCATION, value);
            Reply::Full {
                status,
                headers,
                body: Bytes::new(),
            }
        }
        Err(_) => full(StatusCode::BAD_REQUEST, Bytes::new()),
    }
}

/// `/redirect/{status}/{n}`.
fn redirect(asked: Asked<'_>, rest: &str) -> Reply {
    let parsed = rest
        .split_once('/')
        .and_then(|(code, n)| Some((redirect_status(code)?, n.parse::<u32>().ok()?)));
    let Some((status, n)) = parsed else {
        return full(StatusCode::BAD_REQUEST, Bytes::new());
    };
    if n == 0 {
        return echo(asked);
    }
    let query = asked
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    redirect_reply(
        status,
        &format!("/redirect/{}/{}{query}", status.as_u16(), n - 1),
    )
}

/// `/redirect-to?status={s}&url={url}`.
fn redirect_to(query: &str) -> Reply {
    let (params, url) = match query.find("url=") {
        Some(at) if at == 0 || query[..at].ends_with('&') => (&query[..at], &query[at + 4..]),
        _ => return full(StatusCode::BAD_REQUEST, Bytes::new()),
    };
    let status = params
        .split('&')
        .find_map(|p| p.strip_prefix("status="))
        .map_or(Some(StatusCode::FOUND), redirect_status);
    match (status, percent_decode(url)) {
        (Some(status), Some(url)) => redirect_reply(status, &url),
        _ => full(StatusCode::BAD_REQUEST, Bytes::new()),
    }
}

/// `/response-headers?{name}={value}&…`: the origin's body with those headers.
fn response_headers(query: &str, body: &Bytes) -> Reply {
    let mut headers = text_headers();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let parsed = percent_decode(name)
            .zip(percent_decode(value))
            .and_then(|(n, v)| {
                let name = http::HeaderName::from_bytes(n.as_bytes()).ok()?;
                Some((name, HeaderValue::from_str(&v).ok()?))
            });
        match parsed {
            Some((name, value)) => {
                headers.append(name, value);
            }
            None => return full(StatusCode::BAD_REQUEST, Bytes::new()),
        }
    }
    Reply::Full {
        status: StatusCode::OK,
        headers,
        body: body.clone(),
    }
}

/// `%XX` escapes decoded (`None` when one is malformed or the result is not UTF-8).
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
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

    fn location(r: &Reply) -> Option<&str> {
        match r {
            Reply::Full { headers, .. } => headers.get(header::LOCATION)?.to_str().ok(),
            _ => None,
        }
    }

    fn body_of(r: &Reply) -> &[u8] {
        match r {
            Reply::Full { body, .. } => body,
            other => panic!("not a full reply: {other:?}"),
        }
    }

    #[test]
    fn encoded_bodies_carry_their_coding_and_decode_to_the_content() {
        for (coding, encoding) in encoded::CODINGS {
            let r = reply(&responses(), &format!("/encoded/{coding}/5000"));
            let Reply::Full {
                status,
                headers,
                body,
            } = &r
            else {
                panic!("{r:?}");
            };
            assert_eq!(*status, StatusCode::OK);
            assert_eq!(headers[header::CONTENT_ENCODING], encoding);
            assert_eq!(
                **body,
                encoded::encode(coding, &encoded::encoded_content(5000)).unwrap()[..]
            );
            assert_eq!(
                headers[header::CONTENT_ENCODING],
                match reply(&responses(), &format!("/bomb/{coding}")) {
                    Reply::Full { headers, .. } => headers[header::CONTENT_ENCODING].clone(),
                    other => panic!("{other:?}"),
                }
            );
        }
        for bad in [
            "/encoded/lzma/10",
            "/encoded/gzip/x",
            "/encoded/gzip",
            "/bomb/lzma",
        ] {
            assert_eq!(
                status_of(&reply(&responses(), bad)),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        let too_big = format!("/encoded/gzip/{}", encoded::MAX_ENCODED_CONTENT + 1);
        assert_eq!(
            status_of(&reply(&responses(), &too_big)),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn response_headers_are_added_percent_decoded() {
        let r = reply(
            &responses(),
            "/response-headers?alt-svc=h3%3D%22%3A8443%22%3B%20ma%3D60&x-a=1&x-a=2",
        );
        let Reply::Full {
            status,
            headers,
            body,
        } = r
        else {
            panic!("a full reply");
        };
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["alt-svc"], "h3=\":8443\"; ma=60");
        let xa: Vec<_> = headers.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(&body[..], b"body");
        assert_eq!(
            status_of(&reply(&responses(), "/response-headers?bad%20name=1")),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn redirect_chains_count_down_to_the_echo() {
        let r = responses();
        let first = reply(&r, "/redirect/301/2?keep=1");
        assert_eq!(status_of(&first), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(location(&first), Some("/redirect/301/1?keep=1"));
        let second = reply(&r, "/redirect/301/1?keep=1");
        assert_eq!(location(&second), Some("/redirect/301/0?keep=1"));
        let last = reply(&r, "/redirect/301/0?keep=1");
        assert_eq!(status_of(&last), StatusCode::OK);
        assert_eq!(body_of(&last), b"GET /redirect/301/0?keep=1\n");
        for status in [302, 303, 307, 308] {
            let r = reply(&r, &format!("/redirect/{status}/1"));
            assert_eq!(status_of(&r).as_u16(), status);
            assert_eq!(location(&r), Some(&*format!("/redirect/{status}/0")));
        }
        for bad in [
            "/redirect/200/1",
            "/redirect/302/x",
            "/redirect/302",
            "/redirect/abc/1",
        ] {
            assert_eq!(status_of(&reply(&r, bad)), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn redirect_to_answers_the_url_given() {
        let r = responses();
        let to = reply(&r, "/redirect-to?url=https://b.test:8443/echo?x=1%26y=2");
        assert_eq!(status_of(&to), StatusCode::FOUND);
        assert_eq!(location(&to), Some("https://b.test:8443/echo?x=1&y=2"));
        let to = reply(&r, "/redirect-to?status=307&url=http://127.0.0.3:8080/");
        assert_eq!(status_of(&to), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(location(&to), Some("http://127.0.0.3:8080/"));
        for bad in [
            "/redirect-to",
            "/redirect-to?status=200&url=/x",
            "/redirect-to?url=%zz",
            "/redirect-to?url=a%0Ab",
        ] {
            assert_eq!(status_of(&reply(&r, bad)), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn echo_names_the_method_target_and_headers() {
        let uri: Uri = "/echo?q=1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        let r = answer(
            &responses(),
            Asked {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
            },
        );
        assert_eq!(
            body_of(&r),
            b"POST /echo?q=1\nauthorization: Bearer t\ncookie: a=1\n"
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
