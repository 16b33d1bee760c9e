//! Local origins, loopback only: TLS + HTTP/2 (with an HTTP/1.1 fallback) and HTTP/3.
//!
//! Every origin listens on one shared port of several addresses, counts what it sees per
//! address, answers from one `Responses` (per-path status overrides, a response delay,
//! the body) and names the listening address that served a request. A new protocol (an
//! HTTP/1.1-only origin, HTTP/3) is a new module here reusing `Responses` and the shared
//! port binding of `net.rs`.
//!
//! - [`H2Origin`] (`h2.rs`): TCP + TLS, ALPN `h2` → HTTP/2, `http/1.1` (or no ALPN and no
//!   HTTP/2 preface) → hyper's HTTP/1.1 server (`h1.rs`, [`Http1Options`]). ALPN `h2,
//!   http/1.1` (the default) is the ALPN-mix origin; [`H2OriginOptions::h1_only`] and
//!   [`H2OriginOptions::h2_only`] offer one protocol;
//! - `routes.rs`: what every origin answers, per path, whatever the protocol;
//! - [`H3Origin`] (`h3.rs`): HTTP/3 (the `h3` crate's server) over quinn.

mod h1;
mod h2;
mod h2_request;
mod h2_stats;
mod h3;
pub(crate) mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use crate::net::lock;

pub use self::h3::{H3Origin, H3OriginOptions, H3Stats};
pub use h1::{Http1Options, RandomClose};
pub use h2::{H2Origin, H2OriginOptions};
pub use h2_stats::OriginStats;

/// What an origin answers, changeable at run time: a status per path (default 200), a delay
/// before every response, the response body.
pub(crate) struct Responses {
    statuses: Mutex<HashMap<String, u16>>,
    delay: Mutex<Option<Duration>>,
    body: Bytes,
}

impl Responses {
    pub(crate) fn new(delay: Option<Duration>, body: Bytes) -> Self {
        Self {
            statuses: Mutex::new(HashMap::new()),
            delay: Mutex::new(delay),
            body,
        }
    }

    /// Answers requests for exactly `path` (query string excluded) with `status`.
    pub(crate) fn set_status(&self, path: &str, status: u16) {
        lock(&self.statuses).insert(path.to_owned(), status);
    }

    /// Removes an override of [`set_status`](Self::set_status).
    pub(crate) fn clear_status(&self, path: &str) {
        lock(&self.statuses).remove(path);
    }

    /// Sets (or with `None` removes) the delay before every response.
    pub(crate) fn set_delay(&self, delay: Option<Duration>) {
        *lock(&self.delay) = delay;
    }

    /// The delay before every response, if one is set.
    pub(crate) fn current_delay(&self) -> Option<Duration> {
        *lock(&self.delay)
    }

    /// The status override for exactly `path`, if one is set; an invalid code is answered
    /// as 500.
    pub(crate) fn status_override(&self, path: &str) -> Option<http::StatusCode> {
        let code = lock(&self.statuses).get(path).copied()?;
        Some(http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR))
    }

    /// The body of every response.
    pub(crate) fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The `x-served-by` header every response carries: the listening address that served it.
pub(crate) const SERVED_BY: &str = "x-served-by";

/// The value of [`SERVED_BY`] for a listening address.
pub(crate) fn served_by(listening: SocketAddr) -> String {
    listening.to_string()
}
