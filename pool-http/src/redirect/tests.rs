//! Every rule of the redirect policy.

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use super::*;
use crate::RequestError;

const START: &str = "https://a.test/dir/page?x=1";

/// A request head: method, URI, headers, body.
struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: SentBody,
}

impl Req {
    fn new(method: Method, uri: &str, body: SentBody) -> Self {
        Self {
            method,
            uri: uri.parse().unwrap(),
            headers: HeaderMap::new(),
            body,
        }
    }

    fn get(uri: &str) -> Self {
        Self::new(Method::GET, uri, SentBody::Empty)
    }

    fn with(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.headers.insert(name, HeaderValue::from_static(value));
        self
    }

    fn sent(&self) -> SentRequest<'_> {
        SentRequest {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: self.body,
        }
    }
}

fn location(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::LOCATION, HeaderValue::from_str(value).unwrap());
    h
}

/// The answer to `req` of `status` with `Location: to`, under `policy`.
fn answer(
    policy: RedirectPolicy,
    req: &Req,
    status: u16,
    to: &str,
) -> Result<RedirectAction, RedirectError> {
    Redirects::new(policy).next(
        req.sent(),
        StatusCode::from_u16(status).unwrap(),
        &location(to),
    )
}

/// The next request when `req` gets `status` with `Location: to` (default policy).
fn follow(req: &Req, status: u16, to: &str) -> NextRequest {
    match answer(RedirectPolicy::default(), req, status, to) {
        Ok(RedirectAction::Follow(next)) => *next,
        other => panic!("{status} to {to}: {other:?}"),
    }
}

fn error(req: &Req, status: u16, to: &str) -> RedirectError {
    match answer(RedirectPolicy::default(), req, status, to) {
        Err(e) => e,
        other => panic!("{status} to {to}: {other:?}"),
    }
}

#[test]
fn only_301_302_303_307_308_are_followed() {
    let req = Req::get(START);
    for status in [200, 204, 300, 304, 305, 306, 400, 404, 500] {
        assert!(
            matches!(
                answer(RedirectPolicy::default(), &req, status, "/x"),
                Ok(RedirectAction::Stop)
            ),
            "{status}"
        );
    }
    for status in [301, 302, 303, 307, 308] {
        assert!(is_redirect(StatusCode::from_u16(status).unwrap()));
        assert_eq!(follow(&req, status, "/x").uri, "https://a.test/x");
        // Not following: every redirect is returned as it is.
        assert!(matches!(
            answer(RedirectPolicy::NONE, &req, status, "/x"),
            Ok(RedirectAction::Stop)
        ));
    }
}

#[test]
fn a_post_becomes_a_get_without_its_body_on_301_302_303() {
    for status in [301, 302, 303] {
        let req = Req::new(Method::POST, START, SentBody::NotReplayable)
            .with(header::CONTENT_TYPE, "application/json")
            .with(header::CONTENT_LENGTH, "12")
            .with(header::CONTENT_ENCODING, "gzip")
            .with(header::ACCEPT, "*/*");
        let next = follow(&req, status, "/done");
        assert_eq!(next.method, Method::GET, "{status}");
        assert_eq!(next.body, NextBody::Empty, "{status}");
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
        ] {
            assert!(!next.headers.contains_key(&name), "{status}: {name}");
        }
        assert_eq!(next.headers[header::ACCEPT], "*/*", "other headers kept");
    }
}

#[test]
fn other_methods_keep_method_and_body_on_301_302_and_become_get_on_303() {
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        for status in [301, 302] {
            let req = Req::new(method.clone(), START, SentBody::Replayable)
                .with(header::CONTENT_TYPE, "text/plain");
            let next = follow(&req, status, "/again");
            assert_eq!((next.method, next.body), (method.clone(), NextBody::Replay));
            assert_eq!(next.headers[header::CONTENT_TYPE], "text/plain");
        }
        let req = Req::new(method.clone(), START, SentBody::Replayable);
        let next = follow(&req, 303, "/see");
        assert_eq!((next.method, next.body), (Method::GET, NextBody::Empty));
    }
    // HEAD stays HEAD, even on 303.
    let req = Req::new(Method::HEAD, START, SentBody::Empty);
    for status in [301, 302, 303, 307, 308] {
        assert_eq!(follow(&req, status, "/h").method, Method::HEAD, "{status}");
    }
}

#[test]
fn _307_and_308_keep_method_and_body_or_fail_when_it_cannot_be_replayed() {
    for status in [307, 308] {
        let req = Req::new(Method::POST, START, SentBody::Replayable)
            .with(header::CONTENT_TYPE, "application/json");
        let next = follow(&req, status, "/kept");
        assert_eq!((next.method, next.body), (Method::POST, NextBody::Replay));
        assert_eq!(next.headers[header::CONTENT_TYPE], "application/json");

        let empty = Req::new(Method::POST, START, SentBody::Empty);
        assert_eq!(follow(&empty, status, "/kept").body, NextBody::Empty);

        let streamed = Req::new(Method::POST, START, SentBody::NotReplayable);
        let e = error(&streamed, status, "/kept");
        assert_eq!(
            e,
            RedirectError::BodyNotReplayable {
                url: START.to_owned(),
                status
            }
        );
        assert!(e.to_string().contains(START), "{e}");
    }
}

#[test]
fn a_location_is_resolved_against_the_current_url() {
    let req = Req::get(START);
    for (location, expected) in [
        ("/root", "https://a.test/root"),
        ("sibling", "https://a.test/dir/sibling"),
        ("../up?q=2", "https://a.test/up?q=2"),
        ("?only=query", "https://a.test/dir/page?only=query"),
        ("//b.test:8443/x", "https://b.test:8443/x"),
        ("http://c.test/abs", "http://c.test/abs"),
        ("https://a.test/frag#part", "https://a.test/frag"),
        ("/with space", "https://a.test/with%20space"),
        ("https://[::1]:8443/v6", "https://[::1]:8443/v6"),
    ] {
        assert_eq!(follow(&req, 302, location).uri, expected, "{location}");
    }
}

#[test]
fn credentials_are_dropped_when_the_origin_changes_and_kept_when_not() {
    let req = Req::get(START)
        .with(header::AUTHORIZATION, "Bearer secret")
        .with(header::COOKIE, "session=1")
        .with(header::PROXY_AUTHORIZATION, "Basic eA==")
        .with(header::USER_AGENT, "hotpool");
    let credentials = [
        header::AUTHORIZATION,
        header::COOKIE,
        header::PROXY_AUTHORIZATION,
    ];
    for same in [
        "/other",
        "https://a.test:443/explicit-default-port",
        "//a.test/x",
    ] {
        let next = follow(&req, 302, same);
        for name in &credentials {
            assert!(next.headers.contains_key(name), "{same}: {name} kept");
        }
    }
    for other in [
        "https://b.test/",
        "https://a.test:8443/",
        "http://a.test/",
        "https://sub.a.test/",
    ] {
        let next = follow(&req, 307, other);
        for name in &credentials {
            assert!(!next.headers.contains_key(name), "{other}: {name} dropped");
        }
        assert_eq!(next.headers[header::USER_AGENT], "hotpool", "{other}");
    }
}

#[test]
fn host_is_dropped_when_the_authority_changes() {
    let req = Req::get(START).with(header::HOST, "a.test");
    assert!(
        follow(&req, 302, "/same")
            .headers
            .contains_key(header::HOST)
    );
    assert!(
        !follow(&req, 302, "https://b.test/")
            .headers
            .contains_key(header::HOST)
    );
    assert!(
        !follow(&req, 302, "https://a.test:8443/")
            .headers
            .contains_key(header::HOST)
    );
}

#[test]
fn https_to_http_is_followed_by_default_and_refused_when_asked() {
    let req = Req::get(START).with(header::AUTHORIZATION, "Bearer secret");
    let next = follow(&req, 301, "http://a.test/plain");
    assert_eq!(next.uri, "http://a.test/plain");
    assert!(!next.headers.contains_key(header::AUTHORIZATION));
    let strict = RedirectPolicy {
        https_to_http: false,
        ..RedirectPolicy::default()
    };
    assert_eq!(
        answer(strict, &req, 301, "http://a.test/plain").unwrap_err(),
        RedirectError::Downgrade {
            url: START.to_owned(),
            location: "http://a.test/plain".to_owned()
        }
    );
    // http → https is always fine.
    let plain = Req::get("http://a.test/");
    assert!(matches!(
        answer(strict, &plain, 301, "https://a.test/"),
        Ok(RedirectAction::Follow(_))
    ));
}

#[test]
fn the_limit_counts_redirects_and_names_the_url_over_it() {
    let mut chain = Redirects::new(RedirectPolicy::default());
    let mut req = Req::get("https://a.test/0");
    for i in 1..=DEFAULT_MAX_REDIRECTS {
        let to = format!("/{i}");
        match chain.next(req.sent(), StatusCode::FOUND, &location(&to)) {
            Ok(RedirectAction::Follow(next)) => req = Req::get(&next.uri.to_string()),
            other => panic!("redirect {i}: {other:?}"),
        }
    }
    assert_eq!(chain.followed().len(), DEFAULT_MAX_REDIRECTS);
    assert_eq!(chain.followed()[0], "https://a.test/1");
    let e = chain
        .next(req.sent(), StatusCode::FOUND, &location("/11"))
        .unwrap_err();
    assert_eq!(
        e,
        RedirectError::TooMany {
            url: "https://a.test/10".to_owned(),
            max: 10
        }
    );
    assert_eq!(
        e.to_string(),
        "too many redirects: more than 10, the last from https://a.test/10"
    );
    // A final answer ends the chain without error, whatever the count.
    assert!(matches!(
        chain.next(req.sent(), StatusCode::OK, &HeaderMap::new()),
        Ok(RedirectAction::Stop)
    ));
    // A limit of 0: the first redirect is one too many.
    assert!(matches!(
        answer(RedirectPolicy::limited(0), &Req::get(START), 302, "/x"),
        Err(RedirectError::TooMany { max: 0, .. })
    ));
}

#[test]
fn a_missing_or_malformed_location_is_a_typed_error_naming_the_url() {
    let req = Req::get(START);
    let missing = Redirects::new(RedirectPolicy::default())
        .next(req.sent(), StatusCode::FOUND, &HeaderMap::new())
        .unwrap_err();
    assert_eq!(
        missing,
        RedirectError::MissingLocation {
            url: START.to_owned(),
            status: 302
        }
    );
    for bad in ["http://[bad", "https://", "http://a b/", "   "] {
        match error(&req, 302, bad) {
            RedirectError::InvalidLocation { url, location, .. } => {
                assert_eq!((url.as_str(), location.as_str()), (START, bad));
            }
            other => panic!("{bad}: {other}"),
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_bytes(b"/caf\xe9").unwrap(),
    );
    assert!(matches!(
        Redirects::new(RedirectPolicy::default()).next(req.sent(), StatusCode::FOUND, &headers),
        Err(RedirectError::InvalidLocation { reason, .. }) if reason == "not UTF-8"
    ));
    for (to, scheme) in [
        ("ftp://files.test/x", "ftp"),
        ("javascript:alert(1)", "javascript"),
    ] {
        match error(&req, 301, to) {
            RedirectError::UnsupportedScheme {
                url, scheme: got, ..
            } => assert_eq!((url.as_str(), got.as_str()), (START, scheme)),
            other => panic!("{to}: {other}"),
        }
    }
    // A relative request URI cannot be a base.
    assert_eq!(
        error(&Req::get("/relative"), 302, "/x"),
        RedirectError::NotAbsolute {
            url: "/relative".to_owned()
        }
    );
}

#[test]
fn a_redirect_error_is_a_request_error() {
    let e = RequestError::from(RedirectError::MissingLocation {
        url: START.to_owned(),
        status: 301,
    });
    assert_eq!(e.kind(), "redirect");
    assert!(!e.is_retryable(&Method::GET, true));
    assert_eq!(
        e.to_string(),
        format!("redirect not followed: 301 redirect from {START} has no location")
    );
}
