//! Errors of `Pool::get` and friends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::DialError;

/// Why no connection could be handed out.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pool is closing or closed.
    #[error("the pool is closed")]
    Closed,
    /// No address is known for the host (no `set_addrs` yet, or an empty set).
    #[error("no addresses known for host `{host}`")]
    NoAddresses {
        /// The host asked for.
        host: Arc<str>,
    },
    /// Every known address of the host is blacklisted or outside the whitelist.
    #[error("every address of host `{host}` is blacklisted or not whitelisted")]
    NoUsableAddress {
        /// The host asked for.
        host: Arc<str>,
    },
    /// Dials to the host kept failing; the last failure is attached.
    #[error("connecting to host `{host}` failed: {last}")]
    Dial {
        /// The host asked for.
        host: Arc<str>,
        /// The last dial's failure.
        last: DialError,
    },
    /// No connection became available within `checkout_timeout`.
    #[error("no connection to host `{host}` within {waited:?}")]
    Timeout {
        /// The host asked for.
        host: Arc<str>,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The host is down: every address (or `host_outage_threshold` of them) failed at
    /// once, no connection to it is open, and the pool is re-testing it with a short
    /// backoff (`docs/stay-hot.md`). Ask to wait instead with
    /// `wait_for_host` of [`GetOptions`](crate::GetOptions).
    #[error("host `{host}` is down: its addresses fail at once; re-testing it")]
    HostDown {
        /// The host asked for.
        host: Arc<str>,
        /// When the outage began.
        since: Instant,
    },
}

impl Error {
    /// Whether the host is in an outage ([`Error::HostDown`]).
    pub fn is_host_down(&self) -> bool {
        matches!(self, Error::HostDown { .. })
    }

    /// Whether the caller ran out of time waiting.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the failure came from dialing (connect, handshake, validation).
    pub fn is_dial(&self) -> bool {
        matches!(self, Error::Dial { .. })
    }
}
