//! Request metric names (under `hotpool_requests_`) and the record of one request: its
//! tracing span and its metrics, the same for every protocol.

use http::StatusCode;
use metrics::{counter, histogram};
use tokio::time::Instant;

use crate::{Protocol, RequestError};

/// Counter, labels `protocol` (`h1`, `h2`, `h3`, `quic`) and `result` (`ok` for a
/// response of any status, else the error kind: `timeout`, `not_sent`, `refused`,
/// `connection_lost`, `protocol`, `request_body`, `invalid_request`, `body_too_large`,
/// `pool`): requests by how
/// their headers stage ended.
pub const REQUESTS_TOTAL: &str = "hotpool_requests_total";
/// Histogram (seconds), label `protocol`: time from sending a request to its response
/// headers.
pub const HEADERS_SECONDS: &str = "hotpool_requests_headers_seconds";
/// Histogram (seconds), labels `protocol` and `end` (`complete`, `error`, `dropped`): time
/// from sending a request to the end of its response body.
pub const DURATION_SECONDS: &str = "hotpool_requests_duration_seconds";
/// Counter, label `protocol`: retries [`send`](crate::send) made on another connection.
pub const RETRIES_TOTAL: &str = "hotpool_requests_retries_total";

/// Every metric name the request layer records.
pub const ALL: [&str; 4] = [
    REQUESTS_TOTAL,
    HEADERS_SECONDS,
    DURATION_SECONDS,
    RETRIES_TOTAL,
];

/// How a request ended, for the one report path and the metrics.
#[derive(Clone, Copy, Debug)]
pub(crate) enum End<'a> {
    /// The response body was read to its end.
    Complete,
    /// The request or its body failed.
    Failed(&'a RequestError),
    /// The body was dropped before its end.
    Dropped,
    /// The body was dropped before its end while the thread was panicking.
    Panicked,
}

impl End<'_> {
    fn label(self) -> &'static str {
        match self {
            End::Complete => "complete",
            End::Failed(_) => "error",
            End::Dropped | End::Panicked => "dropped",
        }
    }
}

/// One request's span and clock.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) span: tracing::Span,
    protocol: Protocol,
    started: Instant,
}

impl Record {
    pub(crate) fn start(span: tracing::Span, protocol: Protocol) -> Self {
        Self {
            span,
            protocol,
            started: Instant::now(),
        }
    }

    /// The response headers arrived.
    pub(crate) fn headers(&self, status: StatusCode) {
        let p = self.protocol.as_str();
        self.span.record("status", status.as_u16());
        counter!(REQUESTS_TOTAL, "protocol" => p, "result" => "ok").increment(1);
        histogram!(HEADERS_SECONDS, "protocol" => p).record(self.started.elapsed());
    }

    /// The request failed before its headers.
    pub(crate) fn failed(&self, error: &RequestError) {
        let p = self.protocol.as_str();
        counter!(REQUESTS_TOTAL, "protocol" => p, "result" => error.kind()).increment(1);
        self.end(End::Failed(error));
    }

    /// The request ended (body complete, failed or dropped).
    pub(crate) fn end(&self, end: End<'_>) {
        let elapsed = self.started.elapsed();
        self.span.record("duration_ms", elapsed.as_secs_f64() * 1e3);
        histogram!(DURATION_SECONDS, "protocol" => self.protocol.as_str(), "end" => end.label())
            .record(elapsed);
        let _entered = self.span.enter();
        match end {
            End::Failed(error) => {
                tracing::debug!(duration = ?elapsed, %error, "request failed");
            }
            _ => tracing::debug!(duration = ?elapsed, end = end.label(), "request ended"),
        }
    }

    pub(crate) fn retried(protocol: Protocol) {
        counter!(RETRIES_TOTAL, "protocol" => protocol.as_str()).increment(1);
    }
}
