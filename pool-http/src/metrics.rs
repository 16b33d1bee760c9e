//! Request metric names (under `hotpool_requests_`) and the record of one request: its
//! tracing span and its metrics, the same for every protocol.

use http::StatusCode;
use metrics::{Key, Label, Metadata, counter};
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
/// Counter, labels `protocol` and `cause`: requests [`send`](crate::send) sent again on
/// another connection — `refused` (refused or never sent: certainly not processed, always
/// resent) or `lost` (an idempotent request whose reused connection failed under it).
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

/// The keys of the per-request metrics, one per protocol (in [`Protocol::ALL`]'s order),
/// built at compile time: recording one hashes nothing, builds no label list and allocates
/// nothing (the `counter!` macro with a label value that is not a literal allocates a
/// `Vec` of labels and hashes the key on every call). Failures (rare) keep the macros.
macro_rules! per_protocol {
    ($name:expr $(, $k:literal => $v:literal)*) => {
        [
            per_protocol!(@one $name, "h1" $(, $k => $v)*),
            per_protocol!(@one $name, "h2" $(, $k => $v)*),
            per_protocol!(@one $name, "h3" $(, $k => $v)*),
            per_protocol!(@one $name, "stream" $(, $k => $v)*),
        ]
    };
    (@one $name:expr, $p:literal $(, $k:literal => $v:literal)*) => {{
        static LABELS: &[Label] = &[
            Label::from_static_parts("protocol", $p)
            $(, Label::from_static_parts($k, $v))*
        ];
        Key::from_static_parts($name, LABELS)
    }};
}

static OK: [Key; 4] = per_protocol!(REQUESTS_TOTAL, "result" => "ok");
static HEADERS: [Key; 4] = per_protocol!(HEADERS_SECONDS);
static COMPLETE: [Key; 4] = per_protocol!(DURATION_SECONDS, "end" => "complete");
static ERROR: [Key; 4] = per_protocol!(DURATION_SECONDS, "end" => "error");
static DROPPED: [Key; 4] = per_protocol!(DURATION_SECONDS, "end" => "dropped");
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The position of `protocol` in [`Protocol::ALL`] (the order of the key tables).
fn slot(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Http1 => 0,
        Protocol::Http2 => 1,
        Protocol::Http3 => 2,
        _ => 3,
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
        let slot = slot(self.protocol);
        if !self.span.is_disabled() {
            // A disabled span still looks the field up by name (and, with tracing's `log`
            // feature, formats it for `log`).
            self.span.record("status", status.as_u16());
        }
        let elapsed = self.started.elapsed();
        metrics::with_recorder(|r| {
            r.register_counter(&OK[slot], &METADATA).increment(1);
            r.register_histogram(&HEADERS[slot], &METADATA)
                .record(elapsed);
        });
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
        if !self.span.is_disabled() {
            self.span.record("duration_ms", elapsed.as_secs_f64() * 1e3);
        }
        let keys = match end {
            End::Complete => &COMPLETE,
            End::Failed(_) => &ERROR,
            End::Dropped | End::Panicked => &DROPPED,
        };
        metrics::with_recorder(|r| {
            r.register_histogram(&keys[slot(self.protocol)], &METADATA)
                .record(elapsed);
        });
        let _entered = self.span.enter();
        match end {
            End::Failed(error) => {
                tracing::debug!(duration = ?elapsed, %error, "request failed");
            }
            _ => tracing::debug!(duration = ?elapsed, end = end.label(), "request ended"),
        }
    }

    /// A request sent again: `refused` when the server certainly did not process it.
    pub(crate) fn retried(protocol: Protocol, refused: bool) {
        let cause = if refused { "refused" } else { "lost" };
        counter!(RETRIES_TOTAL, "protocol" => protocol.as_str(), "cause" => cause).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The static key tables follow [`Protocol::ALL`]'s order: each key names its protocol.
    #[test]
    fn static_keys_carry_their_protocol() {
        for protocol in Protocol::ALL {
            for table in [&OK, &HEADERS, &COMPLETE, &ERROR, &DROPPED] {
                let key = &table[slot(protocol)];
                let label = key.labels().find(|l| l.key() == "protocol");
                assert_eq!(label.map(|l| l.value()), Some(protocol.as_str()), "{key:?}");
            }
        }
    }
}
