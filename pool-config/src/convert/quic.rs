//! The HTTP/3 hosts' options → `pool_dial_quic::QuicOptions` (feature `quic`).

use pool_dial_quic::QuicOptions;

use crate::{Config, ConfigError, HostConfig};

impl Config {
    /// The `pool-dial-quic` (HTTP/3) options of this configuration: `pool.conn_timeout`,
    /// `pool.test_timeout`, `[tls]` trust settings (`ca_files`, `use_webpki_roots`,
    /// `insecure_skip_verify`), `[source_addrs]`, `[validation]` (as for
    /// [`Config::tls_options`]), and the host's `alpn` (pool-dial-quic's default, `h3`,
    /// without one). TLS profiles and `accept_languages` do not apply to QUIC;
    /// keep-alive, idle timeout, the stream cap and the probe request keep pool-dial-quic's
    /// defaults.
    ///
    /// # Errors
    /// A validation method the loader would have rejected (only possible for a `Config`
    /// changed in code without [`Config::validate`]).
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
                |_| crate::convert::convert_error("h3.stream_receive_window", "above 4 GiB".into()),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `[h3]` reaches `QuicOptions`; its declared defaults are pool-dial-quic's own.
    #[test]
    fn h3_keys_are_carried_over() {
        let d = Config::default().quic_options(None).unwrap();
        let want = QuicOptions::default();
        assert_eq!(
            (d.stream_receive_window, d.receive_window, d.send_window),
            (
                want.stream_receive_window,
                want.receive_window,
                want.send_window
            )
        );
        assert_eq!(
            (d.initial_rtt, d.congestion),
            (want.initial_rtt, want.congestion)
        );
        let cfg = Config::from_str_named(
            "[h3]\nstream_receive_window = \"2MiB\"\nreceive_window = 8000000\n\
             send_window = \"1MB\"\ninitial_rtt = \"250ms\"\ncongestion = \"bbr\"\n",
            "t.toml",
        )
        .unwrap();
        let q = cfg.quic_options(None).unwrap();
        assert_eq!(q.stream_receive_window, 2 << 20);
        assert_eq!((q.receive_window, q.send_window), (8_000_000, 1_000_000));
        assert_eq!(q.initial_rtt, Duration::from_millis(250));
        assert_eq!(q.congestion, pool_dial_quic::Congestion::Bbr);
        for bad in [
            "stream_receive_window = 0",
            "stream_receive_window = \"4GiB\"",
            "receive_window = 0",
            "initial_rtt = 0",
            "congestion = \"vegas\"",
        ] {
            assert!(
                Config::from_str_named(&format!("[h3]\n{bad}\n"), "t.toml").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn quic_keys_are_carried_over() {
        let cfg = Config::from_str_named(
            "[pool]\nconn_timeout = 4\n[tls]\nca_files = [\"/ca.pem\"]\n\n[[hosts]]\nname = \
             \"q.test\"\ntransport = \"h3\"\nalpn = [\"h3\", \"hotpool\"]\n",
            "t.toml",
        )
        .unwrap();
        let q = cfg.quic_options(cfg.hosts.first()).unwrap();
        assert_eq!(q.conn_timeout, Duration::from_secs(4));
        assert_eq!(q.alpn, ["h3", "hotpool"]);
        assert_eq!(q.trust.extra_ca_files.len(), 1);
        assert!(q.trust.webpki_roots);
        assert!(q.validation.is_none());
        let q = cfg.quic_options(None).unwrap();
        assert_eq!(q.alpn, QuicOptions::default().alpn);
    }

    #[test]
    fn quic_gets_the_validation_request_and_test_timeout() {
        let cfg = Config::from_str_named(
            "[pool]\ntest_timeout = 3\nbanned_status = 451\n[validation]\nenabled = true\npath = \"/hot\"\n",
            "t.toml",
        )
        .unwrap();
        let q = cfg.quic_options(None).unwrap();
        assert_eq!(q.test_timeout, Duration::from_secs(3));
        let v = q.validation.unwrap();
        assert_eq!(
            (v.path.as_str(), v.banned_statuses.as_slice()),
            ("/hot", &[451][..])
        );
    }
}
