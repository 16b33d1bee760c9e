//! Redirects, sans-IO: given the request that was sent and the response head, whether to
//! follow and with which next request head. The client sends, this decides.
//!
//! [`Redirects`] is one request's chain under a [`RedirectPolicy`]; for each response,
//! [`Redirects::next`] answers [`RedirectAction::Follow`] with a [`NextRequest`], [`RedirectAction::Stop`]
//! (return the response as it is), or a [`RedirectError`] naming the URL. The rules (RFC
//! 9110 §15.4, with browsers' and `curl -L`'s method change):
//!
//! - 301, 302: a `POST` becomes a `GET` without body; other methods are kept with their
//!   body. 303: anything but `HEAD` becomes a `GET` without body. 307, 308: method and
//!   body kept — a body that cannot be replayed is [`RedirectError::BodyNotReplayable`].
//!   Other statuses (300, 304, any non-3xx) stop.
//! - `Location` is resolved against the current URL (the `url` crate: WHATWG parsing, as
//!   browsers); missing, unparsable, or not `http`/`https` is a typed error. A fragment
//!   is dropped (never sent).
//! - When the origin (scheme, host, port) changes, `Authorization`, `Cookie` and
//!   `Proxy-Authorization` are dropped (a cookie jar adds the new origin's own); `Host` is
//!   dropped whenever the authority changes. When the body is dropped, so are the headers
//!   that describe it (`Content-Type`, `-Length`, `-Encoding`, `-Language`, `-Location`,
//!   `Transfer-Encoding`).
//! - `https` → `http`: followed by default, as curl and browsers do (the credentials above
//!   are dropped anyway: the origin changed); [`RedirectPolicy::https_to_http`] = false
//!   refuses it ([`RedirectError::Downgrade`]).
//! - At most [`RedirectPolicy::max_redirects`] (default [`DEFAULT_MAX_REDIRECTS`] = 10,
//!   as browsers allow ~20 and curl 50): one more is [`RedirectError::TooMany`].
//!
//! See `docs/redirects.md`.
//!
//! ```
//! use http::{HeaderMap, Method, StatusCode, Uri};
//! use pool_http::{NextBody, RedirectAction, RedirectPolicy, Redirects, SentBody, SentRequest};
//!
//! let mut chain = Redirects::new(RedirectPolicy::default());
//! let uri: Uri = "https://a.test/form".parse().unwrap();
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", "Bearer t".parse().unwrap());
//! let sent = SentRequest { method: &Method::POST, uri: &uri, headers: &headers, body: SentBody::Replayable };
//! let mut answer = HeaderMap::new();
//! answer.insert("location", "https://b.test/done".parse().unwrap());
//!
//! let RedirectAction::Follow(next) = chain.next(sent, StatusCode::SEE_OTHER, &answer).unwrap() else {
//!     unreachable!("a 303 with a location is followed");
//! };
//! assert_eq!((next.method, next.body), (Method::GET, NextBody::Empty));
//! assert_eq!(next.uri, "https://b.test/done");
//! assert!(next.headers.get("authorization").is_none(), "another origin");
//! ```

use http::{HeaderMap, Method, StatusCode, Uri, header};

/// The default [`RedirectPolicy::max_redirects`].
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Whether `status` is one this policy follows: 301, 302, 303, 307, 308.
pub fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// How redirects are followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Whether to follow at all; `false`: every response is returned as it is.
    pub follow: bool,
    /// The most redirects followed for one request (default 10); one more is
    /// [`RedirectError::TooMany`].
    pub max_redirects: usize,
    /// Whether an `https` URL may redirect to an `http` one (default true, as curl and
    /// browsers).
    pub https_to_http: bool,
}

impl RedirectPolicy {
    /// Never follow: redirects are returned as responses.
    pub const NONE: RedirectPolicy = RedirectPolicy {
        follow: false,
        max_redirects: 0,
        https_to_http: true,
    };

    /// Follow at most `max` redirects (the other settings default).
    pub fn limited(max: usize) -> Self {
        Self {
            max_redirects: max,
            ..Self::default()
        }
    }
}

impl Default for RedirectPolicy {
    /// Follow up to [`DEFAULT_MAX_REDIRECTS`], `https` → `http` allowed.
    fn default() -> Self {
        Self {
            follow: true,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            https_to_http: true,
        }
    }
}

/// What the request that was sent had as a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentBody {
    /// No body (or an empty one).
    Empty,
    /// A body the client can send again (held in memory:
    /// [`Replayable::replay`](crate::Replayable::replay) gives a copy).
    Replayable,
    /// A streamed body, gone once sent.
    NotReplayable,
}

/// The request that was sent, as the policy needs it.
#[derive(Clone, Copy, Debug)]
pub struct SentRequest<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its absolute URI (`scheme://authority/path?query`).
    pub uri: &'a Uri,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body.
    pub body: SentBody,
}

/// The body of the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextBody {
    /// None (the method became `GET`, or there was none).
    Empty,
    /// The same body again (the client replays it).
    Replay,
}

/// The head of the request to send next.
#[derive(Clone, Debug)]
pub struct NextRequest {
    /// The method.
    pub method: Method,
    /// The absolute URI.
    pub uri: Uri,
    /// The headers (the sent ones, minus what the rules drop).
    pub headers: HeaderMap,
    /// The body.
    pub body: NextBody,
}

/// What to do with a response.
#[derive(Clone, Debug)]
pub enum RedirectAction {
    /// Send this request next (boxed: a head is ~200 bytes, `Stop` none).
    Follow(Box<NextRequest>),
    /// Return the response as it is (not a redirect, or not following).
    Stop,
}

/// Why a redirect chain stopped in error. Each names the URL that answered with the
/// redirect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// One redirect more than [`RedirectPolicy::max_redirects`].
    #[error("too many redirects: more than {max}, the last from {url}")]
    TooMany {
        /// The URL that answered with one redirect too many.
        url: String,
        /// The limit.
        max: usize,
    },
    /// A redirect status without a `Location`.
    #[error("{status} redirect from {url} has no location")]
    MissingLocation {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// A `Location` that is not a URL (nor a reference resolvable against the current
    /// one), or not one a request can go to.
    #[error("malformed location {location:?} in the redirect from {url}: {reason}")]
    InvalidLocation {
        /// The URL.
        url: String,
        /// The `Location` as received (lossy UTF-8).
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `Location` with a scheme other than `http` or `https`.
    #[error("redirect from {url} to unsupported scheme {scheme:?}: {location}")]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// The resolved location.
        location: String,
        /// Its scheme.
        scheme: String,
    },
    /// An `https` → `http` redirect, refused by [`RedirectPolicy::https_to_http`].
    #[error("redirect from {url} to plain http refused: {location}")]
    Downgrade {
        /// The URL.
        url: String,
        /// The resolved location.
        location: String,
    },
    /// A 307 or 308 (method and body kept) for a request whose body cannot be sent
    /// again.
    #[error("{status} redirect from {url} needs the request body again, which was streamed")]
    BodyNotReplayable {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The request's URI is not absolute, so a `Location` cannot be resolved against it.
    #[error("cannot follow a redirect from {url}: the request URI is not absolute")]
    NotAbsolute {
        /// The request's URI.
        url: String,
    },
}

/// One request's redirect chain under a policy.
#[derive(Clone, Debug)]
pub struct Redirects {
    policy: RedirectPolicy,
    followed: Vec<Uri>,
}

/// The headers describing a request body, dropped with it (the Fetch standard's
/// request-body-header names, plus the framing ones).
const BODY_HEADERS: [header::HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
    header::TRANSFER_ENCODING,
];

/// The headers with credentials for one origin, dropped when the origin changes.
const CREDENTIAL_HEADERS: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

impl Redirects {
    /// A chain under `policy`, nothing followed yet.
    pub fn new(policy: RedirectPolicy) -> Self {
        Self {
            policy,
            followed: Vec::new(),
        }
    }

    /// The URIs redirected to so far, in order.
    pub fn followed(&self) -> &[Uri] {
        &self.followed
    }

    /// What to do with a response of `status` and `headers` to `sent`: follow (the next
    /// request's head), stop, or an error. Following counts toward the limit.
    pub fn next(
        &mut self,
        sent: SentRequest<'_>,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<RedirectAction, RedirectError> {
        if !self.policy.follow || !is_redirect(status) {
            return Ok(RedirectAction::Stop);
        }
        let url = sent.uri.to_string();
        if self.followed.len() >= self.policy.max_redirects {
            return Err(RedirectError::TooMany {
                url,
                max: self.policy.max_redirects,
            });
        }
        let base = url::Url::parse(&url)
            .ok()
            .filter(|u| u.has_host())
            .ok_or_else(|| RedirectError::NotAbsolute { url: url.clone() })?;
        let location =
            headers
                .get(header::LOCATION)
                .ok_or_else(|| RedirectError::MissingLocation {
                    url: url.clone(),
                    status: status.as_u16(),
                })?;
        let target = resolve(&base, location.as_bytes(), &url)?;
        if base.scheme() == "https" && target.scheme() == "http" && !self.policy.https_to_http {
            return Err(RedirectError::Downgrade {
                url,
                location: target.to_string(),
            });
        }
        let keeps_method = match status.as_u16() {
            301 | 302 => *sent.method != Method::POST,
            303 => *sent.method == Method::HEAD,
            _ => true,
        };
        let mut next_headers = sent.headers.clone();
        let (method, body) = if keeps_method {
            let body = match sent.body {
                SentBody::Empty => NextBody::Empty,
                SentBody::Replayable => NextBody::Replay,
                SentBody::NotReplayable => {
                    return Err(RedirectError::BodyNotReplayable {
                        url,
                        status: status.as_u16(),
                    });
                }
            };
            (sent.method.clone(), body)
        } else {
            for name in BODY_HEADERS {
                next_headers.remove(name);
            }
            let method = if *sent.method == Method::HEAD {
                Method::HEAD
            } else {
                Method::GET
            };
            (method, NextBody::Empty)
        };
        if base.origin() != target.origin() {
            for name in CREDENTIAL_HEADERS {
                next_headers.remove(name);
            }
        }
        if (base.host(), base.port_or_known_default())
            != (target.host(), target.port_or_known_default())
        {
            next_headers.remove(header::HOST);
        }
        let uri = Uri::try_from(target.as_str()).map_err(|e| RedirectError::InvalidLocation {
            url: url.clone(),
            location: target.to_string(),
            reason: e.to_string(),
        })?;
        self.followed.push(uri.clone());
        Ok(RedirectAction::Follow(Box::new(NextRequest {
            method,
            uri,
            headers: next_headers,
            body,
        })))
    }
}

/// `location` resolved against `base`: an absolute `http`/`https` URL without fragment.
fn resolve(base: &url::Url, location: &[u8], url: &str) -> Result<url::Url, RedirectError> {
    let invalid = |reason: String| RedirectError::InvalidLocation {
        url: url.to_owned(),
        location: String::from_utf8_lossy(location).into_owned(),
        reason,
    };
    let text = std::str::from_utf8(location).map_err(|_| invalid("not UTF-8".to_owned()))?;
    if text.trim().is_empty() {
        return Err(invalid("empty".to_owned()));
    }
    let mut target = base.join(text).map_err(|e| invalid(e.to_string()))?;
    target.set_fragment(None);
    match target.scheme() {
        "http" | "https" if target.has_host() => Ok(target),
        "http" | "https" => Err(invalid("no host".to_owned())),
        scheme => Err(RedirectError::UnsupportedScheme {
            url: url.to_owned(),
            location: target.to_string(),
            scheme: scheme.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
