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
//! - this file: what the origins share — `Responses`, the `x-served-by` header, and the
//!   state an [`H2Origin`] shares with its connection tasks of either protocol (`Shared`,
//!   `Cmd`), so `h2.rs`, `h2_request.rs` and `h1.rs` each import it from here;
//! - [`H3Origin`] (`h3.rs`): HTTP/3 (the `h3` crate's server) over quinn;
//! - [`H2OriginOptions::plain`]: the same origin without TLS (`http://`: HTTP/1.1, and h2c
//!   by the preface);
//! - [`NginxServer`] (`nginx.rs`): Debian's nginx serving files over `http://` (HTTP/1.1
//!   and h2c), a server this project did not write; with gzip and `limit_req` rate limits
//!   ([`NginxOptions`]);
//! - [`CaddyServer`] (`caddy.rs`): Debian's Caddy over HTTPS with the test CA's
//!   certificate: HTTP/2 and HTTP/3 advertised by `Alt-Svc`, zstd and gzip bodies.

mod caddy;
mod encoded;
mod h1;
mod h2;
mod h2_request;
mod h2_stats;
mod h3;
mod limit;
mod nginx;
pub(crate) mod routes;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, watch};

use crate::net::lock;
use h2_stats::Counters;

pub use self::h3::{H3Origin, H3OriginOptions, H3Stats};
pub use caddy::CaddyServer;
pub use encoded::{BOMB_DECODED_SIZE, CODINGS, MAX_ENCODED_CONTENT, bomb, encode, encoded_content};
pub use h1::{Http1Options, RandomClose};
pub use h2::{H2Origin, H2OriginOptions};
pub use h2_stats::OriginStats;
pub use limit::{LIMITED_PREFIX, OriginRateLimit, RateLimitCounts};
pub use nginx::{
    NGINX_BUSY_PREFIX, NGINX_LIMITED_PREFIX, NginxOptions, NginxRateLimit, NginxServer,
};

/// What an origin answers, changeable at run time: a status per path (default 200), a delay
/// before every response, the response body.
pub(crate) struct Responses {
    statuses: Mutex<HashMap<String, u16>>,
    delay: Mutex<Option<Duration>>,
    body: Bytes,
    /// The rate limit on paths under `/limited` (`limit.rs`).
    pub(crate) limiter: limit::Limiter,
}

impl Responses {
    pub(crate) fn new(delay: Option<Duration>, body: Bytes) -> Self {
        Self {
            statuses: Mutex::new(HashMap::new()),
            delay: Mutex::new(delay),
            body,
            limiter: limit::Limiter::default(),
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

/// What an [`H2Origin`] tells an open connection to do (either protocol).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmd {
    GoAway,
    Close,
    Garbage,
}

pub(crate) struct ConnEntry {
    cmd: mpsc::UnboundedSender<Cmd>,
    /// A second handle on the TCP socket, so `reset_all` can set SO_LINGER 0 while the
    /// connection task owns the stream. Dropped when the task ends.
    sock: socket2::Socket,
}

/// The state an [`H2Origin`] and its connection tasks share, HTTP/2 (`h2.rs`,
/// `h2_request.rs`) and HTTP/1.1 (`h1.rs`) alike: counters, responses, open connections.
pub(crate) struct Shared {
    notify: Notify,
    counters: BTreeMap<IpAddr, Counters>,
    pub(super) responses: Responses,
    max_concurrent_streams: Option<u32>,
    pub(super) http1: Http1Options,
    port: u16,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    next_conn: AtomicU64,
    ping_frozen: watch::Sender<bool>,
    reloads: AtomicU64,
    restarts: AtomicU64,
    /// The state of the seeded draws of [`Http1Options::random_close`].
    close_draws: Mutex<u64>,
}

impl Shared {
    fn counters(&self, ip: IpAddr) -> &Counters {
        // Connections are only accepted on addresses from the map's keys.
        match self.counters.get(&ip) {
            Some(c) => c,
            None => self
                .counters
                .values()
                .next()
                .expect("an origin always has at least one address"),
        }
    }

    fn bump(&self, f: impl FnOnce()) {
        f();
        self.notify.notify_waiters();
    }

    /// Counts a stream the client reset on `local_ip` (any outcome of watching for it).
    pub(super) fn count_reset(&self, local_ip: IpAddr) {
        self.bump(|| {
            self.counters(local_ip)
                .stream_resets
                .fetch_add(1, Ordering::SeqCst);
        });
    }

    /// Counts a request about to be answered on `local_ip`.
    pub(super) fn count_request(&self, local_ip: IpAddr) {
        let c = self.counters(local_ip);
        self.bump(|| {
            c.requests.fetch_add(1, Ordering::SeqCst);
        });
    }

    /// Counts how an HTTP/1.1 exchange on `local_ip` used its connection: `reused` when an
    /// earlier request came on it, `closing` when the origin closes it after this response.
    pub(super) fn count_http1(&self, local_ip: IpAddr, reused: bool, closing: bool) {
        let c = self.counters(local_ip);
        self.bump(|| {
            if reused {
                c.http1_kept_alive.fetch_add(1, Ordering::SeqCst);
            }
            if closing {
                c.http1_closed.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    /// The `x-served-by` value of responses on `local_ip`.
    pub(super) fn served_by(&self, local_ip: IpAddr) -> String {
        served_by(SocketAddr::new(local_ip, self.port))
    }

    /// Records the `accept-language` values of a request on `local_ip`.
    pub(super) fn record_languages<'a>(
        &self,
        local_ip: IpAddr,
        values: impl IntoIterator<Item = &'a http::HeaderValue>,
    ) {
        let mut langs = lock(&self.counters(local_ip).accept_languages);
        for v in values {
            langs.push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
    }

    /// Counts a graceful GOAWAY sent on an HTTP/2 connection on `local_ip`.
    pub(super) fn count_goaway(&self, local_ip: IpAddr) {
        let c = self.counters(local_ip);
        self.bump(|| {
            c.goaways_sent.fetch_add(1, Ordering::SeqCst);
        });
    }

    /// Counts an HTTP/1.1 connection on `local_ip` closed gracefully by a reload.
    pub(super) fn count_http1_reload_close(&self, local_ip: IpAddr) {
        let c = self.counters(local_ip);
        self.bump(|| {
            c.http1_reload_closes.fetch_add(1, Ordering::SeqCst);
        });
    }

    /// Whether this HTTP/1.1 response closes its connection by
    /// [`Http1Options::random_close`]: a seeded draw (splitmix64), one in `one_in`.
    pub(super) fn draw_random_close(&self) -> bool {
        let Some(random) = self.http1.random_close else {
            return false;
        };
        let mut state = lock(&self.close_draws);
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        z % u64::from(random.one_in.max(1)) == 0
    }

    /// Sends `cmd` to every open connection; returns how many took it.
    pub(crate) fn signal_all(&self, cmd: Cmd) -> usize {
        let conns = lock(&self.conns);
        conns.values().filter(|c| c.cmd.send(cmd).is_ok()).count()
    }
}
