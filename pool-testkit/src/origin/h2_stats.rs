//! The counters of an [`H2Origin`](super::H2Origin), per listening address, and their
//! snapshot [`OriginStats`].

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::net::lock;

/// A snapshot of an origin's counters (for one listening address, or in total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// TLS handshakes completed.
    pub handshakes: u64,
    /// TLS handshakes that failed or timed out (wrong name, unknown CA, ALPN mismatch…).
    pub handshake_failures: u64,
    /// Connections currently open (accepted and not yet closed, handshaking included).
    pub open_connections: u64,
    /// Connections that ended up speaking HTTP/2.
    pub h2_connections: u64,
    /// Connections that ended up speaking HTTP/1.1.
    pub http1_connections: u64,
    /// Requests answered (counted just before the response is sent).
    pub requests: u64,
    /// HTTP/1.1 requests that came on a connection which had already carried one: what
    /// client keep-alive reuse looks like from the server.
    pub http1_kept_alive: u64,
    /// HTTP/1.1 responses after which the origin closed the connection (`connection:
    /// close` by `close_after`, keep-alive off, or HTTP/1.0).
    pub http1_closed: u64,
    /// The highest number of requests in progress at once on any single connection.
    pub max_concurrent_streams_seen: u64,
    /// Client (peer) socket addresses, in the order their connections were accepted.
    pub peers: Vec<SocketAddr>,
    /// Every `accept-language` header value received, in order.
    pub accept_languages: Vec<String>,
    /// HTTP/2 streams the client reset while the origin was still answering (the
    /// `/stall`, `/stall-body` and `/bytes/{n}` paths watch for it).
    pub stream_resets: u64,
    /// Graceful GOAWAYs sent (HTTP/2 connections told to drain by [`H2Origin::reload`] or
    /// [`H2Origin::goaway_all`]).
    pub goaways_sent: u64,
    /// HTTP/1.1 connections closed gracefully by a reload (idle ones at once, busy ones
    /// after their response).
    pub http1_reload_closes: u64,
    /// [`H2Origin::reload`]s of the whole origin so far (the same figure for every
    /// address).
    pub reloads: u64,
    /// [`H2Origin::stop_listening`]s of the whole origin so far (the same figure for
    /// every address).
    pub restarts: u64,
}

impl OriginStats {
    pub(super) fn merge(&mut self, o: &OriginStats) {
        self.accepted += o.accepted;
        self.handshakes += o.handshakes;
        self.handshake_failures += o.handshake_failures;
        self.open_connections += o.open_connections;
        self.h2_connections += o.h2_connections;
        self.http1_connections += o.http1_connections;
        self.requests += o.requests;
        self.http1_kept_alive += o.http1_kept_alive;
        self.http1_closed += o.http1_closed;
        self.max_concurrent_streams_seen = self
            .max_concurrent_streams_seen
            .max(o.max_concurrent_streams_seen);
        self.peers.extend_from_slice(&o.peers);
        self.accept_languages.extend_from_slice(&o.accept_languages);
        self.stream_resets += o.stream_resets;
        self.goaways_sent += o.goaways_sent;
        self.http1_reload_closes += o.http1_reload_closes;
        // Origin-wide figures: the same in every address's snapshot.
        self.reloads = o.reloads;
        self.restarts = o.restarts;
    }
}

/// The live counters of one listening address.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) handshakes: AtomicU64,
    pub(super) handshake_failures: AtomicU64,
    pub(super) open: AtomicU64,
    pub(super) h2: AtomicU64,
    pub(super) http1: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) http1_kept_alive: AtomicU64,
    pub(super) http1_closed: AtomicU64,
    pub(super) max_streams: AtomicU64,
    pub(super) peers: Mutex<Vec<SocketAddr>>,
    pub(super) accept_languages: Mutex<Vec<String>>,
    pub(super) stream_resets: AtomicU64,
    pub(super) goaways_sent: AtomicU64,
    pub(super) http1_reload_closes: AtomicU64,
}

impl Counters {
    /// A snapshot, with the origin-wide `reloads` and `restarts`.
    pub(super) fn snapshot(&self, reloads: u64, restarts: u64) -> OriginStats {
        OriginStats {
            accepted: self.accepted.load(Ordering::SeqCst),
            handshakes: self.handshakes.load(Ordering::SeqCst),
            handshake_failures: self.handshake_failures.load(Ordering::SeqCst),
            open_connections: self.open.load(Ordering::SeqCst),
            h2_connections: self.h2.load(Ordering::SeqCst),
            http1_connections: self.http1.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
            http1_kept_alive: self.http1_kept_alive.load(Ordering::SeqCst),
            http1_closed: self.http1_closed.load(Ordering::SeqCst),
            max_concurrent_streams_seen: self.max_streams.load(Ordering::SeqCst),
            peers: lock(&self.peers).clone(),
            accept_languages: lock(&self.accept_languages).clone(),
            stream_resets: self.stream_resets.load(Ordering::SeqCst),
            goaways_sent: self.goaways_sent.load(Ordering::SeqCst),
            http1_reload_closes: self.http1_reload_closes.load(Ordering::SeqCst),
            reloads,
            restarts,
        }
    }
}
