//! The client's cookie jar (feature `cookies`, [`ClientBuilder::cookie_store`](crate::ClientBuilder::cookie_store)):
//! every response's `Set-Cookie` fields kept by RFC 6265's storage rules (the
//! `cookie_store` crate: domain and host-only matching, path, `Secure`, `Max-Age` and
//! `Expires`), and a request's `Cookie` field made from the cookies matching its URL — on
//! every hop of a redirect chain, each hop's URL asking for its own (`docs/client.md`).
//!
//! One rule is the jar's own: without a public suffix list (not bundled: it would be a
//! download), a `Domain` attribute of a single label (`com`, `test`) is refused unless it
//! is the request's own host (then the cookie is host-only), so a site cannot set a cookie
//! for a whole top-level domain.

use std::sync::{Mutex, PoisonError};

use cookie_store::{CookieStore, RawCookie};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Uri};

/// One client's cookies.
#[derive(Debug, Default)]
pub(crate) struct Jar {
    store: Mutex<CookieStore>,
}

impl Jar {
    /// Adds the `Cookie` field for a request to `uri`, unless the request carries one of
    /// its own (the caller's wins, as in reqwest) or no cookie matches.
    pub(crate) fn add_to(&self, uri: &Uri, headers: &mut HeaderMap) {
        if headers.contains_key(COOKIE) {
            return;
        }
        if let Some(value) = to_url(uri).and_then(|url| self.header_for(&url)) {
            headers.insert(COOKIE, value);
        }
    }

    /// Keeps the `Set-Cookie` fields of a response from `uri` (an unparsable one is
    /// ignored, as browsers do).
    pub(crate) fn store(&self, uri: &Uri, headers: &HeaderMap) {
        let mut fields = headers.get_all(SET_COOKIE).iter().peekable();
        if fields.peek().is_none() {
            return;
        }
        let Some(url) = to_url(uri) else { return };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let cookies = fields
            .filter_map(|value| value.to_str().ok())
            .filter_map(|text| RawCookie::parse(text.to_owned()).ok())
            .filter_map(|cookie| domain_allowed(cookie, &host));
        self.lock().store_response_cookies(cookies, &url);
    }

    /// The `Cookie` field for a request to `url`: `name=value` pairs joined by `"; "`
    /// (RFC 6265 §5.4), `None` when no cookie matches.
    pub(crate) fn header_for(&self, url: &url::Url) -> Option<HeaderValue> {
        let store = self.lock();
        let mut text = String::new();
        for (name, value) in store.get_request_values(url) {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(name);
            text.push('=');
            text.push_str(value);
        }
        if text.is_empty() {
            return None;
        }
        HeaderValue::from_str(&text).ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CookieStore> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `cookie` as the jar may keep it from `host`: a single-label `Domain` (a top-level
/// domain) is refused, or dropped when it is the host itself (the cookie is then host-only).
fn domain_allowed(mut cookie: RawCookie<'static>, host: &str) -> Option<RawCookie<'static>> {
    let Some(domain) = cookie.domain() else {
        return Some(cookie);
    };
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    if domain.contains('.') {
        return Some(cookie);
    }
    if domain == host {
        cookie.unset_domain();
        return Some(cookie);
    }
    tracing::debug!(
        cookie = cookie.name(),
        domain,
        "Set-Cookie for a top-level domain refused"
    );
    None
}

/// `uri` (absolute) as the jar's URL type.
pub(crate) fn to_url(uri: &Uri) -> Option<url::Url> {
    url::Url::parse(&uri.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    fn set(jar: &Jar, from: &str, cookies: &[&str]) {
        let mut headers = HeaderMap::new();
        for c in cookies {
            headers.append(SET_COOKIE, HeaderValue::from_str(c).unwrap());
        }
        jar.store(&uri(from), &headers);
    }

    fn sent(jar: &Jar, to: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        jar.add_to(&uri(to), &mut headers);
        headers.get(COOKIE).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn rfc6265_domain_path_secure_and_expiry() {
        let jar = Jar::default();
        set(
            &jar,
            "https://a.site.test/login",
            &[
                "host=1; Path=/",
                "shared=2; Domain=site.test; Path=/",
                "deep=3; Path=/account",
                "sec=4; Secure; Path=/",
                "gone=5; Max-Age=0; Path=/",
                "tld=6; Domain=test; Path=/",
                "other=7; Domain=elsewhere.test; Path=/",
            ],
        );
        let at = |url| sent(&jar, url).unwrap_or_default();
        let a = at("https://a.site.test/");
        for want in ["host=1", "shared=2", "sec=4"] {
            assert!(a.contains(want), "{a}");
        }
        for not in ["deep=", "gone=", "tld=", "other="] {
            assert!(!a.contains(not), "{a}");
        }
        assert!(at("https://a.site.test/account/x").contains("deep=3"));
        // A sibling gets the domain cookie only; plain http never the secure one.
        assert_eq!(at("https://b.site.test/"), "shared=2");
        assert!(!at("http://a.site.test/").contains("sec=4"));
        assert_eq!(sent(&jar, "https://unrelated.test/"), None);
        // A later Max-Age=0 removes a cookie.
        set(&jar, "https://a.site.test/", &["host=1; Max-Age=0; Path=/"]);
        assert!(!at("https://a.site.test/").contains("host=1"));
    }

    #[test]
    fn a_requests_own_cookie_field_wins() {
        let jar = Jar::default();
        set(&jar, "https://a.test/", &["k=v"]);
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("mine=1"));
        jar.add_to(&uri("https://a.test/"), &mut headers);
        assert_eq!(headers.get_all(COOKIE).iter().count(), 1);
        assert_eq!(headers[COOKIE], "mine=1");
    }

    #[test]
    fn a_single_label_domain_is_host_only_on_its_own_host() {
        let jar = Jar::default();
        set(&jar, "http://localhost:8080/", &["k=v; Domain=localhost"]);
        assert_eq!(sent(&jar, "http://localhost:9/").as_deref(), Some("k=v"));
    }
}
