//! The HTTP/3 hosts' options → `pool_dial_quic::QuicOptions` (feature `quic`).

use pool_dial_quic::QuicOptions;

use crate::{Config, ConfigError, HostConfig};

impl Config {
    /// The `pool-dial-quic` (HTTP/3) options: as [`Config::tls_options`] without profiles
    /// and languages, plus `[h3]` and the host's `alpn` (default `h3`).
    ///
    /// # Errors
    /// A validation method or window [`Config::validate`] refuses.
    pub fn quic_options(&self, host: Option<&HostConfig>) -> Result<QuicOptions, ConfigError> {
        let defaults = QuicOptions::default();
        Ok(QuicOptions {
            conn_timeout: self.pool.conn_timeout,
            test_timeout: self.pool.test_timeout,
            alpn: host
                .and_then(|h| h.alpn.clone())
                .unwrap_or_else(|| defaults.alpn.clone()),
            trust: self.trust(),
            source_addrs: self.source_addrs.source_addrs(),
            validation: self.validation()?,
            max_response_header_size: self.pool.max_response_header_size,
            stream_receive_window: u32::try_from(self.h3.stream_receive_window.0).map_err(
                |_| crate::ConfigError::at_key("h3.stream_receive_window", "above 4 GiB".into()),
            )?,
            receive_window: self.h3.receive_window.0,
            send_window: self.h3.send_window.0,
            initial_rtt: self.h3.initial_rtt,
            congestion: match self.h3.congestion {
                crate::CongestionKind::Cubic => pool_dial_quic::Congestion::Cubic,
                crate::CongestionKind::NewReno => pool_dial_quic::Congestion::NewReno,
                crate::CongestionKind::Bbr => pool_dial_quic::Congestion::Bbr,
            },
            ..defaults
        })
    }
}
