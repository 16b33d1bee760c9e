//! TOML configuration for hotpool: the data model, its defaults, and validation whose errors
//! name the file, line, column, dotted key and reason.
//!
//! Files written for the original (Go) system load unchanged: the `[pool]`, `[whitelist]` and
//! `[blacklist]` sections keep their key names, and a duration may be an integer number of
//! seconds as well as a string such as `"30s"`, `"1m30s"` or `"250ms"`. Everything else is an
//! optional addition with a documented default; [`Config::default_toml`] is the complete,
//! commented reference file.
//!
//! ```
//! use pool_config::{Config, Transport};
//! use std::time::Duration;
//!
//! let text = "[pool]\nconn_timeout = \"1m30s\"\n[[hosts]]\nname = \"example.com\"\ntransport = \"h3\"\n";
//! let cfg = Config::from_str_named(text, "hotpool.toml")?;
//! assert_eq!(cfg.pool.conn_timeout, Duration::from_secs(90));
//! assert_eq!((cfg.hosts[0].transport, cfg.hosts[0].port), (Transport::H3, 443));
//!
//! // Errors are one line: file, line, column, key, reason.
//! let err = Config::from_str_named("[pool]\nmax_idle_conns = 200\n", "hotpool.toml")
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "hotpool.toml:2:18: pool.max_idle_conns: must not exceed pool.max_connections \
//!      (100, the default), got 200"
//! );
//! # Ok::<(), pool_config::ConfigError>(())
//! ```
//!
//! The rules (errors vs warnings, where an inconsistent pair is reported, CIDRs, name
//! servers, relative paths) and the environment overrides (`HOTPOOL_DNS__TIMEOUT=2s`) are
//! in `docs/config.md`; how a key is declared and read in `docs/config-reader.md`.

mod checks;
mod error;
mod keys;
mod load;
mod model;
mod names;
mod validate;
mod values;

use std::path::Path;
use std::sync::{Arc, LazyLock};

pub use error::{ConfigError, ConfigWarning, ErrorKind};
pub use model::{
    Config, DnsConfig, DnsServerConfig, EgressConfig, FleetConfig, H2Config, H3Config,
    HealthConfig, HostConfig, IpListConfig, MetricsConfig, PoolConfig, SourceAddrsConfig,
    TcpConfig, TlsConfig, ValidationConfig,
};
pub use names::{
    CongestionKind, ConnectBy, DnsProtocol, EXCLUSIVE_CONNS_PER_IP, EgressRotation, FleetBackend,
    FleetShare, IpPreference, KNOWN_BORING_PROFILES, KNOWN_TLS_PROFILES, PlacementKind, ProbeKind,
    ProfileRotation, TlsEngine, Transport,
};
/// The type of `[whitelist]`/`[blacklist]` entries and of `source_addrs.ipv6_prefix`.
pub use pool_core::{IpRange, IpRangeError};
pub use values::{ByteSize, Fraction};
pub use values::{ProxyUrl, Rate};

use error::{Report, Source};

/// Prefix of environment variables read by [`Config::apply_env`].
pub const ENV_PREFIX: &str = "HOTPOOL_";

/// The commented default file, generated from the key declarations.
static DEFAULT_TOML: LazyLock<String> = LazyLock::new(load::default_file);

/// Reports in file order (environment ones last), as errors (or warnings).
fn errors(mut found: Vec<(usize, Report)>) -> Vec<ConfigError> {
    found.sort_by_key(|(pos, _)| *pos);
    found
        .into_iter()
        .map(|(_, r)| ConfigError(Box::new(r)))
        .collect()
}

fn first(errors: Vec<ConfigError>) -> ConfigError {
    errors
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!("at least one error"))
}

impl Config {
    /// Reads and validates a config file. Relative `tls.ca_files`, `tls.client_cert`,
    /// `tls.client_key` and `dns.resolv_conf`
    /// written in the file are resolved against the file's directory.
    ///
    /// # Errors
    /// The first problem in file order: unreadable file, TOML syntax, unknown key, wrong type,
    /// or a value rule (see the crate docs).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::from_file_with_vars(path, std::iter::empty::<(String, String)>())
    }

    /// Like [`Config::from_file`], then applies `HOTPOOL_*` overrides from the process
    /// environment before validating. Errors: also bad overrides (naming the variable).
    pub fn from_file_with_env(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::from_file_with_vars(path, vars)
    }

    /// Like [`Config::from_file_with_env`], with the variables given.
    pub fn from_file_with_vars(
        path: impl AsRef<Path>,
        vars: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(&name, &e))?;
        let mut cfg = Self::load(&text, &name, vars).map_err(first)?;
        // Paths written in the file are relative to it; paths from the environment are left
        // relative to the working directory.
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        let in_file = |key| matches!(cfg.meta.origins.get(key), Some(error::Origin::File(_)));
        let (ca_files, resolv_conf) = (in_file("tls.ca_files"), in_file("dns.resolv_conf"));
        let (cert, key) = (in_file("tls.client_cert"), in_file("tls.client_key"));
        let files = cfg.tls.ca_files.iter_mut().filter(|_| ca_files);
        let files = files.chain(cfg.tls.client_cert.as_mut().filter(|_| cert));
        let files = files.chain(cfg.tls.client_key.as_mut().filter(|_| key));
        for f in files.chain(cfg.dns.resolv_conf.as_mut().filter(|_| resolv_conf)) {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
        Ok(cfg)
    }

    /// Parses and validates config text; `name` is used in error messages (a file name).
    /// Errors: the first problem in text order (see [`Config::from_file`]).
    pub fn from_str_named(text: &str, name: &str) -> Result<Config, ConfigError> {
        Self::check_str_named(text, name).map_err(first)
    }

    /// Like [`Config::from_str_named`], then applies the given `HOTPOOL_*` overrides before
    /// validating. Errors: the first problem, text first, then overrides.
    pub fn from_str_with_vars(
        text: &str,
        name: &str,
        vars: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<Config, ConfigError> {
        Self::load(text, name, vars).map_err(first)
    }

    /// Like [`Config::from_str_named`], but returns every problem (in text order, never an
    /// empty list), for `hotpool config check`. Syntax errors stop reading.
    pub fn check_str_named(text: &str, name: &str) -> Result<Config, Vec<ConfigError>> {
        Self::load(text, name, std::iter::empty::<(&str, &str)>())
    }

    fn load(
        text: &str,
        name: &str,
        vars: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut cfg = Config::default();
        let source = Source {
            file: Some(name.to_owned()),
            text: Some(Arc::from(text)),
        };
        cfg.meta.source = source.clone();
        let mut reader = keys::Reader::new(source);
        load::document(&mut reader, text, &mut cfg);
        for (k, v) in vars {
            load::env(&mut reader, k.as_ref(), v.as_ref(), &mut cfg);
        }
        cfg.meta.origins = reader.origins;
        if !reader.reports.is_empty() {
            return Err(errors(reader.reports));
        }
        cfg.run_validation()?;
        Ok(cfg)
    }

    fn run_validation(&mut self) -> Result<(), Vec<ConfigError>> {
        let (errors, warnings) = validate::validate(self);
        if !errors.is_empty() {
            return Err(crate::errors(errors));
        }
        self.meta.warnings = crate::errors(warnings);
        Ok(())
    }

    /// Applies `HOTPOOL_<SECTION>__<KEY>` overrides (other variables are ignored), then
    /// validates the result. On error `self` is left unchanged.
    ///
    /// # Errors
    /// A bad variable (unknown key, wrong type, bad value), naming the variable; or a value
    /// rule the overrides broke.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<(), ConfigError> {
        let mut next = self.clone();
        let mut reader = keys::Reader::new(error::Source::default());
        reader.origins = std::mem::take(&mut next.meta.origins);
        for (k, v) in vars {
            load::env(&mut reader, k.as_ref(), v.as_ref(), &mut next);
        }
        next.meta.origins = reader.origins;
        if !reader.reports.is_empty() {
            return Err(first(errors(reader.reports)));
        }
        next.run_validation().map_err(first)?;
        *self = next;
        Ok(())
    }

    /// Checks the value rules on a config built or changed in code (loading already does
    /// this), refreshing [`Config::warnings`].
    ///
    /// # Errors
    /// The first broken rule; its location is known for values that came from a file or
    /// the environment.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        self.run_validation().map_err(first)
    }

    /// Warnings of the last validation (loading, [`Config::apply_env`] or
    /// [`Config::validate`]): allowed values that are probably not meant.
    #[must_use]
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.meta.warnings
    }

    /// The complete default config file, with a comment on every key, generated from the
    /// key declarations. It parses to [`Config::default`].
    #[must_use]
    pub fn default_toml() -> &'static str {
        &DEFAULT_TOML
    }

    /// The effective configuration as TOML, which loads back to an equal `Config`. Errors
    /// only if serialization fails, which the data model does not allow in practice.
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}
