//! The QUIC transport settings tuned for real paths (RTT 10-150 ms): flow-control windows,
//! the initial RTT estimate and the congestion controller ([`QuicOptions`]' fields), and
//! how they reach quinn's [`TransportConfig`]. The values and the measurements behind them:
//! `docs/quic-tuning.md`.

use std::sync::Arc;
use std::time::Duration;

use quinn::congestion::{BbrConfig, CubicConfig, NewRenoConfig};
use quinn::{TransportConfig, VarInt};

use crate::QuicOptions;

/// The congestion controller of a connection's sending side (requests and their bodies;
/// a response is paced by the server's controller).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Congestion {
    /// CUBIC (RFC 9438): quinn's default, and the kernel's for TCP.
    #[default]
    Cubic,
    /// NewReno (RFC 9002's reference controller).
    NewReno,
    /// BBR (quinn's implementation, marked experimental by quinn).
    Bbr,
}

/// Stream receive window by default: Chrome's QUIC stream window (6 MiB).
pub const DEFAULT_STREAM_RECEIVE_WINDOW: u32 = 6 << 20;
/// Connection receive window by default: Chrome's QUIC session window (15 MiB).
pub const DEFAULT_RECEIVE_WINDOW: u64 = 15 << 20;
/// Send window by default: quinn's (10 MB).
pub const DEFAULT_SEND_WINDOW: u64 = 10_000_000;
/// Initial RTT estimate by default: 100 ms (Chrome's QUIC initial RTT; RFC 9002 and quinn
/// say 333 ms).
pub const DEFAULT_INITIAL_RTT: Duration = Duration::from_millis(100);

impl QuicOptions {
    /// These options with quinn 0.11's own transport defaults instead of the pool's (1.25 MB
    /// stream window, unlimited connection window, 10 MB send window, 333 ms initial RTT,
    /// CUBIC): the baseline of `docs/quic-tuning.md`.
    #[must_use]
    pub fn with_quinn_defaults(self) -> Self {
        Self {
            stream_receive_window: 1_250_000,
            receive_window: VarInt::MAX.into_inner(),
            send_window: 10_000_000,
            initial_rtt: Duration::from_millis(333),
            congestion: Congestion::Cubic,
            ..self
        }
    }
}

/// Sets the windows, initial RTT and congestion controller of `options` on `transport`.
/// A window past QUIC's variable-length integer range is clamped to it.
pub(crate) fn apply(options: &QuicOptions, transport: &mut TransportConfig) {
    let varint = |n: u64| VarInt::from_u64(n).unwrap_or(VarInt::MAX);
    transport.stream_receive_window(VarInt::from_u32(options.stream_receive_window));
    transport.receive_window(varint(options.receive_window));
    transport.send_window(options.send_window);
    transport.initial_rtt(options.initial_rtt);
    match options.congestion {
        Congestion::Cubic => {
            transport.congestion_controller_factory(Arc::new(CubicConfig::default()))
        }
        Congestion::NewReno => {
            transport.congestion_controller_factory(Arc::new(NewRenoConfig::default()))
        }
        Congestion::Bbr => transport.congestion_controller_factory(Arc::new(BbrConfig::default())),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QuicDialer;

    /// Every controller and the extreme windows build a dialer (a window past QUIC's range
    /// is clamped, not a panic); quinn's defaults differ from the pool's where documented.
    #[test]
    fn every_setting_builds_a_dialer() {
        for congestion in [Congestion::Cubic, Congestion::NewReno, Congestion::Bbr] {
            let options = QuicOptions {
                congestion,
                receive_window: u64::MAX,
                send_window: u64::MAX,
                stream_receive_window: u32::MAX,
                ..QuicOptions::default()
            };
            assert!(QuicDialer::new(options).is_ok(), "{congestion:?}");
        }
        let pool = QuicOptions::default();
        let quinn = QuicOptions::default().with_quinn_defaults();
        assert!(pool.stream_receive_window > quinn.stream_receive_window);
        assert!(pool.receive_window < quinn.receive_window);
        assert!(pool.initial_rtt < quinn.initial_rtt);
        assert!(QuicDialer::new(quinn).is_ok());
    }
}
