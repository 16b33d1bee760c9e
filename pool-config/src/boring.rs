//! `[tls] engine = "boring"`: the conversion into `pool_dial_boring::BoringOptions` (feature
//! `boring`). The keys are declared in `model.rs` with the others; the loader checks the
//! profile names against [`KNOWN_BORING_PROFILES`](crate::KNOWN_BORING_PROFILES), and, in a
//! build without this feature, refuses `engine = "boring"` itself.

use pool_dial_boring::{BoringOptions, BrowserProfile, Mode};

use crate::convert::tls::rotation;
use crate::{Config, ConfigError, HostConfig, Transport};

/// The browser profile behind a `tls.profiles` name with engine boring (`"default"`:
/// Chrome, the engine's default).
fn browser_profile(name: &str) -> Option<BrowserProfile> {
    match name {
        "default" => Some(BrowserProfile::chrome()),
        other => BrowserProfile::by_name(other).ok(),
    }
}

impl Config {
    /// The `pool-dial-boring` options of a [`BoringDialer`](pool_dial_boring::BoringDialer) for
    /// `host` (with engine boring):
    ///
    /// - `tls.profiles` → `profiles` (browser profiles by name), `profile_rotation`;
    /// - the host's `transport` → `mode` (`h2` → HTTP/2, `h1` → HTTP/1.1, `auto` → ALPN
    ///   `h2, http/1.1`; no host: HTTP/2);
    /// - `[tls]` trust keys, `pool.conn_timeout`, `pool.test_timeout`,
    ///   `pool.max_response_header_size`, `[source_addrs]` and `[validation]` as for
    ///   [`Config::tls_options`].
    ///
    /// The profile's ALPN list is the browser's: a host's `alpn` key is not applied (it
    /// would change the fingerprint); `accept_languages` neither (each profile sends its
    /// own `Accept-Language`).
    ///
    /// # Errors
    /// A profile name the loader would have rejected, an invalid validation method, or a
    /// host whose transport is not `h2`, `h1` or `auto`.
    pub fn boring_options(&self, host: Option<&HostConfig>) -> Result<BoringOptions, ConfigError> {
        let mut profiles = Vec::with_capacity(self.tls.profiles.len());
        for (i, name) in self.tls.profiles.iter().enumerate() {
            profiles.push(browser_profile(name).ok_or_else(|| {
                ConfigError::at_key(
                    &format!("tls.profiles[{i}]"),
                    format!("unknown browser profile {name:?}"),
                )
            })?);
        }
        let mode = match host.map_or(Transport::H2, |h| h.transport) {
            Transport::H2 => Mode::H2,
            Transport::H1 => Mode::H1,
            Transport::Auto => Mode::Auto,
            other => {
                return Err(ConfigError::at_key(
                    "tls.engine",
                    format!(
                        "engine \"boring\" dials h2, h1 or auto, not transport {:?}",
                        other.as_str()
                    ),
                ));
            }
        };
        Ok(BoringOptions {
            profiles,
            profile_rotation: rotation(self.tls.profile_rotation),
            mode,
            trust: self.trust(),
            conn_timeout: self.pool.conn_timeout,
            test_timeout: self.pool.test_timeout,
            source_addrs: self.source_addrs.source_addrs(),
            validation: self.validation()?,
            max_response_header_size: self.pool.max_response_header_size,
            tcp: self.tcp.tcp_options(),
            ..BoringOptions::default()
        })
    }
}
