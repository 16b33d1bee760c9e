//! The response body a caller gets: streams the connection's body, owns the lease until
//! the body ends, and reports the request's outcome exactly once.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use pool_core::{Connection, Dialer, Lease};
use tokio::time::{Instant, Sleep};

use crate::metrics::{End, Record};
use crate::{HttpConnection, Protocol, RequestError, RequestOptions};

/// The limit of [`Body::bytes`] when no [`RequestOptions::max_response_body`] is set:
/// 64 MiB. It bounds *buffering* only: a body read as a stream (frame by frame, e.g. to a
/// file) has no size limit unless the sender sets
/// [`RequestOptions::max_response_body`] (the CLI's `get --max-filesize`).
pub const DEFAULT_COLLECT_LIMIT: usize = 64 << 20;

/// A response body streamed from a pooled connection (implements [`http_body::Body`]).
///
/// It **owns the lease**: the connection is not returned to the pool (nor, for HTTP/1.1,
/// handed to anyone else) until the body has ended or is dropped. The request's outcome is
/// reported on the lease exactly once, when the body ends:
///
/// - read to its end → success;
/// - an error (the stream failed, [`RequestOptions::body_idle_timeout`] passed,
///   [`RequestOptions::max_response_body`] or [`collect`](Self::collect)'s limit exceeded)
///   → a connection error ([`RequestError::is_connection_error`]) marks the connection
///   broken, any other counts as an error on it (HTTP/1.1: broken — a half-read response
///   leaves it unusable);
/// - **dropped before its end** → HTTP/1.1: broken (a half-read response is never handed
///   to the next user); HTTP/2 and HTTP/3: the stream is reset by dropping it and the
///   connection stays, reported as a success (the connection did its part; the caller
///   chose to stop) — as an error when dropped while panicking, like a lease.
///
/// A response whose body is empty ends at once: its lease is returned before the caller
/// sees the response.
pub struct Body<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    /// The connection's body; dropped as soon as the body ends, before the lease.
    inner: Option<<D::Conn as HttpConnection>::ResponseBody>,
    /// Until the outcome is reported.
    lease: Option<Lease<D>>,
    protocol: Protocol,
    idle: Option<Idle>,
    limit: Option<usize>,
    read: usize,
    record: Record,
}

/// The body-idle deadline.
struct Idle {
    after: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl<D> Body<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    pub(crate) fn new(
        inner: <D::Conn as HttpConnection>::ResponseBody,
        lease: Lease<D>,
        options: &RequestOptions,
        record: Record,
    ) -> Self {
        let protocol = lease.conn().protocol();
        let idle = options.body_idle_timeout.map(|after| Idle {
            after,
            sleep: Box::pin(tokio::time::sleep(after)),
        });
        let mut body = Self {
            inner: Some(inner),
            lease: Some(lease),
            protocol,
            idle,
            limit: options.max_response_body,
            read: 0,
            record,
        };
        if body.inner.as_ref().is_some_and(|b| b.is_end_stream()) {
            body.finish(End::Complete);
        }
        body
    }

    /// The protocol the response came in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether the body has ended (read to its end or failed): the lease is back in the
    /// pool.
    pub fn is_done(&self) -> bool {
        self.lease.is_none()
    }

    /// Reads the whole body, at most `limit` bytes (and at most
    /// [`RequestOptions::max_response_body`]); a longer body fails with
    /// [`RequestError::BodyTooLarge`] (reported as an error on the connection).
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, RequestError> {
        self.limit = Some(self.limit.map_or(limit, |l| l.min(limit)));
        let mut first: Option<Bytes> = None;
        let mut rest = BytesMut::new();
        while let Some(frame) = self.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            match &first {
                None => first = Some(data),
                Some(head) => {
                    if rest.is_empty() {
                        rest.extend_from_slice(head);
                    }
                    rest.extend_from_slice(&data);
                }
            }
        }
        Ok(if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            rest.freeze()
        })
    }

    /// Reads the whole body with [`collect`](Self::collect), limited by
    /// [`RequestOptions::max_response_body`] or else [`DEFAULT_COLLECT_LIMIT`].
    pub async fn bytes(self) -> Result<Bytes, RequestError> {
        let limit = self.limit.unwrap_or(DEFAULT_COLLECT_LIMIT);
        self.collect(limit).await
    }

    /// The one place the request's outcome is reported on the lease (see [`Body`]), also
    /// for requests that failed before their headers ([`report`]).
    fn finish(&mut self, end: End<'_>) {
        // The connection's body goes first: the stream is reset (h2/h3) before the lease
        // is released.
        self.inner = None;
        if let Some(mut lease) = self.lease.take() {
            report(&mut lease, self.protocol, end);
            self.record.end(end);
        }
    }

    fn fail(&mut self, error: RequestError) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        self.finish(End::Failed(&error));
        Poll::Ready(Some(Err(error)))
    }
}

/// The one rule from how a request ended to the lease's outcome (see [`Body`]).
pub(crate) fn report<D: Dialer>(lease: &mut Lease<D>, protocol: Protocol, end: End<'_>) {
    match end {
        End::Complete => lease.report_success(),
        End::Failed(e) if e.is_connection_error() => lease.mark_broken(),
        End::Failed(_) | End::Dropped | End::Panicked if !protocol.is_multiplexed() => {
            lease.mark_broken();
        }
        // As a lease dropped while panicking: an error.
        End::Failed(_) | End::Panicked => lease.report_error(),
        End::Dropped => lease.report_success(),
    }
}

impl<D> http_body::Body for Body<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        let Poll::Ready(frame) = polled else {
            if let Some(idle) = &mut this.idle {
                ready!(idle.sleep.as_mut().poll(cx));
                let after = idle.after;
                return this.fail(RequestError::Timeout(after));
            }
            return Poll::Pending;
        };
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len();
                    if let Some(limit) = this.limit
                        && this.read > limit
                    {
                        return this.fail(RequestError::BodyTooLarge { limit });
                    }
                }
                if let Some(idle) = &mut this.idle {
                    idle.sleep.as_mut().reset(Instant::now() + idle.after);
                }
                if inner.is_end_stream() {
                    this.finish(End::Complete);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => this.fail(error),
            None => {
                this.finish(End::Complete);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl<D> Drop for Body<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.finish(End::Panicked);
        } else {
            self.finish(End::Dropped);
        }
    }
}

impl<D> std::fmt::Debug for Body<D>
where
    D: Dialer,
    D::Conn: HttpConnection,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("protocol", &self.protocol)
            .field("read", &self.read)
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}
