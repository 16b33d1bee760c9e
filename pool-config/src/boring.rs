//! `[tls] engine = "boring"`: the conversion into `pool_dial_boring::BoringOptions` (feature
//! `boring`). The keys are declared in `model.rs` with the others; the loader checks the
//! profile names against [`KNOWN_BORING_PROFILES`](crate::KNOWN_BORING_PROFILES), and, in a
//! build without this feature, refuses `engine = "boring"` itself.

use pool_dial_boring::{BoringOptions, BrowserProfile, Mode};

use crate::convert::rotation;
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
    /// The `pool-dial-boring` options for `host` (engine boring): browser profiles by name,
    /// `mode` from the host's transport (`h2`, `h1`, `auto`; none: HTTP/2), and the rest as
    /// [`Config::tls_options`]. A host's `alpn` and `accept_languages` are not applied
    /// (they would change the browser's fingerprint).
    ///
    /// # Errors
    /// A profile name [`Config::validate`] refuses, or a transport other than those.
    pub fn boring_options(&self, host: Option<&HostConfig>) -> Result<BoringOptions, ConfigError> {
        let profiles = self.profiles(browser_profile, "browser profile")?;
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
            trust: self.trust()?,
            conn_timeout: self.pool.conn_timeout,
            test_timeout: self.pool.test_timeout,
            source_addrs: self.source_addrs.source_addrs(),
            validation: self.validation()?,
            max_response_header_size: self.pool.max_response_header_size,
            tcp: self.tcp.tcp_options(),
            proxy: self.proxy_for(host)?,
            ..BoringOptions::default()
        })
    }
}
