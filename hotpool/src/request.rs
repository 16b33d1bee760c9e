//! A request from URL to decoded response: [`RequestBuilder`], the redirect chain
//! (`pool_http::Redirects`, `docs/redirects.md`) and the body's decoding
//! (`pool_http::decode_response`, `docs/decompression.md`).

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use pool_http::{
    DEFAULT_ACCEPT_ENCODING, NextBody, RedirectAction, Redirects, RequestError, SentBody,
    SentRequest,
};

use crate::error::NOT_ABSOLUTE;
use crate::{Body, Client, Error, Response};

/// The largest redirect body read to keep its connection (a larger one is dropped: on
/// HTTP/1.1 that closes the connection, on HTTP/2 and HTTP/3 it resets the stream).
const REDIRECT_BODY_LIMIT: usize = 64 << 10;

/// The URL a response came from, after the redirects followed: in its extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseUrl(pub Uri);

/// In a decoded response's extensions: the `Content-Encoding` (and `Content-Length`, if
/// any) it arrived with, which decoding removed from its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedFrom {
    /// The `Content-Encoding` as received (`gzip`, `br`, `gzip, br`…).
    pub content_encoding: HeaderValue,
    /// The `Content-Length` as received: the encoded size.
    pub content_length: Option<HeaderValue>,
}

/// What one request asks beyond the client's settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Choices {
    /// The egress to leave by (`None`: the rotation picks).
    pub(crate) via: Option<String>,
    /// The body as sent: not decoded, no `Accept-Encoding` added.
    pub(crate) raw: bool,
}

impl Client {
    /// Sends `request`, following redirects and decoding the body as configured.
    pub(crate) async fn send(
        &self,
        request: Request<Bytes>,
        choices: &Choices,
    ) -> Result<Response, Error> {
        let decode = self.inner.decode.filter(|_| !choices.raw);
        let (parts, body) = request.into_parts();
        let (mut method, mut uri, mut headers) = (parts.method, parts.uri, parts.headers);
        if decode.is_some() && !headers.contains_key(ACCEPT_ENCODING) {
            headers.insert(
                ACCEPT_ENCODING,
                HeaderValue::from_static(DEFAULT_ACCEPT_ENCODING),
            );
        }
        let mut body = body;
        let mut extensions = Some(parts.extensions);
        let mut chain = Redirects::new(self.inner.redirects);
        loop {
            let mut request = Request::new(body.clone());
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            // The caller's extensions (a per-request `pool_http::Timeout`) go with the
            // first request; a redirect is a new request.
            if let Some(ext) = extensions.take() {
                *request.extensions_mut() = ext;
            }
            // Each hop asks the jar for its own URL's cookies (not carried from the last).
            #[cfg(feature = "cookies")]
            if let Some(jar) = &self.inner.cookies {
                jar.add_to(&uri, request.headers_mut());
            }
            let response = self.send_once(request, choices.via.as_deref()).await?;
            #[cfg(feature = "cookies")]
            if let Some(jar) = &self.inner.cookies {
                jar.store(&uri, response.headers());
            }
            let sent = SentRequest {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: if body.is_empty() {
                    SentBody::Empty
                } else {
                    SentBody::Replayable
                },
            };
            let action = chain
                .next(sent, response.status(), response.headers())
                .map_err(|e| Error::Request {
                    url: uri.to_string(),
                    source: RequestError::Redirect(e),
                })?;
            match action {
                RedirectAction::Stop => return Ok(finish(response, &method, uri, decode)),
                RedirectAction::Follow(next) => {
                    // Read a small redirect body so its connection stays reusable.
                    let _ = response.into_body().collect(REDIRECT_BODY_LIMIT).await;
                    if next.body == NextBody::Empty {
                        body = Bytes::new();
                    }
                    (method, uri, headers) = (next.method, next.uri, next.headers);
                }
            }
        }
    }
}

/// The response as the caller gets it: decoded (not for `HEAD`), its final URL attached.
fn finish(
    response: Response,
    method: &Method,
    uri: Uri,
    decode: Option<pool_http::DecodeLimits>,
) -> Response {
    let mut response = match decode {
        Some(limits) if method != Method::HEAD => {
            let received = |name| response.headers().get(name).cloned();
            let (encoding, length) = (received(CONTENT_ENCODING), received(CONTENT_LENGTH));
            let mut decoded = pool_http::decode_response(response, limits).map(Body::boxed);
            // Decoded when the header went away (an unknown coding passes through).
            if let Some(content_encoding) = encoding
                && !decoded.headers().contains_key(CONTENT_ENCODING)
            {
                decoded.extensions_mut().insert(DecodedFrom {
                    content_encoding,
                    content_length: length,
                });
            }
            decoded
        }
        _ => response,
    };
    response.extensions_mut().insert(ResponseUrl(uri));
    response
}

/// A request being built: [`Client::get`], [`Client::post`], [`Client::request_builder`].
#[derive(Debug)]
#[must_use]
pub struct RequestBuilder {
    pub(crate) client: Client,
    pub(crate) url: String,
    pub(crate) request: http::request::Builder,
    pub(crate) body: Bytes,
    pub(crate) choices: Choices,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.request = self.request.header(name, value);
        self
    }

    /// The request body (sent again as is when the request is retried or redirected with
    /// a 307 or 308).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request through this egress of its host (a proxy's label,
    /// `scheme://host:port`, as in [`HostStack::egresses`](crate::HostStack::egresses)),
    /// whatever `[egress] rotation` would pick: the per-request override.
    pub fn egress(mut self, label: impl Into<String>) -> Self {
        self.choices.via = Some(label.into());
        self
    }

    /// The body as sent: not decoded, and no `Accept-Encoding` added.
    pub fn raw(mut self) -> Self {
        self.choices.raw = true;
        self
    }

    /// Sends the request.
    ///
    /// # Errors
    /// As [`Client::request`]; a header that does not parse is an [`Error::Url`] naming
    /// the URL.
    pub async fn send(self) -> Result<Response, Error> {
        if !self.url.contains("://") {
            return Err(Error::url(&self.url, NOT_ABSOLUTE));
        }
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| Error::url(&self.url, format!("not a URL: {e}")))?;
        let request = self
            .request
            .uri(uri)
            .body(self.body)
            .map_err(|e| Error::url(&self.url, e.to_string()))?;
        self.client.send(request, &self.choices).await
    }
}
