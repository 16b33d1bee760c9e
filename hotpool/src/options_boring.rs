//! `[tls] engine = "boring"`: the conversion into `pool_dial_boring::BoringOptions` (feature
//! `boring`). pool-config checks the profile names against
//! [`KNOWN_BORING_PROFILES`](pool_config::KNOWN_BORING_PROFILES) and, without its own
//! `boring` feature (which this crate's `boring` feature turns on), refuses the engine.

use pool_config::{Config, ConfigError, HostConfig, Transport};
use pool_dial_boring::{BoringOptions, BrowserProfile, Mode};

use crate::options::{
    ConfigOptions, profiles, rotation, source_addrs, tcp_options, trust, validation,
};

/// The browser profile behind a `tls.profiles` name with engine boring (`"default"`:
/// Chrome, the engine's default).
fn browser_profile(name: &str) -> Option<BrowserProfile> {
    match name {
        "default" => Some(BrowserProfile::chrome()),
        other => BrowserProfile::by_name(other).ok(),
    }
}

/// [`ConfigOptions::boring_options`].
pub(crate) fn boring_options(
    cfg: &Config,
    host: Option<&HostConfig>,
) -> Result<BoringOptions, ConfigError> {
    let mode = match host.map_or(Transport::H2, |h| h.transport) {
        Transport::H2 | Transport::H2c => Mode::H2,
        Transport::H1 => Mode::H1,
        Transport::Auto => Mode::Auto,
        other => {
            let reason = format!(
                "engine \"boring\" dials h2, h1 or auto, not transport {:?}",
                other.as_str()
            );
            return Err(ConfigError::at_key("tls.engine", reason));
        }
    };
    Ok(BoringOptions {
        profiles: profiles(cfg, browser_profile, "browser profile")?,
        profile_rotation: rotation(cfg.tls.profile_rotation),
        mode,
        trust: trust(cfg)?,
        conn_timeout: cfg.pool.conn_timeout,
        test_timeout: cfg.pool.test_timeout,
        source_addrs: source_addrs(cfg),
        validation: validation(cfg)?,
        max_response_header_size: cfg.pool.max_response_header_size,
        tcp: tcp_options(cfg),
        proxy: cfg.proxy_for(host)?,
        ..BoringOptions::default()
    })
}
