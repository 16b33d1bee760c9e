//! The TLS handshake metrics both TLS engines record (rustls in `pool-dial-rustls`, BoringSSL in
//! `pool-dial-boring`), through the `metrics` facade like the pool's own (`pool_core::metrics`).
//!
//! Handles are resolved when a dialer is built, so install the recorder before building
//! the dialer (as for the pool).

use metrics::{Counter, counter};

/// Counter: TLS handshakes completed by TCP dials (full and resumed).
pub const TLS_HANDSHAKES_TOTAL: &str = "hotpool_tls_handshakes_total";
/// Counter: of those, the handshakes that resumed a session (no certificate sent or
/// verified, one fewer key exchange). `resumed / handshakes` is the resumption rate.
pub const TLS_RESUMED_TOTAL: &str = "hotpool_tls_resumed_total";

/// Every metric name of this module.
pub const ALL: [&str; 2] = [TLS_HANDSHAKES_TOTAL, TLS_RESUMED_TOTAL];

/// The handles a TLS dialer counts its handshakes with.
#[derive(Clone, Debug)]
pub struct TlsMetrics {
    handshakes: Counter,
    resumed: Counter,
}

impl TlsMetrics {
    /// Handles from the recorder installed now.
    pub fn new() -> Self {
        Self {
            handshakes: counter!(TLS_HANDSHAKES_TOTAL),
            resumed: counter!(TLS_RESUMED_TOTAL),
        }
    }

    /// Counts one completed handshake.
    pub fn handshake(&self, resumed: bool) {
        self.handshakes.increment(1);
        if resumed {
            self.resumed.increment(1);
        }
    }
}

impl Default for TlsMetrics {
    fn default() -> Self {
        Self::new()
    }
}
