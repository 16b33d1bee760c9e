//! The response body of any host's pool.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pool_core::Dialer;
use pool_http::{HttpConnection, RequestError};

/// A response body, streamed from its pooled connection (implements [`http_body::Body`]).
///
/// It holds the connection's lease until it ends or is dropped, as `pool-http`'s
/// [`Body`](pool_http::Body) does (this is that body, whatever the transport).
pub struct Body {
    inner: Pin<Box<dyn http_body::Body<Data = Bytes, Error = RequestError> + Send>>,
}

impl Body {
    pub(crate) fn new<D>(body: pool_http::Body<D>) -> Self
    where
        D: Dialer<Conn: HttpConnection> + 'static,
    {
        Self::boxed(body)
    }

    /// Any body of the request layer's error type (a decoded one).
    pub(crate) fn boxed(
        body: impl http_body::Body<Data = Bytes, Error = RequestError> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(body),
        }
    }

    /// The whole body, at most `limit` bytes (more: [`RequestError::BodyTooLarge`]).
    ///
    /// # Errors
    /// The stream failed or passed its deadline, or the body is larger than `limit`.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, RequestError> {
        use http_body_util::BodyExt as _;
        let mut out = bytes::BytesMut::new();
        while let Some(frame) = self.frame().await {
            if let Ok(data) = frame?.into_data() {
                if out.len() + data.len() > limit {
                    return Err(RequestError::BodyTooLarge { limit });
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out.freeze())
    }

    /// The whole body, at most [`pool_http::DEFAULT_COLLECT_LIMIT`] bytes.
    ///
    /// # Errors
    /// As [`Body::collect`].
    pub async fn bytes(self) -> Result<Bytes, RequestError> {
        self.collect(pool_http::DEFAULT_COLLECT_LIMIT).await
    }

    /// The whole body as text (invalid UTF-8 replaced), at most
    /// [`pool_http::DEFAULT_COLLECT_LIMIT`] bytes.
    ///
    /// # Errors
    /// As [`Body::collect`].
    pub async fn text(self) -> Result<String, RequestError> {
        Ok(String::from_utf8_lossy(&self.bytes().await?).into_owned())
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body").finish_non_exhaustive()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
